"""Pipeline benchmark: the real ``lead-pipeline`` Prefect flow (ingest -> GX gate and row checks -> enrich ->
score -> route -> notify) over an inbox holding one generated lead file, against the bare baseline of
bench/bare_pipeline.py (the same stages in plain Python, no Prefect, no Great Expectations), each in
its own process on its own fresh database, in the same invocation. Prints leads/s, peak RSS, the
ratio of their times and where each spent its time (leadops: per task run, read from Prefect).

    .venv/bin/python bench/pipeline.py --leads 100000 1000000 --db sqlite|postgresql --enrich loopback|offline
        [--latency 0.01] [--services] [--profile out.prof] [--json] [--record]

- ``--enrich loopback``: a Clearbit-shaped HTTP provider on 127.0.0.1 (tests/support/firmo_server.py,
  run by this parent process) answering after ``--latency`` seconds, asked by 8 threads in both
  implementations; ``offline``: the offline CSV provider with the generated companies (no network),
  the setting of the 5,000 leads/s target.
- ``--services``: also run leadops' service functions directly (no Prefect, GX kept), to split
  Prefect's share from the rest.
- ``--profile PATH``: run the leadops flow under cProfile and write the stats to PATH.
- The ephemeral Prefect API of the leadops process is started before the clock starts (a warm-up
  flow): a deployment's runs do not pay for it either. PREFECT_API_URL is not passed to children.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import workload  # noqa: E402 - bench/ is the script's folder
from common import child_env, fresh_url  # noqa: E402
from common import spawn as common_spawn  # noqa: E402
from results import Reporter, add_arguments  # noqa: E402

CONCURRENCY = 8
STAGE_OF_TASK = {"discover_inbox": "ingest", "ingest": "ingest", "api_sources": "ingest", "publish_data_docs": "data_docs",
                 "enrich_leads": "enrich", "score_leads": "score", "route_leads": "route",
                 "deliver_notifications": "deliver"}
STAGES = ("ingest", "data_docs", "enrich", "score", "route", "deliver")


# --------------------------------------------------------------------------- children (one per implementation)


def _task_stages(flow_run_id: str, flow_seconds: float) -> dict[str, float]:
    """Return seconds per stage from the flow run's task runs, plus ``orchestration`` (the flow's time outside tasks)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        for _ in range(50):  # task run states arrive as events: wait until every run has its end time
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            if runs and all(r.end_time for r in runs):
                break
            time.sleep(0.2)
    out = dict.fromkeys(STAGES, 0.0)
    for r in runs:
        name = r.name.split("-")[0] if r.name.startswith("ingest-") else r.name.rsplit("-", 1)[0]
        if r.start_time and r.end_time:
            out[STAGE_OF_TASK.get(name, name)] = out.get(STAGE_OF_TASK.get(name, name), 0.0) + \
                (r.end_time - r.start_time).total_seconds()
    out["orchestration"] = max(0.0, flow_seconds - sum(out.values()))
    return out


