"""Route MQLs to SDRs: load SDR state, decide (domain.routing), persist the assignment, its SLA clock
and the SDR's notification in one transaction.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from leadops.config import Rules, SlaPolicy
from leadops.db.bulk import dialect_insert
from leadops.db.models import (
    Account, Assignment, Lead, RoutingLock, RoutingPosition, Sdr, SlaClock, SlaEvent, utcnow,
)
from leadops.domain.business_time import WorkCalendar, add_business_seconds, is_working
from leadops.domain.routing import Decision, RoutableLead, SdrState, assign_to, catch_up, route_lead, segment_of
from leadops.notify.outbox import enqueue

OPEN_OWNED = ("mql", "sal", "sql")


@dataclass
class RouteSummary:
    """Counts of one routing pass (grain: leads)."""

    considered: int = 0
    assigned: int = 0
    held: int = 0  # kept for an unavailable account owner (pool policy hold_for_owner)
    unroutable: int = 0
    per_sdr: dict[str, int] = field(default_factory=dict)
    per_rule: dict[str, int] = field(default_factory=dict)
    assignments: list[dict[str, Any]] = field(default_factory=list)


def calendar_of(sdr: Sdr) -> WorkCalendar:
    """Return the SDR's business calendar (hours, days, holidays, out-of-office)."""
    return WorkCalendar.build(
        sdr.time_zone, sdr.work_start, sdr.work_end, tuple(sdr.work_days), sdr.holiday_country,
        tuple((o.starts_at, o.ends_at) for o in sdr.out_of_office),
    )


def lock_routing(session: Session, now: datetime) -> None:
    """Serialize routing (and scoring): hold the routing lock until the caller's transaction ends.

    Two pipeline runs, two workers or the SLA sweep routing at once would otherwise read the same
    SDR loads and caps and both assign past a cap; scoring takes it too (see score_open_leads).
    PostgreSQL: a row lock (SELECT ... FOR UPDATE); SQLite: the database write lock, taken by the
    first statement of the pass.
    """
    session.execute(dialect_insert(session, RoutingLock).values(name="route", locked_at=now).on_conflict_do_nothing())
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(RoutingLock.name).where(RoutingLock.name == "route").with_for_update())
    session.execute(update(RoutingLock).where(RoutingLock.name == "route").values(locked_at=now))


PACE_WINDOW = timedelta(days=1)


def save_positions(session: Session, states: dict[str, SdrState], sdrs: dict[str, Sdr], codes: set[str], now: datetime) -> None:
    """Store the round-robin position of the SDRs in ``codes``."""
    for code in sorted(codes):
        pos = session.get(RoutingPosition, sdrs[code].id) or RoutingPosition(sdr_id=sdrs[code].id)
        pos.virtual_time, pos.updated_at = states[code].virtual_time, now
        session.add(pos)


def sdr_states(session: Session, now: datetime, company_tz: str, exclude: set[str] = frozenset()) -> tuple[dict[str, SdrState], dict[str, Sdr]]:
    """Return routing state per SDR code as of ``now`` (today counted from company-local midnight)."""
    sdrs = {s.code: s for s in session.scalars(select(Sdr).where(Sdr.role == "sdr").options(selectinload(Sdr.out_of_office)))}
    midnight = datetime.combine(now.astimezone(ZoneInfo(company_tz)).date(), time.min, ZoneInfo(company_tz))
    today = dict(session.execute(select(Assignment.sdr_id, func.count()).where(
        Assignment.assigned_at >= midnight, Assignment.status == "assigned").group_by(Assignment.sdr_id)).all())
    open_ = dict(session.execute(select(Lead.owner_sdr_id, func.count()).where(
        Lead.lifecycle_stage.in_(OPEN_OWNED)).group_by(Lead.owner_sdr_id)).all())
    ae_codes = dict(session.execute(select(Sdr.id, Sdr.code)).all())
    states = {}
    for code, s in sdrs.items():
        ooo = any(o.starts_at <= now < o.ends_at for o in s.out_of_office)
        states[code] = SdrState(
            code=code, weight=s.weight, daily_cap=s.daily_cap, open_cap=s.open_cap,
            assigned_today=today.get(s.id, 0), open_leads=open_.get(s.id, 0), active=s.active and code not in exclude,
            out_of_office=ooo, working_now=is_working(calendar_of(s), now), paired_ae=ae_codes.get(s.paired_ae_id),
        )
    positions = {p.sdr_id: p for p in session.scalars(select(RoutingPosition))}
    for code, s in sdrs.items():
        if s.id in positions:
            states[code].virtual_time = positions[s.id].virtual_time
    # the pace: the least advanced of the SDRs who took leads lately
    pace = [positions[s.id].virtual_time for s in sdrs.values()
            if s.id in positions and positions[s.id].updated_at >= now - PACE_WINDOW]
    catch_up(states, min(pace) if pace else 0.0)
    return states, sdrs


