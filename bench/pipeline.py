"""Pipeline benchmark: the real ``lead-pipeline`` Prefect flow (ingest -> GX gate and row checks -> enrich ->
score -> route -> notify) over an inbox holding one generated lead file, against baselines doing the same job
without Prefect and without Great Expectations: the bare baseline of bench/bare_pipeline.py (plain Python
row by row on the domain layer), the columnar baseline of bench/columnar_pipeline.py (polars, COPY and
UPDATE ... FROM, no per-row Python) and its write-once variant (each lead row written once, with its final
values). Each runs in its own process on its own fresh database, in the same invocation. Prints leads/s,
peak RSS, the ratios of their times, where each spent its time (leadops: per task run, read from Prefect),
the outcome counts, and how many leads and source rows end differently from leadops, compared lead by lead
(by email: stage, owner, grade, score; by source row: inserted, merged into which lead, quarantined).

    .venv/bin/python bench/pipeline.py --leads 100000 1000000 --db sqlite|postgresql --enrich loopback|offline
        [--modes bare leadops columnar write_once] [--latency 0.01] [--services] [--profile out.prof] [--json] [--record]

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
from common import child_env, fresh_url, task_seconds  # noqa: E402
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
    out = dict.fromkeys(STAGES, 0.0)
    for name, seconds in task_seconds(flow_run_id).items():
        out[STAGE_OF_TASK.get(name, name)] = out.get(STAGE_OF_TASK.get(name, name), 0.0) + seconds
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


def run_columnar(spec: dict[str, Any]) -> dict[str, Any]:
    """Run bench/columnar_pipeline.py on the file; returns counts, seconds and stages."""
    import columnar_pipeline

    t = time.perf_counter()
    out = columnar_pipeline.run(Path(spec["file"]), spec["url"], Path(spec["config"]), Path(spec["var"]), spec["enrich"],
                                spec.get("base_url"), Path(spec["firmo_csv"]) if spec.get("firmo_csv") else None,
                                CONCURRENCY)
    return {"seconds": time.perf_counter() - t, **out}


def run_write_once(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the write-once variant of bench/columnar_pipeline.py on the file; returns counts, seconds and stages."""
    import columnar_pipeline

    t = time.perf_counter()
    out = columnar_pipeline.run_write_once(
        Path(spec["file"]), spec["url"], Path(spec["config"]), Path(spec["var"]), spec["enrich"], spec.get("base_url"),
        Path(spec["firmo_csv"]) if spec.get("firmo_csv") else None, CONCURRENCY)
    return {"seconds": time.perf_counter() - t, **out}


RUNNERS = {"bare": run_bare, "leadops": run_leadops, "services": run_services, "columnar": run_columnar,
           "write_once": run_write_once}
LABELS = {"bare": "bare baseline", "leadops": "leadops flow", "services": "leadops services, no Prefect",
          "columnar": "columnar baseline", "write_once": "columnar, write-once"}
BASELINES = ("bare", "columnar", "write_once")
TARGETS = {"bare": 1.5, "columnar": 1.3, "write_once": 2.0}


def child(mode: str, spec: dict[str, Any]) -> None:
    """Run one implementation and print its result (with this process's peak RSS) as the last stdout line."""
    res = RUNNERS[mode](spec)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # CPU time of this process and its ended children (the validation process): user + system, database server not
    # included
    res["cpu_s"] = sum(u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF,
                                                                                  resource.RUSAGE_CHILDREN)))
    print(json.dumps(res))


# --------------------------------------------------------------------------- parent


