"""Issue 19 in the lead-pipeline flow: a file whose ingest fails (for good, or after its retries) and
entries the inbox refuses are set aside in var/failed with their reason; every other file is ingested,
scored and routed; the run fails naming them and carries its summary; the next run is clean."""
import json
import os

import pytest
from sqlalchemy import func, select

from leadops.db.models import Lead

GOOD = ("Email,First Name,Last Name,Company,Job Title,Country,Source\n"
        "lea@atelier-numerique.fr,Léa,Martin,Atelier Numérique SAS,DSI,France,demo_request\n"
        f"bob@atelier-numerique.fr,{'B' * 1000},Martin,Atelier Numérique SAS,DSI,France,demo_request\n")
SECRET_VALUE = "v-secret-9f3a"


@pytest.fixture
def failing_file(monkeypatch):
    """Make ingesting any file named boom-*.csv raise ``error`` (what a database outage or an unforeseen
    refusal would raise), with the row's value in its message as PostgreSQL's context would put it."""
    from leadops.intake import files
    from leadops.tasks import pipeline

    monkeypatch.setattr(pipeline.ingest_file, "retry_delay_seconds", [0, 0])
    real = files.ingest_claimed
    calls = []

    def arm(error):
        def fake(session, path, *args, **kwargs):
            if path.name.startswith("boom-"):
                calls.append(path.name)
                raise error
            return real(session, path, *args, **kwargs)
        monkeypatch.setattr(files, "ingest_claimed", fake)
        return calls
    return arm


@pytest.mark.parametrize("kind,attempts", [("deterministic", 1), ("transient", 3)])
def test_failing_and_refused_entries_are_set_aside_and_block_nothing(leadops_env, session, roster, tmp_path,
                                                                     failing_file, kind, attempts):
    from sqlalchemy.exc import DataError, OperationalError

    from leadops.flows.lead_pipeline import IntakeRejected, lead_pipeline

    orig = Exception(f"value too long for type character varying(200)\nCONTEXT: unnamed portal parameter $3 = '{SECRET_VALUE}'")
    error = DataError("INSERT ...", {"first_name": SECRET_VALUE}, orig) if kind == "deterministic" else \
        OperationalError("INSERT ...", {"first_name": SECRET_VALUE}, Exception("server closed the connection unexpectedly"))
    calls = failing_file(error)
    box = leadops_env.inbox_dir
    box.mkdir(parents=True)
    (box / "a-good.csv").write_text(GOOD, encoding="utf-8")
    (box / "boom-1.csv").write_text("Email,Source\nx@forge.fr,web_form\n", encoding="utf-8")
    outside = tmp_path / "passwd.csv"
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (box / "link.csv").symlink_to(outside)
    os.mkfifo(box / "pipe.csv")

    with pytest.raises(IntakeRejected) as caught:
        lead_pipeline()
    summary = caught.value.summary
    assert len(calls) == attempts  # a deterministic failure is not retried, a transient one twice
    assert summary.inserted == 1 and summary.quarantined == 1  # the good file went through
    assert summary.routed == 1 and session.scalar(select(func.count()).select_from(Lead)) == 1
    errors = {os.path.basename(r.file): r.error for r in summary.rejected}
    assert set(errors) == {"boom-1.csv", "link.csv", "pipe.csv"}
    assert "refused: a symbolic link" in errors["link.csv"] and "refused: a FIFO" in errors["pipe.csv"]
    expected = "value too long for type character varying(200)" if kind == "deterministic" else \
        "server closed the connection unexpectedly"
    assert expected in errors["boom-1.csv"] and "\n" not in errors["boom-1.csv"]
    failed = leadops_env.var_dir / "failed"
    assert sorted(p.name for p in failed.iterdir() if not p.name.endswith(".result.json")) == \
        ["boom-1.csv", "link.csv", "pipe.csv"]
    assert list(box.iterdir()) == []
    shown = json.dumps(summary.as_dict()) + str(caught.value) + "".join(p.read_text() for p in failed.glob("*.result.json"))
    assert SECRET_VALUE not in shown and "root:x" not in shown

    again = lead_pipeline()  # nothing left to block the next run
    assert again.files == 0 and again.files_rejected == 0