def run_leadops(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the lead-pipeline flow over the inbox (after a warm-up flow); returns counts, seconds and stages."""
    from prefect import flow

    @flow(name="bench-warm-up")
    def warm_up() -> None:
        return None

    warm_up()
    from leadops.flows.lead_pipeline import lead_pipeline

    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t = time.perf_counter()
    summary = lead_pipeline(config_dir=spec["config"], var_dir=spec["var"]).as_dict()  # the JSON shape: counts by name
    seconds = time.perf_counter() - t
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["profile"])
    counts = {k: summary[k] for k in ("rows_read", "inserted", "merged", "quarantined", "enriched", "not_enriched",
                                      "enrichment_skipped", "scored", "promoted_mql", "routed", "unroutable",
                                      "notifications_sent")}
    counts["not_enriched"] += summary["partially_enriched"]
    return {"seconds": seconds, **counts, "stages": _task_stages(summary["flow_run_id"], seconds)}


def run_services(spec: dict[str, Any]) -> dict[str, Any]:
    """Run leadops' service functions directly, as the tasks call them, without Prefect; returns counts and stages."""
    from leadops.config import get_settings, load_rules
    from leadops.db.session import session_scope
    from leadops.db.unit_of_work import SqlUnitOfWork, sql_units
    from leadops.notify.outbox import deliver
    from leadops.notify.senders import sender_for
    from leadops.intake.files import ingest_file
    from leadops.intake.gate import build_data_docs
    from leadops.intake.inbox import discover
    from leadops.services import enrich, route, score

    s = get_settings()
    rules = load_rules(s.config_dir)
    stages, counts = {}, {"rows_read": 0, "inserted": 0, "merged": 0, "quarantined": 0}
    t0 = t = time.perf_counter()
    for path in discover(s.inbox_dir):
        with session_scope(s.database_url) as session:
            out = ingest_file(SqlUnitOfWork.around(session), path, rules, s)
        for k in counts:
            counts[k] += getattr(out, k)
    stages["ingest"], t = time.perf_counter() - t, time.perf_counter()
    build_data_docs(s.var_dir / "data_docs")
    stages["data_docs"], t = time.perf_counter() - t, time.perf_counter()
    with SqlUnitOfWork(s.database_url) as uow:
        e = enrich.enrich_pending(uow, rules, checkpoint=lambda done, total: uow.commit())
    stages["enrich"], t = time.perf_counter() - t, time.perf_counter()
    with SqlUnitOfWork(s.database_url) as uow:
        sc = score.score_open_leads(uow, rules)
    stages["score"], t = time.perf_counter() - t, time.perf_counter()
    with SqlUnitOfWork(s.database_url) as uow:
        r = route.route_pending(uow, rules, s.company_time_zone)
    stages["route"], t = time.perf_counter() - t, time.perf_counter()
    d = deliver(sql_units(s.database_url), sender_for(s))
    stages["deliver"] = time.perf_counter() - t
    counts.update(enriched=e.enriched, not_enriched=e.partial + e.not_enriched, enrichment_skipped=e.skipped,
                  scored=sc.scored, promoted_mql=sc.promoted_mql, routed=r.assigned, unroutable=r.unroutable,
                  notifications_sent=d.sent)
    return {"seconds": time.perf_counter() - t0, **counts, "stages": stages}


def run_bare(spec: dict[str, Any]) -> dict[str, Any]:
    """Run bench/bare_pipeline.py on the file; returns counts, seconds and stages."""
    import bare_pipeline

    t = time.perf_counter()
    out = bare_pipeline.run(Path(spec["file"]), spec["url"], Path(spec["config"]), Path(spec["var"]), spec["enrich"],
                            spec.get("base_url"), Path(spec["firmo_csv"]) if spec.get("firmo_csv") else None, CONCURRENCY)
    return {"seconds": time.perf_counter() - t, **out}


def child(mode: str, spec: dict[str, Any]) -> None:
    """Run one implementation and print its result (with this process's peak RSS) as the last stdout line."""
    res = {"bare": run_bare, "leadops": run_leadops, "services": run_services}[mode](spec)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


# --------------------------------------------------------------------------- parent


def spawn(mode: str, spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Run ``mode`` in a child process with its own Prefect home and leadops settings; returns its result."""
    env = child_env(tmp, mode, spec)
    env[workload.FIRMO_KEY_ENV] = workload.FIRMO_KEY
    return common_spawn(__file__, mode, spec, env)


def measure(leads: int, db: str, enrich: str, modes: list[str], latency: float, profile: str | None) -> dict[str, dict]:
    """Generate the workload of ``leads`` leads and run each of ``modes`` on it; returns results by mode."""
    from tests.support.firmo_server import FirmoServer

    domains = max(1, leads // 20)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as d, FirmoServer(workload.FIRMO_KEY) as srv:
        tmp = Path(d)
        srv.latency = latency
        workload.fill_firmo_server(srv, domains)
        firmo_csv = workload.firmographics_csv(tmp / "firmographics.csv", domains)
        leads_csv = tmp / f"leads-{leads}.csv"
        workload.generate(leads_csv, leads, domains)
        provider = workload.provider_config(enrich, firmo_csv, srv.base, CONCURRENCY)
        results = {}
        for mode in modes:
            config = workload.config_dir(tmp / f"config-{mode}", provider)
            url = fresh_url(db, f"pipe_{mode}", tmp)
            workload.prepare_database(url, config)
            var = tmp / f"var-{mode}"
            if mode != "bare":  # the baseline reads the file where it is
                workload.copy_file(leads_csv, var / "inbox")
            spec = {"file": str(leads_csv), "url": url, "config": str(config), "var": str(var), "enrich": enrich,
                    "base_url": srv.base, "firmo_csv": str(firmo_csv), "profile": profile if mode == "leadops" else None}
            results[mode] = spawn(mode, spec, tmp)
    return results


def _stages(res: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in res["stages"].items() if v >= 0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, nargs="+", default=[100_000])
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--enrich", choices=["loopback", "offline"], default="loopback")
    ap.add_argument("--latency", type=float, default=0.01, help="loopback provider's answer delay (s)")
    ap.add_argument("--services", action="store_true", help="also run leadops' services without Prefect")
    ap.add_argument("--profile", help="write a cProfile of the leadops flow here")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "SPEC"))
    add_arguments(ap)
    a = ap.parse_args()
    if a.child:
        return child(a.child[0], json.loads(a.child[1]))
    rep = Reporter.from_args(a, "pipeline")
    modes = ["bare", "leadops"] + (["services"] if a.services else [])
    runs = {}
    for n in a.leads:
        res = runs[n] = measure(n, a.db, a.enrich, modes, a.latency, a.profile)
        b, lo = res["bare"], res["leadops"]
        what = f"loopback HTTP provider ({a.latency * 1000:g} ms, {CONCURRENCY} in flight)" if a.enrich == "loopback" \
            else "offline provider (no network)"
        rep.line(f"pipeline, {n} leads over {max(1, n // 20)} companies, {a.db}, enrichment from the {what}")
        labels = {"bare": "bare baseline", "leadops": "leadops flow", "services": "leadops services, no Prefect"}
        for mode in modes:
            r = res[mode]
            rep.line(f"  {labels[mode]:<30} {n / r['seconds']:>8,.0f} leads/s  {r['seconds']:>7.1f} s  "
                     f"peak RSS {r['peak_rss_mb']:>5.0f} MB")
            rep.line(f"      seconds per stage: {_stages(r)}")
        ratio = lo["seconds"] / b["seconds"]
        if a.profile:
            rep.line(f"  (the leadops flow ran under cProfile, {a.profile}: its times are inflated, do not quote them)")
        rep.line(f"  ratio                          {ratio:>8.2f}x the baseline's time (target: at most 1.5x)")
        if "services" in res:
            rep.line(f"  Prefect's share                {lo['seconds'] / res['services']['seconds']:>8.2f}x the services' time")
        if a.enrich == "offline":
            rep.line(f"  end to end                     {n / lo['seconds']:>8,.0f} leads/s (target: at least 5,000)")
        keys = ("rows_read", "inserted", "merged", "quarantined", "enriched", "scored", "promoted_mql", "routed",
                "notifications_sent")
        for mode in modes:
            r = res[mode]
            ok = r["rows_read"] == r["inserted"] + r["merged"] + r["quarantined"]
            rep.line(f"  {mode:<8} " + ", ".join(f"{k} {r[k]}" for k in keys) + f" (every row accounted: {ok})")
        rep.add(f"pipeline/{a.db}/{a.enrich}/{n}", ratio, better="lower", leads_per_s=round(n / lo["seconds"]),
                bare_leads_per_s=round(n / b["seconds"]), peak_rss_mb=round(lo["peak_rss_mb"]),
                bare_peak_rss_mb=round(b["peak_rss_mb"]), stages={k: round(v, 2) for k, v in lo["stages"].items()},
                bare_stages={k: round(v, 2) for k, v in b["stages"].items()})
    if len(runs) > 1:
        small, big = min(runs), max(runs)
        grow = {m: runs[big][m]["peak_rss_mb"] / runs[small][m]["peak_rss_mb"] for m in modes}
        rep.line(f"memory growth, {small} -> {big} leads ({big / small:.0f}x the input): "
                 + ", ".join(f"{m} {g:.2f}x" for m, g in grow.items()))
    rep.finish()


if __name__ == "__main__":
    main()
