"""Flow-run heartbeats that stop at once when the run ends.

Prefect 3.9's flow engine (``prefect.flow_engine._send_heartbeats``) beats from a thread that sleeps in
1-second steps and joins that thread when a synchronous flow run ends: every run of a leadops flow
waited 0-1 s (0.5 s on average, no CPU) after its last task, before it could return. ``install``
replaces that context manager with one beating exactly as often, whose thread waits on the stop
event instead, so the join returns as soon as a heartbeat in flight (an event sent to the API) is
done. The heartbeats themselves (what the zombie-run automation watches) are unchanged: the first
when the run starts, then one every ``flows.heartbeat_frequency`` seconds, none once the run's
state is final.
"""
from __future__ import annotations

import contextvars
import threading
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

#: the Prefect versions whose ``_send_heartbeats`` this replaces (same signature and behaviour checked)
VERSIONS = ("3.9.",)
#: the beating thread's name
THREAD = "leadops-flow-heartbeat"


@contextmanager
def send_heartbeats(engine: Any, join_on_exit: bool = True) -> Generator[None, None, None]:
    """Beat for ``engine``'s flow run while the block runs (Prefect's ``_send_heartbeats``, same arguments);
    yields nothing. The thread waits on the stop event between beats: leaving the block does not wait
    out a sleep."""
    from prefect.flow_engine import MINIMUM_HEARTBEAT_INTERVAL

    seconds = engine.heartbeat_seconds
    if seconds is None:
        yield
        return
    seconds = max(seconds, MINIMUM_HEARTBEAT_INTERVAL)
    resource, related = engine._build_heartbeat_event_template()
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            state = engine.flow_run.state if engine.flow_run else None
            if state is not None and state.is_final():
                return
            try:
                engine._emit_flow_run_heartbeat(resource, related)
            except Exception:  # a missed beat is what the automation is for; the run goes on
                engine.logger.debug("Failed to emit heartbeat", exc_info=True)
            if stop.wait(seconds):
                return

    # the thread sees the run's settings context (its API URL), as Prefect's own does
    thread = threading.Thread(target=contextvars.copy_context().run, args=(beat,), daemon=True, name=THREAD)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        if join_on_exit:
            thread.join(timeout=2)


def install() -> bool:
    """Make Prefect's flow engine use :func:`send_heartbeats`; returns whether it does (False, and Prefect
    left alone, on a Prefect version this was not checked against)."""
    import prefect
    from prefect import flow_engine

    if not prefect.__version__.startswith(VERSIONS) or not hasattr(flow_engine, "_send_heartbeats"):
        return False
    flow_engine._send_heartbeats = send_heartbeats  # looked up by name at each run
    return True
