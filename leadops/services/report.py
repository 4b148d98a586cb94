"""Build the weekly report for one ISO week from stored data: facts -> metrics -> HTML + CSV.

Same data, same week -> byte-identical files (no wall-clock time in the output).
Each figure has one definition: the headline's MQLs are the funnel's MQL step and the SRL
box's SAL is the funnel's SAL step (all from :func:`leadops.domain.metrics.reached_step`);
figures that differ in kind carry different labels (see the README's metric definitions).

The facts are loaded through ``uow.reporting`` (leadops/db/repositories/reporting.py), the figures
are leadops/domain/metrics.py's, each build is recorded as a report_runs row through ``uow.reporting``
and the report email is queued through ``uow.outbox``. Nothing here commits: whoever opened the unit
of work does.

The Outcomes section (leadops/services/outcomes.py) judges the leads that arrived in the ``outcome_weeks``
weeks ending with the report's week and at least ``outcome_min_age_days`` days before the week's end: the
end of the period is the evaluation instant, never the wall clock, so a rebuild gives the same bytes.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from leadops.db.models import utcnow
from leadops.db.repositories.outbox import Message
from leadops.db.repositories.reporting import ReportRunRecord
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain import metrics as m
from leadops.domain.enrichment import EnrichmentStatus
from leadops.domain.lifecycle import Stage
from leadops.reporting.csv_safe import write_csv
from leadops.reporting.html import render_weekly_report
from leadops.services.model import MIN_AGE_DAYS
from leadops.services.outcomes import OutcomeEvaluation, evaluate_outcomes

TREND_WEEKS = 8
#: the Outcomes section's period: the weeks ending with the report's week (those old enough count)
OUTCOME_WEEKS = TREND_WEEKS
# enrichment outcomes of a lookup that ran (skipped: no company to look up), and those that found something
_ATTEMPTED = (EnrichmentStatus.ENRICHED, EnrichmentStatus.PARTIAL, EnrichmentStatus.MISS, EnrichmentStatus.ERROR)
_FOUND = (EnrichmentStatus.ENRICHED, EnrichmentStatus.PARTIAL)


@dataclass
class ReportResult:
    """Paths written and headline metrics of one weekly report build."""

    week: str
    html_path: str
    csv_paths: list[str]
    headline: dict[str, Any]
    previous: dict[str, Any]
    sdr_rows: list[dict[str, Any]] = field(default_factory=list)
    funnel: list[dict[str, Any]] = field(default_factory=list)
    report_run_id: int | None = None
    outcomes: dict[str, Any] = field(default_factory=dict)  # OutcomeEvaluation.as_dict() of the Outcomes section


def _quality(uow: UnitOfWork, start: datetime, end: datetime, leads: Sequence[m.LeadFact]) -> dict[str, object]:
    statuses = uow.reporting.enrichment_statuses([f.lead_id for f in leads])
    attempted = sum(n for status, n in statuses.items() if status in _ATTEMPTED)
    enriched = sum(n for status, n in statuses.items() if status in _FOUND)
    return m.quality(uow.reporting.ingest_quality(start, end), enriched, attempted)


def sdr_labels(uow: UnitOfWork) -> dict[str, str]:
    """Return the display label of every SDR code on the roster (grain: one entry per SDR)."""
    return display_labels(uow.reporting.sdr_names())


def display_labels(names: Mapping[str, str | None]) -> dict[str, str]:
    """Return code -> display label from code -> name (grain: one entry per SDR).

    The label is the SDR's name; the code is added ("Ana Silva (a.silva)") only where two
    SDRs share a name, and stands alone when the name is blank.
    """
    shown = {code: (name or "").strip() for code, name in names.items()}
    seen = Counter(shown.values())
    return {code: code if not name else name if seen[name] == 1 else f"{name} ({code})"
            for code, name in shown.items()}


def _week_metrics(uow: UnitOfWork, week: str, tz: str, labels: Mapping[str, str]) -> dict[str, Any]:
    start, end = m.iso_week_bounds(week, tz)
    acts = uow.reporting.activities(start, end)
    leads = uow.reporting.leads(start, end)
    opps = uow.reporting.opportunities(start, end)
    results = m.results_by_sdr(acts, opps, start, end)
    activity = m.activity_by_sdr(acts, include=[code for code in results if code != m.NO_SDR])
    funnel = m.funnel(leads)
    sla = m.sla_summary(leads)
    steps = uow.reporting.sla_step_counts(start, end, ("breach", "reassign"))
    sla["breaches"], sla["reassignments"] = steps.get("breach", 0), steps.get("reassign", 0)  # SLA events in the week
    step = {r["step"]: r["count"] for r in funnel}
    headline = {
        "leads": step[m.TOP_STEP],
        "mqls": step[Stage.MQL],  # the funnel's MQL step: reached MQL or later, one definition
        "activities": len(acts),
        "meetings_booked": sum(r.get("meetings_booked") or 0 for r in results.values()),
        "meetings_held": sum(r.get("meetings_held") or 0 for r in results.values()),
        "saos": sum(r.get("saos") or 0 for r in results.values()),
        "pipeline": round(sum(r.get("pipeline") or 0 for r in results.values()), 2),
        "revenue": round(sum(r.get("revenue") or 0 for r in results.values()), 2),
        "sla_compliance": sla.get("sla_compliance"),
        "first_touch_median_hours": sla.get("first_touch_median_hours"),
    }
    # People read names; the code stays beside it in the CSVs, where a spreadsheet joins on it.
    sdr_rows = sorted(
        ({"sdr": labels.get(code, code), "sdr_code": "" if code == m.NO_SDR else code,
          **activity.get(code, {}), **results.get(code, {})} for code in set(activity) | set(results)),
        key=lambda r: (r["sdr"] == m.NO_SDR, str(r["sdr"]).casefold(), str(r["sdr_code"])))
    sla_by_sdr = sorted(
        ({**r, "sdr": labels.get(str(r["sdr"]), str(r["sdr"])), "sdr_code": str(r["sdr"])}
         for r in m.sla_by([f for f in leads if f.owner], "owner")),
        key=lambda r: (str(r["sdr"]).casefold(), str(r["sdr_code"])))
    return {
        "start": start, "end": end, "leads": leads, "headline": headline, "sdr_rows": sdr_rows, "funnel": funnel,
        "sla": sla, "sla_by_sdr": sla_by_sdr, "sla_by_source": m.sla_by(leads, "source"),
        "first_touch_hours": m.first_touch_hours(leads), "quality": _quality(uow, start, end, leads),
        "disqualification_reasons": m.disqualification_reasons(leads), "sales_rejected": m.sales_rejected(leads),
    }


def week_outcomes(uow: UnitOfWork, week: str, tz: str, labels: Mapping[str, str], *, weeks: int = OUTCOME_WEEKS,
                  min_age_days: int = MIN_AGE_DAYS) -> OutcomeEvaluation:
    """Return the outcomes of the leads that arrived in the ``weeks`` ISO weeks ending with ``week`` and at least
    ``min_age_days`` days before that week's end (the evaluation instant)."""
    first = week
    for _ in range(weeks - 1):
        first = m.previous_week(first)
    start, end = m.iso_week_bounds(first, tz)[0], m.iso_week_bounds(week, tz)[1]
    return evaluate_outcomes(uow, since=start, until=end, now=end, min_age_days=min_age_days, labels=labels)


