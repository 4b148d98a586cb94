"""Intake of a file (leadops/intake/files.py, batches.py, leads.py, activities.py) on an in-memory unit of work.

Great Expectations is replaced through intake's own seam (``check``): the stub below plays the row
suite's one rule these files need (a missing email) and passes every batch-level gate unless told
otherwise; the domain's own rules (an unknown lead source...) still apply.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from leadops.config import get_settings
from leadops.intake.files import ingest_file
from leadops.intake.gate import ValidationOutcome
from leadops.intake.reading.rows import RawRow
from leadops.intake.stages import Prepared, Stages
from tests.support.fake_intake import FakeIntakeRepository
from tests.support.fakes import FakeUnitOfWork

ROOT = Path(__file__).resolve().parents[2]
HEADER = "Email,First Name,Last Name,Company,Source\n"
GOOD = "ann@acme.com,Ann,Lee,ACME,web_form\n"
AGAIN = "Ann@Acme.com,,,,web_form\n"  # the same person, another touch: merged
BAD = "bob@acme.com,Bob,Roy,ACME,carrier_pigeon\n"  # a lead source sources.yaml does not allow


class NoGx:
    """A ``check`` without GX: every batch-level gate passes except on a row whose email is in ``refuse``."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.refuse = refuse

    def __call__(self, stages: Stages, rows: list[RawRow], columns: list[str], src, rules, settings, now: datetime,
                 raw_suite: str) -> tuple[ValidationOutcome, Prepared]:
        if any(r.fields.get("email") in self.refuse for r in rows):
            return ValidationOutcome({}, {}, len(rows), batch_failures=["too many rows without an email"]), \
                Prepared([], [], ValidationOutcome({}, {}, 0))
        records = stages.normalize(rows, src, rules, settings, now)
        missing = {i: ["email is missing or not a valid address"] for i, r in enumerate(records) if not r["email"]}
        prepared = stages.decide(rows, records, ValidationOutcome(missing, {}, len(records)), rules)
        prepared.rows = []
        return ValidationOutcome({}, {}, len(rows)), prepared


@pytest.fixture
def settings(tmp_path):
    return get_settings(database_url="sqlite://", var_dir=tmp_path / "var", config_dir=ROOT / "config",
                        expectations_dir=ROOT / "expectations", validation_process=False)


@pytest.fixture
def intake():
    return FakeIntakeRepository()


@pytest.fixture
def uow(intake):
    return FakeUnitOfWork(intake=intake)


def write(folder: Path, name: str, *rows: str) -> Path:
    path = folder / name
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_every_row_ends_inserted_merged_or_quarantined_and_the_batch_says_so(uow, intake, rules, settings, tmp_path):
    out = ingest_file(uow, write(tmp_path, "web-1.csv", GOOD, AGAIN, BAD), rules, settings, move=False, check=NoGx())

    assert (out.status, out.rows_read, out.inserted, out.merged, out.quarantined) == ("done", 3, 1, 1, 1)
    assert out.rows_read == out.inserted + out.merged + out.quarantined
    [reason] = out.reasons
    assert reason.startswith("unknown lead source 'carrier_pigeon'")
    batch = intake.batches[out.batch_id]
    assert (batch.status, batch.rows_read, batch.inserted, batch.merged, batch.quarantined) == ("done", 3, 1, 1, 1)
    assert list(intake.leads) == ["ann@acme.com"] and intake.leads["ann@acme.com"]["first_name"] == "Ann"
    [merge] = intake.merges
    assert (merge["source_row"], merge["raw"]["Email"]) == (3, "Ann@Acme.com")  # line 3 of the file
    [held] = intake.quarantined
    assert (held["ingest_batch_id"], held["source_row"], held["raw"]["Source"]) == (out.batch_id, 4, "carrier_pigeon")
    assert held["reasons"] == [reason]


def test_the_service_never_commits_and_admits_the_file_in_one_savepoint(uow, rules, settings, tmp_path):
    ingest_file(uow, write(tmp_path, "web-1.csv", GOOD, AGAIN, BAD), rules, settings, move=False, check=NoGx())

    assert (uow.commits, uow.rollbacks) == (0, 0)
    assert (uow.savepoints, uow.savepoint_rollbacks) == (1, 0)


def test_a_chunk_refused_by_the_gate_undoes_the_chunks_admitted_before_it(uow, intake, rules, settings, tmp_path):
    small = settings.model_copy(update={"intake_chunk_rows": 2})
    rows = [f"p{i}@acme.com,P,{i},ACME,web_form\n" for i in range(5)]
    check = NoGx(refuse=frozenset({"p3@acme.com"}))

    stored: list[int] = []

    out = ingest_file(uow, write(tmp_path, "web-2.csv", *rows), rules, small, move=False, check=check,
                      progress=stored.append)

    assert out.status == "rejected" and "too many rows without an email (in rows 4-5)" in (out.error or "")
    assert stored == [2]  # the first chunk was stored, then undone
    assert intake.leads == {} and intake.quarantined == []
    batch = intake.batches[out.batch_id]
    assert (batch.status, batch.rows_read) == ("rejected", 0)
    assert intake.errors[out.batch_id] == "too many rows without an email (in rows 4-5)"
    assert (uow.savepoint_rollbacks, uow.commits) == (1, 0)


def test_the_same_content_again_is_a_duplicate_that_stores_nothing(uow, intake, rules, settings, tmp_path):
    first = ingest_file(uow, write(tmp_path, "web-1.csv", GOOD, BAD), rules, settings, move=False, check=NoGx())
    again = ingest_file(uow, write(tmp_path, "web-1-copy.csv", GOOD, BAD), rules, settings, move=False, check=NoGx())

    assert (again.status, again.batch_id) == ("duplicate", first.batch_id)
    assert len(intake.batches) == 1 and len(intake.leads) == 1 and len(intake.quarantined) == 1


def test_a_rejected_file_fixed_by_ops_is_admitted_into_its_batch_again(uow, intake, rules, settings, tmp_path):
    path = write(tmp_path, "web-1.csv", GOOD)
    refused = ingest_file(uow, path, rules, settings, move=False, check=NoGx(refuse=frozenset({"ann@acme.com"})))
    retried = ingest_file(uow, path, rules, settings, move=False, check=NoGx())

    assert (refused.status, retried.status, retried.batch_id) == ("rejected", "done", refused.batch_id)
    assert retried.inserted == 1 and refused.batch_id not in intake.errors


def test_activities_of_known_leads_are_stored_once_and_the_others_held(uow, intake, rules, settings, tmp_path):
    ingest_file(uow, write(tmp_path, "web-1.csv", GOOD), rules, settings, move=False, check=NoGx())
    events = tmp_path / "events-1.csv"
    events.write_text("Email,Event,Date,Id\nann@acme.com,Webinar attended,2026-11-03,e1\n"
                      "zoe@nowhere.io,Webinar attended,2026-11-03,e2\nann@acme.com,Webinar attended,2026-11-03,e1\n",
                      encoding="utf-8")

    out = ingest_file(uow, events, rules, settings, move=False, check=NoGx())

    assert (out.kind, out.rows_read, out.inserted, out.merged, out.quarantined) == ("activities", 3, 1, 1, 1)
    [activity] = intake.activities
    assert activity["external_key"].endswith(":e1") and intake.rescore == {intake.leads["ann@acme.com"]["id"]}
    [held] = intake.quarantined[-1:]
    assert held["source_row"] == 3  # zoe, whom no lead matches
