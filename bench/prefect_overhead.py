"""Prefect's overhead on this machine: milliseconds per flow run (an empty @flow called N times) and per task
run (an empty @task called N times inside one flow: sequentially, with .submit, with .map), against
calling the same plain functions, in the same invocation; once against the ephemeral API (what a
process without PREFECT_API_URL starts) and once against a local ``prefect server start``.

    .venv/bin/python bench/prefect_overhead.py [--flows 30] [--tasks 500] [--api ephemeral server] [--json] [--record]

Each measurement runs in a fresh child process after one warm-up flow (so the ephemeral API's
start-up, about 10 s here, is not counted). Task-run cost = (time of the flow with N tasks - time
of an empty flow) / N, both measured without the flow-run heartbeat's exit wait (see
``_without_heartbeat_wait``), which is per flow run and up to a second.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

from common import child_env, spawn  # noqa: E402 - bench/ is the script's folder
from results import Reporter, add_arguments  # noqa: E402


def _nothing(x: int = 0) -> int:
    return x


def _without_heartbeat_wait(fn):
    """Return ``fn()`` run with Prefect's flow-run heartbeat thread switched off.

    Prefect 3.8 starts a heartbeat thread per flow run that sleeps in 1 s steps and joins it when
    the run ends (prefect/flow_engine.py ``_send_heartbeats``), so a short flow run waits up to 1 s
    for it; this measures what a flow run costs without that wait (bench only: heartbeats are
    what detects crashed runs).
    """
    from contextlib import contextmanager

    import prefect.flow_engine as engine

    @contextmanager
    def no_heartbeats(*args, **kwargs):
        yield

    original, engine._send_heartbeats = engine._send_heartbeats, no_heartbeats
    try:
        return fn()
    finally:
        engine._send_heartbeats = original


def measure(flows: int, tasks: int) -> dict[str, float]:
    """Return seconds per run of: a plain call, a flow run, a task run (sequential, submit, map)."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    empty_task = task(cache_policy=NO_CACHE, name="empty-task")(_nothing)

    @flow(name="empty-flow")
    def empty_flow() -> None:
        return None

    @flow(name="sequential-tasks")
    def sequential(n: int) -> None:
        for i in range(n):
            empty_task(i)

    @flow(name="submitted-tasks")
    def submitted(n: int) -> None:
        futures = [empty_task.submit(i) for i in range(n)]
        [f.result() for f in futures]

    @flow(name="mapped-tasks")
    def mapped(n: int) -> None:
        empty_task.map(range(n)).result()

    def timed(fn, *args) -> float:
        t = time.perf_counter()
        fn(*args)
        return time.perf_counter() - t

    empty_flow()  # warm-up: starts the ephemeral API if there is no server
    t = time.perf_counter()
    for i in range(100_000):
        _nothing(i)
    plain = (time.perf_counter() - t) / 100_000
    out = {"plain_call": plain, "flow_run": sum(timed(empty_flow) for _ in range(flows)) / flows}

    def task_runs() -> None:
        # without the heartbeat wait, which rounds a flow run up to about the next second and
        # would swamp the difference
        bare_flow = out["flow_run_no_heartbeat"] = sum(timed(empty_flow) for _ in range(flows)) / flows
        for name, fn in (("task_run_sequential", sequential), ("task_run_submit", submitted), ("task_run_map", mapped)):
            out[name] = max(0.0, timed(fn, tasks) - bare_flow) / tasks

    _without_heartbeat_wait(task_runs)
    return out


def child(mode: str, spec: dict[str, Any]) -> None:
    print(json.dumps(measure(spec["flows"], spec["tasks"])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=30)
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--api", nargs="+", choices=["ephemeral", "server"], default=["ephemeral", "server"])
    ap.add_argument("--child", nargs=2, metavar=("MODE", "SPEC"))
    add_arguments(ap)
    a = ap.parse_args()
    if a.child:
        return child(a.child[0], json.loads(a.child[1]))
    from prefect_server import PrefectServer

    rep = Reporter.from_args(a, "prefect_overhead")
    spec = {"flows": a.flows, "tasks": a.tasks}
    res = {}
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as d:
        tmp = Path(d)
        for api in a.api:
            if api == "ephemeral":
                res[api] = spawn(__file__, api, spec, child_env(tmp, api, {}))
            else:
                with PrefectServer(tmp / "server") as server:
                    res[api] = spawn(__file__, api, spec, server.env())
    rep.line(f"Prefect overhead, {a.flows} empty flow runs, {a.tasks} empty task runs per flow (ms per run)")
    rep.line(f"  {'':<28}" + "".join(f"{api:>12}" for api in a.api))
    rep.line(f"  {'plain call (microseconds)':<28}" + "".join(f"{1e6 * res[api]['plain_call']:>12.3f}" for api in a.api))
    for k in ("flow_run", "flow_run_no_heartbeat", "task_run_sequential", "task_run_submit", "task_run_map"):
        rep.line(f"  {k.replace('_', ' '):<28}" + "".join(f"{1000 * res[api][k]:>12.1f}" for api in a.api))
    for api in a.api:
        r = res[api]
        rep.line(f"  {api}: a flow run costs {r['flow_run'] / r['plain_call']:,.0f} plain calls, a task run "
                 f"{r['task_run_sequential'] / r['plain_call']:,.0f}")
        # .submit and .map vary 5-20x from run to run on this shared machine (thread hand-offs): shown
        # beside the sequential figure, not compared by the regression check
        for k in ("flow_run", "flow_run_no_heartbeat", "task_run_sequential"):
            rep.add(f"prefect_overhead/{api}/{k}_ms", 1000 * r[k], better="lower",
                    plain_call_us=round(1e6 * r["plain_call"], 3),
                    **({"submit_ms": round(1000 * r["task_run_submit"], 2), "map_ms": round(1000 * r["task_run_map"], 2)}
                       if k == "task_run_sequential" else {}))
    rep.finish()


if __name__ == "__main__":
    main()
