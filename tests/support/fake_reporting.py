"""An in-memory reporting repository: the facts of the weekly report as plain lists, filtered by period as the
stored one filters them, and the report runs recorded (grain: one per build)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leadops.db.repositories.reporting import ReportRunRecord
from leadops.domain.metrics import ActivityFact, LeadFact, OpportunityFact, QualityFact, in_period
from leadops.domain.outcomes import OutcomeRecord


@dataclass
class FakeReportingRepository:
    names: dict[str, str] = field(default_factory=dict)  # SDR code -> name
    activity_facts: list[ActivityFact] = field(default_factory=list)
    lead_facts: list[LeadFact] = field(default_factory=list)
    opportunity_facts: list[OpportunityFact] = field(default_factory=list)
    batches: list[tuple[datetime, QualityFact]] = field(default_factory=list)  # started at, rows of one batch
    enrichment: dict[int, str] = field(default_factory=dict)  # lead id -> enrichment status
    sla_events: list[tuple[datetime, str]] = field(default_factory=list)  # at, step
    outcome_facts: list[OutcomeRecord] = field(default_factory=list)
    runs: list[ReportRunRecord] = field(default_factory=list)

    def sdr_names(self) -> dict[str, str]:
        return dict(self.names)

    def activities(self, start: datetime, end: datetime) -> list[ActivityFact]:
        return [a for a in self.activity_facts if in_period(a.occurred_at, start, end) and a.kind != "web"]

    def leads(self, start: datetime, end: datetime) -> list[LeadFact]:
        return sorted((f for f in self.lead_facts if in_period(f.arrived_at, start, end)), key=lambda f: f.lead_id)

    def opportunities(self, start: datetime, end: datetime) -> list[OpportunityFact]:
        return [o for o in self.opportunity_facts
                if in_period(o.created_at, start, end) or in_period(o.closed_at, start, end)]

    def ingest_quality(self, start: datetime, end: datetime) -> list[QualityFact]:
        read: Counter[str] = Counter()
        held: Counter[str] = Counter()
        for at, fact in self.batches:
            if in_period(at, start, end):
                read[fact.source] += fact.rows_read
                held[fact.source] += fact.quarantined
        return [QualityFact(s, read[s], held[s]) for s in sorted(read)]

    def enrichment_statuses(self, lead_ids: Sequence[int]) -> dict[str, int]:
        return dict(Counter(self.enrichment[i] for i in lead_ids if i in self.enrichment))

    def sla_step_counts(self, start: datetime, end: datetime, steps: Collection[str]) -> dict[str, int]:
        return dict(Counter(step for at, step in self.sla_events if step in steps and in_period(at, start, end)))

    def outcome_records(self, start: datetime | None, end: datetime | None, arrived_by: datetime) -> list[OutcomeRecord]:
        return sorted((r for r in self.outcome_facts if r.arrived_at <= arrived_by and in_period(r.arrived_at, start, end)),
                      key=lambda r: r.lead_id)

    def record_run(self, run: ReportRunRecord) -> int:
        self.runs.append(run)
        return len(self.runs)