def spawn(mode: str, spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Run ``mode`` in a child process with its own Prefect home and leadops settings; returns its result."""
    env = child_env(tmp, mode, spec)
    env[workload.FIRMO_KEY_ENV] = workload.FIRMO_KEY
    return common_spawn(__file__, mode, spec, env)


def outcomes(url: str) -> tuple[Any, Any]:
    """Return what each lead and each source row of the run in the database at ``url`` became, as two frames:
    leads (email, stage, owner SDR code, grade, score rounded to 2) and rows (source row, outcome: "lead",
    "merged into <email>" or "quarantined")."""
    import polars as pl
    from sqlalchemy import create_engine, text

    from leadops.db.session import normalize_url

    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as c:
            leads = c.execute(text("SELECT l.email, l.lifecycle_stage, s.code, l.grade, l.score FROM leads l "
                                   "LEFT JOIN sdrs s ON s.id = l.owner_sdr_id")).all()
            rows = c.execute(text("SELECT source_row, 'lead', email FROM leads WHERE source_row IS NOT NULL "
                                  "UNION ALL SELECT m.source_row, 'merged into', l.email FROM lead_merges m "
                                  "JOIN leads l ON l.id = m.lead_id "
                                  "UNION ALL SELECT source_row, 'quarantined', NULL FROM quarantine")).all()
    finally:
        engine.dispose()
    lf = pl.DataFrame(leads, schema={"email": pl.String, "stage": pl.String, "owner": pl.String, "grade": pl.String,
                                     "score": pl.Float64}, orient="row").with_columns(pl.col("score").round(2))
    rf = pl.DataFrame(rows, schema={"row": pl.Int64, "what": pl.String, "email": pl.String}, orient="row").select(
        "row", outcome=pl.when(pl.col("what") == "merged into").then(pl.format("merged into {}", "email"))
        .otherwise(pl.col("what")))
    return lf, rf


def differences(mine: tuple[Any, Any], theirs: tuple[Any, Any], shown: int = 5) -> dict[str, Any]:
    """Compare two runs' ``outcomes``: leads (by email) and source rows that differ, with up to ``shown`` examples."""
    import polars as pl

    out: dict[str, Any] = {}
    for what, key, (a, b) in (("leads", "email", (mine[0], theirs[0])), ("rows", "row", (mine[1], theirs[1]))):
        j = a.join(b, on=key, how="full", coalesce=True, suffix="_leadops", nulls_equal=True)
        cols = [c for c in a.columns if c != key]
        differ = pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_leadops")) for c in cols)
        d = j.filter(differ)
        by_field = {c: d.filter(pl.col(c).ne_missing(pl.col(f"{c}_leadops"))).height for c in cols}
        out[what] = {"total": j.height, "differ": d.height, "by_field": {c: k for c, k in by_field.items() if k},
                     "examples": [", ".join(f"{k}={v}" for k, v in r.items()) for r in d.head(shown).iter_rows(named=True)]}
    return out


def measure(leads: int, db: str, enrich: str, modes: list[str], latency: float, profile: str | None) -> dict[str, dict]:
    """Generate the workload of ``leads`` leads and run each of ``modes`` on it; returns results by mode (each
    baseline with ``vs_leadops``: its lead-by-lead differences from the leadops run, when both ran)."""
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
        results, seen = {}, {}
        for mode in modes:
            config = workload.config_dir(tmp / f"config-{mode}", provider)
            url = fresh_url(db, f"pipe_{mode}", tmp)
            workload.prepare_database(url, config)
            var = tmp / f"var-{mode}"
            if mode in ("leadops", "services"):  # the baselines read the file where it is
                workload.copy_file(leads_csv, var / "inbox")
            spec = {"file": str(leads_csv), "url": url, "config": str(config), "var": str(var), "enrich": enrich,
                    "base_url": srv.base, "firmo_csv": str(firmo_csv), "profile": profile if mode == "leadops" else None}
            results[mode] = spawn(mode, spec, tmp)
            if mode in (*BASELINES, "leadops"):
                seen[mode] = outcomes(url)
        for mode in BASELINES:
            if mode in seen and "leadops" in seen:
                results[mode]["vs_leadops"] = differences(seen[mode], seen["leadops"])
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
    ap.add_argument("--modes", nargs="+", choices=[m for m in RUNNERS if m != "services"],
                    default=["bare", "leadops", "columnar"], help="implementations to run (leadops is always compared)")
    add_arguments(ap)
    a = ap.parse_args()
    if a.child:
        return child(a.child[0], json.loads(a.child[1]))
    rep = Reporter.from_args(a, "pipeline")
    modes = [m for m in RUNNERS if m in a.modes or (m == "services" and a.services)]
    runs = {}
    for n in a.leads:
        res = runs[n] = measure(n, a.db, a.enrich, modes, a.latency, a.profile)
        lo = res.get("leadops")
        what = f"loopback HTTP provider ({a.latency * 1000:g} ms, {CONCURRENCY} in flight)" if a.enrich == "loopback" \
            else "offline provider (no network)"
        rep.line(f"pipeline, {n} leads over {max(1, n // 20)} companies, {a.db}, enrichment from the {what}")
        for mode in modes:
            r = res[mode]
            rep.line(f"  {LABELS[mode]:<30} {n / r['seconds']:>8,.0f} leads/s  {r['seconds']:>7.1f} s  "
                     f"peak RSS {r['peak_rss_mb']:>5.0f} MB")
            rep.line(f"      seconds per stage: {_stages(r)}")
        if a.profile:
            rep.line(f"  (the leadops flow ran under cProfile, {a.profile}: its times are inflated, do not quote them)")
        ratios = {m: lo["seconds"] / res[m]["seconds"] for m in BASELINES if m in res and lo is not None}
        for m, ratio in ratios.items():
            name = {"bare": "bare", "columnar": "columnar", "write_once": "write-once"}[m]
            rep.line(f"  leadops / {name + ':':<20} {ratio:>8.2f}x the baseline's time (target: at most {TARGETS[m]:g}x)")
        if "services" in res and lo is not None:
            rep.line(f"  Prefect's share                {lo['seconds'] / res['services']['seconds']:>8.2f}x the services' time")
        if a.enrich == "offline" and lo is not None:
            rep.line(f"  end to end                     {n / lo['seconds']:>8,.0f} leads/s (target: at least 5,000)")
        keys = ("rows_read", "inserted", "merged", "quarantined", "enriched", "scored", "promoted_mql", "routed",
                "notifications_sent")
        for mode in modes:
            r = res[mode]
            ok = r["rows_read"] == r["inserted"] + r["merged"] + r["quarantined"]
            rep.line(f"  {mode:<10} " + ", ".join(f"{k} {r[k]}" for k in keys) + f" (every row accounted: {ok})")
        for mode in BASELINES:
            vs = res.get(mode, {}).get("vs_leadops")
            if vs is None:
                continue
            fields = ", ".join(f"{c} {k:,}" for part in ("leads", "rows") for c, k in vs[part]["by_field"].items())
            rep.line(f"  lead by lead, {mode} against leadops: {vs['leads']['differ']:,} of {vs['leads']['total']:,} leads "
                     f"and {vs['rows']['differ']:,} of {vs['rows']['total']:,} source rows end differently"
                     + (f" (by field: {fields})" if fields else ""))
            for example in vs["leads"]["examples"] + vs["rows"]["examples"]:
                rep.line(f"      {example}")
        if lo is not None:
            info: dict[str, Any] = {"leads_per_s": round(n / lo["seconds"]), "peak_rss_mb": round(lo["peak_rss_mb"]),
                                    "cpu_s": round(lo["cpu_s"], 2),
                                    "stages": {k: round(v, 2) for k, v in lo["stages"].items()}}
            for m in BASELINES:
                if m in res:
                    r = res[m]
                    info.update({f"{m}_leads_per_s": round(n / r["seconds"]), f"{m}_peak_rss_mb": round(r["peak_rss_mb"]),
                                 f"{m}_cpu_s": round(r["cpu_s"], 2),
                                 f"{m}_stages": {k: round(v, 2) for k, v in r["stages"].items()},
                                 f"vs_{m}": round(ratios[m], 4)})
                    if "vs_leadops" in r:
                        info[f"{m}_leads_differing"] = r["vs_leadops"]["leads"]["differ"]
                        info[f"{m}_rows_differing"] = r["vs_leadops"]["rows"]["differ"]
            # the compared figure stays leadops / bare (the recorded baseline's meaning); without a bare run,
            # leadops / columnar under a key of its own
            if "bare" in ratios:
                rep.add(f"pipeline/{a.db}/{a.enrich}/{n}", ratios["bare"], better="lower", **info)
            elif "columnar" in ratios:
                rep.add(f"pipeline/{a.db}/{a.enrich}/{n}/vs-columnar", ratios["columnar"], better="lower", **info)
    if len(runs) > 1:
        small, big = min(runs), max(runs)
        grow = {m: runs[big][m]["peak_rss_mb"] / runs[small][m]["peak_rss_mb"] for m in modes}
        rep.line(f"memory growth, {small} -> {big} leads ({big / small:.0f}x the input): "
                 + ", ".join(f"{m} {g:.2f}x" for m, g in grow.items()))
    rep.finish()


if __name__ == "__main__":
    main()
