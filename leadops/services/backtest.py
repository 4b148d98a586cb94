"""Routing backtest: replay past leads through a candidate routing.yaml and compare with what happened.

Reads only. Leads are replayed in arrival order; each SDR's availability (out of office,
working hours in their own time zone, holidays) is evaluated at the lead's arrival, daily caps
reset at company-local midnight, and the weighted round robin starts even for everyone.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from leadops.config import RoutingRules
from leadops.db.repositories.routing import calendar_of, routable
from leadops.domain.business_time import is_working
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.routing import SdrState, route_lead


@dataclass
class BacktestReport:
    """Per-SDR load (grain: leads) under the candidate rules and as it happened, and the differences."""

    since: str
    leads: int = 0
    simulated: dict[str, int] = field(default_factory=dict)
    actual: dict[str, int] = field(default_factory=dict)
    load_per_weight: dict[str, float] = field(default_factory=dict)
    fairness: float | None = None  # max/min simulated load per unit of weight (1.0 = perfectly even)
    fairness_among: list[str] = field(default_factory=list)  # the SDRs the candidate rules routed to
    actual_fairness: float | None = None
    changed: int = 0  # leads the candidate rules send to another SDR than the one who got them
    unroutable: int = 0
    held: int = 0
    moves: list[dict[str, Any]] = field(default_factory=list)  # most frequent actual -> simulated moves
    per_rule: dict[str, int] = field(default_factory=dict)


def _fairness(loads: dict[str, int], weights: dict[str, float]) -> float | None:
    per = [loads.get(code, 0) / w for code, w in weights.items() if w > 0]
    if not per or min(per) == 0:
        return None  # someone got nothing: unbounded
    return round(max(per) / min(per), 3)


def backtest(uow: UnitOfWork, routing: RoutingRules, since: datetime, company_tz: str) -> BacktestReport:
    """Replay leads arrived since ``since`` that reached routing (read through ``uow.leads``); returns the
    comparison. Writes nothing."""
    replay = uow.leads.routing_replay(since)
    sdrs = {s.code: s for s in replay.sdrs}
    codes: dict[int | None, str] = {s.id: s.code for s in sdrs.values()}
    calendars = {code: calendar_of(s) for code, s in sdrs.items()}
    first, leads, owners = replay.first_owner, replay.leads, replay.account_owners
    states = {code: SdrState(code=code, weight=s.weight, daily_cap=s.daily_cap, open_cap=s.open_cap)
              for code, s in sdrs.items()}
    tz = ZoneInfo(company_tz)
    day = None
    report = BacktestReport(since=since.isoformat(), leads=len(leads))
    simulated: Counter[str] = Counter()
    actual: Counter[str] = Counter()
    moves: Counter[tuple[str, str]] = Counter()
    per_rule: Counter[str] = Counter()
    for lead in leads:
        at = lead.arrived_at
        today = at.astimezone(tz).date()
        if today != day:
            day = today
            for st in states.values():
                st.assigned_today = 0
        for code, st in states.items():
            st.out_of_office = any(o.starts_at <= at < o.ends_at for o in sdrs[code].out_of_office)
            st.working_now = is_working(calendars[code], at)
        owner = codes.get(owners.get(lead.account_id)) if lead.account_id else None
        decision = route_lead(routable(lead, owner), routing, states)
        was = codes.get(first.get(lead.id))
        if was:
            actual[was] += 1
        if decision.status == "assigned":
            simulated[decision.sdr or "(nobody)"] += 1  # an assignment always names its SDR
            per_rule[decision.rule or "-"] += 1
        elif decision.status == "held":
            report.held += 1
        else:
            report.unroutable += 1
        if decision.sdr != was:
            report.changed += 1
            moves[(was or "(nobody)", decision.sdr or f"({decision.status})")] += 1
    # fairness among the SDRs the rules actually routed to (members of the pools that took leads):
    # a regional SDR with no lead from that region is not treated unfairly
    reached: set[str] = set()
    for r in routing.rules:
        if r.name in per_rule:
            reached |= {r.to.sdr} if r.to.sdr else set(routing.pools[r.to.pool].members) if r.to.pool else set(simulated)
    weights = {code: s.weight for code, s in sdrs.items() if code in reached}
    report.simulated, report.actual = dict(sorted(simulated.items())), dict(sorted(actual.items()))
    report.load_per_weight = {code: round(simulated.get(code, 0) / w, 2) for code, w in sorted(weights.items()) if w > 0}
    report.fairness_among = sorted(weights)
    report.fairness, report.actual_fairness = _fairness(simulated, weights), _fairness(actual, weights)
    report.moves = [{"from": a, "to": b, "leads": n} for (a, b), n in moves.most_common(10)]
    report.per_rule = dict(per_rule.most_common())
    return report


def day_start(value: str, company_tz: str) -> datetime:
    """Return the company-local start of day for an ISO date (or the instant for an ISO datetime)."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        zone = ZoneInfo(company_tz)
        dt = datetime.combine(dt.date(), time.min, zone) if len(value) <= 10 else dt.replace(tzinfo=zone)
    return dt