#: the columns of outcomes-WEEK.csv (written even when no lead is old enough: the header alone)
OUTCOME_CSV_COLUMNS = ("table", "group", "sdr_code", "leads", "converted", "conversion_rate", "ci_low", "ci_high")


def outcome_csv_rows(outcomes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the outcome tables as one list of CSV rows (grain: one group of one table; the overall row first; none
    when no lead is old enough)."""
    if not outcomes["leads"]:
        return []
    tables = (("overall", [outcomes["overall"]]), ("score_band", outcomes["by_band"]), ("grade", outcomes["by_grade"]),
              ("routing_rule", outcomes["by_rule"]), ("sdr", outcomes["by_sdr"]))
    return [{"table": name, "sdr_code": "", **r} for name, rows in tables for r in rows]


def build_weekly_report(uow: UnitOfWork, week: str, tz: str, out_dir: Path, *,
                        flow_run_id: str | None = None, outcome_weeks: int = OUTCOME_WEEKS,
                        outcome_min_age_days: int = MIN_AGE_DAYS) -> ReportResult:
    """Write the week's HTML and CSV files under ``out_dir/week`` and record the build (one report_runs row).

    A rebuild of the same week on the same data writes the same bytes and records a row of its own.
    ``outcome_weeks`` and ``outcome_min_age_days`` set the Outcomes section's period and age (see the module).
    """
    week = m.parse_iso_week(week)
    if outcome_weeks < 1:
        raise ValueError(f"outcome_weeks = {outcome_weeks}: expected 1 or more")
    if outcome_min_age_days < 0:
        raise ValueError(f"outcome_min_age_days = {outcome_min_age_days}: expected 0 or more")
    labels = sdr_labels(uow)
    cur = _week_metrics(uow, week, tz, labels)
    prev_week = m.previous_week(week)
    prev = _week_metrics(uow, prev_week, tz, labels)
    trend: list[dict[str, object]] = []
    w = week
    for _ in range(TREND_WEEKS):
        h = (cur["headline"] if w == week else prev["headline"] if w == prev_week
             else _week_metrics(uow, w, tz, labels)["headline"])
        trend.append({"week": w, "leads": h["leads"], "mqls": h["mqls"], "meetings": h["meetings_booked"], "saos": h["saos"]})
        w = m.previous_week(w)
    trend.reverse()
    outcomes = week_outcomes(uow, week, tz, labels, weeks=outcome_weeks, min_age_days=outcome_min_age_days).as_dict()
    report = {
        "week": week, "previous_week": prev_week, "time_zone": tz,
        # The period, not the wall clock, so that a rebuild gives the same bytes; the page shows it in ``tz``.
        "period_start": cur["start"], "period_end": cur["end"],
        "headline": cur["headline"], "headline_previous": prev["headline"], "funnel": cur["funnel"],
        "sdr_rows": cur["sdr_rows"], "sla": cur["sla"], "first_touch_hours": cur["first_touch_hours"],
        "sla_by_sdr": cur["sla_by_sdr"], "sla_by_source": cur["sla_by_source"],
        "trend": trend, "disqualification_reasons": cur["disqualification_reasons"], "quality": cur["quality"],
        "sales_rejected": cur["sales_rejected"], "outcomes": outcomes,
    }
    folder = Path(out_dir) / week
    folder.mkdir(parents=True, exist_ok=True)
    html_path = folder / f"weekly-report-{week}.html"
    html_path.write_text(render_weekly_report(report), encoding="utf-8")
    sdr_csv, funnel_csv = folder / f"sdr-activity-{week}.csv", folder / f"funnel-{week}.csv"
    write_csv(sdr_csv, cur["sdr_rows"])
    write_csv(funnel_csv, cur["funnel"])
    sla_csv = folder / f"sla-{week}.csv"
    write_csv(sla_csv, [{"group": "sdr", "name": r["sdr"], "code": r["sdr_code"],
                         **{k: v for k, v in r.items() if k not in ("sdr", "sdr_code")}} for r in cur["sla_by_sdr"]]
              + [{"group": "source", "name": r["source"], "code": r["source"],
                  **{k: v for k, v in r.items() if k != "source"}} for r in cur["sla_by_source"]])
    outcomes_csv = folder / f"outcomes-{week}.csv"
    write_csv(outcomes_csv, outcome_csv_rows(outcomes), columns=list(OUTCOME_CSV_COLUMNS))
    run_id = uow.reporting.record_run(ReportRunRecord(
        week=week, period_start=cur["start"], period_end=cur["end"], html_path=str(html_path), csv_path=str(sdr_csv),
        headline=_jsonable(cur["headline"]), built_at=utcnow(), flow_run_id=flow_run_id))
    return ReportResult(week, str(html_path), [str(sdr_csv), str(funnel_csv), str(sla_csv), str(outcomes_csv)],
                        cur["headline"], prev["headline"], cur["sdr_rows"], cur["funnel"], run_id, outcomes)


def report_email_key(week: str, recipient: str, resend_at: datetime | None = None) -> str:
    """Return the outbox key of the report of ``week`` to ``recipient``: once per week and recipient, or once more
    per ``resend_at`` (to the second) when a resend is asked for."""
    return f"report:{week}:{recipient}" + (f":{resend_at:%Y%m%dT%H%M%S}" if resend_at else "")


def queue_report_email(uow: UnitOfWork, week: str, html_path: str | Path, recipients: Sequence[str], *,
                       resend: bool = False, now: datetime | None = None) -> int:
    """Queue the week's HTML report for each recipient through ``uow.outbox`` (once per week and recipient
    unless ``resend``); returns how many messages this call queued."""
    html = Path(html_path).read_text(encoding="utf-8")
    resend_at = (now or utcnow()) if resend else None
    return sum(uow.outbox.enqueue(Message(key=report_email_key(week, to, resend_at), kind="weekly_report", recipient=to,
                                          subject=f"[leadops] Weekly report {week}", body=html))
               for to in recipients)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in d.items()}

