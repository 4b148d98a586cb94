"""What the weekly report reads, as the facts leadops.domain.metrics computes over, and the report run it records;
and the leads outcome feedback (leadops.domain.outcomes) judges, which `leadops score evaluate` reads too.

Every read is of one period ``[start, end)`` (aware UTC bounds from :func:`leadops.domain.metrics.iso_week_bounds`)
and set-based: one query per kind of fact, lead ids in chunks where a query filters on them.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from leadops.db.models import (
    Activity, Assignment, IngestBatch, Lead, LeadStageChange, Opportunity, ReportRun, ScoreHistory, Sdr, SlaClock,
    SlaEvent,
)
from leadops.domain.lifecycle import FUNNEL_STEPS, Stage
from leadops.domain.metrics import ActivityFact, LeadFact, OpportunityFact, QualityFact, first_clock_met
from leadops.domain.outcomes import OutcomeRecord

#: ids per IN list (SQLite's default limit on bound parameters is 999)
CHUNK = 900


@dataclass(frozen=True)
class ReportRunRecord:
    """One weekly report build to record (grain: one row of report_runs per build)."""

    week: str
    period_start: datetime
    period_end: datetime
    html_path: str
    csv_path: str
    headline: dict[str, Any]
    built_at: datetime
    flow_run_id: str | None = None


class ReportingRepository(Protocol):
    """Where the weekly report reads its facts and records its builds."""

    def sdr_names(self) -> dict[str, str]:
        """Return code -> name (blank when unknown) of every SDR on the roster."""
        ...

    def activities(self, start: datetime, end: datetime) -> list[ActivityFact]:
        """Return the SDR activities (web visits left out) that occurred in ``[start, end)``, in recording order."""
        ...

    def leads(self, start: datetime, end: datetime) -> list[LeadFact]:
        """Return the leads that arrived in ``[start, end)``, with every stage reached and their first SLA clock."""
        ...

    def opportunities(self, start: datetime, end: datetime) -> list[OpportunityFact]:
        """Return the opportunities created or closed in ``[start, end)``, in recording order."""
        ...

    def ingest_quality(self, start: datetime, end: datetime) -> list[QualityFact]:
        """Return rows read and quarantined per source, over the ingest batches started in ``[start, end)``."""
        ...

    def enrichment_statuses(self, lead_ids: Sequence[int]) -> dict[str, int]:
        """Return enrichment status -> number of leads among ``lead_ids`` (leads without a status left out)."""
        ...

    def sla_step_counts(self, start: datetime, end: datetime, steps: Collection[str]) -> dict[str, int]:
        """Return step -> number of SLA events of ``steps`` taken in ``[start, end)`` (steps with none left out)."""
        ...

    def outcome_records(self, start: datetime | None, end: datetime | None, arrived_by: datetime) -> list[OutcomeRecord]:
        """Return the leads that arrived in ``[start, end)`` (a None bound is open) and at or before ``arrived_by``,
        each with its hand-off to sales, its score then and its first assignment (grain: one lead), in id order."""
        ...

    def record_run(self, run: ReportRunRecord) -> int:
        """Record one report build; returns its id."""
        ...


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    return (ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK))


class SqlReportingRepository:
    """Leads, their stage changes and SLA clocks, activities, opportunities, ingest batches read; report_runs written."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def sdr_names(self) -> dict[str, str]:
        return {code: name or "" for code, name in self.session.execute(select(Sdr.code, Sdr.name)).tuples()}

    def activities(self, start: datetime, end: datetime) -> list[ActivityFact]:
        rows = self.session.execute(
            select(Sdr.code, Activity.kind, Activity.outcome, Activity.occurred_at, Activity.scheduled_for)
            .join(Sdr, Sdr.id == Activity.sdr_id)
            .where(Activity.occurred_at >= start, Activity.occurred_at < end, Activity.kind != "web")
            .order_by(Activity.id)
        ).tuples()
        return [ActivityFact(*r) for r in rows]

    def leads(self, start: datetime, end: datetime) -> list[LeadFact]:
        leads = self.session.execute(
            select(Lead.id, Lead.source, Lead.arrived_at, Lead.lifecycle_stage, Lead.disqualified_reason, Sdr.code)
            .outerjoin(Sdr, Sdr.id == Lead.owner_sdr_id)
            .where(Lead.arrived_at >= start, Lead.arrived_at < end).order_by(Lead.id)
        ).tuples().all()
        reached: dict[int, set[Stage | str]] = defaultdict(set)
        first_clock: dict[int, tuple[datetime, datetime | None, str, int, int]] = {}
        for chunk in _chunks([r[0] for r in leads]):
            for lead_id, stage in self.session.execute(
                select(LeadStageChange.lead_id, LeadStageChange.to_stage).where(LeadStageChange.lead_id.in_(chunk))
            ).tuples():
                reached[lead_id].add(Stage(stage))
            for cid, started, met, status, elapsed, target in self.session.execute(
                select(SlaClock.lead_id, SlaClock.started_at, SlaClock.met_at, SlaClock.status,
                       SlaClock.elapsed_seconds, SlaClock.target_seconds)
                .where(SlaClock.lead_id.in_(chunk)).order_by(SlaClock.id)
            ).tuples():
                first_clock.setdefault(cid, (started, met, status, elapsed, target))
        facts = []
        for lead_id, source, arrived, stage, dq, owner in leads:
            assigned_at = met_at = sla_met = None
            clock = first_clock.get(lead_id)
            if clock:
                assigned_at, met_at, status, elapsed, target = clock
                sla_met = first_clock_met(status, elapsed, target)
            facts.append(LeadFact(lead_id, source, arrived, Stage(stage),
                                  frozenset(reached[lead_id] | {Stage(stage)}), dq, owner, assigned_at, met_at, sla_met))
        return facts

    def opportunities(self, start: datetime, end: datetime) -> list[OpportunityFact]:
        rows = self.session.execute(
            select(Sdr.code, Opportunity.created_at, Opportunity.stage, Opportunity.amount, Opportunity.closed_at)
            .outerjoin(Sdr, Sdr.id == Opportunity.sdr_id)
            .where(((Opportunity.created_at >= start) & (Opportunity.created_at < end))
                   | ((Opportunity.closed_at >= start) & (Opportunity.closed_at < end)))
            .order_by(Opportunity.id)
        ).tuples()
        return [OpportunityFact(*r) for r in rows]

    def ingest_quality(self, start: datetime, end: datetime) -> list[QualityFact]:
        rows = self.session.execute(
            select(IngestBatch.source, func.sum(IngestBatch.rows_read), func.sum(IngestBatch.quarantined))
            .where(IngestBatch.started_at >= start, IngestBatch.started_at < end).group_by(IngestBatch.source)
            .order_by(IngestBatch.source)
        ).tuples()
        return [QualityFact(s, int(r or 0), int(q or 0)) for s, r, q in rows]

    def enrichment_statuses(self, lead_ids: Sequence[int]) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for chunk in _chunks(lead_ids):
            for status, n in self.session.execute(
                select(Lead.enrichment_status, func.count()).where(Lead.id.in_(chunk)).group_by(Lead.enrichment_status)
            ).tuples():
                if status is not None:
                    counts[status] += n
        return dict(counts)

    def sla_step_counts(self, start: datetime, end: datetime, steps: Collection[str]) -> dict[str, int]:
        return dict(self.session.execute(
            select(SlaEvent.step, func.count())
            .where(SlaEvent.at >= start, SlaEvent.at < end, SlaEvent.step.in_(list(steps))).group_by(SlaEvent.step)
        ).tuples().all())

    def outcome_records(self, start: datetime | None, end: datetime | None, arrived_by: datetime) -> list[OutcomeRecord]:
        # one statement: each lead's first assignment (status assigned, lowest id) and first move into the funnel,
        # the earlier of the two as its hand-off, and the last score history row at or before the hand-off; the
        # assignments and stage moves aggregated are those of the period's leads only
        conditions = [Lead.arrived_at <= arrived_by]
        if start is not None:
            conditions.append(Lead.arrived_at >= start)
        if end is not None:
            conditions.append(Lead.arrived_at < end)
        in_period = select(Lead.id).where(*conditions)
        first = (select(Assignment.lead_id, func.min(Assignment.id).label("assignment_id"))
                 .where(Assignment.status == "assigned", Assignment.lead_id.in_(in_period))
                 .group_by(Assignment.lead_id).subquery("first_assignment"))
        moved = (select(LeadStageChange.lead_id, func.min(LeadStageChange.changed_at).label("at"))
                 .where(LeadStageChange.to_stage.in_([s.value for s in FUNNEL_STEPS]),
                        LeadStageChange.lead_id.in_(in_period))
                 .group_by(LeadStageChange.lead_id).subquery("first_funnel_move"))
        assigned = aliased(Assignment)
        handoff = case((assigned.assigned_at.is_(None), moved.c.at), (moved.c.at.is_(None), assigned.assigned_at),
                       (assigned.assigned_at < moved.c.at, assigned.assigned_at), else_=moved.c.at)
        leads = (select(Lead.id.label("lead_id"), Lead.arrived_at, Lead.lifecycle_stage, Lead.score, Lead.grade,
                        handoff.label("handoff_at"), assigned.rule, Sdr.code.label("sdr"))
                 .outerjoin(first, first.c.lead_id == Lead.id).outerjoin(assigned, assigned.id == first.c.assignment_id)
                 .outerjoin(Sdr, Sdr.id == assigned.sdr_id).outerjoin(moved, moved.c.lead_id == Lead.id)
                 .where(*conditions).cte("outcome_leads"))
        ranked = (select(ScoreHistory.lead_id, ScoreHistory.score, ScoreHistory.grade,
                         func.row_number().over(partition_by=ScoreHistory.lead_id,
                                                order_by=(ScoreHistory.scored_at.desc(), ScoreHistory.id.desc()))
                         .label("n"))
                  .join(leads, leads.c.lead_id == ScoreHistory.lead_id)
                  .where(ScoreHistory.scored_at <= leads.c.handoff_at).subquery("score_at_handoff"))
        rows = self.session.execute(
            select(leads.c.lead_id, leads.c.arrived_at, leads.c.lifecycle_stage, leads.c.score, leads.c.grade,
                   leads.c.handoff_at, ranked.c.score, ranked.c.grade, leads.c.rule, leads.c.sdr)
            .outerjoin(ranked, (ranked.c.lead_id == leads.c.lead_id) & (ranked.c.n == 1))
            .order_by(leads.c.lead_id)
        ).tuples()
        return [OutcomeRecord(lead_id=i, arrived_at=arrived, stage=stage, score=score, grade=grade, handoff_at=handoff_at,
                              handoff_score=then_score, handoff_grade=then_grade, rule=rule, sdr=sdr)
                for i, arrived, stage, score, grade, handoff_at, then_score, then_grade, rule, sdr in rows]

    def record_run(self, run: ReportRunRecord) -> int:
        row = ReportRun(week=run.week, period_start=run.period_start, period_end=run.period_end,
                        html_path=run.html_path, csv_path=run.csv_path, headline=run.headline,
                        built_at=run.built_at, flow_run_id=run.flow_run_id)
        self.session.add(row)
        self.session.flush()
        return row.id
