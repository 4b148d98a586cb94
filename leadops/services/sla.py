"""Enforce first-touch SLAs in each owner's business time: met, reminder, breach, reassignment.

Every step is an sla_events row unique on (clock, step) and every message an outbox row keyed by
(kind, clock, step), so reruns and overlapping runs never act twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from leadops.config import Rules
from leadops.db.models import Activity, Lead, Sdr, SlaClock, SlaEvent, utcnow
from leadops.domain.business_time import business_seconds_between
from leadops.notify.outbox import enqueue
from leadops.services.route import calendar_of, reassign

OPEN = ("open", "breached")


@dataclass
class SlaSummary:
    """Counts of one SLA sweep (grain: clocks) and the breaches it found."""

    open: int = 0
    met: int = 0
    reminded: int = 0
    breached: int = 0
    reassigned: int = 0
    notifications_queued: int = 0
    breaches: list[dict[str, Any]] = field(default_factory=list)


def _step(session: Session, clock: SlaClock, step: str, at: datetime, elapsed: int, detail: str) -> bool:
    """Record a step once; returns False when the clock already has it."""
    exists = session.scalar(select(func.count()).select_from(SlaEvent).where(SlaEvent.clock_id == clock.id, SlaEvent.step == step))
    if exists:
        return False
    session.add(SlaEvent(clock_id=clock.id, step=step, at=at, elapsed_seconds=elapsed, detail=detail))
    session.flush()
    return True


def enforce(session: Session, rules: Rules, company_tz: str, *, now: datetime | None = None,
            flow_run_id: str | None = None) -> SlaSummary:
    """Evaluate every open clock as of ``now``; returns counts per outcome."""
    now = now or utcnow()
    sla = rules.sla
    clocks = list(session.scalars(select(SlaClock).where(SlaClock.status.in_(OPEN)).order_by(SlaClock.id)))
    sdrs = {s.id: s for s in session.scalars(select(Sdr).options(selectinload(Sdr.out_of_office)))}
    touches = dict(session.execute(
        select(Activity.lead_id, func.min(Activity.occurred_at))
        .join(SlaClock, (SlaClock.lead_id == Activity.lead_id) & (SlaClock.sdr_id == Activity.sdr_id))
        .where(SlaClock.status.in_(OPEN), Activity.kind.in_(sla.touch_kinds), Activity.occurred_at >= SlaClock.started_at)
        .group_by(Activity.lead_id)
    ).all())
    summary = SlaSummary()
    for clock in clocks:
        sdr = sdrs[clock.sdr_id]
        cal = calendar_of(sdr)
        touched = touches.get(clock.lead_id)
        if touched is not None and touched <= now:
            elapsed = business_seconds_between(cal, clock.started_at, touched)
            clock.status, clock.met_at, clock.elapsed_seconds, clock.evaluated_at = "met", touched, elapsed, now
            late = elapsed > clock.target_seconds
            _step(session, clock, "met", touched, elapsed, "first touch late" if late else "first touch in time")
            summary.met += 1
            continue
        elapsed = business_seconds_between(cal, clock.started_at, now)
        clock.elapsed_seconds, clock.evaluated_at = elapsed, now
        ratio = elapsed / clock.target_seconds if clock.target_seconds else 1.0
        summary.open += 1
        lead = session.get(Lead, clock.lead_id)
        label = f"lead #{lead.id} ({lead.company or lead.email_domain})"
        if ratio >= sla.reminder_at and _step(session, clock, "reminder", now, elapsed, f"{ratio:.0%} of target"):
            summary.reminded += 1
            summary.notifications_queued += enqueue(
                session, key=f"sla:{clock.id}:reminder", kind="sla_reminder", recipient=sdr.email, lead_id=lead.id,
                subject=f"[leadops] Reminder: first touch due soon for {label}",
                body=f"{sdr.name}, {label} is due for a first touch by {clock.due_at:%Y-%m-%d %H:%M} UTC ({clock.policy}).\n")
        if ratio >= 1.0 and _step(session, clock, "breach", now, elapsed, f"{ratio:.0%} of target"):
            clock.status = "breached"
            summary.breached += 1
            manager = sdrs.get(sdr.manager_id)
            for who in filter(None, (sdr, manager)):
                summary.notifications_queued += enqueue(
                    session, key=f"sla:{clock.id}:breach:{who.code}", kind="sla_breach", recipient=who.email,
                    lead_id=lead.id, subject=f"[leadops] SLA breached: {label} (owner {sdr.name})",
                    body=f"{label} assigned to {sdr.name} had no first touch within {clock.target_seconds // 60} "
                         f"business minutes (policy {clock.policy}).\n")
            summary.breaches.append({"lead_id": lead.id, "sdr": sdr.code, "policy": clock.policy, "clock_id": clock.id})
        if ratio >= sla.reassign_at and _step(session, clock, "reassign", now, elapsed, f"{ratio:.0%} of target"):
            if _reassign(session, clock, lead, rules, company_tz, now, flow_run_id):
                summary.reassigned += 1
    return summary


def _reassign(session: Session, clock: SlaClock, lead: Lead, rules: Rules, company_tz: str, now: datetime,
              flow_run_id: str | None) -> bool:
    """End the owner's assignment and route the lead again without them; returns True when reassigned."""
    decision = reassign(session, lead, rules, company_tz, now, kind="reassign", flow_run_id=flow_run_id,
                        reason=f"SLA {clock.policy} missed by the owner")
    # nobody else can take it: the lead stays with its owner, the breach is escalated
    return decision.status == "assigned"
