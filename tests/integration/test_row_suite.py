"""The row-level suite sees only the columns it reads, with the same verdicts as on every column;
suites that may read any column get the whole frame."""
import json
from pathlib import Path

import pandas as pd

from leadops.intake.gate import suite_columns, validate_records, validate_rows

ROOT = Path(__file__).resolve().parents[2]
INTAKE = ROOT / "expectations" / "leads_intake.json"


def records(n: int = 40) -> list[dict]:
    rows = [{"email": f"p{i}@firm.fr", "is_disposable_email": False, "country_unrecognized": None, "date_error": None,
             "source": "web_form", "company": "Firm", "job_title": "CTO", "first_name": "Ana", "phone": None,
             "score_hint": i} for i in range(n)]
    rows[3]["email"] = None
    rows[5]["country_unrecognized"] = "Narnia"
    rows[8].update(email="not-an-email", source=None)  # two failures in one row
    return rows


def write_suite(tmp_path: Path, expectations: list[dict]) -> Path:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"name": "rows", "expectations": expectations}), encoding="utf-8")
    return path


def test_the_intake_suite_reads_named_columns_and_judges_as_on_the_whole_frame():
    spec = json.loads(INTAKE.read_text(encoding="utf-8"))
    assert set(suite_columns(spec)) == {e["kwargs"]["column"] for e in spec["expectations"]}
    recs = records()
    narrow, whole = validate_records(recs, INTAKE), validate_rows(pd.DataFrame(recs), INTAKE)
    assert narrow.failures == whole.failures and narrow.counts == whole.counts
    assert sorted(narrow.failures) == [3, 5, 8] and len(narrow.failures[8]) == 2


def test_table_level_expectations_and_row_conditions_get_every_column(tmp_path):
    # the records have 10 columns: a frame cut to the one named column would fail this suite
    suite = write_suite(tmp_path, [{"type": "expect_table_column_count_to_equal", "kwargs": {"value": 10}},
                                   {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "email"}}])
    assert suite_columns(json.loads(suite.read_text())) is None
    out = validate_records(records(), suite)
    assert [r["success"] for r in out.results] == [True, False] and sorted(out.failures) == [3]
    conditional = {"type": "expect_column_values_to_not_be_null",
                   "kwargs": {"column": "email", "row_condition": 'company=="Firm"', "condition_parser": "pandas"}}
    assert suite_columns({"expectations": [conditional]}) is None
    assert sorted(validate_records(records(), write_suite(tmp_path, [conditional])).failures) == [3]


def test_a_column_the_records_lack_fails_as_on_the_whole_frame(tmp_path):
    suite = write_suite(tmp_path, [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "emial"}}])
    errors = []
    for run in (lambda: validate_records(records(), suite), lambda: validate_rows(pd.DataFrame(records()), suite)):
        try:
            run()
        except ValueError as exc:
            errors.append(str(exc))
    assert len(errors) == 2 and all("'emial'" in e and "could not run" in e for e in errors)


def test_the_gate_rejects_a_batch_without_a_column_its_suite_reads(tmp_path):
    from leadops.intake.gate import validate_batch

    suite = write_suite(tmp_path, [{"type": "expect_column_values_to_not_be_null",
                                    "kwargs": {"column": "company", "mostly": 0.5}}])
    out = validate_batch(pd.DataFrame({"email": ["a@b.fr"]}), suite)
    assert len(out.batch_failures) == 1 and "'company'" in out.batch_failures[0]
    assert "does not exist" in out.batch_failures[0]


def test_a_suite_edited_between_chunks_is_run_as_edited(tmp_path):
    # the checkpoint of a suite is added once and run again for each chunk while the suite stays the same
    one = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "email"}}]
    two = [*one, {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "source"}}]
    seen = []
    for expectations in (one, one, two, two, one):
        out = validate_records(records(), write_suite(tmp_path, expectations))
        seen.append((sorted(out.failures), len(out.results)))
    assert seen == [([3], 1), ([3], 1), ([3, 8], 2), ([3, 8], 2), ([3], 1)]
