"""Intake stage alone, A/B: leadops' ``ingest_file`` of the pipeline benchmark's file on copies of one empty
database, each run in its own process with the ``leadops`` package of a given folder.

    .venv/bin/python bench/ingest_stage.py prepare --leads 100000 --db sqlite --dir /tmp/ingest-100k
    .venv/bin/python bench/ingest_stage.py time --dir /tmp/ingest-100k --code /tmp/old . --rounds 3

``prepare`` writes the workload (bench/workload.py), its config and an empty database; ``time`` alternates
the code folders round by round, each on a fresh copy (SQLite file copy; PostgreSQL ``CREATE DATABASE ...
TEMPLATE``), and prints the seconds of ``ingest_file`` (its own validation process started at the call, or
``--head-start`` seconds before it as the pipeline's discover task does), its counts and a digest of what it
stored (leads' columns but ids and times, quarantine rows with their reasons, merges); ``--profile`` writes a
cProfile per folder.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import pg_database, stage_workload  # bench/ is the script's folder
from enrich_stage import ROOT, _copy, _env

BENCH = Path(__file__).resolve().parent


def prepare(leads: int, db: str, folder: Path, name: str | None = None) -> None:
    """Write the workload file, its config and an empty database into ``folder`` (spec.json says where);
    ``name``: the PostgreSQL database's (default ``ingest_stage_<leads>``; its copies add a suffix)."""
    sys.path[:0] = [str(BENCH), str(ROOT)]
    import workload

    config, path = stage_workload(folder, leads)
    url = f"sqlite:///{folder / 'prepared.db'}" if db == "sqlite" else pg_database(name or f"ingest_stage_{leads}")
    workload.prepare_database(url, config)
    spec = {"url": url, "db": db, "config": str(config), "var": str(folder / "var"), "leads": leads, "file": str(path)}
    (folder / "spec.json").write_text(json.dumps(spec))


def child_ingest(spec: dict) -> None:
    from leadops.config import get_settings, load_rules
    from leadops.db.session import session_scope
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.intake.files import ingest_file

    s = get_settings()
    rules = load_rules(s.config_dir)
    if spec.get("head_start"):  # the pipeline's discover task starts the validation process before ingest starts
        from leadops.intake import validation_process

        validation_process.warm_up(in_process=False)
        time.sleep(spec["head_start"])
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    with session_scope(s.database_url) as session:
        out = ingest_file(SqlUnitOfWork.around(session), Path(spec["file"]), rules, s, move=False)
    seconds = time.perf_counter() - t
    done = resource.getrusage(resource.RUSAGE_SELF)
    # this process alone (the critical path: it reads and stores while the validation process validates)
    main_cpu = done.ru_utime - used.ru_utime + done.ru_stime - used.ru_stime
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["profile"])
    print(json.dumps({"seconds": seconds, "main_cpu": round(main_cpu, 2), "status": out.status, "read": out.rows_read,
                      "inserted": out.inserted,
                      "merged": out.merged, "quarantined": out.quarantined}))


def _fingerprint(url: str) -> str:
    """Return a digest of what intake stored (leads but times, ids included; quarantine rows and reasons; merges
    with their lead ids; accounts; the lifecycle history's arrivals)."""
    import hashlib

    from sqlalchemy import create_engine, inspect, text

    h = hashlib.sha256()
    engine = create_engine(url)
    # every column but times (which differ from run to run), named from the schema itself
    cols = [c["name"] for c in inspect(engine).get_columns("leads") if not c["name"].endswith("_at")]
    with engine.connect() as c:
        for q in (f"SELECT {', '.join(cols)} FROM leads ORDER BY email",  # noqa: S608 - names from the schema
                  "SELECT source_row, reasons, raw FROM quarantine ORDER BY source_row",
                  ("SELECT l.email, m.lead_id, m.source_row, m.fields_filled, m.matched_by FROM lead_merges m "
                   "JOIN leads l ON l.id = m.lead_id ORDER BY m.source_row, l.email"),
                  "SELECT id, domain, name, name_key FROM accounts ORDER BY id",
                  "SELECT lead_id, from_stage, to_stage, cause FROM lead_stage_history ORDER BY lead_id, id",
                  "SELECT lead_id, kind, outcome, detail, external_key FROM activities ORDER BY external_key"):
            for row in c.execute(text(q)):
                h.update(repr(tuple(row)).encode())
    engine.dispose()  # the next round drops this database
    return h.hexdigest()[:16]


def time_runs(folder: Path, codes: list[Path], rounds: int, profile: bool, head_start: float) -> None:
    spec = json.loads((folder / "spec.json").read_text())
    seconds: dict[str, list[float]] = {str(c): [] for c in codes}
    cpu: dict[str, list[float]] = {str(c): [] for c in codes}
    main_cpu: dict[str, list[float]] = {str(c): [] for c in codes}
    for r in range(rounds):
        for i, code in enumerate(codes):
            url = _copy(spec, f"c{i}", folder)
            run = {**spec, "url": url, "profile": str(folder / f"ingest-c{i}.prof") if profile and r == 0 else None,
                   "head_start": head_start}
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.run([sys.executable, __file__, "child-ingest", json.dumps(run)], capture_output=True,
                                  text=True, env=_env(run, code), check=False)
            if proc.returncode:
                sys.exit(proc.stderr[-3000:])
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # the child process and its validation process (joined before the child exits), start-up included
            used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            seconds[str(code)].append(res["seconds"])
            cpu[str(code)].append(used)
            main_cpu[str(code)].append(res["main_cpu"])
            print(f"round {r} {code}: {res['seconds']:.2f} s, cpu {used:.2f} s {res} digest {_fingerprint(url)}",
                  flush=True)
    first, first_cpu = statistics.median(seconds[str(codes[0])]), statistics.median(cpu[str(codes[0])])
    first_main = statistics.median(main_cpu[str(codes[0])])
    for code, s in seconds.items():
        m, c = statistics.median(s), statistics.median(cpu[code])
        print(f"{code}: median {m:.2f} s (best {min(s):.2f}; runs {', '.join(f'{x:.2f}' for x in s)}), "
              f"/ first's {m / first:.2f}x; cpu median {c:.2f} s (runs {', '.join(f'{x:.2f}' for x in cpu[code])}), "
              f"/ first's {c / first_cpu:.2f}x; ingest_file's own process cpu median "
              f"{statistics.median(main_cpu[code]):.2f} s, / first's {statistics.median(main_cpu[code]) / first_main:.2f}x")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "child-ingest":
        child_ingest(json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--leads", type=int, required=True)
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--name", help="the PostgreSQL database's name (default ingest_stage_<leads>)")
    t = sub.add_parser("time")
    t.add_argument("--dir", type=Path, required=True)
    t.add_argument("--code", type=Path, nargs="+", required=True, help="folders holding the leadops package to time")
    t.add_argument("--rounds", type=int, default=2)
    t.add_argument("--profile", action="store_true", help="cProfile the first round (ingest-c<i>.prof in --dir)")
    t.add_argument("--head-start", type=float, default=0.0,
                   help="seconds the validation process starts before ingest_file is called (the flow's ~0.5-1)")
    a = ap.parse_args()
    if a.cmd == "prepare":
        prepare(a.leads, a.db, a.dir, a.name)
    else:
        time_runs(a.dir, a.code, a.rounds, a.profile, a.head_start)


if __name__ == "__main__":
    main()
