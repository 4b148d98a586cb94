"""Intake benchmark: leadops ingest (read, normalize, GX gate and rows, dedupe, store) against a bare
baseline (csv reader + lower-cased email + executemany) on the same generated file, same database
kind, each in its own process. Prints rows/s, peak RSS and the ratio.

    .venv/bin/python bench/intake.py --rows 100000 1000000 [--db sqlite|postgresql]

With several sizes it also prints how peak memory grows with the file (flat = about 1x).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import fresh_url  # bench/ is the script's folder
from results import Reporter, add_arguments

ROOT = Path(__file__).resolve().parents[1]
FIRST = ["Jean", "Élodie", "Hans", "Zoé", "Łukasz", "Søren", "Ana", "Priya", "Tom", "Chloé", "Marco", "Ines"]
LAST = ["Dupont", "Müller", "Núñez", "de la Fontaine", "O'Brien", "Berg", "Lefèvre", "Smith", "Rossi", "Novak"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write a deterministic lead file with ~3% dirty rows and repeated domains, countries and titles."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Email", "First Name", "Last Name", "Company", "Job Title", "Phone", "Country", "Source"])
        for i in range(rows):
            d = f"company{rng.randrange(rows // 20 + 1)}.fr"
            email = f"p{i}@{d}" if rng.random() > 0.03 else rng.choice(["", "bad@", "x@yopmail.com"])
            w.writerow([email, rng.choice(FIRST), f"{rng.choice(LAST)}{i}", d.split(".", maxsplit=1)[0].title() + " SAS",
                        rng.choice(["CTO", "DSI", "Head of Marketing", "Comptable", "VP Sales"]), "01 42 68 53 00",
                        rng.choice(["France", "FR", "Allemagne", "Spain", "Narnia"]),
                        rng.choice(["web_form", "webinar", "demo_request"])])


def run_leadops(path: str, url: str) -> dict:
    from leadops.config import get_settings, load_rules
    from leadops.db.migrate import upgrade
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.intake.files import ingest_file

    upgrade(url)
    s = get_settings(database_url=url, var_dir=Path(path).parent / "var", config_dir=ROOT / "config",
                     expectations_dir=ROOT / "expectations")
    rules = load_rules(s.config_dir)
    t = time.perf_counter()
    with SqlUnitOfWork(url) as uow:
        out = ingest_file(uow, Path(path), rules, s, move=False)
    return {"seconds": time.perf_counter() - t, "rows": out.rows_read,
            "accounted": out.inserted + out.merged + out.quarantined}


def run_bare(path: str, url: str) -> dict:
    from sqlalchemy import text

    from leadops.db.session import get_engine

    eng = get_engine(url)
    with eng.begin() as c:
        c.execute(text("CREATE TABLE IF NOT EXISTS bare_leads (email VARCHAR(320) PRIMARY KEY, first_name TEXT, "
                       "last_name TEXT, company TEXT, country TEXT, source TEXT)"))
    t = time.perf_counter()
    with open(path, newline="", encoding="utf-8") as fh, eng.begin() as c:
        rows = [{"e": r[0].strip().lower(), "f": r[1], "l": r[2], "c": r[3], "k": r[6], "s": r[7]}
                for r in list(csv.reader(fh))[1:] if "@" in r[0]]
        c.execute(text("INSERT INTO bare_leads VALUES (:e, :f, :l, :c, :k, :s) ON CONFLICT DO NOTHING"), rows)
    return {"seconds": time.perf_counter() - t, "rows": len(rows)}


def child(mode: str, path: str, url: str) -> None:
    res = run_leadops(path, url) if mode == "leadops" else run_bare(path, url)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if mode == "leadops":  # the validation process's peak too (known once it has ended)
        from leadops.intake import validation_process

        validation_process.shutdown()
        res["validation_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(res))


def measure(rows: int, db: str) -> dict[str, dict]:
    """Run bare and leadops on one generated file of ``rows`` rows; returns their results by mode."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        f = tmp / "leads.csv"
        generate(f, rows)
        results = {}
        for mode in ("bare", "leadops"):
            url = fresh_url(db, mode, tmp)
            proc = subprocess.run([sys.executable, __file__, "--child", mode, str(f), url], capture_output=True,
                                  text=True, cwd=ROOT, env={**os.environ, "GX_ANALYTICS_ENABLED": "false"}, check=False)
            if proc.returncode:
                sys.exit(f"{mode} failed:\n{proc.stderr[-2000:]}")
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000])
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "PATH", "URL"))
    add_arguments(ap)
    a = ap.parse_args()
    if a.child:
        return child(*a.child)
    rep = Reporter.from_args(a, "intake")
    runs = {}
    for rows in a.rows:
        res = runs[rows] = measure(rows, a.db)
        bare, ours = res["bare"], res["leadops"]
        rep.line(f"intake, {rows} rows, {a.db}")
        rep.line(f"  bare baseline  {rows / bare['seconds']:>9.0f} rows/s  peak RSS {bare['peak_rss_mb']:>6.0f} MB")
        rep.line(f"  leadops        {rows / ours['seconds']:>9.0f} rows/s  peak RSS {ours['peak_rss_mb']:>6.0f} MB"
                 f" + validation process {ours['validation_peak_rss_mb']:.0f} MB"
                 f"  (every row accounted: {ours['accounted'] == ours['rows']})")
        rep.line(f"  ratio          {ours['seconds'] / bare['seconds']:>9.1f}x the baseline's time")
        rep.add(f"intake/{a.db}/{rows}", ours["seconds"] / bare["seconds"], better="lower",
                rows_per_s=round(rows / ours["seconds"]), peak_rss_mb=round(ours["peak_rss_mb"]),
                validation_peak_rss_mb=round(ours["validation_peak_rss_mb"]))
    if len(runs) > 1:
        small, big = min(runs), max(runs)

        def growth(mode: str, key: str = "peak_rss_mb") -> float:
            return runs[big][mode][key] / runs[small][mode][key]

        rep.line(f"memory growth, {small} -> {big} rows ({big / small:.0f}x the file):"
                 f" leadops {growth('leadops'):.2f}x (validation process {growth('leadops', 'validation_peak_rss_mb'):.2f}x),"
                 f" bare baseline {growth('bare'):.2f}x")
    rep.finish()


if __name__ == "__main__":
    main()
