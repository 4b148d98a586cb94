"""How every benchmark reports: human lines, and with ``--json`` one JSON object for the regression check.

A result is a named figure compared against its recorded value by bench/check.py: mostly a ratio
to the bare baseline measured in the same run (lower is better), sometimes a factor or a share of
a limit (higher is better). ``--record`` stores the run's figures in bench/baseline.json.

    rep = Reporter.from_args(args, "pipeline")
    rep.line("pipeline, 100000 leads ...")              # stdout, or stderr with --json
    rep.add("pipeline/sqlite/offline/100000", 2.4, better="lower", leads_per_s=4100)
    rep.finish()                                        # the JSON object (with --json), the record (with --record)
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

BASELINE = Path(__file__).resolve().parent / "baseline.json"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Add --json and --record to a benchmark's arguments."""
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout (human lines go to stderr)")
    ap.add_argument("--record", action="store_true", help=f"store this run's figures in {BASELINE.name}")


def machine() -> dict[str, Any]:
    """Return what RESULTS.md states about the machine and versions."""
    import os

    from importlib.metadata import version

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "prefect": version("prefect"), "great_expectations": version("great-expectations"),
            "sqlalchemy": version("sqlalchemy")}


class Reporter:
    """Collects a benchmark's lines and results; see the module docstring."""

    def __init__(self, benchmark: str, as_json: bool = False, record: bool = False, baseline: Path = BASELINE) -> None:
        self.benchmark, self.as_json, self.record, self.baseline = benchmark, as_json, record, baseline
        self.results: list[dict[str, Any]] = []

    @classmethod
    def from_args(cls, args: argparse.Namespace, benchmark: str) -> Reporter:
        return cls(benchmark, getattr(args, "json", False), getattr(args, "record", False))

    def line(self, text: str = "") -> None:
        print(text, file=sys.stderr if self.as_json else sys.stdout, flush=True)

    def add(self, key: str, value: float, better: str = "lower", **info: Any) -> None:
        """Add one compared figure (``better``: lower | higher) with any figures shown beside it."""
        if better not in ("lower", "higher"):
            raise ValueError(f"better must be 'lower' or 'higher', not {better!r}")
        self.results.append({"key": key, "value": round(float(value), 4), "better": better, **info})

    def document(self) -> dict[str, Any]:
        """Return the run as one JSON-able object: benchmark, command, date, machine, results."""
        return {"benchmark": self.benchmark, "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
                "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                "results": self.results}

    def finish(self) -> dict[str, Any]:
        """Print the JSON object (with --json) and store the figures (with --record); returns the object."""
        doc = self.document()
        if self.as_json:
            sys.stdout.write(json.dumps(doc) + "\n")
        if self.record:
            record(doc, self.baseline)
            self.line(f"recorded {len(self.results)} figure(s) in {self.baseline}")
        return doc


def record(doc: dict[str, Any], path: Path = BASELINE) -> dict[str, Any]:
    """Merge a run's results into the baseline file at ``path`` (one entry per key); returns the new content."""
    stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for r in doc["results"]:
        stored[r["key"]] = {"value": r["value"], "better": r["better"], "date": doc["date"], "command": doc["command"]}
    path.write_text(json.dumps(dict(sorted(stored.items())), indent=2) + "\n", encoding="utf-8")
    return stored