def routable(lead: Lead, owner_code: str | None) -> RoutableLead:
    # every lead column can be matched by a rule's `when` (country, language, source, industry, campaign...)
    fields = {c.key: getattr(lead, c.key) for c in Lead.__table__.columns}
    fields["segment"] = segment_of(lead.employee_band)
    fields["fit_grade"] = (lead.grade or "D")[0]
    fields["is_hand_raiser"] = lead.is_hand_raiser
    return RoutableLead(lead.id, fields, owner_code)


def sla_policy_for(lead: Lead, rules: Rules) -> SlaPolicy:
    """Return the first SLA policy whose `when` matches the lead (the last policy is the default)."""
    fields = routable(lead, None).fields
    for p in rules.sla.policies:
        if all(fields.get(k) in v for k, v in p.when.items()):
            return p
    return rules.sla.policies[-1]


def route_pending(session: Session, rules: Rules, company_tz: str, *, now: datetime | None = None,
                  flow_run_id: str | None = None) -> RouteSummary:
    """Route every MQL that has no active owner; returns counts and the assignments made."""
    now = now or utcnow()
    lock_routing(session, now)
    q = (select(Lead).where(Lead.lifecycle_stage == "mql", Lead.owner_sdr_id.is_(None)).order_by(Lead.arrived_at, Lead.id))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True, of=Lead)  # a concurrent router takes other leads
    leads = list(session.scalars(q))
    states, sdrs = sdr_states(session, now, company_tz)
    by_id = {s.id: s for s in sdrs.values()}
    owners = dict(session.execute(select(Account.id, Account.owner_sdr_id)).all())
    summary = RouteSummary(considered=len(leads))
    per_sdr: Counter[str] = Counter()
    per_rule: Counter[str] = Counter()
    # held leads among the unowned MQLs, by a join: an IN list of every pending lead's id bound one
    # parameter per lead and failed past PostgreSQL's 65,535 (a backlog of 66k MQLs never routed)
    held_since = dict(session.execute(select(Assignment.lead_id, func.min(Assignment.assigned_at))
                                      .join(Lead, Lead.id == Assignment.lead_id)
                                      .where(Assignment.status == "held", Lead.lifecycle_stage == "mql",
                                             Lead.owner_sdr_id.is_(None))
                                      .group_by(Assignment.lead_id)).all()) if leads else {}
    for lead in leads:
        owner = by_id.get(owners.get(lead.account_id)) if lead.account_id else None
        item = routable(lead, owner.code if owner else None)
        if lead.id in held_since:
            item = RoutableLead(item.id, item.fields, item.account_owner,
                                (now - held_since[lead.id]).total_seconds() / 3600)
        decision = route_lead(item, rules.routing, states)
        if decision.status == "held":
            if lead.routing_status != "held":  # audit the start of the hold, not every pass
                session.add(Assignment(lead_id=lead.id, status="held", rule=decision.rule, reason=decision.reason,
                                       candidates=list(decision.candidates), active=False, assigned_at=now,
                                       flow_run_id=flow_run_id))
                lead.routing_status = "held"
            summary.held += 1
            continue
        if decision.status != "assigned":
            if lead.routing_status != "unroutable":  # audit a change, not every retry
                audit = Assignment(lead_id=lead.id, status="unroutable", reason=decision.reason,
                                   candidates=list(decision.candidates), active=False, assigned_at=now,
                                   flow_run_id=flow_run_id)
                session.add(audit)
                session.flush()
                alert_unroutable(session, lead, audit, decision.reason)
                lead.routing_status = "unroutable"
            summary.unroutable += 1
            continue
        assign(session, lead, decision, sdrs, rules, now, flow_run_id=flow_run_id)
        per_sdr[decision.sdr] += 1
        per_rule[decision.rule or "-"] += 1
        summary.assigned += 1
        summary.assignments.append({"lead_id": lead.id, "sdr": decision.sdr, "rule": decision.rule,
                                    "reason": decision.reason})
    save_positions(session, states, sdrs, set(per_sdr), now)
    summary.per_sdr, summary.per_rule = dict(per_sdr), dict(per_rule)
    return summary


