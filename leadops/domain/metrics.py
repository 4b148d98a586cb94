"""Weekly report metrics: pure functions over plain frozen dataclasses.

Conventions
-----------
* Rates are fractions in ``[0, 1]`` (the report renders them as percentages).
  A rate whose denominator is 0 is ``None`` — never 0 %, never a division error.
* Durations are wall-clock hours (``float``).
* Percentiles use **linear interpolation between closest ranks** (Hyndman & Fan
  type 7, numpy's default ``method="linear"``): for sorted values ``x[0..n-1]``
  and ``p`` in ``[0, 100]``, ``h = (n - 1) * p / 100`` and the result is
  ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``. The median
  (p50) therefore equals :func:`statistics.median`. Empty input -> ``None``.
* Functions do not filter by period unless they take ``start``/``end``; callers
  pass the facts of the period (see :func:`iso_week_bounds`).
* ISO weeks are written ``"YYYY-Www"`` (e.g. ``"2026-W45"``); week bounds are
  computed in the report's time zone and returned as aware UTC datetimes.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from leadops.domain.lifecycle import FUNNEL_EXITS, FUNNEL_STEPS, Stage

__all__ = [
    "NO_SDR",
    "TOP_STEP",
    "ActivityFact",
    "InvalidWeek",
    "LeadFact",
    "OpportunityFact",
    "QualityFact",
    "activity_by_sdr",
    "disqualification_reasons",
    "first_clock_met",
    "first_touch_hours",
    "funnel",
    "in_period",
    "iso_week_bounds",
    "next_week",
    "parse_iso_week",
    "percentile",
    "previous_week",
    "quality",
    "rate",
    "reached_step",
    "results_by_sdr",
    "sales_rejected",
    "sla_by",
    "sla_summary",
    "week_of",
]

CALL_OUTCOMES = ("no_answer", "connected", "meeting_booked", "disqualified")
EMAIL_OUTCOMES = ("no_reply", "replied", "meeting_booked", "bounced")
MEETING_OUTCOMES = ("held", "no_show", "scheduled")
#: Call outcomes that mean a conversation happened ("connected or better").
CONNECTED_CALL_OUTCOMES = frozenset({"connected", "meeting_booked", "disqualified"})
#: The funnel's top step, before :data:`leadops.domain.lifecycle.FUNNEL_STEPS`: every lead arrived.
TOP_STEP = "leads"
#: Key used by :func:`results_by_sdr` for opportunities without an SDR.
NO_SDR = "(no SDR)"
UNSPECIFIED_REASON = "unspecified"


# --------------------------------------------------------------------------- #
# Facts
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class ActivityFact:
    """One SDR activity. kind: call | email | linkedin | meeting.

    outcome — call: no_answer, connected, meeting_booked, disqualified;
    email: no_reply, replied, meeting_booked, bounced; meeting: held, no_show, scheduled;
    linkedin: free / None.
    """

    sdr: str
    kind: str
    outcome: str | None
    occurred_at: datetime
    scheduled_for: datetime | None = None


@dataclass(frozen=True)
class LeadFact:
    """One lead as of the report: current stage and every stage ever reached (lifecycle stage values)."""

    lead_id: int
    source: str
    arrived_at: datetime
    stage: Stage | str
    reached: frozenset[Stage | str]
    disqualified_reason: str | None = None
    owner: str | None = None
    assigned_at: datetime | None = None
    first_touch_at: datetime | None = None
    sla_met: bool | None = None


@dataclass(frozen=True)
class OpportunityFact:
    """One sales-accepted opportunity (SAO). stage: open | won | lost."""

    sdr: str | None
    created_at: datetime
    stage: str
    amount: float
    closed_at: datetime | None = None


@dataclass(frozen=True)
class QualityFact:
    """Rows read and quarantined for one source (one or more batches)."""

    source: str
    rows_read: int
    quarantined: int


# --------------------------------------------------------------------------- #
# Small helpers
# --------------------------------------------------------------------------- #
def rate(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when the denominator is 0."""
    if not denominator:
        return None
    return numerator / denominator


