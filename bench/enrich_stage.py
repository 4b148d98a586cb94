"""Enrichment stage alone, A/B: leadops' ``enrich_pending`` (offline provider) on copies of one database
prepared once (after intake), each run in its own process with the ``leadops`` package of a given folder.

    .venv/bin/python bench/enrich_stage.py prepare --leads 300000 --db sqlite --dir /tmp/enrich-300k
    .venv/bin/python bench/enrich_stage.py time --dir /tmp/enrich-300k --code /tmp/old . columnar --rounds 3

``prepare`` generates the pipeline benchmark's workload (bench/workload.py) and runs leadops' intake
service over it; ``time`` alternates the code folders (or ``columnar``: the columnar baseline's stage)
round by round, each on a fresh copy of the prepared database (SQLite file copy; PostgreSQL
``CREATE DATABASE ... TEMPLATE``), and prints the seconds of the service call (committing as the
pipeline's task does), its CPU seconds (the child's, plus its PostgreSQL backends' when the server runs
on this host), its summary, a digest of what it wrote (the leads' enrichment columns, lookups, records)
and, on PostgreSQL, how many of the leads' row updates were HOT; ``--profile`` writes a cProfile per folder.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import pg_database, server_cpu, stage_workload  # bench/ is the script's folder

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def _env(spec: dict, code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_API_URL"))}
    env.update({"PYTHONPATH": f"{code}:{BENCH}", "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                "LEADOPS_EXPECTATIONS_DIR": str(ROOT / "expectations"), "LEADOPS_DATABASE_URL": spec["url"],
                "LEADOPS_CONFIG_DIR": spec["config"], "LEADOPS_VAR_DIR": spec["var"]})
    return env


def prepare(leads: int, db: str, folder: Path) -> None:
    """Write the workload, an empty database and its intake into ``folder`` (spec.json says where)."""
    sys.path[:0] = [str(BENCH), str(ROOT)]
    import workload

    config, leads_csv = stage_workload(folder, leads)
    url = f"sqlite:///{folder / 'prepared.db'}" if db == "sqlite" else pg_database(f"enrich_stage_{leads}")
    workload.prepare_database(url, config)
    var = folder / "var"
    workload.copy_file(leads_csv, var / "inbox")
    spec = {"url": url, "db": db, "config": str(config), "var": str(var), "leads": leads}
    (folder / "spec.json").write_text(json.dumps(spec))
    subprocess.run([sys.executable, __file__, "child-ingest", json.dumps(spec)], check=True, env=_env(spec, ROOT))


def child_ingest(spec: dict) -> None:
    from leadops.config import get_settings, load_rules
    from leadops.db.session import session_scope
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.intake.files import ingest_file
    from leadops.intake.inbox import discover

    s = get_settings()
    rules = load_rules(s.config_dir)
    t = time.perf_counter()
    for path in discover(s.inbox_dir):
        with session_scope(s.database_url) as session:
            out = ingest_file(SqlUnitOfWork.around(session), path, rules, s)
        print(f"ingested {path.name}: {out.inserted} inserted in {time.perf_counter() - t:.1f} s", file=sys.stderr)


def _copy(spec: dict, tag: str, folder: Path) -> str:
    """Return the URL of a fresh copy of the prepared database."""
    if spec["db"] == "sqlite":
        src = Path(spec["url"].removeprefix("sqlite:///"))
        dst = folder / f"run-{tag}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{dst}{suffix}").unlink(missing_ok=True)
            if Path(f"{src}{suffix}").exists():
                shutil.copy(f"{src}{suffix}", f"{dst}{suffix}")
        return f"sqlite:///{dst}"
    src_name = spec["url"].rsplit("/", 1)[1]
    return pg_database(f"{src_name}_{tag}", template=src_name)


def child_columnar(spec: dict) -> None:
    """The columnar baseline's enrichment stage (bench/columnar_pipeline.py) on the same database."""
    from datetime import UTC, datetime

    import columnar_pipeline as columnar

    from leadops.config import get_settings, load_rules
    from leadops.db.session import get_engine

    s = get_settings()
    rules = load_rules(s.config_dir)
    t, cpu = time.perf_counter(), time.process_time()
    with get_engine(s.database_url).begin() as conn:
        out = columnar.enrichment(columnar._Db(conn), "offline", None, Path(spec["config"]).parent / "firmographics.csv",
                                  8, rules, datetime.now(UTC))
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "server_cpu": server_cpu(s.database_url), **out}))