def assign(session: Session, lead: Lead, decision: Decision, sdrs: dict[str, Sdr], rules: Rules, now: datetime, *,
           kind: str = "initial", flow_run_id: str | None = None) -> Assignment:
    """Persist one assignment: audit row, lead owner, account owner, SLA clock, notification."""
    sdr = sdrs[decision.sdr]
    ae = sdrs.get(decision.ae) if decision.ae else None
    row = Assignment(lead_id=lead.id, sdr_id=sdr.id, ae_id=ae.id if ae else None, previous_sdr_id=lead.owner_sdr_id,
                     kind=kind, status="assigned", rule=decision.rule, reason=decision.reason,
                     candidates=list(decision.candidates), active=True, assigned_at=now, flow_run_id=flow_run_id)
    session.add(row)
    lead.owner_sdr_id, lead.routing_status = sdr.id, "assigned"
    if rules.routing.assign_new_accounts and lead.account_id:
        acc = session.get(Account, lead.account_id)
        if acc is not None and acc.owner_sdr_id is None:
            acc.owner_sdr_id = sdr.id
    session.flush()  # the partial unique index refuses a second active assignment here
    policy = sla_policy_for(lead, rules)
    due = add_business_seconds(calendar_of(sdr), now, policy.first_touch)
    clock = SlaClock(lead_id=lead.id, sdr_id=sdr.id, assignment_id=row.id, policy=policy.name, kind="first_touch",
                     target_seconds=policy.first_touch, started_at=now, due_at=due, status="open")
    session.add(clock)
    session.flush()
    session.add(SlaEvent(clock_id=clock.id, step="started", at=now, detail=f"policy {policy.name}, due {due.isoformat()}"))
    who = " ".join(x for x in (lead.first_name, lead.last_name) if x) or "a new lead"
    subject = f"[leadops] New lead for you: {who} ({lead.company or lead.email_domain})"
    body = (f"Hello {sdr.name},\n\nLead #{lead.id} is yours: {who}, {lead.job_title or 'title unknown'} at "
            f"{lead.company or lead.email_domain} ({lead.country or 'country unknown'}), grade {lead.grade}.\n"
            f"Why you: {decision.reason}.\nFirst touch due by {due.astimezone(ZoneInfo(sdr.time_zone)):%a %d %b %H:%M} "
            f"({sdr.time_zone}), policy {policy.name}.\n")
    # keyed by the assignment: a retried run re-enqueues nothing, each assignment is announced once
    enqueue(session, key=f"assignment:{row.id}", kind="assignment", recipient=sdr.email, lead_id=lead.id,
            subject=subject, body=body)
    if rules.routing.notify_webhook:
        enqueue(session, key=f"assignment:{row.id}:webhook", kind="assignment", recipient=sdr.code, lead_id=lead.id,
                subject=subject, body=body, channel="webhook")
    return row


def alert_unroutable(session: Session, lead: Lead, audit: Assignment, reason: str) -> None:
    """Tell every manager that a lead is waiting in the fallback queue (once per unroutable decision)."""
    managers = session.scalars(select(Sdr).where(Sdr.role == "manager", Sdr.active.is_(True)).order_by(Sdr.code)).all()
    for m in managers:
        enqueue(session, key=f"unroutable:{audit.id}:{m.code}", kind="unroutable_alert", recipient=m.email,
                lead_id=lead.id, subject=f"[leadops] Lead #{lead.id} could not be routed",
                body=(f"Hello {m.name},\n\nLead #{lead.id} ({lead.company or lead.email_domain}, "
                      f"{lead.country or 'country unknown'}) is in the fallback queue: {reason}.\n"
                      f"`leadops explain {lead.id}` shows every candidate considered; `leadops reassign {lead.id} "
                      f"--to SDR` assigns it by hand.\n"))


