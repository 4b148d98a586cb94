"""Reads about leads that several services share: one lead's whole history (the timeline), the leads a
routing backtest replays, and the history the conversion model trains on. Reads only."""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from leadops.db.models import (
    Account, Activity, Assignment, EnrichmentLookup, EnrichmentRecord, IngestBatch, Lead, LeadMerge, LeadStageChange,
    Notification, Opportunity, Quarantine, ScoreHistory, Sdr, SlaClock, SlaEvent,
)
from leadops.domain.lifecycle import OPEN_OWNED, Stage


@dataclass(frozen=True)
class LeadHistory:
    """Everything stored about one lead, each list in recording order (grain: one lead)."""

    lead: Lead
    sdr_codes: dict[int, str]  # every SDR's id -> code
    batches: dict[int, IngestBatch]  # the batches the lead and its merged duplicates came from, by id
    merges: list[LeadMerge]
    quarantined: list[Quarantine]  # rows of those batches held back (the lead's or others')
    enrichment_records: list[EnrichmentRecord]  # of the lead's company domain and of its person (email:...)
    enrichment_lookups: list[EnrichmentLookup]
    scores: list[ScoreHistory]
    stage_changes: list[LeadStageChange]
    assignments: list[Assignment]
    clocks: list[SlaClock]
    sla_events: list[SlaEvent]  # of those clocks
    notifications: list[Notification]
    activities: list[Activity]  # by time of occurrence


@dataclass(frozen=True)
class RecordedDecision:
    """A lead's first assignment as stored: who got it, by which rule, when, and every candidate the router
    considered with why it was skipped (the routing decision's trail)."""

    sdr_id: int | None
    rule: str | None
    at: datetime
    candidates: list[dict[str, Any]]


@dataclass(frozen=True)
class RoutingReplay:
    """What a routing backtest replays: the active SDRs (absences loaded), who first got each lead, the leads
    that reached routing since a date (in arrival order) and each account's owner; ``first_decision``: the
    stored first assignment of each of those leads; ``routed_at``: when each was first decided (assigned,
    held or unroutable)."""

    sdrs: list[Sdr]
    first_owner: dict[int, int | None]  # lead id -> sdr id of its first assignment
    leads: list[Lead]
    account_owners: dict[int, int | None]  # account id -> owner sdr id
    first_decision: dict[int, RecordedDecision] = field(default_factory=dict)
    routed_at: dict[int, datetime] = field(default_factory=dict)
    # lead id -> when it moved to a stage that is not open (not MQL, SAL or SQL), in order: an SDR's lead is
    # open (counted against their open-lead cap) from its assignment to the first of these after it
    closed_at: dict[int, list[datetime]] = field(default_factory=dict)
    # the leads arrived before ``since`` that were owned and open then: (owner sdr id, when it stopped being
    # open, None while it still is)
    open_at_start: list[tuple[int, datetime | None]] = field(default_factory=list)


class LeadRepository(Protocol):
    """Where the timeline, the routing backtest and the conversion model read leads."""

    def history(self, lead_id: int) -> LeadHistory | None:
        """Return everything stored about lead ``lead_id`` (None when there is no such lead)."""
        ...

    def routing_replay(self, since: datetime) -> RoutingReplay:
        """Return the active SDRs and the leads arrived since ``since`` that were assigned, held or
        unroutable."""
        ...

    def conversion_history(self, arrived_before: datetime, features: Sequence[str]) -> pd.DataFrame:
        """Return one row per lead arrived before ``arrived_before``, indexed by id: ``arrived_at``, ``stage``
        and the ``features`` columns."""
        ...

    def reached_stages(self, stages: Collection[str]) -> set[int]:
        """Return the ids of the leads that ever moved to one of ``stages`` or have an opportunity."""
        ...

    def find_id(self, *, lead_id: int | None = None, email: str | None = None) -> int | None:
        """Return the id of the lead with this id or this (normalized) email, or None."""
        ...

    def sdr_codes(self) -> list[str]:
        """Return the codes of the SDRs on the roster (role sdr), sorted."""
        ...


