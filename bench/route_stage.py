"""Routing stage alone: ``route_pending`` timed on copies of one database prepared once (intake, enrichment and
scoring of a generated file by leadops' own services), for A/B runs of two checkouts of leadops on the same copy.

    .venv/bin/python bench/route_stage.py prepare --leads 100000 --db sqlite|postgresql --dir DIR
    .venv/bin/python bench/route_stage.py ab --db sqlite|postgresql --dir DIR --code A_ROOT B_ROOT [--rounds 3]
        [--profile]

- ``prepare``: generates the pipeline benchmark's workload (bench/workload.py), migrates a database, loads
  the roster and runs ``ingest_file``, ``enrich_pending`` (offline provider) and ``score_open_leads``; keeps
  the SQLite file (DIR/base.db) or the PostgreSQL database ``route_base_<leads>`` as the template of copies.
- ``ab``: for each round and each checkout (alternated), a child process importing leadops from that checkout
  routes a fresh copy at one fixed instant and prints its seconds and a digest of everything routing wrote
  (assignments with candidates, clocks, events, outbox rows, lead and account owners, positions); the digests
  must agree. Prints each checkout's times and the ratio of their medians; ``--profile`` writes
  DIR/route-<i>.prof for each checkout's last round.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import pg_admin, pg_database, stage_workload  # bench/ is the script's folder

BENCH = Path(__file__).resolve().parent
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # a Monday morning: most SDRs in working hours
DIGESTED = {
    "assignments": "SELECT * FROM assignments ORDER BY id",
    "sla_clocks": "SELECT * FROM sla_clocks ORDER BY id",
    "sla_events": "SELECT * FROM sla_events ORDER BY id",
    # an unroutable lead's alerts are stamped with the wall clock, not the pass's instant
    "notification_outbox": "SELECT id, key, kind, channel, recipient, subject, body, lead_id, status, attempts,"
                           " CASE WHEN kind = 'assignment' THEN created_at END FROM notification_outbox ORDER BY id",
    "leads": "SELECT id, owner_sdr_id, routing_status, updated_at FROM leads ORDER BY id",
    "accounts": "SELECT id, owner_sdr_id FROM accounts ORDER BY id",
    "routing_positions": "SELECT * FROM routing_positions ORDER BY pool, sdr_id",
    # the same facts without ids, which interleave held audits and assignments by chunk
    "decisions (no ids)": "SELECT lead_id, sdr_id, ae_id, previous_sdr_id, kind, status, rule, reason, candidates, active,"
                          " assigned_at FROM assignments ORDER BY lead_id, status",
    "clocks and events (no ids)": "SELECT c.lead_id, c.sdr_id, c.policy, c.kind, c.target_seconds, c.due_at, c.status,"
                                  " e.step, e.detail FROM sla_clocks c JOIN sla_events e ON e.clock_id = c.id"
                                  " ORDER BY c.lead_id, e.step",
    "messages (no ids)": "SELECT kind, channel, recipient, subject, body, lead_id FROM notification_outbox"
                         " ORDER BY lead_id, kind, recipient, subject, body",
}


def prepare(leads: int, db: str, out: Path) -> None:
    """Build the database after scoring (see the module's docstring) and keep it as the copies' template."""
    sys.path[:0] = [str(BENCH), str(BENCH.parent)]
    import workload

    config, leads_csv = stage_workload(out, leads)
    url = f"sqlite:///{out / 'base.db'}" if db == "sqlite" else pg_database(f"route_base_{leads}")
    workload.prepare_database(url, config)
    var = out / "var"
    workload.copy_file(leads_csv, var / "inbox")
    os.environ.update(LEADOPS_DATABASE_URL=url, LEADOPS_CONFIG_DIR=str(config), LEADOPS_VAR_DIR=str(var),
                      LEADOPS_EXPECTATIONS_DIR=str(BENCH.parent / "expectations"), GX_ANALYTICS_ENABLED="false")
    from leadops.config import get_settings, load_rules
    from leadops.db.session import get_engine, session_scope
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.intake.files import ingest_file
    from leadops.intake.inbox import discover
    from leadops.services import enrich, score

    s = get_settings()
    rules = load_rules(s.config_dir)
    t = time.perf_counter()
    for path in discover(s.inbox_dir):
        with session_scope(s.database_url) as session:
            ingest_file(SqlUnitOfWork.around(session), path, rules, s)
    with SqlUnitOfWork(s.database_url) as uow:
        enrich.enrich_pending(uow, rules, checkpoint=lambda done, total: uow.commit())
        uow.commit()
    with SqlUnitOfWork(s.database_url) as uow:
        sc = score.score_open_leads(uow, rules)
        uow.commit()
    get_engine(url).dispose()
    print(f"prepared {url} in {time.perf_counter() - t:.1f} s: {sc.promoted_mql} MQLs", file=sys.stderr)


def _copy(db: str, base: Path, leads: int, tag: str) -> str:
    """Return the URL of a fresh copy of the prepared database."""
    if db == "sqlite":
        target = Path(tempfile.mkdtemp(prefix="route-")) / "copy.db"
        shutil.copy(base / "base.db", target)
        return f"sqlite:///{target}"
    return pg_database(f"route_copy_{tag}", template=f"route_base_{leads}")


def _drop(db: str, url: str) -> None:
    if db == "sqlite":
        shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)
    else:
        pg_admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}")


def child(spec: dict[str, Any]) -> None:
    """Route the copy at ``spec["url"]`` (leadops from this process's path); print seconds and the digest."""
    from sqlalchemy import text

    from leadops.config import load_rules
    from leadops.db.session import get_engine
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.route import route_pending

    rules = load_rules(Path(spec["config"]))
    if spec.get("columnar"):
        _columnar(spec, rules)
        return
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    t, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    with SqlUnitOfWork(spec["url"]) as uow:
        summary = route_pending(uow, rules, "Europe/Paris", now=NOW)
        uow.commit()
    if profiler is not None:
        profiler.disable()
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the peak up to the end of routing
    if profiler is not None:
        profiler.dump_stats(spec["profile"])
    digest = {}
    with get_engine(spec["url"]).connect() as c:
        for table, sql in DIGESTED.items():
            h = hashlib.sha256()
            n = 0
            for row in c.execute(text(sql)):
                h.update(repr(tuple(row)).encode())
                n += 1
            digest[table] = f"{n}:{h.hexdigest()[:16]}"
    get_engine(spec["url"]).dispose()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "rss_mb": rss_mb, "assigned": summary.assigned, "held": summary.held,
                      "unroutable": summary.unroutable, "digest": digest}))


