"""Flow-run heartbeats (leadops.flows.heartbeats): the same beats as Prefect's, and a run's end does not wait out
the beating thread's sleep."""
import threading
import time
from types import SimpleNamespace

from leadops.flows import heartbeats


class FakeEngine:
    """What the heartbeat context reads of Prefect's flow run engine; records each beat."""

    def __init__(self, seconds: int | None = 30) -> None:
        self.heartbeat_seconds = seconds
        self.flow_run = SimpleNamespace(state=SimpleNamespace(is_final=lambda: False))
        self.logger = SimpleNamespace(debug=lambda *a, **k: None)
        self.beats = threading.Semaphore(0)
        self.count = 0

    def _build_heartbeat_event_template(self):
        return {"prefect.resource.id": "prefect.flow-run.x"}, []

    def _emit_flow_run_heartbeat(self, resource, related):
        assert resource == {"prefect.resource.id": "prefect.flow-run.x"} and related == []
        self.count += 1
        self.beats.release()


def _beat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == heartbeats.THREAD]


def test_the_flow_engine_beats_with_leadops_heartbeats_once_the_flows_are_imported():
    import leadops.flows  # noqa: F401 - installs them
    from prefect import flow_engine

    assert flow_engine._send_heartbeats is heartbeats.send_heartbeats


def test_a_run_beats_at_its_start_and_its_end_does_not_wait_for_the_next_beat(monkeypatch):
    # Prefect's own thread sleeps in 1 s steps: with a sleep that never ends, only a thread that waits on its
    # stop event ends when the block does (a sleeping one is still alive when the join gives up after 2 s)
    # (in the beating thread only: another thread's sleep meanwhile, Prefect's or the suite's, goes on as usual)
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda s: threading.Event().wait()  # a sleep never ends
                        if threading.current_thread().name == heartbeats.THREAD else real_sleep(s))
    engine = FakeEngine(seconds=30)
    with heartbeats.send_heartbeats(engine):
        assert engine.beats.acquire(timeout=60)  # the first beat, at once
        assert len(_beat_threads()) == 1
    assert _beat_threads() == []
    assert engine.count == 1  # the next was 30 s away


def test_no_heartbeat_setting_starts_no_thread_and_a_final_run_stops_beating():
    engine = FakeEngine(seconds=None)
    with heartbeats.send_heartbeats(engine):
        assert _beat_threads() == []
    assert engine.count == 0

    engine = FakeEngine(seconds=30)
    engine.flow_run.state = SimpleNamespace(is_final=lambda: True)
    with heartbeats.send_heartbeats(engine):
        pass
    assert engine.count == 0


def test_a_failing_beat_does_not_stop_the_run():
    engine = FakeEngine(seconds=30)

    def fail(resource, related):
        engine.beats.release()
        raise ConnectionError("API unreachable")

    engine._emit_flow_run_heartbeat = fail
    with heartbeats.send_heartbeats(engine):
        assert engine.beats.acquire(timeout=60)
    assert _beat_threads() == []


def test_another_prefect_version_is_left_alone(monkeypatch):
    import prefect
    from prefect import flow_engine

    original = flow_engine._send_heartbeats
    monkeypatch.setattr(flow_engine, "_send_heartbeats", original)
    monkeypatch.setattr(prefect, "__version__", "4.0.0")
    assert heartbeats.install() is False
    assert flow_engine._send_heartbeats is original
