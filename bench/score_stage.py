"""Scoring stage alone, on a database prepared once: leadops' scoring service (two code trees, A/B) against
the columnar baseline's scoring stage, each trial on a fresh copy of the same database.

    .venv/bin/python bench/score_stage.py prepare --leads 100000 --db sqlite --dir /tmp/score-100k
    .venv/bin/python bench/score_stage.py trials --dir /tmp/score-100k --trees old=/work/main new=. --rounds 3
        [--columnar] [--profile] [--sql]

- ``prepare``: generates the pipeline benchmark's workload (bench/workload.py), migrates a database, and
  runs leadops' intake and offline enrichment services on it (as ``bench/pipeline.py --services`` does);
  the result is kept (a SQLite file, or a PostgreSQL database used as a template) with what the trials need.
- ``trials``: per round and per tree (and the columnar baseline with ``--columnar``), a fresh copy of the
  prepared database, then one child process (``PYTHONPATH`` the tree) timing the scoring pass and its
  commit; prints seconds per trial (and CPU seconds: the child's, plus its PostgreSQL backends' when the server runs
  on this host), the medians per tree and the ratios. ``--profile`` writes a cProfile
  per trial; ``--sql`` adds seconds per SQL statement shape (SQLAlchemy cursor events).
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
from typing import Any

from common import pg_database, server_cpu, stage_workload  # bench/ is the script's folder

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def prepare(leads: int, db: str, where: Path) -> None:
    """Build the database of ``leads`` leads after intake and enrichment into ``where`` (spec.json beside it)."""
    sys.path[:0] = [str(BENCH), str(ROOT)]
    import workload

    config, src = stage_workload(where, leads)
    url = (f"sqlite:///{where / 'prepared.db'}" if db == "sqlite"
           else pg_database(f"score_prep_{where.name.replace('-', '_')}"))
    workload.prepare_database(url, config)
    var = where / "var"
    workload.copy_file(src, var / "inbox")
    from datetime import UTC, datetime

    # every trial scores as of this instant (engagement decays with time: trials compare to the digit)
    spec = {"db": db, "url": url, "config": str(config), "var": str(var), "leads": leads}
    env = _env(spec, ROOT)
    code = ("import sys, time; sys.path[:0] = [sys.argv[1]]; import score_stage; score_stage._ingest_and_enrich()")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(BENCH)], env=env, check=True, cwd=ROOT)
    spec["now"] = datetime.now(UTC).isoformat()
    print(f"prepared {leads} leads on {db} in {time.perf_counter() - t:.1f} s: {url}", file=sys.stderr)
    if db == "sqlite":
        import sqlite3

        with sqlite3.connect(where / "prepared.db") as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (where / "spec.json").write_text(json.dumps(spec), encoding="utf-8")


def _ingest_and_enrich() -> None:
    """(child) Intake of the inbox and enrichment, through leadops' services, as the pipeline's tasks call them."""
    from leadops.config import get_settings, load_rules
    from leadops.db.session import session_scope
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.intake.files import ingest_file
    from leadops.intake.inbox import discover
    from leadops.services import enrich

    s = get_settings()
    rules = load_rules(s.config_dir)
    for path in discover(s.inbox_dir):
        with session_scope(s.database_url) as session:
            ingest_file(SqlUnitOfWork.around(session), path, rules, s)
    with SqlUnitOfWork(s.database_url) as uow:
        enrich.enrich_pending(uow, rules, checkpoint=lambda done, total: uow.commit())


def _env(spec: dict[str, Any], tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_API_URL"))}
    env.update({"PYTHONPATH": str(tree), "SCORE_STAGE_NOW": spec.get("now", ""), "LEADOPS_DATABASE_URL": spec["url"],
                "LEADOPS_CONFIG_DIR": spec["config"],
                "LEADOPS_VAR_DIR": spec["var"], "LEADOPS_EXPECTATIONS_DIR": str(ROOT / "expectations"),
                "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"})
    return env


def _copy(spec: dict[str, Any], where: Path) -> str:
    """Return the URL of a fresh copy of the prepared database."""
    if spec["db"] == "sqlite":
        dst = where / "trial.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{dst}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(where / "prepared.db", dst)
        return f"sqlite:///{dst}"
    name = spec["url"].rsplit("/", 1)[1]
    return pg_database("score_trial", template=name)


def _trial() -> None:
    """(child) Time one scoring pass on LEADOPS_DATABASE_URL; prints a JSON line (seconds, counts, SQL seconds)."""
    mode, profile, sql = sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    from datetime import UTC, datetime

    from leadops.config import get_settings, load_rules
    from leadops.db.session import get_engine

    s = get_settings()
    rules = load_rules(s.config_dir)
    engine = get_engine(s.database_url)
    with engine.connect() as c:  # connect (and import the dialect) before the clock starts
        c.exec_driver_sql("SELECT 1")
    shapes: dict[str, list[float]] = {}
    if sql:
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            conn.info["t0"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            shape = " ".join(statement.split())[:90]
            shapes.setdefault(shape, []).append(time.perf_counter() - conn.info["t0"])

    prof = None
    if profile != "-":
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    now = datetime.fromisoformat(os.environ["SCORE_STAGE_NOW"]) if os.environ.get("SCORE_STAGE_NOW") else \
        datetime.now(UTC)
    t, cpu = time.perf_counter(), time.process_time()
    if mode == "columnar":
        sys.path[:0] = [str(BENCH)]
        import columnar_pipeline

        with engine.begin() as conn:
            out: dict[str, Any] = columnar_pipeline.scoring(columnar_pipeline._Db(conn), rules, now)
    else:
        from leadops.db.unit_of_work import SqlUnitOfWork
        from leadops.services.score import score_open_leads

        with SqlUnitOfWork(s.database_url) as uow:
            summary = score_open_leads(uow, rules, now=now)
        out = {"scored": summary.scored, "promoted_mql": summary.promoted_mql}
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    server = server_cpu(s.database_url)  # the pool's connections are still open: their backends' CPU
    if prof is not None:
        prof.disable()
        prof.dump_stats(profile)
    top = sorted(((sum(v), len(v), k) for k, v in shapes.items()), reverse=True)[:12]
    print(json.dumps({"seconds": seconds, "cpu": cpu, "server_cpu": server, **out,
                      "sql": [[round(a, 3), n, k] for a, n, k in top]}))


def _check(url: str) -> dict[str, Any]:
    """Return what the scored database holds, to compare trials: counts and a digest of leads and audit rows."""
    import hashlib

    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    out: dict[str, Any] = {}
    try:
        with engine.connect() as c:
            for name, q in (
                    ("leads", ("SELECT id, lifecycle_stage, grade, score, fit_score, engagement_score, score_version, "
                              "scored_at, stage_changed_at, disqualified_reason FROM leads ORDER BY id")),
                    ("history", ("SELECT id, lead_id, grade, score, fit_score, engagement_score, model_version, scored_at, "
                                "flow_run_id FROM score_history ORDER BY id")),
                    ("breakdowns", "SELECT id, CAST(breakdown AS TEXT) FROM score_history ORDER BY id"),
                    ("moves", ("SELECT id, lead_id, from_stage, to_stage, cause, changed_at FROM lead_stage_history "
                              "ORDER BY id"))):
                rows = c.execute(text(q)).all()
                digest = hashlib.sha256(repr([tuple(str(v) for v in r) for r in rows]).encode()).hexdigest()[:12]
                out[name] = f"{len(rows)}:{digest}"
    finally:
        engine.dispose()
    return out


def trials(where: Path, trees: dict[str, Path], rounds: int, columnar: bool, profile: bool, sql: bool,
           check: bool) -> None:
    """Run ``rounds`` rounds of one trial per tree (and the columnar baseline), alternated; prints the figures."""
    spec = json.loads((where / "spec.json").read_text(encoding="utf-8"))
    modes = list(trees.items()) + ([("columnar", next(iter(trees.values())))] if columnar else [])
    seconds: dict[str, list[float]] = {m: [] for m, _ in modes}
    cpus: dict[str, list[float]] = {m: [] for m, _ in modes}
    for r in range(rounds):
        for mode, tree in (modes if r % 2 == 0 else modes[::-1]):
            url = _copy(spec, where)
            env = _env({**spec, "url": url}, tree)
            prof = str(where / f"{mode}-{spec['db']}-{r}.prof") if profile else "-"
            proc = subprocess.run([sys.executable, __file__, "_trial", "columnar" if mode == "columnar" else "leadops",
                                   prof, "1" if sql else "0"], env=env, capture_output=True, text=True, cwd=tree,
                                  check=False)
            if proc.returncode:
                sys.exit(f"{mode} failed:\n{proc.stderr[-3000:]}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            seconds[mode].append(res["seconds"])
            cpus[mode].append(res["cpu"] + (res["server_cpu"] or 0.0))
            server = "" if res["server_cpu"] is None else f" + server {res['server_cpu']:.2f}"
            print(f"round {r} {mode:<10} {res['seconds']:7.2f} s  cpu {res['cpu']:.2f}{server} s  "
                  f"scored {res['scored']}  mql {res['promoted_mql']}",
                  file=sys.stderr)
            for total, n, shape in res["sql"]:
                print(f"      {total:7.3f} s {n:>6}x  {shape}", file=sys.stderr)
            if check and mode != "columnar":
                print(f"      check: {_check(url)}", file=sys.stderr)
    med = {m: statistics.median(v) for m, v in seconds.items()}
    print("medians: " + ", ".join(f"{m} {v:.2f} s" for m, v in med.items()), file=sys.stderr)
    print("CPU medians (process + server): " + ", ".join(f"{m} {statistics.median(v):.2f} s" for m, v in cpus.items()),
          file=sys.stderr)
    names = list(med)
    for a in names:
        for b in names:
            if a < b:
                print(f"  {a} / {b}: {med[a] / med[b]:.2f}x", file=sys.stderr)
    print(json.dumps({"seconds": seconds, "median": med, "cpu": cpus}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_trial":
        return _trial()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--leads", type=int, default=100_000)
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--dir", type=Path, required=True)
    t = sub.add_parser("trials")
    t.add_argument("--dir", type=Path, required=True)
    t.add_argument("--trees", nargs="+", default=[f"new={ROOT}"], help="name=path of a leadops checkout")
    t.add_argument("--rounds", type=int, default=3)
    t.add_argument("--columnar", action="store_true")
    t.add_argument("--profile", action="store_true")
    t.add_argument("--sql", action="store_true")
    t.add_argument("--check", action="store_true", help="digest each trial's leads, history and moves")
    a = ap.parse_args()
    if a.cmd == "prepare":
        return prepare(a.leads, a.db, a.dir.resolve())
    trees = {k: Path(v).resolve() for k, v in (x.split("=", 1) for x in a.trees)}
    return trials(a.dir.resolve(), trees, a.rounds, a.columnar, a.profile, a.sql, a.check)


if __name__ == "__main__":
    main()
