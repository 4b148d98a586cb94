"""bench/check.py's comparison: a figure fails only when more than the factor worse, in its own direction."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_check", Path(__file__).resolve().parents[2] / "bench" / "check.py")
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

RECORDED = {
    "pipeline/sqlite/offline/100000": {"value": 2.0, "better": "lower"},
    "naive/sqlite/10000": {"value": 40.0, "better": "higher"},
}


def fresh(key, value, better):
    return {"key": key, "value": value, "better": better}


def test_a_time_ratio_more_than_twice_the_recorded_one_fails_naming_the_benchmark():
    failures, _ = check.compare(RECORDED, [fresh("pipeline/sqlite/offline/100000", 4.01, "lower")])
    assert len(failures) == 1 and failures[0].startswith("pipeline/sqlite/offline/100000: 4.01 against 2 recorded")


def test_a_time_ratio_up_to_twice_the_recorded_one_passes():
    failures, notes = check.compare(RECORDED, [fresh("pipeline/sqlite/offline/100000", 4.0, "lower")])
    assert failures == [] and "2.00x worse" in notes[0]


def test_a_speed_up_fails_when_it_drops_below_half_the_recorded_one():
    assert check.compare(RECORDED, [fresh("naive/sqlite/10000", 19.9, "higher")])[0]
    assert not check.compare(RECORDED, [fresh("naive/sqlite/10000", 20.0, "higher")])[0]


def test_getting_better_never_fails():
    failures, notes = check.compare(RECORDED, [fresh("pipeline/sqlite/offline/100000", 0.5, "lower"),
                                               fresh("naive/sqlite/10000", 400.0, "higher")])
    assert failures == [] and all("better or equal" in n for n in notes)


def test_a_figure_never_recorded_is_a_note_not_a_failure():
    failures, notes = check.compare(RECORDED, [fresh("sla/postgresql/1000000", 9.0, "lower")])
    assert failures == [] and notes == ["sla/postgresql/1000000: 9 (not recorded yet)"]


def test_the_factor_is_configurable_and_must_exceed_one():
    assert check.compare(RECORDED, [fresh("pipeline/sqlite/offline/100000", 3.1, "lower")], factor=1.5)[0]
    with pytest.raises(ValueError, match="factor must be above 1"):
        check.compare(RECORDED, [], factor=1.0)


def test_results_of_flattens_benchmark_documents_in_order():
    docs = [{"benchmark": "a", "results": [fresh("a/1", 1, "lower")]}, {"benchmark": "b", "results": []},
            {"benchmark": "c", "results": [fresh("c/1", 2, "higher"), fresh("c/2", 3, "lower")]}]
    assert [r["key"] for r in check.results_of(docs)] == ["a/1", "c/1", "c/2"]
