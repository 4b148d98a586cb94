"""Great Expectations (GX Core 1.x) as the intake gate: the suites, and how a chunk of rows is gated.

This module runs GX (in the validation process, see :mod:`leadops.intake.validation_process`, or
here). Two suites from expectations/, each run through a GX checkpoint that also updates Data Docs:
- ``leads_raw`` (batch level, on the rows as read): a failure rejects the whole batch;
- ``leads_intake`` (row level, on normalized rows): failing rows go to quarantine with the
  ``meta.reason`` of every expectation they fail.
Suites are re-read on every run, so ops change them without touching code. GX is imported
lazily (it costs seconds); its analytics and progress bars are off.

Data Docs render the validations run since the last build (:func:`build_data_docs`); a result is
dropped from GX's in-memory store once rendered, so a process that stays up (a served process's
validation process, the real-time intake service) neither grows with every batch it validated
nor renders them all again on every run.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import types
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from leadops.config import IntakeSource, Settings
from leadops.intake.reading.rows import RawRow

ROW_FORMAT = {"result_format": "COMPLETE", "partial_unexpected_count": 0, "include_unexpected_rows": False}
#: Whose validations a build of Data Docs renders: one client of a shared validation process (see
#: leadops.intake.validation_server) sets its own; everything else shares the default.
scope: ContextVar[object] = ContextVar("leadops_gx_scope", default=None)
#: Results of a scope kept for its next Data Docs build at most (the oldest are dropped unrendered beyond it):
#: a process validating for days without building docs (the real-time intake service) stays bounded.
MAX_UNRENDERED = 1000
_unrendered: dict[object, list[Any]] = {}
_unrendered_lock = threading.Lock()


@dataclass(frozen=True)
class ValidationOutcome:
    """Row index -> reasons for failing rows (row level), or batch-level failure messages."""

    failures: dict[int, list[str]]
    counts: dict[str, int]
    evaluated: int
    batch_failures: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)  # one per expectation, for artifacts


#: Modules GX imports when it is imported but that only some expectations use when they run (the
#: distribution tests: scipy.stats; their charts: altair): ~0.6 s of the validation process's start.
#: Loaded on first use instead (:func:`_defer`), so a suite using them still runs them.
DEFERRED_IMPORTS = ("scipy.stats", "altair")


class _Deferred(types.ModuleType):
    """Stands for a module not imported yet: the first attribute it lacks imports the real module, whose
    namespace it then shares (what importers bound to it keep working), and which replaces it in sys.modules."""

    def __getattr__(self, attr: str) -> Any:
        import importlib

        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def _defer(names: tuple[str, ...] = DEFERRED_IMPORTS) -> None:
    """Put a :class:`_Deferred` in sys.modules for each module of ``names`` not imported yet (and findable)."""
    import importlib.util

    for name in names:
        if name in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except ImportError:
            continue
        if spec is None:
            continue
        stand_in = _Deferred(name)
        # set, so that an import statement finding it checks its spec without importing the real module
        stand_in.__spec__ = spec
        sys.modules[name] = stand_in
        parent, _, child = name.rpartition(".")
        if parent:  # what ``from scipy import stats`` finds
            setattr(sys.modules[parent], child, stand_in)


@lru_cache(maxsize=1)
def _context():
    """Return (gx module, one ephemeral context per process, batch definitions by asset)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    _defer()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    for name in list(ctx.get_site_names()):  # the default site writes to a temp folder: ours only
        ctx.delete_data_docs_site(name)
    ds = ctx.data_sources.add_pandas("leadops")
    assets = {name: ds.add_dataframe_asset(name).add_batch_definition_whole_dataframe("batch") for name in ("raw", "rows")}
    return gx, ctx, assets


_site_builders: dict[Path, Any] = {}


