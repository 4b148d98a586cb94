"""Route MQLs to SDRs: load SDR state, decide (domain.routing), persist the assignment, its SLA clock
and the SDR's notification in one transaction.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from leadops.config import Rules, SlaPolicy
from leadops.db.models import Account, Assignment, Lead, Sdr, SlaClock, SlaEvent, utcnow
from leadops.domain.business_time import WorkCalendar, add_business_seconds, is_working
from leadops.domain.routing import Decision, RoutableLead, SdrState, route_lead, segment_of
from leadops.notify.outbox import enqueue

OPEN_OWNED = ("mql", "sal", "sql")


@dataclass
class RouteSummary:
    """Counts of one routing pass (grain: leads)."""

    considered: int = 0
    assigned: int = 0
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
    return states, sdrs


def routable(lead: Lead, owner_code: str | None) -> RoutableLead:
    fields = {c: getattr(lead, c) for c in ("email_domain", "country", "language", "source", "industry",
                                            "employee_band", "grade", "seniority", "department", "campaign")}
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
    for lead in leads:
        owner = by_id.get(owners.get(lead.account_id)) if lead.account_id else None
        decision = route_lead(routable(lead, owner.code if owner else None), rules.routing, states)
        if decision.status != "assigned":
            if lead.routing_status != "unroutable":  # audit a change, not every retry
                session.add(Assignment(lead_id=lead.id, status="unroutable", reason=decision.reason,
                                       candidates=list(decision.candidates), active=False, assigned_at=now,
                                       flow_run_id=flow_run_id))
                lead.routing_status = "unroutable"
            summary.unroutable += 1
            continue
        assign(session, lead, decision, sdrs, rules, now, flow_run_id=flow_run_id)
        per_sdr[decision.sdr] += 1
        per_rule[decision.rule or "-"] += 1
        summary.assigned += 1
        summary.assignments.append({"lead_id": lead.id, "sdr": decision.sdr, "rule": decision.rule,
                                    "reason": decision.reason})
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
    enqueue(
        session, key=f"assignment:{row.id}", kind="assignment", recipient=sdr.email, lead_id=lead.id,
        subject=f"[leadops] New lead for you: {who} ({lead.company or lead.email_domain})",
        body=(f"Hello {sdr.name},\n\nLead #{lead.id} is yours: {who}, {lead.job_title or 'title unknown'} at "
              f"{lead.company or lead.email_domain} ({lead.country or 'country unknown'}), grade {lead.grade}.\n"
              f"Why you: {decision.reason}.\nFirst touch due by {due.astimezone(ZoneInfo(sdr.time_zone)):%a %d %b %H:%M} "
              f"({sdr.time_zone}), policy {policy.name}.\n"),
    )
    return row