def percentile(values: Iterable[float], p: float) -> float | None:
    """Percentile ``p`` (0..100) by linear interpolation (type 7); None if empty."""
    xs = sorted(values)
    if not xs:
        return None
    if not 0 <= p <= 100:
        raise ValueError(f"percentile p must be within 0..100, got {p}")
    h = (len(xs) - 1) * p / 100
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def in_period(at: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    """True if ``at`` is in the half-open period ``[start, end)``; a None bound is open.

    A None ``at`` is never in a period.
    """
    if at is None:
        return False
    if start is not None and at < start:
        return False
    return end is None or at < end


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


# --------------------------------------------------------------------------- #
# Activity and results per SDR
# --------------------------------------------------------------------------- #
def activity_by_sdr(
    activities: Iterable[ActivityFact], include: Iterable[str] = ()
) -> dict[str, dict[str, float | int | None]]:
    """Activity metrics, one entry per SDR (grain: one row per SDR over the facts given,
    plus one per SDR of ``include`` without any: zero counts, None rates).

    Counts: ``calls`` and ``calls_<outcome>`` for each call outcome, ``emails`` and
    ``emails_<outcome>``, ``linkedin`` (touches), ``meetings_booked`` (calls + emails
    with outcome meeting_booked), ``meetings_held`` / ``meetings_no_show`` /
    ``meetings_scheduled`` (meeting activities by outcome), ``touches`` = calls +
    emails + linkedin.

    Rates (None when the denominator is 0):
    * ``connect_rate`` = calls with outcome in {connected, meeting_booked,
      disqualified} / calls
    * ``reply_rate`` = (emails replied + emails meeting_booked) / (emails − emails bounced)
    * ``activities_per_meeting`` = touches / meetings_booked
    SDRs are returned sorted by name.
    """
    counters: dict[str, Counter[str]] = defaultdict(Counter)
    for sdr in include:  # an SDR with results but no activity made 0 calls: not "no data"
        counters[sdr]
    for a in activities:
        c = counters[a.sdr]
        if a.kind == "call":
            c["calls"] += 1
            if a.outcome:
                c[f"calls_{a.outcome}"] += 1
            if a.outcome in CONNECTED_CALL_OUTCOMES:
                c["_connected"] += 1
        elif a.kind == "email":
            c["emails"] += 1
            if a.outcome:
                c[f"emails_{a.outcome}"] += 1
        elif a.kind == "linkedin":
            c["linkedin"] += 1
        elif a.kind == "meeting" and a.outcome:
            c[f"meetings_{a.outcome}"] += 1
        if a.kind in ("call", "email") and a.outcome == "meeting_booked":
            c["meetings_booked"] += 1

    out: dict[str, dict[str, float | int | None]] = {}
    for sdr in sorted(counters):
        c = counters[sdr]
        row: dict[str, float | int | None] = {"calls": c["calls"]}
        row.update({f"calls_{o}": c[f"calls_{o}"] for o in CALL_OUTCOMES})
        row["emails"] = c["emails"]
        row.update({f"emails_{o}": c[f"emails_{o}"] for o in EMAIL_OUTCOMES})
        row["linkedin"] = c["linkedin"]
        touches = c["calls"] + c["emails"] + c["linkedin"]
        row["touches"] = touches
        row["meetings_booked"] = c["meetings_booked"]
        row.update({f"meetings_{o}": c[f"meetings_{o}"] for o in MEETING_OUTCOMES})
        row["connect_rate"] = rate(c["_connected"], c["calls"])
        row["reply_rate"] = rate(
            c["emails_replied"] + c["emails_meeting_booked"], c["emails"] - c["emails_bounced"]
        )
        row["activities_per_meeting"] = rate(touches, c["meetings_booked"])
        out[sdr] = row
    return out


def results_by_sdr(
    activities: Iterable[ActivityFact],
    opportunities: Iterable[OpportunityFact],
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, dict[str, float | int | None]]:
    """Results per SDR for the period ``[start, end)`` (None bound = open).

    Grain: one row per SDR having an activity or an opportunity in the period;
    opportunities without an SDR are grouped under :data:`NO_SDR`.

    * ``meetings_booked``: calls + emails with outcome meeting_booked, occurred in period
    * ``meetings_held``: meeting activities with outcome held, occurred in period
    * ``future_meetings``: meetings booked in the period (outcome scheduled) whose date is
      at or after the period's end: still on the calendar
    * ``saos``: opportunities created in period (any stage)
    * ``meeting_to_sao_rate`` = saos / meetings_held (a period ratio, not a cohort:
      a meeting held last week can become this week's SAO)
    * ``pipeline``: sum of amounts of opportunities created in period
    * ``won``: count, and ``revenue``: sum of amounts, of opportunities with stage
      won and closed_at in period
    """
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    amounts: dict[str, dict[str, float]] = defaultdict(lambda: {"pipeline": 0.0, "revenue": 0.0})
    for a in activities:
        if not in_period(a.occurred_at, start, end):
            continue
        c = rows[a.sdr]
        if a.kind in ("call", "email") and a.outcome == "meeting_booked":
            c["meetings_booked"] += 1
        elif a.kind == "meeting" and a.outcome == "held":
            c["meetings_held"] += 1
        elif a.kind == "meeting" and a.outcome == "scheduled" and a.scheduled_for is not None \
                and (end is None or a.scheduled_for >= end):
            c["future_meetings"] += 1
    for o in opportunities:
        key = o.sdr if o.sdr is not None else NO_SDR
        if in_period(o.created_at, start, end):
            c = rows[key]
            c["saos"] += 1
            amounts[key]["pipeline"] += float(o.amount)
        if o.stage == "won" and in_period(o.closed_at, start, end):
            c = rows[key]
            c["won"] += 1
            amounts[key]["revenue"] += float(o.amount)

    out: dict[str, dict[str, float | int | None]] = {}
    for sdr in sorted(rows):
        c = rows[sdr]
        out[sdr] = {
            "meetings_booked": c["meetings_booked"],
            "meetings_held": c["meetings_held"],
            "future_meetings": c["future_meetings"],
            "saos": c["saos"],
            "meeting_to_sao_rate": rate(c["saos"], c["meetings_held"]),
            "pipeline": float(amounts[sdr]["pipeline"]),
            "won": c["won"],
            "revenue": float(amounts[sdr]["revenue"]),
        }
    return out


# --------------------------------------------------------------------------- #
# Funnel and disqualification
# --------------------------------------------------------------------------- #
_STEP_DEPTH: dict[str, int] = {step.value: i for i, step in enumerate(FUNNEL_STEPS, start=1)}


def _depth(lead: LeadFact) -> int:
    """How far down the funnel a lead went: 0 (lead only) .. len(FUNNEL_STEPS) (won)."""
    return max((_STEP_DEPTH.get(stage, 0) for stage in set(lead.reached) | {lead.stage}), default=0)


def reached_step(lead: LeadFact, step: Stage | str) -> bool:
    """True if ``lead`` reached funnel ``step`` or any later step (its current stage counts).

    This is the one definition of "an MQL", "a SAL", ... used by the funnel, the headline
    and the SRL figures, so the same word is the same number everywhere in the report.
    """
    if step == TOP_STEP:
        return True
    if step not in _STEP_DEPTH:
        raise ValueError(f"unknown funnel step {str(step)!r}; expected one of {TOP_STEP}, "
                         f"{', '.join(s.value for s in FUNNEL_STEPS)}")
    return _depth(lead) >= _STEP_DEPTH[step]


def funnel(leads: Sequence[LeadFact]) -> list[dict[str, object]]:
    """Funnel leads → mql → sal → sql → opportunity → won (grain: one row per step).

    A lead counts at a step if it ever reached that step **or any later step**
    (:func:`reached_step`; its current ``stage`` counts as reached), so the funnel never
    widens even when a stage was skipped (e.g. a demo request accepted straight to SAL).

    Each row: ``step``, ``count``, ``rate_from_previous`` = count / previous step's
    count (None for the top step or a 0 denominator), ``rate_from_top`` = count /
    number of leads (None if there are no leads).
    """
    leads = list(leads)
    counts = [0] * (len(FUNNEL_STEPS) + 1)
    for lead in leads:
        for i in range(_depth(lead) + 1):
            counts[i] += 1
    top = counts[0]
    rows: list[dict[str, object]] = []
    for i, step in enumerate((TOP_STEP, *(s.value for s in FUNNEL_STEPS))):
        rows.append(
            {
                "step": step,
                "count": counts[i],
                "rate_from_previous": None if i == 0 else rate(counts[i], counts[i - 1]),
                "rate_from_top": rate(counts[i], top),
            }
        )
    return rows


def sales_rejected(leads: Iterable[LeadFact]) -> dict[str, float | int | None]:
    """Sales-rejected leads (SRL) among those accepted by sales (grain: one summary).

    ``sal``: leads that reached SAL or a later step (:func:`reached_step`, so it is the
    funnel's SAL step, same leads, same number); ``srl``: of those, leads now sent back
    (recycled, nurture, disqualified or lost) without ever reaching SQL or later;
    ``srl_rate`` = srl / sal.
    """
    sal = srl = 0
    for f in leads:
        if not reached_step(f, Stage.SAL):
            continue
        sal += 1
        if f.stage in FUNNEL_EXITS and not reached_step(f, Stage.SQL):
            srl += 1
    return {"sal": sal, "srl": srl, "srl_rate": rate(srl, sal)}


def disqualification_reasons(leads: Iterable[LeadFact]) -> list[dict[str, object]]:
    """Disqualified leads by reason, most frequent first (ties by reason name).

    Grain: one row per reason. A lead counts if its stage is ``disqualified`` or
    ``disqualified`` is in ``reached``; a missing reason counts as "unspecified".
    Each row: ``reason``, ``count``, ``share`` = count / disqualified leads.
    """
    counter: Counter[str] = Counter()
    for lead in leads:
        if lead.stage == Stage.DISQUALIFIED or Stage.DISQUALIFIED in lead.reached:
            counter[(lead.disqualified_reason or "").strip() or UNSPECIFIED_REASON] += 1
    total = sum(counter.values())
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"reason": r, "count": n, "share": rate(n, total)} for r, n in ranked]