def _site_builder(ctx, docs_dir: Path):
    """Return the Data Docs site builder writing to ``docs_dir``, made once per folder: its page templates
    are compiled on its first build and reused (a new builder per build spent ~0.2 s compiling them)."""
    docs_dir = Path(docs_dir).resolve()  # GX wants an absolute folder; settings may hold "var/..."
    if docs_dir not in _site_builders:
        from great_expectations.render.renderer.site_builder import SiteBuilder

        name = "leadops-" + hashlib.sha1(str(docs_dir).encode(), usedforsecurity=False).hexdigest()[:10]
        _site_builders[docs_dir] = SiteBuilder(
            data_context=ctx, site_name=name, site_index_builder={"class_name": "DefaultSiteIndexBuilder"},
            store_backend={"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            runtime_environment={"root_directory": ctx.root_directory})
    return _site_builders[docs_dir]


def load_suite_json(path: Path) -> dict[str, Any]:
    """Return the suite file's JSON; a broken file is reported with its path."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read expectation suite: {exc}") from None
    if not isinstance(spec.get("expectations"), list):
        raise ValueError(f"{path}: an expectation suite needs a list under 'expectations'")
    return spec


#: suite name -> (what was added under it last: asset, suite and result format as JSON; its checkpoint)
_added: dict[str, tuple[str, Any]] = {}


def _checkpoint(spec: dict[str, Any], asset: str, suite_path: Path, result_format: dict[str, Any]):
    """Return the checkpoint running ``spec`` on ``asset``, adding the suite, its validation definition and the
    checkpoint to the context unless they are what was added last under the suite's name.

    Every chunk of a file runs the same suite: adding the three again cost ~70 ms a chunk per suite (a
    sixth of the validation process's time per chunk). A suite changed on disk, or the batch-level
    suite with another source's thresholds, differs from what was added: it is added again, as before.
    """
    gx, ctx, assets = _context()
    name = spec.get("name") or Path(suite_path).stem
    key = json.dumps([asset, spec, result_format], sort_keys=True, default=str)
    known = _added.get(name)
    if known is not None and known[0] == key:
        return known[1]
    _added.pop(name, None)  # until all three are added again
    try:
        suite = ctx.suites.add_or_update(gx.ExpectationSuite(**{**spec, "name": name}))
    except Exception as exc:  # noqa: BLE001 - GX raises many kinds on a typo in a type or kwargs: ops need the file and cause
        raise ValueError(f"{suite_path}: invalid expectation suite: {exc}") from None
    if len(suite.expectations) != len(spec["expectations"]):
        # GX logs an unknown expectation type and drops it: a gate that silently checks less
        kept = [e.expectation_type for e in suite.expectations]
        dropped = [e.get("type") for e in spec["expectations"] if e.get("type") not in kept]
        raise ValueError(f"{suite_path}: invalid expectation suite: unknown or invalid expectation(s) "
                         f"{', '.join(map(str, dropped)) or '(see the GX log)'}")
    vd = ctx.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=assets[asset], suite=suite))
    # Results are kept by the context's results store; Data Docs are rendered once per run
    # (build_data_docs), not per batch: rendering costs ~0.2 s a time.
    cp = ctx.checkpoints.add_or_update(gx.Checkpoint(name=f"intake-{name}", validation_definitions=[vd],
                                                     actions=[], result_format=result_format))
    _added[name] = (key, cp)
    return cp


def _run(spec: dict[str, Any], df: pd.DataFrame, asset: str, suite_path: Path, result_format: dict[str, Any]):
    """Run ``spec`` on ``df`` through a checkpoint; returns the expectation results."""
    _, ctx, _ = _context()
    cp = _checkpoint(spec, asset, suite_path, result_format)
    res = cp.run(batch_parameters={"dataframe": df.reset_index(drop=True)})
    _keep_for_docs(ctx, list(res.run_results))
    [run] = list(res.run_results.values())
    for r in run.results:
        if r.exception_info and r.exception_info.get("raised_exception"):  # the expectation itself is broken
            raise ValueError(f"{suite_path}: {_could_not_run(r)}")
    return run.results


def _could_not_run(r) -> str:
    cfg = r.expectation_config
    return f"expectation {cfg.type} on {cfg.kwargs.get('column')!r} could not run: {_raised(r.exception_info)}"


def _raised(info: dict[str, Any] | None) -> str | None:
    """Return the message of the exception an expectation raised, or None if it ran.

    GX reports it at the top of ``exception_info`` or, when a metric failed (a column the
    frame lacks), under that metric's id: missing the second made a misspelt column fail
    without naming a row, so the suite quietly passed every row.
    """
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _keep_for_docs(ctx, keys: list[Any]) -> None:
    """Remember the results ``keys`` for the next Data Docs build of the current scope (bounded: see MAX_UNRENDERED)."""
    with _unrendered_lock:
        pending = _unrendered.setdefault(scope.get(), [])
        pending.extend(keys)
        dropped = pending[:-MAX_UNRENDERED] if len(pending) > MAX_UNRENDERED else []
        del pending[:len(dropped)]
    _drop_results(ctx, dropped)


def _drop_results(ctx, keys: list[Any]) -> None:
    for key in keys:
        try:
            ctx.validation_results_store.remove_key(key)
        except Exception:  # noqa: BLE001, S112 - already gone: nothing to free
            continue


def unrendered() -> int:
    """Return how many validation results of the current scope wait for a Data Docs build."""
    with _unrendered_lock:
        return len(_unrendered.get(scope.get(), []))


def forget_scope(owner: object) -> None:
    """Drop the results ``owner``'s scope left unrendered (a client of a shared validation process that went away)."""
    with _unrendered_lock:
        keys = _unrendered.pop(owner, [])
    if keys:
        _drop_results(_context()[1], keys)


def build_data_docs(docs_dir: Path) -> str | None:
    """Render Data Docs of the validations run in this scope since the last build into ``docs_dir``; returns
    index.html's path (or None when there is none).

    Only those results are rendered (rendering every result at every build would grow with every run
    of a process that stays up); once rendered they are dropped from GX's store, and the index lists
    the results still in it, so the site shows the latest run's validations, as when each run had a
    validation process of its own. With nothing validated since, the site is left as it is.
    """
    _, ctx, _ = _context()
    index = Path(docs_dir).resolve() / "index.html"
    with _unrendered_lock:
        new = _unrendered.pop(scope.get(), [])
    if not new and index.exists():
        return str(index)
    # the pages of the new results and of the suites they ran (ops may have edited a suite since)
    suites = list(dict.fromkeys(k.expectation_suite_identifier for k in new))
    try:
        _site_builder(ctx, docs_dir).build(resource_identifiers=[*new, *suites] or None)
    finally:
        _drop_results(ctx, new)
    return str(index) if index.exists() else None


def _summary(r) -> dict[str, Any]:
    cfg = r.expectation_config
    res = r.result or {}
    return {"expectation": cfg.type, "column": cfg.kwargs.get("column"), "success": bool(r.success),
            "reason": (cfg.meta or {}).get("reason"), "observed": res.get("observed_value"),
            "unexpected_percent": res.get("unexpected_percent")}


def validate_batch(df: pd.DataFrame, suite_path: Path, *, thresholds: dict[str, float | None] | None = None) -> ValidationOutcome:
    """Run the batch-level suite on the rows as read; returns the failure messages (empty = pass)."""
    spec = load_suite_json(suite_path)
    for e in spec["expectations"]:
        setting = (e.get("meta") or {}).get("threshold_setting")
        if setting and thresholds and thresholds.get(setting) is not None:
            e.setdefault("kwargs", {})["mostly"] = thresholds[setting]
    results = _run(spec, df, "raw", suite_path, {"result_format": "SUMMARY", "partial_unexpected_count": 0})
    failures = []
    for r in results:
        if r.success:
            continue
        if _raised(r.exception_info) is not None:  # e.g. a column this source's files do not have
            failures.append(_could_not_run(r))
            continue
        s = _summary(r)
        pct = s["unexpected_percent"]
        observed = f"{100 - pct:.0f}%" if pct is not None else str(s["observed"])
        required = f"{100 * r.expectation_config.kwargs.get('mostly', 1):.0f}%"
        failures.append((s["reason"] or f"{s['expectation']} failed on {s['column']}")
                        .format(observed=observed, required=required))
    return ValidationOutcome({}, {}, len(df), failures, [_summary(r) for r in results])


#: kwargs of column-level expectations that name the columns they read
_COLUMN_KWARGS = ("column", "column_A", "column_B")


def suite_columns(spec: dict[str, Any]) -> list[str] | None:
    """Return the columns ``spec``'s expectations read, or None when they may read any column.

    Only expectations on named columns (``expect_column*`` without a ``row_condition``) are
    understood; a table-level one (row counts, the column set) or a row condition needs the whole
    frame.
    """
    columns: dict[str, None] = {}
    for e in spec["expectations"]:
        kwargs = e.get("kwargs") or {}
        if not str(e.get("type", "")).startswith("expect_column") or kwargs.get("row_condition"):
            return None
        names = [kwargs[k] for k in _COLUMN_KWARGS if k in kwargs] + list(kwargs.get("column_list") or [])
        if not names or not all(isinstance(n, str) for n in names):
            return None
        columns.update(dict.fromkeys(names))
    return list(columns)


def check_frames(gate_frame: pd.DataFrame, gate_suite: Path, thresholds: dict[str, float | None],
                 rows_frame: pd.DataFrame, rows_suite: Path) -> tuple[ValidationOutcome, ValidationOutcome]:
    """Run the batch-level suite on ``gate_frame`` and, if it passed, the row-level suite on ``rows_frame``
    (one row per input row, as :func:`records_frame` builds it); returns (gate outcome, row outcome)."""
    gate = validate_batch(gate_frame, gate_suite, thresholds=thresholds)
    if gate.batch_failures:
        return gate, ValidationOutcome({}, {}, 0)
    return gate, validate_rows(rows_frame, rows_suite)


def validate_records(records: list[dict[str, Any]], suite_path: Path) -> ValidationOutcome:
    """Validate ``records`` (one dict per input row) against the row-level suite; returns failures per row index."""
    spec = load_suite_json(suite_path)
    return validate_rows(records_frame(records, suite_path, spec), suite_path, spec)


def records_frame(records: list[dict[str, Any]], suite_path: Path, spec: dict[str, Any] | None = None) -> pd.DataFrame:
    """Return the frame the row-level suite sees of ``records`` (grain: input row).

    It holds only the columns the suite reads (a third less GX time on intake's 27 columns);
    a column the suite names but the records lack is absent, as it would be in a frame of
    every column, so expectations on it fail the same way. ``spec``: the suite, if read already.
    """
    if not records:
        return pd.DataFrame()
    wanted = suite_columns(spec or load_suite_json(suite_path))
    if wanted is None:
        return pd.DataFrame(records)
    present = [c for c in wanted if c in records[0]]
    return pd.DataFrame(records, columns=present) if present else pd.DataFrame(index=range(len(records)))


def validate_rows(df: pd.DataFrame, suite_path: Path, spec: dict[str, Any] | None = None) -> ValidationOutcome:
    """Validate ``df`` (one row per input row) against the row-level suite; returns failures per row index."""
    if not len(df.index):
        return ValidationOutcome({}, {}, 0)
    spec = spec or load_suite_json(suite_path)
    results = _run(spec, df, "rows", suite_path, ROW_FORMAT)
    for r in results:
        if _raised(r.exception_info) is not None:  # a column no row has: the suite is wrong, not the rows
            raise ValueError(f"{suite_path}: {_could_not_run(r)}")
    failures: dict[int, list[str]] = {}
    counts: dict[str, int] = {}
    for r in results:
        if r.success:
            continue
        cfg = r.expectation_config
        reason = (cfg.meta or {}).get("reason") or f"{cfg.type} failed on {cfg.kwargs.get('column')}"
        rows = r.result.get("unexpected_index_list") or []
        counts[reason] = counts.get(reason, 0) + len(rows)
        for found in rows:
            idx = int(found) if not isinstance(found, dict) else int(next(iter(found.values())))
            bucket = failures.setdefault(idx, [])
            if reason not in bucket:
                bucket.append(reason)
    return ValidationOutcome(failures, counts, len(df), [], [_summary(r) for r in results])


def gate_frame(rows: list[RawRow], columns: list[str]) -> pd.DataFrame:
    """Return the frame the batch-level suite sees: the readable rows' fields (grain: input row)."""
    # unreadable records are quarantined one by one; the gate measures the readable ones
    return pd.DataFrame([r.fields for r in rows if "_error" not in r.raw], columns=columns)


def gate_chunk(frame: pd.DataFrame, src: IntakeSource | None, settings: Settings,
               suite: str = "leads_raw.json") -> ValidationOutcome:
    """Run the batch-level suite on ``frame`` (:func:`gate_frame`); returns its outcome (see :func:`gate_problem`)."""
    return validate_batch(frame, settings.expectations_dir / suite, thresholds=source_thresholds(src))


def source_thresholds(src: IntakeSource | None) -> dict[str, float | None]:
    """Return the source's settings the batch-level suite reads (its expectations' ``threshold_setting``)."""
    return {"min_email_fill_rate": getattr(src, "min_email_fill_rate", None)}


def gate_problem(gate: ValidationOutcome, where: str) -> str | None:
    """Return the gate's failures as one message naming ``where``, or None when the batch passed."""
    return "; ".join(gate.batch_failures) + where if gate.batch_failures else None
