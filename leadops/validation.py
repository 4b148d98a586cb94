"""Great Expectations (GX Core 1.x) as the intake gate: a suite from expectations/, run on a
batch of normalized rows, turned into quarantine reasons per row.

GX is imported lazily (it costs seconds) and its analytics and progress bars are off.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ValidationOutcome:
    """Row index -> reasons for every failing row; plus per-expectation failure counts."""

    failures: dict[int, list[str]]
    counts: dict[str, int]
    evaluated: int


@lru_cache(maxsize=1)
def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = ctx.data_sources.add_pandas("leadops").add_dataframe_asset("rows").add_batch_definition_whole_dataframe("all")
    return gx, batch_def


def load_suite_json(path: Path) -> dict[str, Any]:
    """Return the suite file's JSON; a broken file is reported with its path."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read expectation suite: {exc}") from None


def validate_rows(df: pd.DataFrame, suite_path: Path) -> ValidationOutcome:
    """Validate ``df`` (one row per input row) against the suite; returns failures per row index."""
    if df.empty:
        return ValidationOutcome({}, {}, 0)
    gx, batch_def = _context()
    spec = load_suite_json(suite_path)
    suite = gx.ExpectationSuite(**spec)
    reasons_by_type = [(e.get("meta") or {}).get("reason") for e in spec.get("expectations", [])]
    result = batch_def.get_batch(batch_parameters={"dataframe": df.reset_index(drop=True)}).validate(
        suite, result_format={"result_format": "COMPLETE"}
    )
    failures: dict[int, list[str]] = {}
    counts: dict[str, int] = {}
    for i, r in enumerate(result.results):
        cfg = r.expectation_config
        reason = (cfg.meta or {}).get("reason") or (reasons_by_type[i] if i < len(reasons_by_type) else None)
        column = cfg.kwargs.get("column")
        reason = reason or f"{cfg.type} failed on {column}"
        if r.exception_info and r.exception_info.get("raised_exception"):
            # A broken expectation (e.g. a column the suite names but the data lacks) is a config
            # error for ops, not a property of every row: fail loudly with the suite path.
            raise ValueError(f"{suite_path}: expectation {cfg.type} on {column!r} could not run: "
                             f"{r.exception_info.get('exception_message')}")
        if r.success:
            continue
        rows = r.result.get("unexpected_index_list") or []
        counts[reason] = counts.get(reason, 0) + len(rows)
        for idx in rows:
            idx = int(idx) if not isinstance(idx, dict) else int(next(iter(idx.values())))
            bucket = failures.setdefault(idx, [])
            if reason not in bucket:
                bucket.append(reason)
    return ValidationOutcome(failures, counts, len(df))
