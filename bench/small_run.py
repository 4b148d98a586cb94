"""Small-run benchmark: what one ``lead-pipeline`` flow run over an inbox of a few leads costs once its process is
warm (the validation process started, the modules imported), against the same work through leadops' services
without Prefect, each implementation in its own process on its own fresh SQLite database.

    .venv/bin/python bench/small_run.py [--runs 6] [--leads 10] [--served] [--profile out.prof] [--json] [--record]

Each process makes a config folder (bench/workload.py: config/ with raised caps and the offline provider),
migrates its database and loads the roster, then runs the pipeline ``--runs`` times in a row, each over a
new inbox file of ``--leads`` generated leads (new people every run): run 1 is cold (the validation
process spawned, GX imported there; the import of the flow's modules is timed apart, and the ephemeral
Prefect API is started before the clock by a warm-up flow), runs 2.. are warm, as in a process that
stays up. Per run it prints:

- wall: seconds of the call (``lead_pipeline(...)``, or the service calls);
- heartbeat: the part of the flow call spent ending Prefect's heartbeat thread. Prefect 3.9 starts one
  per flow run (``prefect/flow_engine.py: _send_heartbeats``); it sleeps in 1 s steps and is joined
  when the run ends, so a run waits up to 1 s for it. It is measured (the time the heartbeat context
  takes to exit), not estimated, and the heartbeats themselves are kept (the zombie-run automation needs
  them; ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` only spaces them, 30 s at least);
- own: wall minus heartbeat, the run's own work (target: under 2 s from run 2 on);
- seconds per task run, read from the Prefect API after the run (start to end of each task run).

The baseline runs the same passes through leadops' services in the same order (roster sync, ingest with
GX, Data Docs, enrich, score, route, deliver), without Prefect; the ratio is the warm runs' median own
time over the baseline's warm median. ``--profile FILE`` profiles the last warm flow run with cProfile,
writes the stats to FILE and prints the functions with the most cumulative time.

``--served`` also measures what ``leadops serve`` does, where Prefect starts every flow run in a new
process: a temporary Prefect server, ``leadops serve`` of a prefect.yaml holding only the
``lead-pipeline`` deployment (no schedule, ``PREFECT_RUNNER_POLL_FREQUENCY=1``), and ``--runs`` runs
triggered one after the other (``run_deployment``), each after a new inbox file landed; twice: with
the served process's validation server (the default) and with ``--no-validation-server`` (a
validation process per run, as before it). Per run, from the run's states: the run itself (Running
to Completed, as Prefect shows its duration: the heartbeat wait comes after it), its process's start
(Pending to Running: the spawn and the imports of a new process) and the runner's pick-up (Scheduled
to Pending, the poll interval), and seconds per task run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import workload  # noqa: E402 - bench/ is the script's folder
from common import child_env, fresh_url, spawn, task_seconds  # noqa: E402
from results import Reporter, add_arguments  # noqa: E402

DOMAINS = 200  # companies of the generated leads (offline provider's table)


def _new_file(inbox: Path, run: int, leads: int) -> Path:
    """Write run ``run``'s inbox file: ``leads`` new people (their own email prefix), deterministic."""
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / f"small-{run:03d}.csv"
    workload.generate(path, leads, DOMAINS, seed=run, prefix=f"r{run}n")
    return path


# --------------------------------------------------------------------------- the flow (child "prefect")


@contextmanager
def _heartbeat_timer(waits: list[float]):
    """Measure how long each flow run's heartbeat context takes to exit (appended to ``waits``), heartbeats kept."""
    import prefect.flow_engine as engine

    original = engine._send_heartbeats

    @contextmanager
    def timed(*args: Any, **kwargs: Any):
        cm = original(*args, **kwargs)
        cm.__enter__()
        try:
            yield
        except BaseException:
            t = time.perf_counter()
            cm.__exit__(*sys.exc_info())
            waits.append(time.perf_counter() - t)
            raise
        t = time.perf_counter()
        cm.__exit__(None, None, None)
        waits.append(time.perf_counter() - t)

    engine._send_heartbeats = timed
    try:
        yield
    finally:
        engine._send_heartbeats = original


