"""Enforce first-touch SLAs in each owner's business time: met, reminder, breach, reassignment.

Every step is an sla_events row unique on (clock, step) and every message an outbox row keyed by
(kind, clock, step), so reruns and overlapping runs never act twice. The decision (which clock takes
which step, what the messages say) is leadops/domain/sla.py; this module loads through ``uow.sla``,
computes elapsed business time for all clocks at once, and persists through ``uow.sla`` and
``uow.outbox``. It never commits: whoever opened the unit of work does.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import pandas as pd

from leadops.config import Rules
from leadops.db.models import utcnow
from leadops.db.repositories.outbox import Message
from leadops.db.repositories.sla import NewCadence, Person
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.business_time import BusinessIndex, WorkCalendar, add_business_seconds
from leadops.domain.lifecycle import CADENCE_ENDS
from leadops.domain.routing import Decision
from leadops.notify import slack_blocks
from leadops.notify.slack_blocks import LeadCard, SlackPayload
from leadops.services.notices import Notices
from leadops.domain.sla import (
    ClockKind,
    ClockState,
    LeadRef,
    Step,
    Thresholds,
    breach_message,
    by_manager,
    cadence_message,
    cadence_progress,
    digest_message,
    in_recording_order,
    may_step,
    notifies_manager,
    reassign_reason,
    reminder_message,
    shares_of_target,
    steps_due,
)

if TYPE_CHECKING:
    from leadops.config import Cadence


@dataclass
class SlaSummary:
    """Counts of one SLA sweep (grain: clocks) and the breaches it found."""

    open: int = 0
    met: int = 0
    reminded: int = 0
    breached: int = 0
    reassigned: int = 0
    closed: int = 0  # cadence clocks ended because the lead moved on
    notifications_queued: int = 0
    breaches: list[dict[str, Any]] = field(default_factory=list)
    # what was done, lead by lead (one row per reminder, breach or reassignment, in clock order; the
    # first ACTIONS_SHOWN, the counts cover all): what a dry run prints and what its real run then does
    actions: list[dict[str, Any]] = field(default_factory=list)


ACTIONS_SHOWN = 1000


class Reassign(Protocol):
    """Route a lead again without its owner inside ``uow``; returns the routing decision.

    An ``unroutable`` decision changed nothing: nobody else can take the lead.
    """

    def __call__(self, uow: UnitOfWork, lead_id: int, *, rules: Rules, company_tz: str, now: datetime,
                 reason: str, flow_run_id: str | None) -> Decision: ...


def reassign_by_rules(uow: UnitOfWork, lead_id: int, *, rules: Rules, company_tz: str, now: datetime,
                      reason: str, flow_run_id: str | None) -> Decision:
    """The default :class:`Reassign`: leadops.services.route.reassign in ``uow``."""
    from leadops.services.route import reassign

    return reassign(uow, lead_id, rules, company_tz, now, kind="reassign", flow_run_id=flow_run_id, reason=reason)


def _action(summary: SlaSummary, **row: Any) -> None:
    """Record one step taken on one lead in ``summary.actions`` (up to ACTIONS_SHOWN rows)."""
    if len(summary.actions) < ACTIONS_SHOWN:
        summary.actions.append(row)


def _epoch_us(values: Any) -> np.ndarray:
    """Epoch microseconds (int64) of a column of aware datetimes."""
    return pd.to_datetime(pd.Series(values), utc=True).astype("datetime64[us, UTC]").astype("int64").to_numpy()


def _with_touches(clocks: pd.DataFrame, touches: pd.DataFrame) -> pd.DataFrame:
    """Return ``clocks`` with ``touch_count`` (owner touches so far) and ``touched`` (the required one, or NaT).

    The first touch meets a first-touch clock (required 1); the N-th one (the first included)
    completes a cadence.
    """
    touches = touches.sort_values(["id", "at"])
    touches["n"] = touches.groupby("id").cumcount() + 1
    done_count = touches.groupby("id")["n"].max().rename("touch_count")
    clocks = clocks.merge(done_count, left_on="id", right_index=True, how="left")
    clocks["touch_count"] = clocks["touch_count"].fillna(0).astype(int)
    nth = touches.merge(clocks[["id", "required"]], on="id")
    nth = nth[nth["n"] == nth["required"]][["id", "at"]].rename(columns={"at": "touched"})
    return clocks.merge(nth, on="id", how="left")


def _elapsed(clocks: pd.DataFrame, met: np.ndarray, calendars: dict[int, WorkCalendar], now: datetime) -> np.ndarray:
    """Return each clock's business seconds in its owner's calendar, from its start to its touch (met) or ``now``.

    One cumulative index per owner answers all their clocks at once (bench/sla.py measures this).
    """
    start_us = _epoch_us(clocks["started_at"])
    now_us = int(pd.Timestamp(now).tz_convert("UTC").value // 1000)
    end_us = np.where(met, _epoch_us(clocks["touched"].where(clocks["touched"].notna(), now)), now_us)
    elapsed = np.zeros(len(clocks), dtype=np.int64)
    for sdr_id, idx in clocks.groupby("sdr_id").indices.items():
        lo = pd.Timestamp(int(start_us[idx].min()), unit="us", tz="UTC").to_pydatetime()
        index = BusinessIndex(calendars[int(cast(int, sdr_id))], lo, max(now, lo + timedelta(seconds=1)))
        elapsed[idx] = index.between(start_us[idx], end_us[idx])
    return elapsed


def _instant(value: Any) -> datetime | None:
    """Return a frame cell as a datetime, None for a missing one (None or NaT)."""
    if value is None or pd.isna(value):
        return None
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value


def _states(clocks: pd.DataFrame, elapsed: np.ndarray) -> list[ClockState]:
    """Return the clocks of the frame (with their elapsed seconds) as domain values."""
    columns = ("id", "kind", "target", "touched", "touch_count", "required", "policy", "due_at", "lead_id", "sdr_id")
    rows = zip(*(clocks[c].tolist() for c in columns), elapsed.tolist(), strict=True)
    return [ClockState(id=int(cid), kind=ClockKind(kind), target_seconds=int(target), elapsed_seconds=int(e),
                       touched_at=_instant(touched), touch_count=int(count), touches_required=int(required),
                       policy=str(policy), due_at=_instant(due), lead_id=int(lead), sdr_id=int(sdr))
            for cid, kind, target, touched, count, required, policy, due, lead, sdr, e in rows]


def _cadences(met: list[ClockState], assignments: dict[int, int], calendars: dict[int, WorkCalendar],
              cadence: Cadence) -> list[NewCadence]:
    """Return the follow-up cadence each first touch just met opens (due ``cadence.within`` business time later)."""
    out = []
    for c in met:
        if c.kind is ClockKind.FIRST_TOUCH and c.touched_at is not None:
            due = add_business_seconds(calendars[c.sdr_id], c.touched_at, cadence.within)
            out.append(NewCadence(c.lead_id, c.sdr_id, assignments[c.id], cadence.touches, int(cadence.within),
                                  c.touched_at, due))
    return out


def enforce(uow: UnitOfWork, rules: Rules, company_tz: str, *, now: datetime | None = None,
            flow_run_id: str | None = None, reassign: Reassign = reassign_by_rules) -> SlaSummary:
    """Evaluate every open clock as of ``now``, set-based; returns counts per outcome (grain: clocks).

    Clocks are read as one frame; elapsed business time is computed for all of them at once
    from each owner's cumulative business-time index; only the clocks that reach a step are
    turned into domain values and written (met, reminder, breach, reassign), each step once
    thanks to the unique (clock, step) constraint. ``reassign`` moves a lead whose first-touch
    clock passed ``rules.sla.reassign_at`` (default: the routing service, in the same unit of work).
    """
    now = now or utcnow()
    sla = rules.sla
    thresholds = Thresholds(reminder_at=sla.reminder_at, reassign_at=sla.reassign_at)
    summary = SlaSummary()
    # a cadence ends when the lead moves on (qualified, closed, disqualified, back to nurture)
    summary.closed = uow.sla.close_ended_cadences(CADENCE_ENDS, now)
    clocks = uow.sla.open_clocks()
    if clocks.empty:
        return summary
    clocks = _with_touches(clocks, uow.sla.touches(sla.touch_kinds, now))
    met = clocks["touched"].notna().to_numpy()
    calendars = uow.sla.calendars(int(i) for i in clocks["sdr_id"].unique())
    elapsed = _elapsed(clocks, met, calendars, now)
    summary.met = int(met.sum())
    summary.open = int((~met).sum())

    candidates = may_step(met, shares_of_target(elapsed, clocks["target"].to_numpy()), thresholds)
    states = _states(clocks[candidates], elapsed[candidates])
    steps = [s for c in states for s in steps_due(c, thresholds, now)]

    # met clocks: closed with their elapsed time; a first touch opens the follow-up cadence
    met_steps = [s for s in steps if s.step is Step.MET]
    if met_steps:
        uow.sla.mark_met(met_steps, now)
        uow.sla.record_steps(met_steps)
        if sla.cadence is not None:
            met_states = [c for c in states if c.met]
            assignments = {c.id: int(a) for c, a in zip(
                met_states, clocks.set_index("id").loc[[c.id for c in met_states], "assignment_id"], strict=True)}
            uow.sla.start_cadences(_cadences(met_states, assignments, calendars, sla.cadence))

    # open clocks crossing a threshold: one event each, then their messages
    new = uow.sla.record_steps(in_recording_order(s for s in steps if s.step is not Step.MET))
    if not new:
        return summary
    by_id = {c.id: c for c in states}
    touched_ids = sorted({c for c, _ in new})
    uow.sla.update_elapsed({cid: by_id[cid].elapsed_seconds for cid in touched_ids}, now)
    uow.sla.mark_breached([cid for cid, step in sorted(new) if step is Step.BREACH])
    people = uow.sla.people()
    leads = uow.sla.lead_refs(by_id[c].lead_id for c in touched_ids)
    order = (Step.REMINDER, Step.BREACH, Step.REASSIGN)
    out = _Messages(uow, rules, company_tz, sorted(leads))
    for cid, step in sorted(new, key=lambda cs: (cs[0], order.index(cs[1]))):
        _act(uow, summary, step, by_id[cid], people, leads[by_id[cid].lead_id], rules, company_tz, now,
             flow_run_id, reassign, out)
    return summary


def _notify(step: Step, owner: Person, people: dict[int, Person]) -> list[Person]:
    """Return who hears of ``step``: the owner, and their manager on a breach."""
    manager = people.get(owner.manager_id) if owner.manager_id is not None and notifies_manager(step) else None
    return [owner] + ([manager] if manager is not None else [])


class _Messages:
    """The messages of one sweep's steps: each email, or its Slack twin (leadops.services.notices)."""

    def __init__(self, uow: UnitOfWork, rules: Rules, company_tz: str, lead_ids: list[int]) -> None:
        self.uow, self.company_tz = uow, company_tz
        self.notices = Notices(uow, rules)
        self.cards = self.notices.cards(lead_ids) if self.notices.slack.enabled else {}

    def card(self, lead: LeadRef) -> LeadCard:
        return self.cards.get(lead.id) or LeadCard(id=lead.id, name="", company=lead.company or lead.email_domain)

    def zone(self, code: str) -> str:
        person = self.notices.people.get(code)
        return person.time_zone if person else self.company_tz

    def mention(self, who: Person) -> str:
        return self.notices.mention(who.code, who.name)

    def queue(self, messages: list[Message], codes: list[str]) -> list[str]:
        """Enqueue ``messages``; returns ``codes`` (who they reach) when any was new, else []."""
        new = [self.uow.outbox.enqueue(m) for m in messages]
        return codes if any(new) else []

    def to_rep(self, email: Message, who: Person, payload: Callable[[], SlackPayload]) -> list[str]:
        return self.queue(self.notices.to_rep(email, who.code, payload), [who.code])

    def to_manager(self, email: Message, who: Person, event: str,
                   payload: Callable[[str | None], SlackPayload]) -> list[str]:
        return self.queue(self.notices.to_managers([(email, who.code)], event, payload), [who.code])


