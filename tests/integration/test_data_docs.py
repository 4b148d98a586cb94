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
