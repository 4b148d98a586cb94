"""The SLA decision: from a clock's state and its elapsed business time to the steps to take, and
the texts of the messages those steps send.

A first-touch clock asks the owner for one touch within its target; a cadence clock asks for N
touches (the first one included) within its window. As the owner's business time passes, an open
clock crosses the reminder share of its target, the target itself (breach) and, for first-touch
clocks only, the reassignment share (a cadence is escalated, never taken away). A clock whose
required touch happened is met, in time or late.

Everything here is pure: the service (leadops/services/sla.py) loads the clocks, computes their
elapsed business time (leadops/domain/business_time.py) and persists what these functions return.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

import numpy as np
import numpy.typing as npt


class ClockKind(StrEnum):
    """What a clock measures; its value is what ``sla_clocks.kind`` holds."""

    FIRST_TOUCH = "first_touch"
    CADENCE = "cadence"  # the follow-up touches after the first one


class Step(StrEnum):
    """One step on a clock; its value is what ``sla_events.step`` holds (one row per clock and step)."""

    MET = "met"
    REMINDER = "reminder"
    BREACH = "breach"
    REASSIGN = "reassign"


#: the threshold steps in the order a clock crosses them (and the order a sweep records them)
ESCALATION: tuple[Step, ...] = (Step.REMINDER, Step.BREACH, Step.REASSIGN)


@dataclass(frozen=True)
class Thresholds:
    """When an open clock steps, as shares of its target (rules.sla: reminder_at, reassign_at)."""

    reminder_at: float
    reassign_at: float
    breach_at: float = 1.0  # the target itself

    def of(self, step: Step) -> float:
        """Return the share of the target at which an open clock takes ``step`` (not for MET)."""
        return {Step.REMINDER: self.reminder_at, Step.BREACH: self.breach_at,
                Step.REASSIGN: self.reassign_at}[step]

    @property
    def lowest(self) -> float:
        """Return the smallest share at which any threshold step happens."""
        return min(self.reminder_at, self.breach_at, self.reassign_at)


@dataclass(frozen=True)
class ClockState:
    """One open clock as of a sweep (grain: one clock): its obligation and what happened so far.

    ``elapsed_seconds`` is the owner's business time from the clock's start to its required touch
    (met clocks) or to the sweep's instant (open ones); ``touched_at`` is that required touch
    (the first one for first-touch clocks, the N-th for cadences), None while it has not happened.
    """

    id: int
    kind: ClockKind
    target_seconds: int
    elapsed_seconds: int
    touched_at: datetime | None
    touch_count: int
    touches_required: int
    policy: str
    due_at: datetime | None
    lead_id: int
    sdr_id: int  # the owner

    @property
    def met(self) -> bool:
        """Return whether the required touch happened."""
        return self.touched_at is not None

    @property
    def share(self) -> float:
        """Return the share of the target used so far (1.0 for a clock without a target)."""
        return share_of_target(self.elapsed_seconds, self.target_seconds)


@dataclass(frozen=True)
class StepTaken:
    """One step a sweep takes on one clock (grain: clock x step), as ``sla_events`` stores it."""

    clock_id: int
    step: Step
    at: datetime
    elapsed_seconds: int
    detail: str


def share_of_target(elapsed_seconds: int, target_seconds: int) -> float:
    """Return elapsed / target (1.0 when the target is 0: due at once)."""
    return elapsed_seconds / target_seconds if target_seconds > 0 else 1.0


def shares_of_target(elapsed: npt.NDArray[np.int64], target: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Return :func:`share_of_target` for arrays of clocks at once (grain: one value per clock)."""
    return np.where(target > 0, elapsed / np.maximum(target, 1), 1.0).astype(np.float64)


def may_step(met: npt.NDArray[np.bool_], shares: npt.NDArray[np.float64],
             thresholds: Thresholds) -> npt.NDArray[np.bool_]:
    """Return, per clock, whether :func:`steps_due` can return anything for it.

    A sweep builds :class:`ClockState` values only for these: most open clocks of a large
    backlog are far from their reminder and need no decision.
    """
    return np.asarray(met | (shares >= thresholds.lowest), dtype=np.bool_)


def steps_due(clock: ClockState, thresholds: Thresholds, now: datetime) -> list[StepTaken]:
    """Return the steps ``clock`` has reached as of ``now``: MET alone, or the threshold steps crossed.

    Steps already taken by an earlier sweep are returned again: the store keeps one per
    (clock, step), so a rerun records and sends nothing twice. A met clock is dated at its
    touch and says whether it was met in time; a cadence is never reassigned.
    """
    if clock.touched_at is not None:
        late = clock.elapsed_seconds > clock.target_seconds
        return [StepTaken(clock.id, Step.MET, clock.touched_at, clock.elapsed_seconds,
                          f"{_WHAT_IS_MET[clock.kind]} {'late' if late else 'in time'}")]
    share = clock.share
    return [StepTaken(clock.id, step, now, clock.elapsed_seconds, f"{share:.0%} of target")
            for step in ESCALATION
            if share >= thresholds.of(step) and not (step is Step.REASSIGN and clock.kind is ClockKind.CADENCE)]