def reassign(session: Session, lead: Lead, rules: Rules, company_tz: str, now: datetime, *, to: str | None = None,
             kind: str = "manual", reason: str | None = None, flow_run_id: str | None = None) -> Decision:
    """Move ``lead`` to another SDR: ``to`` (checked for availability) or the routing rules without the current owner.

    The current assignment is ended (kept in the history with its end time), its open SLA clock
    is closed as reassigned, and the new assignment gets its own clock and notification. Returns
    the decision; an ``unroutable`` decision changes nothing.
    """
    lock_routing(session, now)
    owner = session.get(Sdr, lead.owner_sdr_id) if lead.owner_sdr_id else None
    states, by_code = sdr_states(session, now, company_tz, exclude={owner.code} if owner and to is None else set())
    if to is not None:
        target = states.get(to)
        if target is None:
            known = ", ".join(sorted(states))
            raise ValueError(f"no SDR {to!r} on the roster (SDRs: {known})")
        why = target.skip_reason()
        if why:
            return Decision(lead.id, "unroutable", None, None, f"{to} cannot take it: {why}")
        if owner is not None and owner.code == to:
            return Decision(lead.id, "unroutable", None, None, f"{to} already owns lead {lead.id}")
        decision = assign_to(routable(lead, None), target, "manual", reason or f"reassigned by hand to {to}", [])
    else:
        decision = route_lead(routable(lead, None), rules.routing, states)
        if decision.status != "assigned":
            return decision
        decision = Decision(decision.lead_id, decision.status, decision.sdr, decision.rule,
                            (reason + ": " if reason else "") + decision.reason, decision.candidates, decision.ae)
    for clock in session.scalars(select(SlaClock).where(SlaClock.lead_id == lead.id, SlaClock.status == "open")):
        clock.status = "reassigned"
    current = session.scalar(select(Assignment).where(Assignment.lead_id == lead.id, Assignment.active.is_(True)))
    if current is not None:
        current.active, current.ended_at = False, now
        session.flush()
    assign(session, lead, decision, by_code, rules, now, kind=kind, flow_run_id=flow_run_id)
    save_positions(session, states, by_code, {decision.sdr}, now)
    return decision


def explain(session: Session, lead_id: int) -> dict[str, Any]:
    """Return everything routing decided about one lead: its data, score breakdown, and every assignment
    decision in order with the rule, the reason and each candidate considered (and why skipped)."""
    from leadops.db.models import ScoreHistory

    lead = session.get(Lead, lead_id)
    if lead is None:
        raise ValueError(f"no lead {lead_id}")
    codes = dict(session.execute(select(Sdr.id, Sdr.code)).all())
    score = session.scalar(select(ScoreHistory).where(ScoreHistory.lead_id == lead_id).order_by(ScoreHistory.id.desc()))
    return {
        "lead_id": lead.id, "stage": lead.lifecycle_stage, "routing_status": lead.routing_status,
        "owner": codes.get(lead.owner_sdr_id), "country": lead.country, "language": lead.language,
        "employee_band": lead.employee_band, "segment": segment_of(lead.employee_band), "grade": lead.grade,
        "score": lead.score, "score_breakdown": score.breakdown if score else [],
        "decisions": [
            {"at": a.assigned_at.isoformat(), "kind": a.kind, "status": a.status, "sdr": codes.get(a.sdr_id),
             "previous_sdr": codes.get(a.previous_sdr_id), "ae": codes.get(a.ae_id), "rule": a.rule, "reason": a.reason,
             "active": a.active, "ended_at": a.ended_at.isoformat() if a.ended_at else None, "candidates": a.candidates}
            for a in session.scalars(select(Assignment).where(Assignment.lead_id == lead_id).order_by(Assignment.id))
        ],
    }
