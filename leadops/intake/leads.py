"""Lead rows: the glue between rows as read, the rules of :mod:`leadops.domain.intake`, and the leads
table (insert or merge through the intake repository, see :mod:`leadops.db.repositories.lead_store`).

:data:`LEADS` is the stages of a lead file or API page (see :class:`leadops.intake.stages.Stages`).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import FromClause, String

from leadops.config import IntakeSource, Rules, Settings
from leadops.db.models import Lead
from leadops.db.repositories.intake import Batch, IntakeRepository
from leadops.db.repositories.lead_store import FileCache
from leadops.domain.intake import LeadRowRules, lead_reasons, lead_record, lead_records
from leadops.intake.batches import quarantine
from leadops.intake.gate import ValidationOutcome
from leadops.intake.outcome import FileOutcome
from leadops.intake.reading.rows import RawRow
from leadops.intake.stages import Prepared, Stages


def column_limits(table: FromClause) -> dict[str, int]:
    """Return column -> maximum length of ``table``'s bounded text columns (``String(n)``)."""
    return {c.name: c.type.length for c in table.columns if isinstance(c.type, String) and c.type.length}


#: The leads table's text limits, checked on every row before storing, the same on SQLite (which
#: would store a 1 MB name) and PostgreSQL (which would fail the whole file): the model is the
#: one source of truth, so a migration that widens a column widens the check.
LEAD_LIMITS = column_limits(Lead.__table__)


def row_rules(src: IntakeSource | None, rules: Rules, tz: str) -> LeadRowRules:
    """Return what normalizing the lead rows of ``src`` needs (grain: one source, for a whole chunk)."""
    return LeadRowRules(default_source=rules.sources.default_source, source=src.source if src else None,
                        campaign=src.campaign if src else None, date_format=getattr(src, "date_format", None),
                        time_zone=tz, competitor_domains=frozenset(rules.scoring.competitor_domains),
                        hand_raiser_sources=frozenset(rules.scoring.hand_raiser_sources), limits=LEAD_LIMITS)


def normalize_row(row: RawRow, src: IntakeSource | None,
                  rules: Rules, tz: str, now: datetime) -> dict[str, Any]:
    """Return one normalized candidate lead (see :func:`leadops.domain.intake.lead_record`)."""
    return lead_record(row.row_number, row.fields, row.raw.get("_error"), row_rules(src, rules, tz), now)


def quarantine_reasons(records: Sequence[Mapping[str, Any]], failures: dict[int, list[str]], rules: Rules) -> dict[int, list[str]]:
    """Return row index -> reasons to hold each failing lead row (see :func:`leadops.domain.intake.lead_reasons`)."""
    return lead_reasons(records, failures, rules.sources.lead_sources, LEAD_LIMITS["source"])


def _normalize(rows: list[RawRow], src: IntakeSource | None, rules: Rules, settings: Settings,
               now: datetime) -> list[dict[str, Any]]:
    """Return the normalized record of each row (grain: input row), computed by column (see
    :func:`leadops.domain.intake.lead_records`)."""
    # Records stay Python dicts (pandas would turn None into a truthy NaN); frames are for GX only.
    context = row_rules(src, rules, settings.company_time_zone)
    return lead_records([(r.row_number, r.fields, r.raw.get("_error")) for r in rows], context, now)


def _decide(rows: list[RawRow], records: list[dict[str, Any]], checked: ValidationOutcome, rules: Rules) -> Prepared:
    """Return the chunk ready to store: the quarantine reasons of each failing row, the records of the others."""
    reasons = quarantine_reasons(records, checked.failures, rules)
    return Prepared(rows, [None if i in reasons else rec for i, rec in enumerate(records)], checked, reasons)


def _store(intake: IntakeRepository, batch: Batch, p: Prepared, src: IntakeSource | None,
           rules: Rules, settings: Settings, now: datetime, out: FileOutcome, counter: Counter[str],
           cache: FileCache | None = None) -> None:
    """Quarantine the failing rows of ``p`` and store the others; adds their counts to ``out`` and ``counter``."""
    reasons = p.reasons if p.reasons is not None else quarantine_reasons(p.every_record(), p.checked.failures, rules)
    quarantined = quarantine(intake, batch, p.rows, reasons, now, counter)
    good = [rec for i, rec in enumerate(p.records) if i not in reasons and rec is not None]
    by_row: dict[int, dict[str, Any]] = {}

    def raw_of(row_number: int) -> dict[str, Any]:
        """The row as read, for a merge's record (built on the first merge: most chunks have few)."""
        if not by_row:
            by_row.update((r.row_number, r.raw) for r in p.rows)
        return by_row[row_number]

    inserted, merged = intake.store_leads(good, batch.id, raw_of, now, rules.sources.fuzzy_match_threshold,
                                          batch.origin, cache)
    out.rows_read += len(p.rows)
    out.quarantined += quarantined
    out.inserted += inserted
    out.merged += merged


LEADS = Stages(_normalize, "leads_intake.json", _decide, _store)
