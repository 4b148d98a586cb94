"""GX Data Docs are written for ops to read: they show the checks and counts, never the rows' personal data."""
import subprocess
from pathlib import Path

import pandas as pd

from leadops.intake.gate import build_data_docs, validate_rows

ROOT = Path(__file__).resolve().parents[2]


def test_data_docs_show_failures_without_personal_data(tmp_path):
    rows = pd.DataFrame([
        {"email": "jean.secretaire@acme.c0m", "is_disposable_email": False, "country_unrecognized": "Atlantide-Privée",
         "date_error": None, "source": "web_form", "company": "Dupont-Secret " * 30, "job_title": "CTO"},
        {"email": "ok@acme.fr", "is_disposable_email": True, "country_unrecognized": None,
         "date_error": None, "source": "web_form", "company": "Acme", "job_title": "CTO"},
    ])
    outcome = validate_rows(rows, ROOT / "expectations" / "leads_intake.json")
    assert outcome.failures == {
        # (field lengths are checked by intake against the model's columns, not by the suite)
        0: ["email is not a valid address", "country is not a recognized country name or ISO code"],
        1: ["email uses a disposable-address domain"],
    }
    index = build_data_docs(tmp_path / "docs")
    assert index and Path(index).exists()
    pages = "".join(p.read_text(encoding="utf-8", errors="replace") for p in (tmp_path / "docs").rglob("*.html"))
    assert "leads_intake" in pages
    for personal in ("jean.secretaire", "ok@acme.fr", "Atlantide", "Dupont-Secret"):
        assert personal not in pages, personal
    found = subprocess.run(["grep", "-rl", "secretaire", str(tmp_path / "docs")], capture_output=True, text=True)
    assert found.stdout == ""  # not in the JSON either


def _validate(rows: pd.DataFrame, n: int = 1) -> None:
    for _ in range(n):
        validate_rows(rows, ROOT / "expectations" / "leads_intake.json")


ROWS = pd.DataFrame([{"email": "a@acme.fr", "is_disposable_email": True, "country_unrecognized": None,
                      "date_error": None, "source": "web_form", "company": "Acme", "job_title": "CTO"}])


def _pages(docs: Path) -> set[str]:
    return {str(p.relative_to(docs)) for p in (docs / "validations").rglob("*.html")}


def test_data_docs_show_the_validations_since_the_last_build_and_gx_keeps_none_of_them(tmp_path):
    from leadops.intake import gate

    docs = tmp_path / "docs"
    gate.build_data_docs(tmp_path / "elsewhere")  # whatever earlier tests validated in this process
    _validate(ROWS)
    index = Path(build_data_docs(docs))
    first = _pages(docs)
    assert len(first) == 1 and "leads_intake" in index.read_text(encoding="utf-8")
    store = gate._context()[1].validation_results_store
    assert store.list_keys() == []  # rendered, then dropped: a process that stays up does not grow with its runs
    written = index.stat().st_mtime_ns
    assert build_data_docs(docs) == str(index) and index.stat().st_mtime_ns == written  # nothing new: left as is
    _validate(ROWS)
    build_data_docs(docs)
    second = _pages(docs)
    assert len(second) == 1 and second != first  # the latest run's validation, as a run of its own would show


def test_results_waiting_for_data_docs_are_bounded(tmp_path, monkeypatch):
    from leadops.intake import gate

    gate.build_data_docs(tmp_path / "elsewhere")
    monkeypatch.setattr(gate, "MAX_UNRENDERED", 3)
    _validate(ROWS, 5)  # a process that validates without building docs (the real-time intake service)
    assert gate.unrendered() == 3 and len(gate._context()[1].validation_results_store.list_keys()) == 3
    build_data_docs(tmp_path / "docs")
    assert len(_pages(tmp_path / "docs")) == 3