# --------------------------------------------------------------------------- #
# SLA
# --------------------------------------------------------------------------- #
def first_clock_met(status: str, elapsed_seconds: int, target_seconds: int) -> bool | None:
    """Whether a lead's first SLA clock counts as met (``LeadFact.sla_met``): True if it was met within its
    target, False if met late, breached or reassigned, None while it has no outcome (open, closed)."""
    if status == "met":
        return elapsed_seconds <= target_seconds
    if status in ("breached", "reassigned"):
        return False
    return None


def first_touch_hours(leads: Iterable[LeadFact]) -> list[float]:
    """Human delay per lead: first_touch_at − assigned_at, in wall-clock hours.

    Grain: one value per lead with both timestamps and first touch not before
    assignment (inconsistent rows are left out).
    """
    out = []
    for lead in leads:
        if lead.assigned_at is not None and lead.first_touch_at is not None:
            delta = lead.first_touch_at - lead.assigned_at
            if delta >= timedelta(0):
                out.append(_hours(delta))
    return out


def _system_delay_hours(leads: Iterable[LeadFact]) -> list[float]:
    out = []
    for lead in leads:
        if lead.assigned_at is not None:
            delta = lead.assigned_at - lead.arrived_at
            if delta >= timedelta(0):
                out.append(_hours(delta))
    return out


