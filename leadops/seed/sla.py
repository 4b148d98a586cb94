"""The first-touch SLA clock of a routed sample lead, as the SLA sweep leaves it at the cutoff."""
from __future__ import annotations

from datetime import datetime

from leadops.domain.assignment import lead_fields, policy_for
from leadops.domain.business_time import WorkCalendar, add_business_seconds
from leadops.seed.context import Ctx
from leadops.seed.plan import PlannedClock, PlannedLead


def first_touch_clock(ctx: Ctx, pl: PlannedLead, start: datetime, cal: WorkCalendar) -> tuple[PlannedClock, datetime]:
    """Return the first-touch clock as the SLA sweep leaves it at the cutoff, and the first-touch
    instant (80% in time; the rest late, before the sweep would reassign the lead at reassign_at).

    The policy is the real one (domain/assignment.policy_for on the lead as routing saw it) and the due
    time the real business-time arithmetic on the owner's calendar. Steps the sweep would have taken
    before the cutoff are events: reminder, breach, met; a late touch meets the clock late (status
    met), as the sweep records it.
    """
    rng, sla = ctx.rng, ctx.rules.sla
    policy = policy_for(lead_fields(pl.fields), ctx.rules.sla.policies)
    target = int(policy.first_touch)
    met = rng.random() < 0.8
    offset = target * (rng.uniform(0.05, 0.95) if met else rng.uniform(1.1, 0.98 * sla.reassign_at))
    due = add_business_seconds(cal, start, target)
    touch = add_business_seconds(cal, start, offset)
    events = [("started", start, 0, f"policy {policy.name}, target {target}s")]
    until = min(touch, ctx.cutoff)
    remind = add_business_seconds(cal, start, sla.reminder_at * target)
    if remind <= until and remind < touch:
        events.append(("reminder", remind, round(sla.reminder_at * target), f"{sla.reminder_at:.0%} of target"))
    if due <= until and due < touch:
        events.append(("breach", due, target, "100% of target"))
    met_at: datetime | None
    evaluated: datetime | None
    if touch <= ctx.cutoff:
        status, met_at, elapsed, evaluated = "met", touch, round(offset), touch
        events.append(("met", touch, elapsed, f"first touch {'late' if offset > target else 'in time'}"))
    elif due <= ctx.cutoff:
        status, met_at, elapsed, evaluated = "breached", None, target, due
    else:
        status, met_at, elapsed, evaluated = "open", None, 0, None
    return PlannedClock(policy.name, target, start, due, status, elapsed, met_at, evaluated, events), touch
