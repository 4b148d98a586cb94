"""Routing of the sample's MQLs by the real router (domain.routing.route_lead), replayed in time.

The seed has no database to load SDR state from, so it keeps that state itself, as
``services.route.sdr_states`` would read it at each routing instant: daily counts since company-local
midnight, open leads (owned and in an open stage at that instant), out of office and working hours
from the roster, and each pool's round-robin positions (an SDR back from leave rejoins at their pool's
pace inside route_lead, as in a routing pass). Leads must be routed in time order (the state only moves
forward).
"""
from __future__ import annotations

from datetime import date, datetime

from leadops.config import Rules
from leadops.domain.assignment import lead_fields
from leadops.domain.business_time import WorkCalendar, is_working
from leadops.domain.lifecycle import OPEN_OWNED
from leadops.domain.routing import Decision, RoutableLead, SdrState, route_lead
from leadops.seed.context import PARIS, absences
from leadops.seed.plan import PlannedLead

_OPEN = frozenset(s.value for s in OPEN_OWNED)


def open_until(pl: PlannedLead, since: datetime) -> datetime | None:
    """Return when ``pl`` left the open stages (MQL, SAL, SQL) after ``since``; None while still open."""
    for change in pl.stages:
        if change.at >= since and change.to_stage not in _OPEN:
            return change.at
    return None


class SampleRouter:
    """The real router over the roster of ``rules``, with each SDR's state at the routing instant."""

    def __init__(self, rules: Rules, calendars: dict[str, WorkCalendar]) -> None:
        self.routing = rules.routing
        sdrs = [p for p in rules.roster.people if p.role == "sdr"]
        self.calendars = calendars
        self.absences = {p.code: absences(p) for p in sdrs}
        self.states = {p.code: SdrState(code=p.code, weight=p.weight, daily_cap=p.daily_cap, open_cap=p.open_cap,
                                        active=p.active, paired_ae=p.paired_ae) for p in sdrs}
        # per SDR: leads routed to them whose open period is not known to be over yet, with its start
        self.owned: dict[str, list[tuple[datetime, PlannedLead]]] = {p.code: [] for p in sdrs}
        self.day: date | None = None
        self.now: datetime | None = None
        self.decided = 0

    def _state_at(self, at: datetime) -> None:
        """Bring every SDR's state to ``at``, as sdr_states reads it from the database."""
        if self.now is not None and at < self.now:
            raise ValueError(f"routing must move forward in time: {at.isoformat()} before {self.now.isoformat()}")
        self.now = at
        today = at.astimezone(PARIS).date()
        for code, s in self.states.items():
            if today != self.day:
                s.assigned_today = 0
            s.out_of_office = any(start <= at < end for start, end in self.absences[code])
            s.working_now = is_working(self.calendars[code], at)
            # the leads routed before were simulated to the cutoff since: their open periods are known
            still = [(t, pl) for t, pl in self.owned[code] if (end := open_until(pl, t)) is None or end > at]
            self.owned[code] = still
            s.open_leads = len(still)
        self.day = today

    def route(self, pl: PlannedLead, account_owner: str | None, at: datetime,
              held_hours: float | None = None) -> Decision:
        """Return the real router's decision for ``pl`` at ``at`` (assigned, held or unroutable) and
        count an assignment in its SDR's state. Grain: one decision per call."""
        self._state_at(at)
        self.decided += 1
        lead = RoutableLead(self.decided, lead_fields(pl.fields), account_owner, held_hours)
        decision = route_lead(lead, self.routing, self.states)
        if decision.status == "assigned" and decision.sdr is not None:
            self.owned[decision.sdr].append((at, pl))
        return decision