def sla_summary(leads: Sequence[LeadFact]) -> dict[str, float | int | None]:
    """SLA compliance and delays (grain: one summary over the leads given).

    * ``sla_leads``: leads with an SLA outcome (``sla_met`` not None);
      ``sla_met`` / ``sla_missed`` counts; ``sla_compliance`` = met / sla_leads.
    * Human delay (SDR): ``first_touch_count``, ``first_touch_median_hours``,
      ``first_touch_p90_hours`` over :func:`first_touch_hours` (assignment → first touch).
    * System delay (pipeline): ``system_delay_count``, ``system_delay_median_hours``,
      ``system_delay_p90_hours`` over arrived_at → assigned_at.
    Hours are wall-clock; percentiles are linear (see module docstring).
    """
    leads = list(leads)
    met = sum(1 for lead in leads if lead.sla_met is True)
    missed = sum(1 for lead in leads if lead.sla_met is False)
    touch = first_touch_hours(leads)
    system = _system_delay_hours(leads)
    return {
        "sla_leads": met + missed,
        "sla_met": met,
        "sla_missed": missed,
        "sla_compliance": rate(met, met + missed),
        "first_touch_count": len(touch),
        "first_touch_median_hours": percentile(touch, 50),
        "first_touch_p90_hours": percentile(touch, 90),
        "system_delay_count": len(system),
        "system_delay_median_hours": percentile(system, 50),
        "system_delay_p90_hours": percentile(system, 90),
    }


