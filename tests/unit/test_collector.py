"""The collector's thresholds during a stage's pass: raised inside, restored after, safe when passes overlap."""
from __future__ import annotations

import gc
import threading

import pytest

from leadops.services import collector
from leadops.services.collector import OLDEST, YOUNG, fewer_passes


@pytest.fixture(autouse=True)
def default_thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_a_pass_raises_the_young_and_oldest_thresholds_and_restores_them_after():
    with fewer_passes():
        assert gc.get_threshold() == (YOUNG, 10, OLDEST)
    assert gc.get_threshold() == (700, 10, 10)


def test_thresholds_already_higher_are_kept_and_an_error_still_restores_them():
    gc.set_threshold(50_000, 7, 500)
    inside = []

    def failing_pass():
        with fewer_passes():
            inside.append(gc.get_threshold())
            raise RuntimeError("the pass failed")

    with pytest.raises(RuntimeError):
        failing_pass()
    assert inside == [(50_000, 7, 500)]
    assert gc.get_threshold() == (50_000, 7, 500)


def test_overlapping_passes_in_two_threads_restore_once_the_last_one_ends():
    first_in, second_done = threading.Event(), threading.Event()
    seen = {}

    def first():
        with fewer_passes():
            first_in.set()
            second_done.wait(10)
            seen["first, after the second left"] = gc.get_threshold()

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(10)
    with fewer_passes():  # enters while the first is inside, leaves before it
        seen["second"] = gc.get_threshold()
    second_done.set()
    t.join(10)
    assert seen == {"second": (YOUNG, 10, OLDEST), "first, after the second left": (YOUNG, 10, OLDEST)}
    assert gc.get_threshold() == (700, 10, 10)
    assert collector._passes.depth == 0


class _Stop(Exception):
    pass


class _Recorder:
    """A unit of work whose first call records the collector's thresholds and stops the pass."""

    def __init__(self):
        self.thresholds = None

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        self.thresholds = gc.get_threshold()
        raise _Stop


@pytest.mark.parametrize("stage", ["enrich", "score", "route"])
def test_each_stage_pass_runs_with_fewer_collector_passes(stage, rules):
    from leadops.services import enrich, route, score

    uow = _Recorder()
    call = {"enrich": lambda: enrich.enrich_pending(uow, rules, providers=[]),
            "score": lambda: score.score_open_leads(uow, rules),
            "route": lambda: route.route_pending(uow, rules, "Europe/Paris")}[stage]
    with pytest.raises(_Stop):
        call()
    assert uow.thresholds == (YOUNG, 10, OLDEST)
    assert gc.get_threshold() == (700, 10, 10)
