"""Build the weekly report for one ISO week from stored data: facts -> metrics -> HTML + CSV.

Same data, same week -> byte-identical files (no wall-clock time in the output).
Each figure has one definition: the headline's MQLs are the funnel's MQL step and the SRL
box's SAL is the funnel's SAL step (all from :func:`leadops.domain.metrics.reached_step`);
figures that differ in kind carry different labels (see the README's metric definitions).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadops.db.models import (
    Activity, IngestBatch, Lead, LeadStageChange, Opportunity, ReportRun, Sdr, SlaClock, SlaEvent, utcnow,
)
from leadops.domain import metrics as m
from leadops.domain.enrichment import EnrichmentStatus
from leadops.domain.lifecycle import Stage
from leadops.reporting.csv_safe import write_csv
from leadops.reporting.html import render_weekly_report

TREND_WEEKS = 8
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


def _activities(session: Session, start: datetime, end: datetime) -> list[m.ActivityFact]:
    rows = session.execute(
        select(Sdr.code, Activity.kind, Activity.outcome, Activity.occurred_at, Activity.scheduled_for)
        .join(Sdr, Sdr.id == Activity.sdr_id)
        .where(Activity.occurred_at >= start, Activity.occurred_at < end, Activity.kind != "web")
        .order_by(Activity.id)
    )
    return [m.ActivityFact(*r) for r in rows]


def _leads(session: Session, start: datetime, end: datetime) -> list[m.LeadFact]:
    """Leads that arrived in [start, end), with every stage reached and their first SLA clock."""
    leads = session.execute(
        select(Lead.id, Lead.source, Lead.arrived_at, Lead.lifecycle_stage, Lead.disqualified_reason, Sdr.code)
        .outerjoin(Sdr, Sdr.id == Lead.owner_sdr_id)
        .where(Lead.arrived_at >= start, Lead.arrived_at < end).order_by(Lead.id)
    ).all()
    ids = [r[0] for r in leads]
    reached: dict[int, set[Stage]] = defaultdict(set)
    first_clock: dict[int, tuple] = {}
    for chunk in (ids[i:i + 900] for i in range(0, len(ids), 900)):
        for lead_id, stage in session.execute(
            select(LeadStageChange.lead_id, LeadStageChange.to_stage).where(LeadStageChange.lead_id.in_(chunk))
        ):
            reached[lead_id].add(Stage(stage))
        for row in session.execute(
            select(SlaClock.lead_id, SlaClock.started_at, SlaClock.met_at, SlaClock.status,
                   SlaClock.elapsed_seconds, SlaClock.target_seconds)
            .where(SlaClock.lead_id.in_(chunk)).order_by(SlaClock.id)
        ):
            first_clock.setdefault(row[0], row[1:])
    facts = []
    for lead_id, source, arrived, stage, dq, owner in leads:
        clock = first_clock.get(lead_id)
        assigned_at = met_at = sla_met = None
        if clock:
            assigned_at, met_at, status, elapsed, target = clock
            if status == "met":
                sla_met = elapsed <= target
            elif status in ("breached", "reassigned"):
                sla_met = False
        facts.append(m.LeadFact(lead_id, source, arrived, Stage(stage), frozenset(reached[lead_id] | {Stage(stage)}), dq,
                                owner, assigned_at, met_at, sla_met))
    return facts


def _opportunities(session: Session, start: datetime, end: datetime) -> list[m.OpportunityFact]:
    rows = session.execute(
        select(Sdr.code, Opportunity.created_at, Opportunity.stage, Opportunity.amount, Opportunity.closed_at)
        .outerjoin(Sdr, Sdr.id == Opportunity.sdr_id)
        .where(((Opportunity.created_at >= start) & (Opportunity.created_at < end))
               | ((Opportunity.closed_at >= start) & (Opportunity.closed_at < end)))
        .order_by(Opportunity.id)
    )
    return [m.OpportunityFact(*r) for r in rows]


def _quality(session: Session, start: datetime, end: datetime, leads: list[m.LeadFact]) -> dict[str, Any]:
    rows = session.execute(
        select(IngestBatch.source, func.sum(IngestBatch.rows_read), func.sum(IngestBatch.quarantined))
        .where(IngestBatch.started_at >= start, IngestBatch.started_at < end).group_by(IngestBatch.source)
        .order_by(IngestBatch.source)
    )
    facts = [m.QualityFact(s, int(r or 0), int(q or 0)) for s, r, q in rows]
    ids = [f.lead_id for f in leads]
    attempted = enriched = 0
    for chunk in (ids[i:i + 900] for i in range(0, len(ids), 900)):
        for status, n in session.execute(select(Lead.enrichment_status, func.count()).where(Lead.id.in_(chunk))
                                          .group_by(Lead.enrichment_status)):
            if status in _ATTEMPTED:
                attempted += n
                enriched += n if status in _FOUND else 0
    return m.quality(facts, enriched, attempted)


def sdr_labels(session: Session) -> dict[str, str]:
    """Return the display label of every SDR code on the roster (grain: one entry per SDR).

    The label is the SDR's name; the code is added ("Ana Silva (a.silva)") only where two
    SDRs share a name, and stands alone when the name is blank.
    """
    names = {code: (name or "").strip() for code, name in session.execute(select(Sdr.code, Sdr.name))}
    seen: dict[str, int] = defaultdict(int)
    for name in names.values():
        seen[name] += 1
    return {code: code if not name else name if seen[name] == 1 else f"{name} ({code})"
            for code, name in names.items()}


def _week_metrics(session: Session, week: str, tz: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels if labels is not None else sdr_labels(session)
    start, end = m.iso_week_bounds(week, tz)
    acts = _activities(session, start, end)
    leads = _leads(session, start, end)
    opps = _opportunities(session, start, end)
    results = m.results_by_sdr(acts, opps, start, end)
    activity = m.activity_by_sdr(acts, include=[code for code in results if code != m.NO_SDR])
    funnel = m.funnel(leads)
    sla = m.sla_summary(leads)
    steps = dict(session.execute(select(SlaEvent.step, func.count()).where(
        SlaEvent.at >= start, SlaEvent.at < end, SlaEvent.step.in_(("breach", "reassign"))).group_by(SlaEvent.step)).all())
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
        key=lambda r: (r["sdr"] == m.NO_SDR, r["sdr"].casefold(), r["sdr_code"]))
    sla_by_sdr = sorted(
        ({**r, "sdr": labels.get(r["sdr"], r["sdr"]), "sdr_code": r["sdr"]}
         for r in m.sla_by([f for f in leads if f.owner], "owner")),
        key=lambda r: (r["sdr"].casefold(), r["sdr_code"]))
    return {
        "start": start, "end": end, "leads": leads, "headline": headline, "sdr_rows": sdr_rows, "funnel": funnel,
        "sla": sla, "sla_by_sdr": sla_by_sdr, "sla_by_source": m.sla_by(leads, "source"),
        "first_touch_hours": m.first_touch_hours(leads), "quality": _quality(session, start, end, leads),
        "disqualification_reasons": m.disqualification_reasons(leads), "sales_rejected": m.sales_rejected(leads),
    }


def build_weekly_report(session: Session, week: str, tz: str, out_dir: Path, *, flow_run_id: str | None = None) -> ReportResult:
    """Write the week's HTML and CSV files under ``out_dir/week`` and record a report run."""
    week = m.parse_iso_week(week)
    labels = sdr_labels(session)
    cur = _week_metrics(session, week, tz, labels)
    prev_week = m.previous_week(week)
    prev = _week_metrics(session, prev_week, tz, labels)
    trend, w = [], week
    for _ in range(TREND_WEEKS):
        h = (cur["headline"] if w == week else prev["headline"] if w == prev_week
             else _week_metrics(session, w, tz, labels)["headline"])
        trend.append({"week": w, "leads": h["leads"], "mqls": h["mqls"], "meetings": h["meetings_booked"], "saos": h["saos"]})
        w = m.previous_week(w)
    trend.reverse()
    report = {
        "week": week, "previous_week": prev_week, "time_zone": tz,
        # The period, not the wall clock, so that a rebuild gives the same bytes; the page shows it in ``tz``.
        "period_start": cur["start"], "period_end": cur["end"],
        "headline": cur["headline"], "headline_previous": prev["headline"], "funnel": cur["funnel"],
        "sdr_rows": cur["sdr_rows"], "sla": cur["sla"], "first_touch_hours": cur["first_touch_hours"],
        "sla_by_sdr": cur["sla_by_sdr"], "sla_by_source": cur["sla_by_source"],
        "trend": trend, "disqualification_reasons": cur["disqualification_reasons"], "quality": cur["quality"],
        "sales_rejected": cur["sales_rejected"],
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
    run = ReportRun(week=week, period_start=cur["start"], period_end=cur["end"], html_path=str(html_path),
                    csv_path=str(sdr_csv), headline=_jsonable(cur["headline"]), built_at=utcnow(), flow_run_id=flow_run_id)
    session.add(run)
    session.flush()
    return ReportResult(week, str(html_path), [str(sdr_csv), str(funnel_csv), str(sla_csv)], cur["headline"], prev["headline"],
                        cur["sdr_rows"], cur["funnel"], run.id)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in d.items()}