def _columnar(spec: dict[str, Any], rules: Any) -> None:
    """Route the copy with the columnar baseline's routing stage (bench/columnar_pipeline.py); print its seconds."""
    sys.path[:0] = [str(BENCH)]
    import columnar_pipeline

    from leadops.db.session import get_engine

    engine = get_engine(spec["url"])
    t, cpu = time.perf_counter(), time.process_time()
    with engine.begin() as conn:
        out = columnar_pipeline.routing(columnar_pipeline._Db(conn), rules, NOW)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    engine.dispose()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "assigned": out["routed"], "held": 0, "unroutable": out["unroutable"],
                      "digest": {}}))


def ab(db: str, base: Path, codes: list[str], rounds: int, profile: bool) -> None:
    """Time each checkout of ``codes`` ``rounds`` times, alternated, on fresh copies; print times, ratio, digests."""
    leads = int(next(base.glob("leads-*.csv")).stem.split("-")[1])
    times: dict[str, list[float]] = {c: [] for c in codes}
    cpus: dict[str, list[float]] = {c: [] for c in codes}
    digests: dict[str, Any] = {}
    for r in range(rounds):
        for code in codes if r % 2 == 0 else codes[::-1]:
            k = codes.index(code)
            url = _copy(db, base, leads, f"{os.getpid()}_{k}")
            columnar = code == "columnar"  # the baseline, on the main checkout's leadops
            root = "/work/main" if columnar else code
            spec = {"url": url, "config": str(base / "config"), "columnar": columnar,
                    "profile": str(base / f"route-{db}-{k}.prof") if profile and r == rounds - 1 else None}
            env = {**{k_: v for k_, v in os.environ.items() if not k_.startswith("LEADOPS_")}, "PYTHONPATH": root}
            proc = subprocess.run([sys.executable, __file__, "child", json.dumps(spec)], capture_output=True,
                                  text=True, env=env, cwd=root, check=False)
            _drop(db, url)
            if proc.returncode:
                sys.exit(f"{code} failed:\n{proc.stderr[-3000:]}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            times[code].append(res["seconds"])
            cpus[code].append(res["cpu"])
            digests.setdefault(code, res["digest"])
            print(f"round {r} {code}: {res['seconds']:.2f} s, cpu {res['cpu']:.2f} s, peak RSS {res.get('rss_mb', 0):.0f} MB"
                  f" (assigned {res['assigned']}, "
                  f"held {res['held']}, unroutable {res['unroutable']})", file=sys.stderr, flush=True)
    for code in codes:
        print(f"{code}: wall median {statistics.median(times[code]):.2f} s, min {min(times[code]):.2f} s, runs "
              f"{[round(x, 2) for x in times[code]]}; process cpu median {statistics.median(cpus[code]):.2f} s")
    for code in codes[1:]:
        for what, d in (("wall median", times), ("wall min", times), ("cpu median", cpus)):
            pick = min if what == "wall min" else statistics.median
            print(f"ratio {code} / {codes[0]} ({what}): {pick(d[code]) / pick(d[codes[0]]):.3f}")
    first = digests[codes[0]]
    for code in (c for c in codes[1:] if c != "columnar"):
        differing = [t for t in first if first[t] != digests[code][t]]
        print(f"digest {code} vs {codes[0]}: {'identical' if not differing else 'DIFFERENT: ' + ', '.join(differing)}")
    print(json.dumps(digests, indent=1))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "child":
        child(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--leads", type=int, default=100_000)
    p.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    p.add_argument("--dir", type=Path, required=True)
    a = sub.add_parser("ab")
    a.add_argument("--db", choices=("sqlite", "postgresql"), required=True)
    a.add_argument("--dir", type=Path, required=True)
    a.add_argument("--code", nargs="+", required=True)
    a.add_argument("--rounds", type=int, default=3)
    a.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.leads, args.db, args.dir)
    else:
        ab(args.db, args.dir, args.code, args.rounds, args.profile)


if __name__ == "__main__":
    main()