# --------------------------------------------------------------------------- #
# Data quality
# --------------------------------------------------------------------------- #
def quality(quality_facts: Iterable[QualityFact], enriched: int, enrich_attempted: int) -> dict[str, object]:
    """Data-quality summary.

    * ``sources``: one row per source (facts of the same source are summed), sorted
      by source: ``source``, ``rows_read``, ``quarantined``, ``quarantine_rate`` =
      quarantined / rows_read.
    * ``total``: the same over all sources.
    * ``enriched``, ``enrich_attempted``, ``enrichment_match_rate`` = enriched /
      enrich_attempted.
    """
    read: Counter[str] = Counter()
    quarantined: Counter[str] = Counter()
    for f in quality_facts:
        read[f.source] += f.rows_read
        quarantined[f.source] += f.quarantined
    sources = [
        {
            "source": s,
            "rows_read": read[s],
            "quarantined": quarantined[s],
            "quarantine_rate": rate(quarantined[s], read[s]),
        }
        for s in sorted(read)
    ]
    total_read, total_q = sum(read.values()), sum(quarantined.values())
    return {
        "sources": sources,
        "total": {"rows_read": total_read, "quarantined": total_q, "quarantine_rate": rate(total_q, total_read)},
        "enriched": enriched,
        "enrich_attempted": enrich_attempted,
        "enrichment_match_rate": rate(enriched, enrich_attempted),
    }


# --------------------------------------------------------------------------- #
# ISO weeks
# --------------------------------------------------------------------------- #
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {tz!r}") from exc


def _weeks_in_iso_year(year: int) -> int:
    return date(year, 12, 28).isocalendar().week


class InvalidWeek(ValueError):
    """A week parameter that is not an existing ISO week: a retry cannot fix it."""


def parse_iso_week(value: object, parameter: str = "week") -> str:
    """Return ``value`` as a canonical ISO week ``"YYYY-Www"`` (``" 2026-w47 "`` -> ``"2026-W47"``).

    Raises :class:`InvalidWeek` (a ``ValueError``) with one line naming the parameter, the
    value and the expected form, e.g. ``week = 'banana': expected an ISO week such as
    2026-W47``. Pure and cheap, so a CLI or a flow can call it before any work starts.
    """
    m = _WEEK_RE.match(value.strip().upper()) if isinstance(value, str) else None
    expected = f"{parameter} = {value!r}: expected an ISO week such as 2026-W47"
    if not m:
        raise InvalidWeek(expected)
    year, num = int(m.group(1)), int(m.group(2))
    weeks = _weeks_in_iso_year(year) if 1 <= year <= 9998 else 52
    if year < 1 or not 1 <= num <= weeks:
        raise InvalidWeek(f"{expected}; {year:04d}-W{num:02d} does not exist (ISO year {year} has {weeks} weeks)")
    return f"{year:04d}-W{num:02d}"


def _week_monday(week: str) -> date:
    canonical = parse_iso_week(week)
    return date.fromisocalendar(int(canonical[:4]), int(canonical[6:]), 1)


def _format_week(d: date) -> str:
    iso = d.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def iso_week_bounds(week: str, tz: str) -> tuple[datetime, datetime]:
    """``"2026-W45"`` -> aware UTC ``[Monday 00:00 local, next Monday 00:00 local)``.

    Handles ISO years with 53 weeks (2026-W53 exists, 2025-W53 raises ValueError).
    The week is 167 or 169 hours long when it contains a DST change.
    """
    monday = _week_monday(week)
    zone = _zone(tz)
    start = datetime.combine(monday, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), datetime.min.time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def previous_week(week: str) -> str:
    """The ISO week before ``week`` (``"2027-W01"`` -> ``"2026-W53"``)."""
    return _format_week(_week_monday(week) - timedelta(days=7))


def next_week(week: str) -> str:
    """The ISO week after ``week`` (``"2026-W53"`` -> ``"2027-W01"``)."""
    return _format_week(_week_monday(week) + timedelta(days=7))


def week_of(dt: datetime, tz: str) -> str:
    """ISO week (``"YYYY-Www"``) containing the aware instant ``dt`` in time zone ``tz``."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"week_of needs an aware datetime, got naive {dt.isoformat()}")
    return _format_week(dt.astimezone(_zone(tz)).date())


def sla_by(leads: Sequence[LeadFact], key: str) -> list[dict[str, str | float | int | None]]:
    """Return :func:`sla_summary` per value of ``key`` ("owner" or "source"), sorted (grain: one row per value).

    Leads never assigned have no owner and appear under ``(unassigned)`` for ``owner``.
    """
    groups: dict[str, list[LeadFact]] = {}
    for f in leads:
        groups.setdefault(str(getattr(f, key) or "(unassigned)"), []).append(f)
    label = "sdr" if key == "owner" else key
    return [{label: k, **sla_summary(v)} for k, v in sorted(groups.items())]
