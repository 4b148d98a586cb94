"""Quarantine: list what intake held back and re-admit rows once ops have fixed them.

A released row goes through the same normalization, GX suite and insert/merge as intake;
it keeps its original batch and row number, so the lead's provenance still points at the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leadops.config import FileSource, IntakeSource, Rules, Settings
from leadops.db.models import Quarantine, utcnow
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.normalize import clean_text
from leadops.intake import validation_process
from leadops.intake.activities import ACTIVITY_ALIASES, ACTIVITY_FIELDS, release_activity
from leadops.intake.leads import normalize_row, quarantine_reasons
from leadops.intake.reading.headers import CANONICAL_FIELDS, map_headers
from leadops.intake.reading.rows import RawRow

META_KEYS = ("_extra", "_line", "_error", "_refresh", "_crm_id")
OVERRIDABLE = tuple(dict.fromkeys(CANONICAL_FIELDS + ACTIVITY_FIELDS))


@dataclass
class ReleaseOutcome:
    """What happened to one quarantined row on release: released, still held (with reasons) or unknown."""

    id: int
    status: str  # released | held | not_found | not_open
    result: str | None = None  # inserted | merged
    reasons: list[str] = field(default_factory=list)


def list_rows(uow: UnitOfWork, *, status: str = "open", source: str | None = None, limit: int = 100) -> list[Quarantine]:
    """Return quarantine rows, newest first (grain: one input row)."""
    return uow.quarantine.find(status=status, source=source, limit=limit)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """Return field -> value from ``field=value`` strings; raises ValueError naming a bad one."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or key not in OVERRIDABLE:
            raise ValueError(f"--set {pair!r}: expected FIELD=VALUE with FIELD one of {', '.join(OVERRIDABLE)}")
        out[key] = value
    return out


def source_of(q: Quarantine, rules: Rules) -> IntakeSource | None:
    """Return the file, API or CRM source the row came from (None: the default source)."""
    sources: list[IntakeSource] = [
        *rules.sources.files, *rules.sources.apis, *rules.sources.crm]
    return next((s for s in sources if s.name == q.source), None)


def _raw_row(q: Quarantine, rules: Rules, overrides: dict[str, str]) -> RawRow:
    src = source_of(q, rules)
    header = [h for h in q.raw if h not in META_KEYS]
    if isinstance(src, FileSource) and src.kind == "activities":  # API sources carry leads only
        mapping, _ = map_headers(header, src.columns, ACTIVITY_ALIASES, ACTIVITY_FIELDS)
        overrides = {k: v for k, v in overrides.items() if k in ACTIVITY_FIELDS}
    else:
        mapping, _ = map_headers(header, src.columns if src else None)
        overrides = {k: v for k, v in overrides.items() if k in CANONICAL_FIELDS}
    fields: dict[str, Any] = {f: clean_text(q.raw.get(h)) for h, f in mapping.items()}
    fields.update({k: clean_text(v) for k, v in overrides.items()})
    raw = dict(q.raw)
    if overrides:
        # the correction is recorded with the row; the unreadable-line marker no longer applies
        raw = {k: v for k, v in raw.items() if k != "_error"} | {"_corrected": overrides}
    return RawRow(q.source_row, fields, raw)


def release(uow: UnitOfWork, ids: list[int], rules: Rules, settings: Settings,
            overrides: dict[str, str] | None = None) -> list[ReleaseOutcome]:
    """Re-admit quarantined rows (after applying ``overrides``); returns one outcome per id. Never commits."""
    now = utcnow()
    outcomes = []
    for qid in ids:
        q = uow.quarantine.get(qid)
        if q is None:
            outcomes.append(ReleaseOutcome(qid, "not_found"))
            continue
        if q.status != "open":
            outcomes.append(ReleaseOutcome(qid, "not_open", reasons=[f"status is {q.status}"]))
            continue
        src = source_of(q, rules)
        row = _raw_row(q, rules, overrides or {})
        if isinstance(src, FileSource) and src.kind == "activities":
            reasons, result = release_activity(uow.intake, q, row, src, rules, settings, now)
            if reasons:
                uow.quarantine.hold(q, reasons)
                outcomes.append(ReleaseOutcome(qid, "held", reasons=reasons))
                continue
            uow.quarantine.release(q, row.raw if overrides else None)
            outcomes.append(ReleaseOutcome(qid, "released", result))
            continue
        rec = normalize_row(row, src, rules, settings.company_time_zone, now)
        if row.raw.get("_error"):
            rec["raw_error"] = row.raw["_error"]
        check = validation_process.result(validation_process.submit_rows([rec], settings.expectations_dir / "leads_intake.json",
                                                       in_process=not settings.validation_process), f"quarantine row {qid}")
        reasons = quarantine_reasons([rec], check.failures, rules).get(0, [])
        if reasons:
            uow.quarantine.hold(q, reasons)
            outcomes.append(ReleaseOutcome(qid, "held", reasons=reasons))
            continue
        inserted, _merged = uow.intake.store_leads(
            [rec], q.ingest_batch_id, {row.row_number: row.raw}.__getitem__, now, rules.sources.fuzzy_match_threshold,
            q.origin)
        uow.quarantine.release(q, row.raw if overrides else None)
        outcomes.append(ReleaseOutcome(qid, "released", "inserted" if inserted else "merged"))
    return outcomes
