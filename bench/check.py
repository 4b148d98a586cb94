"""Regression check: compare benchmark figures of a fresh run with the ones recorded in bench/baseline.json;
exit 1 naming every figure more than ``--factor`` (default 2) times worse than recorded.

    .venv/bin/python bench/check.py bench/out/*.json        # results written by `make bench`
    .venv/bin/python bench/check.py --run                   # run the quick set below, then compare
    .venv/bin/python bench/check.py --run --record          # ...and store its figures as the reference

Figures are mostly ratios to a baseline measured in the same run, which is what makes them
comparable across a noisy shared machine. "Worse" follows each figure's direction: a ratio of
times (lower is better) fails above factor x recorded; a speed-up or a share of a limit (higher is
better) fails below recorded / factor. Figures never recorded are listed, not failed.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
BASELINE = BENCH / "baseline.json"
# The quick set: small sizes, a few minutes in all (`make bench` runs the full sizes).
QUICK = [
    ["pipeline.py", "--leads", "20000", "--db", "sqlite", "--enrich", "offline"],
    ["naive.py", "--leads", "2000"],
    ["prefect_overhead.py", "--flows", "10", "--tasks", "200", "--api", "ephemeral"],
    ["scoring.py", "--leads", "200000", "--repeat", "1"],
]


def compare(recorded: dict[str, dict[str, Any]], fresh: list[dict[str, Any]], factor: float = 2.0) -> tuple[list[str], list[str]]:
    """Return (failures, notes): a failure names a figure more than ``factor`` times worse than recorded.

    ``recorded`` maps key -> {"value", "better"}; ``fresh`` is a list of {"key", "value", "better"}.
    A figure without a recorded value is a note. Pure: no file, no benchmark run.
    """
    if factor <= 1:
        raise ValueError("factor must be above 1")
    failures, notes = [], []
    for r in fresh:
        key, value, better = r["key"], float(r["value"]), r.get("better", "lower")
        old = recorded.get(key)
        if old is None:
            notes.append(f"{key}: {value:g} (not recorded yet)")
            continue
        ref = float(old["value"])
        if better == "lower":
            worse = value > ref * factor
            change = value / ref if ref else float("inf")
        else:
            worse = value < ref / factor
            change = ref / value if value else float("inf")
        line = f"{key}: {value:g} against {ref:g} recorded ({change:.2f}x {'worse' if change > 1 else 'better or equal'})"
        (failures if worse else notes).append(line)
    return failures, notes


def results_of(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the results of benchmark JSON documents (see bench/results.py), in order."""
    return [r for doc in documents for r in doc.get("results", [])]


def run_quick() -> list[dict[str, Any]]:
    """Run the quick set with --json; returns their documents (a benchmark that fails stops the check)."""
    docs = []
    for cmd in QUICK:
        proc = subprocess.run([sys.executable, str(BENCH / cmd[0]), *cmd[1:], "--json"], capture_output=True, text=True,
                              check=False)
        sys.stderr.write(proc.stderr)
        if proc.returncode:
            sys.exit(f"bench/check.py: {cmd[0]} failed (exit {proc.returncode})")
        docs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return docs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="*", type=Path, help="JSON files written by benchmarks with --json")
    ap.add_argument("--run", action="store_true", help="run the quick set of benchmarks first")
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    ap.add_argument("--factor", type=float, default=2.0)
    ap.add_argument("--record", action="store_true", help="after comparing, store these figures as the reference")
    a = ap.parse_args(argv)
    docs = [json.loads(line) for p in a.results for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if a.run:
        docs += run_quick()
    if not docs:
        ap.error("give result files or --run")
    recorded = json.loads(a.baseline.read_text(encoding="utf-8")) if a.baseline.exists() else {}
    failures, notes = compare(recorded, results_of(docs), a.factor)
    for line in notes:
        print(f"  ok    {line}")
    for line in failures:
        print(f"  WORSE {line}")
    if a.record:
        from results import record

        for doc in docs:
            record(doc, a.baseline)
        print(f"bench/check.py: recorded {len(results_of(docs))} figure(s) in {a.baseline}")
    if failures:
        print(f"bench/check.py: {len(failures)} figure(s) more than {a.factor:g}x worse than recorded in {a.baseline}")
        return 1
    print(f"bench/check.py: {len(notes)} figure(s), none more than {a.factor:g}x worse than recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