def child_enrich(spec: dict) -> None:
    from leadops.config import get_settings, load_rules
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services import enrich

    s = get_settings()
    rules = load_rules(s.config_dir)
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    committed = time.perf_counter()
    commits = 0
    with SqlUnitOfWork(s.database_url) as uow:
        # the task's commit policy, from the code timed (before commit_due: at most every 2 s)
        due = getattr(enrich, "commit_due", None) or (lambda repo, done, total, since, least: done >= total
                                                      or since >= least)

        def checkpoint(done: int, total: int) -> None:
            nonlocal committed, commits
            if not due(uow.enrichment, done, total, time.perf_counter() - committed, 2.0):
                return
            uow.commit()
            commits += 1
            committed = time.perf_counter()

        if profiler is not None:
            profiler.enable()
        t, cpu = time.perf_counter(), time.process_time()
        out = enrich.enrich_pending(uow, rules, checkpoint=checkpoint)
        uow.commit()
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        server = server_cpu(s.database_url)  # the unit of work's connection is still open
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(spec["profile"])
    print(json.dumps({"seconds": seconds, "cpu": cpu, "server_cpu": server, "commits": commits, "domains": out.domains,
                      "enriched": out.enriched,
                      "partial": out.partial, "not_enriched": out.not_enriched, "skipped": out.skipped}))


def _fingerprint(url: str) -> str:
    """Return a digest of what enrichment wrote (leads' enrichment columns, lookups, records)."""
    import hashlib

    from sqlalchemy import create_engine, text

    h = hashlib.sha256()
    engine = create_engine(url)
    with engine.connect() as c:
        for q in (("SELECT email, enrichment_status, industry, employee_count, employee_band, revenue_band, "
                   "enriched_at IS NOT NULL FROM leads ORDER BY email"),
                  "SELECT domain, provider, status, error FROM enrichment_lookups ORDER BY domain, provider",
                  ("SELECT domain, provider, field, value, confidence FROM enrichment_records "
                   "ORDER BY domain, provider, field")):
            for row in c.execute(text(q)):
                h.update(repr(tuple(row)).encode())
    engine.dispose()  # the next round drops this database
    return h.hexdigest()[:16]


def _hot(url: str) -> str:
    """Return ", HOT updates of leads: <hot> of <all>" on PostgreSQL (heap-only: no index entry written), else ""."""
    if not url.startswith("postgresql"):
        return ""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as c:
        upd, hot = c.execute(text("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'leads'")).one()
    engine.dispose()
    return f", HOT updates of leads: {hot} of {upd}"


def time_runs(folder: Path, codes: list[Path], rounds: int, profile: bool) -> None:
    spec = json.loads((folder / "spec.json").read_text())
    seconds: dict[str, list[float]] = {str(c): [] for c in codes}
    cpus: dict[str, list[float]] = {str(c): [] for c in codes}
    for r in range(rounds):
        for i, code in enumerate(codes):
            url = _copy(spec, f"c{i}", folder)
            run = {**spec, "url": url, "profile": str(folder / f"enrich-c{i}.prof") if profile and r == 0 else None}
            child = "child-columnar" if code.name == "columnar" else "child-enrich"
            proc = subprocess.run([sys.executable, __file__, child, json.dumps(run)], capture_output=True,
                                  text=True, env=_env(run, ROOT if code.name == "columnar" else code), check=False)
            if proc.returncode:
                sys.exit(proc.stderr[-3000:])
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            seconds[str(code)].append(res["seconds"])
            cpus[str(code)].append(res["cpu"] + (res["server_cpu"] or 0.0))
            print(f"round {r} {code}: {res['seconds']:.2f} s {res} digest {_fingerprint(url)}{_hot(url)}", flush=True)
    first = min(seconds[str(codes[0])])
    for code, s in seconds.items():
        print(f"{code}: best {min(s):.2f} s, runs {', '.join(f'{x:.2f}' for x in s)}; "
              f"best / first's best {min(s) / first:.2f}x; median {statistics.median(s):.2f} s; "
              f"CPU (process + server) median {statistics.median(cpus[code]):.2f} s")


def main() -> None:
    children = {"child-ingest": child_ingest, "child-enrich": child_enrich, "child-columnar": child_columnar}
    if len(sys.argv) == 3 and sys.argv[1] in children:
        children[sys.argv[1]](json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--leads", type=int, required=True)
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--dir", type=Path, required=True)
    t = sub.add_parser("time")
    t.add_argument("--dir", type=Path, required=True)
    t.add_argument("--code", type=Path, nargs="+", required=True,
                   help="folders holding the leadops package to time; 'columnar': the columnar baseline's stage")
    t.add_argument("--rounds", type=int, default=2)
    t.add_argument("--profile", action="store_true", help="cProfile the first round (enrich-c<i>.prof in --dir)")
    a = ap.parse_args()
    if a.cmd == "prepare":
        prepare(a.leads, a.db, a.dir)
    else:
        time_runs(a.dir, a.code, a.rounds, a.profile)


if __name__ == "__main__":
    main()
