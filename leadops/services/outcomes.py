"""Outcome feedback: for leads old enough to have had their chance, conversion by score band and grade, by
routing rule and by SDR, each group with its 95% Wilson interval (leadops.domain.outcomes).

"Old enough" and "converted" are the conversion model's definitions (leadops/services/model.py):
leads that arrived at least ``MIN_AGE_DAYS`` (14) days before the evaluation, converted when they
reached one of ``CONVERTED`` (SQL, opportunity, won) at any time so far (``uow.leads.reached_stages``:
a move into one of them, or an opportunity) or are in one now. The leads, their hand-off to sales,
their score then and their first assignment are read through ``uow.reporting``. Reads only; used by
`leadops score evaluate` and the weekly report's Outcomes section.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from leadops.db.models import utcnow
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.outcomes import NOT_ROUTED, GroupRate, Outcomes, ScoreBasis, evaluate
from leadops.services.model import CONVERTED, MIN_AGE_DAYS, converted_ids

#: the tables of an evaluation: (key in the result, what its groups are)
TABLES = (("by_band", "score band"), ("by_grade", "grade"), ("by_rule", "routing rule"), ("by_sdr", "SDR"))
DIGITS = 4  # rates and bounds are rounded to this many decimals in the result


@dataclass
class OutcomeEvaluation:
    """Conversion of the leads old enough at ``evaluated_at`` that arrived in ``[since, until)``, overall and by
    score band, grade, routing rule and SDR (rows: group, leads, converted, conversion_rate, ci_low, ci_high;
    the SDR rows also sdr_code)."""

    evaluated_at: datetime
    min_age_days: int
    since: datetime | None  # None: from the first lead
    until: datetime | None  # None: up to arrived_by
    arrived_by: datetime  # evaluated_at - min_age_days: the latest arrival counted
    converted_stages: tuple[str, ...]
    leads: int = 0
    converted: int = 0
    overall: dict[str, Any] = field(default_factory=dict)
    score_basis: dict[str, int] = field(default_factory=dict)
    by_band: list[dict[str, Any]] = field(default_factory=list)
    by_grade: list[dict[str, Any]] = field(default_factory=list)
    by_rule: list[dict[str, Any]] = field(default_factory=list)
    by_sdr: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the evaluation as JSON-able values (instants as ISO 8601 text)."""
        out = asdict(self)
        for k in ("evaluated_at", "since", "until", "arrived_by"):
            out[k] = out[k].isoformat() if out[k] is not None else None
        out["converted_stages"] = list(self.converted_stages)
        return out


def _row(g: GroupRate) -> dict[str, Any]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, DIGITS)

    return {"group": g.group, "leads": g.leads, "converted": g.converted, "conversion_rate": r(g.rate),
            "ci_low": r(g.ci_low), "ci_high": r(g.ci_high)}


def _sdr_rows(groups: list[GroupRate], labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows by SDR name (the code beside it, as in the report's other tables), leads never routed last."""
    rows = [{**_row(g), "group": labels.get(g.group, g.group), "sdr_code": "" if g.group == NOT_ROUTED else g.group}
            for g in groups]
    return sorted(rows, key=lambda r: (r["sdr_code"] == "", str(r["group"]).casefold(), r["sdr_code"]))


def score_notes(basis: Mapping[str, int]) -> list[str]:
    """Return what the score band and grade tables are based on, in words (empty when there is no lead)."""
    at_handoff, current = basis.get(ScoreBasis.HANDOFF, 0), basis.get(ScoreBasis.CURRENT, 0)
    never = basis.get(ScoreBasis.NOT_HANDED_OFF, 0)
    notes = []
    if at_handoff:
        notes.append(f"Score band and grade: the score stored when the lead was handed to sales (first move to MQL "
                     f"or later, or first assignment) for {at_handoff:,} leads.")
    if current:
        notes.append(f"{current:,} of {at_handoff + current:,} leads handed to sales have no score stored at "
                     "hand-off (loaded with a score, or scored before score history was kept): their current score is "
                     "used, which can include activity after the conversation with sales and flatter the high bands.")
    if never:
        notes.append(f"{never:,} leads never handed to sales are placed by their current score.")
    return notes


def evaluate_outcomes(uow: UnitOfWork, *, since: datetime | None = None, until: datetime | None = None,
                      now: datetime | None = None, min_age_days: int = MIN_AGE_DAYS,
                      labels: Mapping[str, str] | None = None) -> OutcomeEvaluation:
    """Return the conversion of the leads that arrived in ``[since, until)`` (open bounds when None) at least
    ``min_age_days`` days before ``now`` (default: the current time); ``labels``: SDR code -> display name."""
    if min_age_days < 0:
        raise ValueError(f"min_age_days = {min_age_days}: expected 0 or more")
    if since is not None and until is not None and since >= until:
        raise ValueError(f"since {since.isoformat()} is not before until {until.isoformat()}")
    now = now or utcnow()
    arrived_by = now - timedelta(days=min_age_days)
    records = uow.reporting.outcome_records(since, until, arrived_by)
    converted = converted_ids(uow, {r.lead_id: r.stage for r in records})
    out: Outcomes = evaluate(records, converted)
    result = OutcomeEvaluation(evaluated_at=now, min_age_days=min_age_days, since=since, until=until,
                               arrived_by=arrived_by, converted_stages=tuple(CONVERTED),
                               leads=out.overall.leads, converted=out.overall.converted, overall=_row(out.overall),
                               score_basis=dict(out.score_basis),
                               by_band=[_row(g) for g in out.by_band], by_grade=[_row(g) for g in out.by_grade],
                               by_rule=[_row(g) for g in out.by_rule], by_sdr=_sdr_rows(out.by_sdr, labels or {}))
    result.notes = [(f"Converted: reached {', '.join(CONVERTED)} at any time so far (an opportunity counts), "
                     "whatever the stage now.")]
    result.notes += score_notes(out.score_basis)
    if not records:
        result.notes.append(empty_message(result))
    return result


def empty_message(e: OutcomeEvaluation) -> str:
    """Return the sentence that says no lead is old enough in the evaluation's period."""
    period = (f"between {e.since.isoformat() if e.since else 'the first lead'} and "
              f"{e.until.isoformat() if e.until else 'now'}")
    return (f"No lead is old enough in the period: none arrived {period} at least {e.min_age_days} days before "
            f"{e.evaluated_at.isoformat()} (that is, by {e.arrived_by.isoformat()}).")


def parse_bound(option: str, value: str, tz: str, *, end: bool = False) -> datetime:
    """Return ``value`` (a date, company-local, or an ISO 8601 instant) as an aware instant; raises ValueError
    naming ``option`` when it is neither. A date as an end bound (``end``) means the end of that day, so that
    ``--until 2026-11-30`` counts the leads of the 30th."""
    text = value.strip()
    try:
        if len(text) <= 10:
            day = date.fromisoformat(text)
            at = datetime.combine(day + timedelta(days=1) if end else day, time.min, ZoneInfo(tz))
        else:
            at = datetime.fromisoformat(text)
            if at.tzinfo is None:
                at = at.replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        raise ValueError(f"{option} {value!r}: expected a date such as 2026-11-20 or an ISO 8601 instant") from None
    return at