def run_flow(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the lead-pipeline flow ``runs`` times, each over a new small inbox file; returns per-run figures."""
    from prefect import flow

    @flow(name="bench-warm-up")
    def warm_up() -> None:  # starts the ephemeral API before the clock: a served process has its API already
        return None

    warm_up()
    t0 = time.perf_counter()
    from leadops.flows.lead_pipeline import lead_pipeline  # what a served process imports once

    import_s = time.perf_counter() - t0
    inbox, runs, waits = Path(spec["var"]) / "inbox", [], []
    with _heartbeat_timer(waits):
        for k in range(1, spec["runs"] + 1):
            _new_file(inbox, k, spec["leads"])
            profiler = None
            if spec.get("profile") and k == spec["runs"]:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            t = time.perf_counter()
            summary = lead_pipeline(config_dir=spec["config"], var_dir=spec["var"]).as_dict()
            wall = time.perf_counter() - t
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(spec["profile"])
            heartbeat = sum(waits)
            waits.clear()
            runs.append({"wall": wall, "heartbeat": heartbeat, "own": wall - heartbeat,
                         "tasks": task_seconds(summary["flow_run_id"]), **_counts(summary)})
    return {"import_seconds": import_s, "runs": runs, "loaded": _loaded_heavy()}


def _counts(summary: dict[str, Any]) -> dict[str, int]:
    return {k: summary[k] for k in ("rows_read", "inserted", "merged", "quarantined", "routed", "notifications_sent")}


def _loaded_heavy() -> list[str]:
    """Return which of the modules a small run should not need are loaded in this process."""
    heavy = ("great_expectations", "matplotlib", "sklearn", "scipy", "slack_sdk", "dask", "distributed")
    return [m for m in heavy if m in sys.modules]


# --------------------------------------------------------------------------- the services (child "services")


def _laps(stages: dict[str, float]) -> Callable[[str], None]:
    """Return ``lap(name)``: stores in ``stages`` the seconds since the previous lap (or since this call) under ``name``."""
    last = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        stages[name], last[0] = now - last[0], now

    return lap


def run_services(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the same passes through leadops' services ``runs`` times, without Prefect; returns per-run figures."""
    from datetime import UTC, datetime

    t0 = time.perf_counter()
    from leadops.config import get_settings, load_rules_cached
    from leadops.db.unit_of_work import SqlUnitOfWork, sql_units
    from leadops.intake import inbox as inbox_mod
    from leadops.intake import validation_process
    from leadops.intake.files import ingest_file
    from leadops.notify.outbox import deliver
    from leadops.notify.senders import sender_for
    from leadops.services import enrich, roster, route, score

    import_s = time.perf_counter() - t0
    runs = []
    for k in range(1, spec["runs"] + 1):
        _new_file(Path(spec["var"]) / "inbox", k, spec["leads"])
        stages: dict[str, float] = {}
        start = time.perf_counter()
        lap = _laps(stages)
        s = get_settings(config_dir=spec["config"], var_dir=spec["var"])
        rules = load_rules_cached(s.config_dir)
        with SqlUnitOfWork(s.database_url) as uow:
            roster.sync(uow, rules, reassign=roster.by_routing_rules(uow, rules, s.company_time_zone, datetime.now(UTC)))
        lap("sync_roster")
        counts = {"rows_read": 0, "inserted": 0, "merged": 0, "quarantined": 0}
        found = inbox_mod.discover(s.inbox_dir)
        for path in found:
            with SqlUnitOfWork(s.database_url) as uow:
                out = ingest_file(uow, path, rules, s)
            for c in counts:
                counts[c] += getattr(out, c)
        lap("ingest")
        if found:
            validation_process.build_data_docs(s.var_dir / "data_docs", in_process=not s.validation_process)
        lap("publish_data_docs")
        with SqlUnitOfWork(s.database_url) as uow:
            enrich.enrich_pending(uow, rules, checkpoint=lambda done, total: uow.commit())
        lap("enrich_leads")
        with SqlUnitOfWork(s.database_url) as uow:
            score.score_open_leads(uow, rules)
        lap("score_leads")
        with SqlUnitOfWork(s.database_url) as uow:
            r = route.route_pending(uow, rules, s.company_time_zone)
        lap("route_leads")
        d = deliver(sql_units(s.database_url), sender_for(s))
        lap("deliver_notifications")
        wall = time.perf_counter() - start
        runs.append({"wall": wall, "heartbeat": 0.0, "own": wall, "tasks": stages, **counts, "routed": r.assigned,
                     "notifications_sent": d.sent})
    return {"import_seconds": import_s, "runs": runs, "loaded": _loaded_heavy()}


# --------------------------------------------------------------------------- served runs (child "served": drives them)


def drive_served(spec: dict[str, Any]) -> dict[str, Any]:
    """Trigger ``runs`` runs of the served lead-pipeline deployment one after the other, each after a new inbox
    file; returns per-run figures from the runs' states."""
    from prefect import get_client
    from prefect.deployments import run_deployment

    name = "lead-pipeline/lead-pipeline"
    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + 120
        while True:  # served once `leadops serve` registered it
            try:
                client.read_deployment_by_name(name)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    runs = []
    for k in range(1, spec["runs"] + 1):
        _new_file(Path(spec["var"]) / "inbox", k, spec["leads"])
        t = time.perf_counter()
        fr = run_deployment(name, timeout=600, poll_interval=0.2)
        wall = time.perf_counter() - t
        with get_client(sync_client=True) as client:
            states = {st.type.value: st.timestamp for st in client.read_flow_run_states(fr.id)}
            fr = client.read_flow_run(fr.id)
        if fr.state_type.value != "COMPLETED":
            raise RuntimeError(f"served run {k} ended {fr.state_type.value}")
        runs.append({"wall": wall, "run": _span(states, "RUNNING", "COMPLETED"),
                     "process_start": _span(states, "PENDING", "RUNNING"), "pick_up": _span(states, "SCHEDULED", "PENDING"),
                     "tasks": task_seconds(str(fr.id))})
    return {"runs": runs}


def _span(states: dict[str, Any], first: str, then: str) -> float:
    """Return the seconds from state ``first`` to state ``then`` of a run (nan when it did not pass both)."""
    return (states[then] - states[first]).total_seconds() if first in states and then in states else float("nan")


def run_served(tmp: Path, provider: dict[str, Any], runs: int, leads: int, validation_server: bool) -> dict[str, Any]:
    """Serve the lead-pipeline deployment with ``leadops serve`` against a temporary Prefect server and drive
    ``runs`` runs; returns per-run figures."""
    import os
    import signal
    import subprocess

    import yaml

    from prefect_server import PrefectServer

    tag = "served" if validation_server else "served-per-run"
    home = tmp / tag
    config = workload.config_dir(home / "config", provider)
    url = fresh_url("sqlite", tag.replace("-", "_"), home)
    workload.prepare_database(url, config)
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    spec["deployments"] = [{**d, "schedules": []} for d in spec["deployments"] if d["name"] == "lead-pipeline"]
    prefect_yaml = home / "prefect.yaml"
    prefect_yaml.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    var = home / "var"
    (var / "inbox").mkdir(parents=True, exist_ok=True)
    server = PrefectServer(home / "server", scheduler=False).start()
    try:
        env = {**server.env(), "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_RUNNER_POLL_FREQUENCY": "1",
               "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30", "LEADOPS_DATABASE_URL": url,
               "LEADOPS_CONFIG_DIR": str(config), "LEADOPS_VAR_DIR": str(var),
               "LEADOPS_EXPECTATIONS_DIR": str(ROOT / "expectations")}
        cmd = [str(Path(sys.executable).parent / "leadops"), "serve", "--prefect-yaml", str(prefect_yaml)]
        if not validation_server:
            cmd.append("--no-validation-server")
        with (home / "serve.log").open("w") as log:
            proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            return spawn(__file__, "served", {"var": str(var), "runs": runs, "leads": leads}, env)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    finally:
        server.stop()


def child(mode: str, spec: dict[str, Any]) -> None:
    res = {"prefect": run_flow, "services": run_services, "served": drive_served}[mode](spec)
    print(json.dumps(res))


# --------------------------------------------------------------------------- parent


def measure(runs: int, leads: int, profile: str | None, served: bool) -> dict[str, dict[str, Any]]:
    """Run both implementations, each in its own process on its own database (and with ``served`` the served
    runs, with and without the validation server); returns their results."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-small-run-") as d:
        tmp = Path(d)
        firmo_csv = workload.firmographics_csv(tmp / "firmographics.csv", DOMAINS)
        if served:
            for shared in (True, False):
                out["served" if shared else "served-per-run"] = run_served(
                    tmp, workload.provider_config("offline", firmo_csv), runs, leads, shared)
        for mode in ("prefect", "services"):
            config = workload.config_dir(tmp / f"config-{mode}", workload.provider_config("offline", firmo_csv))
            url = fresh_url("sqlite", f"small_{mode}", tmp)
            workload.prepare_database(url, config)
            spec = {"url": url, "config": str(config), "var": str(tmp / f"var-{mode}"), "runs": runs, "leads": leads,
                    "profile": profile if mode == "prefect" else None}
            out[mode] = spawn(__file__, mode, spec, child_env(tmp, mode, spec))
    return out


def _tasks(r: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in r["tasks"].items())


def _print_profile(rep: Reporter, path: str, top: int = 25) -> None:
    import io
    import pstats

    buf = io.StringIO()
    pstats.Stats(path, stream=buf).sort_stats("cumulative").print_stats(top)
    rep.line(f"  cProfile of the last warm flow run ({path}), {top} functions by cumulative time:")
    for line in buf.getvalue().splitlines():
        if line.strip() and not line.startswith(("   Ordered", "   List reduced")):
            rep.line("    " + line.rstrip())


def _served_lines(rep: Reporter, res: dict[str, Any], runs: int, warm_svc: float) -> None:
    rep.line(f"  served by `leadops serve` (a new process per run), {runs} runs triggered one after the other:")
    labels = {"served": "validation server (default)", "served-per-run": "--no-validation-server"}
    for mode in ("served", "served-per-run"):
        rep.line(f"    {labels[mode]}")
        for k, run in enumerate(res[mode]["runs"], start=1):
            rep.line(f"      run {k}: run {run['run']:5.2f} s, its process's start {run['process_start']:4.2f} s, "
                     f"pick-up {run['pick_up']:4.2f} s (trigger to completed seen {run['wall']:5.2f} s)")
            rep.line(f"          seconds per task run: {_tasks(run)}")
    warm = {m: statistics.median(r["run"] for r in res[m]["runs"][1:]) for m in labels}
    start = {m: statistics.median(r["process_start"] for r in res[m]["runs"][1:]) for m in labels}
    rep.line(f"    runs 2-{runs} (median): run {warm['served']:.2f} s with the validation server, "
             f"{warm['served-per-run']:.2f} s without ({warm['served-per-run'] / warm['served']:.1f}x); each run's process "
             f"start {start['served']:.2f} s; services without Prefect {warm_svc:.2f} s "
             f"(target: under 2 s: {'met' if warm['served'] < 2 else 'missed'})")
    rep.add("small_run/served/sqlite", warm["served"] / warm_svc, better="lower", warm_run_s=round(warm["served"], 3),
            per_run_validation_s=round(warm["served-per-run"], 3), process_start_s=round(start["served"], 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=6, help="flow runs in one process (run 1 is cold)")
    ap.add_argument("--leads", type=int, default=10, help="leads per inbox file")
    ap.add_argument("--profile", help="profile the last warm flow run with cProfile, stats written here")
    ap.add_argument("--served", action="store_true", help="also measure runs served by `leadops serve` (a new "
                                                          "process per run), with and without its validation server")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "SPEC"))
    add_arguments(ap)
    a = ap.parse_args()
    if a.child:
        return child(a.child[0], json.loads(a.child[1]))
    if a.runs < 2:
        ap.error("--runs must be at least 2 (run 1 is cold)")
    rep = Reporter.from_args(a, "small_run")
    res = measure(a.runs, a.leads, a.profile, a.served)
    fl, sv = res["prefect"], res["services"]
    rep.line(f"small run: lead-pipeline over a new inbox file of {a.leads} leads, {a.runs} runs in one process, sqlite, "
             "offline enrichment")
    labels = {"prefect": "lead-pipeline flow", "services": "services, no Prefect"}
    for mode in ("prefect", "services"):
        r = res[mode]
        rep.line(f"  {labels[mode]} (imports before run 1: {r['import_seconds']:.2f} s)")
        for k, run in enumerate(r["runs"], start=1):
            rep.line(f"    run {k} {'cold' if k == 1 else 'warm'}: wall {run['wall']:5.2f} s, heartbeat "
                     f"{run['heartbeat']:4.2f} s, own {run['own']:5.2f} s  ({run['rows_read']} rows, {run['inserted']} "
                     f"new, {run['quarantined']} quarantined, {run['routed']} routed)")
            rep.line(f"        seconds per {'task run' if mode == 'prefect' else 'stage'}: {_tasks(run)}")
        rep.line(f"    heavy modules loaded after the runs: {', '.join(r['loaded']) or 'none'}")
    warm_flow = statistics.median(r["own"] for r in fl["runs"][1:])
    warm_wall = statistics.median(r["wall"] for r in fl["runs"][1:])
    warm_svc = statistics.median(r["own"] for r in sv["runs"][1:])
    rep.line(f"  warm runs (median of runs 2-{a.runs}): flow own work {warm_flow:.2f} s (wall {warm_wall:.2f} s), "
             f"services {warm_svc:.2f} s; ratio {warm_flow / warm_svc:.1f}x (target: own work under 2 s: "
             f"{'met' if warm_flow < 2 else 'missed'})")
    rep.line(f"  cold run 1: flow own work {fl['runs'][0]['own']:.2f} s, services {sv['runs'][0]['own']:.2f} s")
    rep.add(f"small_run/sqlite/{a.leads}", warm_flow / warm_svc, better="lower", warm_own_s=round(warm_flow, 3),
            warm_wall_s=round(warm_wall, 3), warm_services_s=round(warm_svc, 3), cold_own_s=round(fl["runs"][0]["own"], 3))
    if a.served:
        _served_lines(rep, res, a.runs, warm_svc)
    if a.profile:
        _print_profile(rep, a.profile)
    rep.finish()


if __name__ == "__main__":
    main()