class SqlLeadRepository:
    """Leads and everything keyed by lead, read only."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def history(self, lead_id: int) -> LeadHistory | None:
        s = self.session
        lead = s.get(Lead, lead_id)
        if lead is None:
            return None
        merges = list(s.scalars(select(LeadMerge).where(LeadMerge.lead_id == lead_id).order_by(LeadMerge.id)))
        batch_ids = [lead.ingest_batch_id, *(m.ingest_batch_id for m in merges)]
        batches = {b.id: b for b in s.scalars(select(IngestBatch).where(IngestBatch.id.in_(batch_ids)))}
        subjects = [lead.email_domain, f"email:{lead.email}"]
        clocks = list(s.scalars(select(SlaClock).where(SlaClock.lead_id == lead_id)))
        return LeadHistory(
            lead=lead,
            sdr_codes=dict(s.execute(select(Sdr.id, Sdr.code)).tuples().all()),
            batches=batches,
            merges=merges,
            quarantined=list(s.scalars(select(Quarantine).where(Quarantine.ingest_batch_id.in_(list(batches))))),
            enrichment_records=list(s.scalars(select(EnrichmentRecord).where(EnrichmentRecord.domain.in_(subjects)))),
            enrichment_lookups=list(s.scalars(select(EnrichmentLookup).where(EnrichmentLookup.domain.in_(subjects)))),
            scores=list(s.scalars(select(ScoreHistory).where(ScoreHistory.lead_id == lead_id).order_by(ScoreHistory.id))),
            stage_changes=list(s.scalars(select(LeadStageChange).where(LeadStageChange.lead_id == lead_id)
                                         .order_by(LeadStageChange.id))),
            assignments=list(s.scalars(select(Assignment).where(Assignment.lead_id == lead_id).order_by(Assignment.id))),
            clocks=clocks,
            sla_events=list(s.scalars(select(SlaEvent).where(SlaEvent.clock_id.in_([c.id for c in clocks]))
                                      .order_by(SlaEvent.id))),
            notifications=list(s.scalars(select(Notification).where(Notification.lead_id == lead_id)
                                         .order_by(Notification.id))),
            activities=list(s.scalars(select(Activity).where(Activity.lead_id == lead_id).order_by(Activity.occurred_at))),
        )

    def routing_replay(self, since: datetime) -> RoutingReplay:
        s = self.session
        sdrs = list(s.scalars(select(Sdr).where(Sdr.role == "sdr", Sdr.active.is_(True))
                              .options(selectinload(Sdr.out_of_office))))
        decisions: dict[int, RecordedDecision] = {}
        routed_at: dict[int, datetime] = {}
        for lead_id, status, sdr_id, rule, at, candidates in s.execute(
                select(Assignment.lead_id, Assignment.status, Assignment.sdr_id, Assignment.rule,
                       Assignment.assigned_at, Assignment.candidates)
                .join(Lead, Lead.id == Assignment.lead_id).where(Lead.arrived_at >= since)
                .order_by(Assignment.id)).tuples():
            routed_at.setdefault(lead_id, at)
            if status == "assigned" and lead_id not in decisions:
                decisions[lead_id] = RecordedDecision(sdr_id, rule, at, list(candidates or []))
        first = {lead_id: d.sdr_id for lead_id, d in decisions.items()}
        leads = [le for le in s.scalars(select(Lead).where(Lead.arrived_at >= since).order_by(Lead.arrived_at, Lead.id))
                 if le.id in first or le.routing_status in ("unroutable", "held")]
        owners = dict(s.execute(select(Account.id, Account.owner_sdr_id)).tuples().all())
        shut = [st.value for st in Stage if st not in OPEN_OWNED]
        closed: dict[int, list[datetime]] = {}
        for lead_id, at in s.execute(select(LeadStageChange.lead_id, LeadStageChange.changed_at)
                                     .join(Lead, Lead.id == LeadStageChange.lead_id)
                                     .where(Lead.arrived_at >= since, LeadStageChange.to_stage.in_(shut))
                                     .order_by(LeadStageChange.changed_at, LeadStageChange.id)).tuples():
            closed.setdefault(lead_id, []).append(at)
        return RoutingReplay(sdrs, first, leads, owners, decisions, routed_at, closed, self._open_at(since, shut))

    def _open_at(self, since: datetime, shut: list[str]) -> list[tuple[int, datetime | None]]:
        """Return (owner sdr id, when it stopped being open) for each lead arrived before ``since``, owned, whose
        last stage change before ``since`` was to an open stage."""
        s = self.session
        old = select(Lead.id).where(Lead.arrived_at < since, Lead.owner_sdr_id.is_not(None))
        last = (select(func.max(LeadStageChange.id).label("id")).where(LeadStageChange.lead_id.in_(old),
                                                                       LeadStageChange.changed_at <= since)
                .group_by(LeadStageChange.lead_id).subquery())
        open_then = select(LeadStageChange.lead_id).join(last, last.c.id == LeadStageChange.id).where(
            LeadStageChange.to_stage.not_in(shut))
        ends = dict(s.execute(select(LeadStageChange.lead_id, func.min(LeadStageChange.changed_at))
                              .where(LeadStageChange.lead_id.in_(open_then), LeadStageChange.changed_at > since,
                                     LeadStageChange.to_stage.in_(shut))
                              .group_by(LeadStageChange.lead_id)).tuples().all())
        return [(owner, ends.get(lead_id)) for lead_id, owner in s.execute(
            select(Lead.id, Lead.owner_sdr_id).where(Lead.id.in_(open_then))).tuples() if owner is not None]

    def conversion_history(self, arrived_before: datetime, features: Sequence[str]) -> pd.DataFrame:
        rows = self.session.execute(
            select(Lead.id, Lead.arrived_at, Lead.lifecycle_stage, *[getattr(Lead, f) for f in features])
            .where(Lead.arrived_at <= arrived_before)).all()
        return pd.DataFrame(rows, columns=["id", "arrived_at", "stage", *features]).set_index("id")

    def find_id(self, *, lead_id: int | None = None, email: str | None = None) -> int | None:
        if lead_id is not None:
            return self.session.scalar(select(Lead.id).where(Lead.id == lead_id))
        return self.session.scalar(select(Lead.id).where(Lead.email == email))

    def sdr_codes(self) -> list[str]:
        return list(self.session.scalars(select(Sdr.code).where(Sdr.role == "sdr").order_by(Sdr.code)))

    def reached_stages(self, stages: Collection[str]) -> set[int]:
        reached = set(self.session.scalars(select(LeadStageChange.lead_id).where(LeadStageChange.to_stage.in_(list(stages)))))
        return reached | set(self.session.scalars(select(Opportunity.lead_id)))