def _act(uow: UnitOfWork, summary: SlaSummary, step: Step, clock: ClockState, people: dict[int, Person],
         lead: LeadRef, rules: Rules, company_tz: str, now: datetime, flow_run_id: str | None,
         reassign: Reassign, out: _Messages) -> None:
    """Queue the messages of one new step on one clock (or reassign its lead) and count it in ``summary``."""
    owner = people[clock.sdr_id]
    notified: list[str] = []
    summary.reminded += step is Step.REMINDER
    summary.breached += step is Step.BREACH
    card = out.card(lead)
    if clock.kind is ClockKind.CADENCE:  # cadences are reminded and escalated, never reassigned
        text = cadence_message(step, lead, owner.name, clock)
        for who in _notify(step, owner, people):
            email = Message(key=f"sla:{clock.id}:{step}:{who.code}", kind=f"cadence_{step}", recipient=who.email,
                            subject=text.subject, body=text.body, lead_id=lead.id)
            payload = partial(slack_blocks.cadence, card, missed=step is Step.BREACH, owner=out.mention(owner),
                              owner_name=owner.name, progress=cadence_progress(clock), ends=clock.due_at,
                              time_zone=out.zone(who.code))
            notified += (out.to_rep(email, who, payload) if who is owner else
                         out.to_manager(email, who, f"sla:{clock.id}:{step}", _for_anyone(payload)))
        summary.notifications_queued += len(notified)
        _action(summary, lead_id=lead.id, clock_id=clock.id, clock="cadence", step=step.value, sdr=owner.code,
                to=None, rule=None, notified=notified, detail=cadence_progress(clock))
        return
    detail = None
    to = rule = None
    if step is Step.REMINDER:
        text = reminder_message(lead, owner.name, clock)
        email = Message(key=f"sla:{clock.id}:reminder", kind="sla_reminder", recipient=owner.email,
                        subject=text.subject, body=text.body, lead_id=lead.id)
        notified += out.to_rep(email, owner, lambda: slack_blocks.reminder(
            card, rep=out.mention(owner), due=clock.due_at, time_zone=out.zone(owner.code), policy=clock.policy))
    elif step is Step.BREACH:
        text = breach_message(lead, owner.name, clock)
        for who in _notify(step, owner, people):
            email = Message(key=f"sla:{clock.id}:breach:{who.code}", kind="sla_breach", recipient=who.email,
                            subject=text.subject, body=text.body, lead_id=lead.id)
            payload = partial(slack_blocks.breach, card, owner=out.mention(owner), owner_name=owner.name,
                              target_minutes=clock.target_seconds // 60, policy=clock.policy, to_manager=who is not owner)
            notified += (out.to_rep(email, who, payload) if who is owner else
                         out.to_manager(email, who, f"sla:{clock.id}:breach", _for_anyone(payload)))
        summary.breaches.append({"lead_id": lead.id, "sdr": owner.code, "policy": clock.policy, "clock_id": clock.id})
    elif step is Step.REASSIGN:
        decision = reassign(uow, lead.id, rules=rules, company_tz=company_tz, now=now,
                            reason=reassign_reason(clock.policy), flow_run_id=flow_run_id)
        if decision.status == "assigned":
            summary.reassigned += 1
            to, rule = decision.sdr, decision.rule
        else:
            detail = f"stays with {owner.code}: {decision.reason}"
    summary.notifications_queued += len(notified)
    _action(summary, lead_id=lead.id, clock_id=clock.id, clock="first_touch", step=step.value, sdr=owner.code, to=to,
            rule=rule, notified=notified, detail=detail or f"policy {clock.policy}, {clock.share:.0%} of target")


def queue_breach_digests(uow: UnitOfWork, *, now: datetime | None = None, rules: Rules | None = None,
                         company_tz: str = "UTC") -> dict[str, int]:
    """Queue, per manager, one message listing their team's breached clocks still open (keyed by manager and hour):
    an email, or a Slack message to the manager's channel when notify.yaml has Slack carry digests.

    Returns {"managers": n, "breaches": n, "queued": n}: ``queued`` is 0 when this hour's
    digests were already queued.
    """
    now = now or utcnow()
    teams = by_manager(uow.sla.breached_clocks())
    people = uow.sla.people() if teams else {}
    out = _Messages(uow, rules, company_tz, sorted({c.lead.id for cs in teams.values() for c in cs})) \
        if rules is not None and teams else None
    queued = 0
    for manager_id, clocks in sorted(teams.items()):
        manager = people[manager_id]
        text = digest_message(manager.name, clocks)
        email = Message(key=f"sla-digest:{manager.code}:{now:%Y%m%d%H}", kind="sla_digest", recipient=manager.email,
                        subject=text.subject, body=text.body)
        if out is None:
            queued += uow.outbox.enqueue(email)
            continue
        lines = [slack_blocks.DigestLine(out.card(c.lead), owner=out.notices.mention(c.owner_code, c.owner_name),
                                         owner_name=c.owner_name, what=_WHAT_IS_MISSED_SLACK.get(c.kind, str(c.kind)),
                                         policy=c.policy, started=c.started_at) for c in clocks]
        zone = out.zone(manager.code)
        queued += bool(out.to_manager(email, manager, email.key, partial(_digest_slack, out, manager, lines, zone)))
    return {"managers": len(teams), "breaches": sum(len(v) for v in teams.values()), "queued": queued}


def _digest_slack(out: _Messages, manager: Person, lines: list[slack_blocks.DigestLine], zone: str,
                  name: str | None) -> SlackPayload:
    """Return a manager's digest for Slack: addressed by name in a direct message, mentioned in a channel."""
    return slack_blocks.digest(manager.name if name else out.mention(manager), lines, time_zone=zone)


def _for_anyone(payload: Callable[[], SlackPayload]) -> Callable[[str | None], SlackPayload]:
    """Return ``payload`` as a manager's payload builder (the same message whoever reads it)."""
    def build(_name: str | None) -> SlackPayload:
        return payload()
    return build


_WHAT_IS_MISSED_SLACK = {ClockKind.FIRST_TOUCH: "no first touch", ClockKind.CADENCE: "follow-up cadence missed"}