def in_recording_order(steps: Iterable[StepTaken]) -> list[StepTaken]:
    """Return threshold steps grouped by step (reminders, then breaches, then reassignments), by clock."""
    return sorted(steps, key=lambda s: (ESCALATION.index(s.step), s.clock_id))


def notifies_manager(step: Step) -> bool:
    """Return whether ``step`` is escalated to the owner's manager as well as sent to the owner."""
    return step is Step.BREACH


def reassign_reason(policy: str) -> str:
    """Return the reason stored on an assignment an SLA reassignment ends."""
    return f"SLA {policy} missed by the owner"


# --------------------------------------------------------------------------- message texts


class MessageText(NamedTuple):
    """The subject and body of one notification."""

    subject: str
    body: str


@dataclass(frozen=True)
class LeadRef:
    """How messages name a lead: its id and company (or email domain)."""

    id: int
    company: str | None
    email_domain: str | None

    @property
    def label(self) -> str:
        """Return ``lead #ID (Company)``."""
        return f"lead #{self.id} ({self.company or self.email_domain})"


_WHAT_IS_MET = {ClockKind.FIRST_TOUCH: "first touch", ClockKind.CADENCE: "follow-up cadence"}
_WHAT_IS_MISSED = {ClockKind.FIRST_TOUCH: "no first touch", ClockKind.CADENCE: "follow-up cadence missed"}


def _by(due_at: datetime | None) -> str:
    return f" by {due_at:%Y-%m-%d %H:%M} UTC" if due_at is not None else " soon"


def reminder_message(lead: LeadRef, owner_name: str, clock: ClockState) -> MessageText:
    """Return the owner's reminder that a first touch is due soon."""
    return MessageText(f"[leadops] Reminder: first touch due soon for {lead.label}",
                       f"{owner_name}, {lead.label} is due for a first touch{_by(clock.due_at)} ({clock.policy}).\n")


def breach_message(lead: LeadRef, owner_name: str, clock: ClockState) -> MessageText:
    """Return the message (to the owner and their manager) that a first-touch SLA was breached."""
    return MessageText(f"[leadops] SLA breached: {lead.label} (owner {owner_name})",
                       f"{lead.label} assigned to {owner_name} had no first touch within "
                       f"{clock.target_seconds // 60} business minutes (policy {clock.policy}).\n")


def cadence_message(step: Step, lead: LeadRef, owner_name: str, clock: ClockState) -> MessageText:
    """Return the message that a follow-up cadence is behind (REMINDER) or missed (BREACH)."""
    state = "behind" if step is Step.REMINDER else "missed"
    return MessageText(f"[leadops] Follow-up {state}: {lead.label}",
                       f"{lead.label} owned by {owner_name}: {cadence_progress(clock)} so far; the "
                       f"cadence ends{_by(clock.due_at)}.\n")


def cadence_progress(clock: ClockState) -> str:
    """Return ``N of M follow-up touches``."""
    return f"{clock.touch_count} of {clock.touches_required} follow-up touches"


@dataclass(frozen=True)
class BreachedClock:
    """One breached clock still open, for its owner's manager's digest (grain: one clock)."""

    clock_id: int
    kind: ClockKind
    policy: str
    started_at: datetime
    lead: LeadRef
    owner_code: str
    owner_name: str
    manager_id: int | None


def by_manager(clocks: Iterable[BreachedClock]) -> dict[int, list[BreachedClock]]:
    """Return the breached clocks per manager id, in the given order; clocks of owners without a manager are left out."""
    out: dict[int, list[BreachedClock]] = {}
    for c in clocks:
        if c.manager_id is not None:
            out.setdefault(c.manager_id, []).append(c)
    return out


def digest_message(manager_name: str, clocks: Sequence[BreachedClock]) -> MessageText:
    """Return a manager's digest of their team's breached clocks, one line per clock."""
    lines = [f"- {c.lead.label}, owner {c.owner_name} ({c.owner_code}): "
             f"{_WHAT_IS_MISSED.get(c.kind, c.kind)}, policy {c.policy}, clock started {c.started_at:%Y-%m-%d %H:%M} UTC"
             for c in clocks]
    return MessageText(f"[leadops] {len(clocks)} lead(s) of your team are past their SLA",
                       f"Hello {manager_name},\n\nThese leads are past their SLA:\n" + "\n".join(lines)
                       + "\n\n`leadops explain LEAD_ID` shows the routing; `leadops reassign LEAD_ID` moves a lead.\n")
