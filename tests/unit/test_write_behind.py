"""WriteBehind (leadops/services/write_behind.py): calls run one at a time in submission order, in a worker thread
when enabled; a call's error reaches the caller; leaving the block waits for the call in flight."""
from __future__ import annotations

import threading

import pytest

from leadops.services.write_behind import WriteBehind


@pytest.mark.parametrize("enabled", [False, True])
def test_calls_run_in_order_one_at_a_time(enabled):
    seen: list[tuple[int, str]] = []
    running = threading.Lock()

    def write(i: int) -> None:
        assert running.acquire(blocking=False)  # never two at once
        seen.append((i, threading.current_thread().name))
        running.release()

    with WriteBehind(enabled) as behind:
        for i in range(5):
            behind.submit(write, i)
    assert [i for i, _ in seen] == list(range(5))
    assert all(name.startswith("write-behind") == enabled for _, name in seen)


def test_a_failed_write_is_raised_at_the_next_wait():
    def fail() -> None:
        raise ValueError("no room")

    behind = WriteBehind(True)
    behind.submit(fail)
    with pytest.raises(ValueError, match="no room"):
        behind.wait()
    behind.__exit__(None, None, None)


def test_leaving_on_an_error_waits_for_the_write_in_flight_and_keeps_the_error():
    release, done = threading.Event(), threading.Event()

    def slow() -> None:
        release.wait(5)
        done.set()

    def scoring_fails() -> None:
        with WriteBehind(True) as behind:
            behind.submit(slow)
            release.set()
            raise KeyError("while scoring the next chunk")

    with pytest.raises(KeyError):
        scoring_fails()
    assert done.is_set()


def test_scores_written_in_the_background_equal_those_written_in_line(rules):
    """The scoring pass with writes_behind (a worker thread) and without: the same leads, history and moves."""
    from datetime import UTC, datetime, timedelta

    import leadops.services.score as score
    from tests.support.fake_scoring import FakeScoringRepository, lead_row
    from tests.support.fakes import FakeUnitOfWork

    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    out = []
    for behind in (False, True):
        repo = FakeScoringRepository(writes_behind=behind, rows={
            i: lead_row(now - timedelta(days=i), industry="Software", employee_band="201-1000", country="FR",
                        seniority="c_level" if i % 2 else "staff", department="it",
                        is_competitor=i % 7 == 0) for i in range(1, 30)})
        seen: list[tuple[int, int]] = []
        mp = pytest.MonkeyPatch()
        mp.setattr(score, "CHUNK", 4)
        try:
            summary = score.score_open_leads(FakeUnitOfWork(scoring=repo), rules, now=now,
                                             progress=lambda done, total, seen=seen: seen.append((done, total)))
        finally:
            mp.undo()
        out.append((repo.rows, repo.history, repo.stage_history, summary, seen))
    assert out[0] == out[1]
    assert out[1][4] == [(i, 29) for i in (4, 8, 12, 16, 20, 24, 28, 29)]
