"""Routing backtest: replay past leads through a candidate routing.yaml and compare with what happened.

Reads only. Leads are replayed in the order they were first routed, each at that instant (its arrival when no
decision is stored); each SDR's availability (out of office, working hours in their own time zone, holidays)
is evaluated then, daily caps reset at company-local midnight, a lead counts against its SDR's open-lead cap
until it left the open stages (MQL, SAL, SQL) in the stored history, and the weighted round robin starts even
for everyone in each pool, an SDR back from leave rejoining at the pool's pace as routing does. An account whose first replayed
assignment went through a rule without its owner being asked had no owner then: it starts without one and is
claimed by the SDR the candidate rules give that lead to (``assign_new_accounts``), as routing did; other
accounts keep their current owner. Replaying the rules in force thus gives back the decisions stored.

Fairness is judged per pool (``leadops.domain.fairness``): for each lead a pool's rotation placed, the members
eligible at that instant, as the router chose among them (``SdrState.skip_reason()``, then those in working
hours when any is), each had an expected share of weight / weight of the eligible. What happened is judged the
same way: each lead's first assignment belongs to the pool of the rule stored with it (the rules in force name
the pool), eligibility read from the candidates stored with the decision.
"""
from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from leadops.config import RoutingRule, RoutingRules
from leadops.db.repositories.leads import RecordedDecision, RoutingReplay
from leadops.db.repositories.routing import calendar_of, routable
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.business_time import WorkCalendar, is_working
from leadops.domain.fairness import MIN_EXPECTED, Placement, PoolFairness, pool_fairness
from leadops.domain.routing import Decision, SdrState, route_lead

NO_RULE = "(no rule matched)"
NOT_RECORDED = "(no rule recorded)"


@dataclass
class CandidateFigures:
    """What one candidate routing.yaml does with the replayed leads (grain: one candidate file)."""

    simulated: dict[str, int] = field(default_factory=dict)  # leads per SDR under the candidate rules
    changed: int = 0  # leads the candidate rules send to another SDR than the one who got them
    unroutable: int = 0
    held: int = 0
    moves: list[dict[str, Any]] = field(default_factory=list)  # most frequent actual -> simulated moves
    per_rule: dict[str, int] = field(default_factory=dict)  # leads assigned per rule
    # per pool of the file: its rotation judged on its own leads (pool_figures), every pool listed
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per rule, in the file's order: to, leads (assigned + held + unroutable), assigned, held, unroutable,
    # passed_on, and for a rule to a pool its rotation's fairness over that rule's leads
    rules: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BacktestReport(CandidateFigures):
    """The candidate rules' figures (inherited), what happened to the same leads, and another candidate's
    figures when compared (``against``)."""

    since: str = ""
    leads: int = 0
    min_expected: float = MIN_EXPECTED  # members expected fewer leads are listed, not counted in a fairness
    actual: dict[str, int] = field(default_factory=dict)  # first assignments per SDR, as it happened
    actual_pools: dict[str, dict[str, Any]] = field(default_factory=dict)  # per pool of the rules in force
    actual_rules: list[dict[str, Any]] = field(default_factory=list)  # per recorded rule: to, assigned, fairness
    not_assigned: int = 0  # replayed leads never assigned (held or unroutable now)
    # first assignments whose stored rule is missing or not in the rules in force: attributed to the pool of
    # the rule the candidate rules used for the lead
    attributed_by_candidate: int = 0
    against: CandidateFigures | None = None


def backtest(uow: UnitOfWork, routing: RoutingRules, since: datetime, company_tz: str, *,
             against: RoutingRules | None = None, in_force: RoutingRules | None = None,
             min_expected: float = MIN_EXPECTED) -> BacktestReport:
    """Replay the leads arrived since ``since`` that reached routing (read through ``uow.leads``) through
    ``routing`` (and ``against``, when given) and compare with what happened; ``in_force`` (default:
    ``routing``) names the pools of the rules stored with the real decisions. Writes nothing."""
    replay = _Replay(uow.leads.routing_replay(since), company_tz, in_force or routing)
    report = BacktestReport(since=since.isoformat(), leads=len(replay.leads), min_expected=min_expected)
    figures, actual = replay.run(routing, min_expected, with_actual=True)
    for k, v in asdict(figures).items():
        setattr(report, k, v)
    assert actual is not None  # asked for
    report.actual, report.actual_pools, report.actual_rules = actual.per_sdr, actual.pools, actual.rules
    report.not_assigned, report.attributed_by_candidate = actual.not_assigned, actual.attributed_by_candidate
    if against is not None:
        report.against = replay.run(against, min_expected, with_actual=False)[0]
    return report


def target_of(rule: RoutingRule) -> str:
    """Return where ``rule`` sends leads, as the report says it: pool NAME, sdr CODE or account owner."""
    return f"pool {rule.to.pool}" if rule.to.pool else f"sdr {rule.to.sdr}" if rule.to.sdr else "account owner"


def pool_figures(result: PoolFairness, members: Iterable[str] = ()) -> dict[str, Any]:
    """Return a pool's fairness as the report gives it (figures rounded): leads, fairness, unbounded, outside,
    and one row per member (got, expected, ratio, available, counted)."""
    return {
        "members": list(dict.fromkeys([*members, *(m.code for m in result.members)])),
        "leads": result.leads,
        "fairness": None if result.fairness is None else round(result.fairness, 3),
        "unbounded": result.unbounded,
        "outside": result.outside,
        "per_member": [{"sdr": m.code, "got": m.got, "expected": round(m.expected, 2),
                        "ratio": None if m.ratio is None else round(m.ratio, 3), "available": round(m.available, 3),
                        "counted": m.counted} for m in result.members],
    }


def eligible(members: Iterable[str], states: Mapping[str, tuple[str | None, bool, float]]) -> dict[str, float]:
    """Return the members a pool's rotation chooses among (code -> weight), as ``route_lead`` filters them:
    those with no ``skip_reason()`` (active, weight above 0, not out of office, under caps), then of those the
    ones in working hours when any is. ``states``: code -> (skip_reason(), working_now, weight) before the
    decision."""
    able = [code for code in members if code in states and states[code][0] is None]
    working = [code for code in able if states[code][1]]
    return {code: states[code][2] for code in (working or able)}


def recorded_eligible(decision: RecordedDecision, weights: Mapping[str, float]) -> dict[str, float] | None:
    """Return the members the router chose among for ``decision`` (code -> weight), read from the candidates
    stored with it (those given a load under its rule); None when they are not recorded."""
    chosen_from = [c.get("sdr") for c in decision.candidates
                   if isinstance(c, dict) and c.get("rule") == decision.rule and "load" in c]
    if not chosen_from:
        return None
    return {code: weights[code] for code in chosen_from if isinstance(code, str) and code in weights}


@dataclass
class _Actual:
    per_sdr: dict[str, int]
    pools: dict[str, dict[str, Any]]
    rules: list[dict[str, Any]]
    not_assigned: int
    attributed_by_candidate: int


def _snapshot(states: Mapping[str, SdrState]) -> dict[str, tuple[str | None, bool, float]]:
    """Return what ``eligible`` reads of each SDR before a decision: (skip_reason(), working_now, weight)."""
    return {code: (st.skip_reason(), st.working_now, st.weight) for code, st in states.items()}


def _settled_by(decision: Decision) -> tuple[str, list[str]]:
    """Return the rule whose row counts ``decision`` (the rule that assigned or held the lead; for an unroutable
    lead the first rule that matched it, or NO_RULE) and the rules it matched before, which could not place it."""
    tried = list(dict.fromkeys(c["rule"] for c in decision.candidates if isinstance(c.get("rule"), str)))
    if decision.status in ("assigned", "held") and decision.rule:
        return decision.rule, [r for r in tried if r != decision.rule]
    return (tried[0] if tried else NO_RULE), []


class _Replay:
    """The replayed leads in routing order, with each SDR's availability at each lead's instant."""

    def __init__(self, replay: RoutingReplay, company_tz: str, in_force: RoutingRules) -> None:
        self.sdrs = {s.code: s for s in replay.sdrs}
        self.codes: dict[int | None, str] = {s.id: s.code for s in replay.sdrs}
        self.weights = {code: s.weight for code, s in self.sdrs.items()}
        self.calendars: dict[str, WorkCalendar] = {code: calendar_of(s) for code, s in self.sdrs.items()}
        self.tz = ZoneInfo(company_tz)
        self.in_force = in_force
        self.decisions = replay.first_decision
        self.at = {le.id: replay.routed_at.get(le.id, le.arrived_at) for le in replay.leads}
        self.leads = sorted(replay.leads, key=lambda le: (self.at[le.id], le.id))
        self.owners = {acc: self.codes.get(owner) for acc, owner in replay.account_owners.items()}
        self.closed_at = replay.closed_at
        self.open_at_start = [(self.codes[i], end) for i, end in replay.open_at_start if i in self.codes]
        self.unowned_at_start = self._unowned_at_start()

    def _unowned_at_start(self) -> set[int]:
        """Return the accounts whose first replayed assignment went through a rule without the account owner
        being asked: they had no owner then (routing gave them one with that lead)."""
        owner_rules = {r.name for r in self.in_force.rules if r.to.account_owner}
        seen: set[int] = set()
        unowned: set[int] = set()
        for lead in self.leads:
            d = self.decisions.get(lead.id)
            if lead.account_id is None or lead.account_id in seen or d is None:
                continue
            seen.add(lead.account_id)
            asked = d.rule in owner_rules or any(
                isinstance(c, dict) and str(c.get("skipped", "")).startswith("account owner") for c in d.candidates)
            if not asked:
                unowned.add(lead.account_id)
        return unowned

    def run(self, routing: RoutingRules, min_expected: float, *,
            with_actual: bool) -> tuple[CandidateFigures, _Actual | None]:
        """Replay every lead through ``routing``; with ``with_actual``, judge what happened alongside."""
        team = _Team(self)
        states = team.states
        owners = {acc: (None if acc in self.unowned_at_start else code) for acc, code in self.owners.items()}
        rules = {r.name: r for r in routing.rules}
        out = CandidateFigures()
        simulated: Counter[str] = Counter()
        moves: Counter[tuple[str, str]] = Counter()
        per_rule: dict[str, Counter[str]] = defaultdict(Counter)
        placed: dict[str, list[Placement]] = defaultdict(list)  # by rule name
        actual = _ActualTally(self, routing) if with_actual else None
        for lead in self.leads:
            at = self.at[lead.id]
            team.to(at)
            before = _snapshot(states)
            owner = owners.get(lead.account_id) if lead.account_id else None
            decision = route_lead(routable(lead, owner), routing, states)
            name, passed = _settled_by(decision)
            per_rule[name]["leads"] += 1
            per_rule[name][decision.status] += 1
            for r in passed:
                per_rule[r]["passed_on"] += 1
            if decision.status == "assigned" and decision.sdr is not None:
                simulated[decision.sdr] += 1
                team.opened(decision.sdr, lead.id, at)
                if routing.assign_new_accounts and lead.account_id and owners.get(lead.account_id) is None:
                    owners[lead.account_id] = decision.sdr  # as a routing pass claims an account without owner
                rule = rules.get(name)
                if rule is not None and rule.to.pool:
                    placed[name].append(Placement(eligible(routing.pools[rule.to.pool].members, before), decision.sdr))
            elif decision.status == "held":
                out.held += 1
            else:
                out.unroutable += 1
            rec = self.decisions.get(lead.id)
            was = self.codes.get(rec.sdr_id) if rec else None
            if decision.sdr != was:
                out.changed += 1
                moves[(was or "(nobody)", decision.sdr or f"({decision.status})")] += 1
            if actual is not None:
                actual.add(lead.id, at, rec, was, decision)
        out.simulated = dict(sorted(simulated.items()))
        out.moves = [{"from": a, "to": b, "leads": n} for (a, b), n in moves.most_common(10)]
        out.per_rule = {r: c["assigned"] for r, c in sorted(per_rule.items(), key=lambda kv: -kv[1]["assigned"])
                        if c["assigned"]}
        out.pools = {
            pool: pool_figures(pool_fairness([p for r in routing.rules if r.to.pool == pool for p in placed[r.name]],
                                             p_.members, min_expected), p_.members)
            | {"rules": [r.name for r in routing.rules if r.to.pool == pool]}
            for pool, p_ in routing.pools.items()}
        out.rules = []
        for name in [*(r.name for r in routing.rules), *sorted(set(per_rule) - set(rules))]:
            c, rule = per_rule.get(name, Counter()), rules.get(name)
            row: dict[str, Any] = {"rule": name, "to": target_of(rule) if rule else "-", "leads": c["leads"],
                                   "assigned": c["assigned"], "held": c["held"], "unroutable": c["unroutable"],
                                   "passed_on": c["passed_on"], "fairness": None, "unbounded": False}
            if rule is not None and rule.to.pool:
                pf = pool_fairness(placed[name], routing.pools[rule.to.pool].members, min_expected)
                row.update(fairness=None if pf.fairness is None else round(pf.fairness, 3), unbounded=pf.unbounded)
            out.rules.append(row)
        return out, (actual.result(min_expected) if actual is not None else None)


class _Team:
    """Every SDR's routing state as the replay moves on: availability at each instant, assignments counted
    from company-local midnight, and open leads (the open-lead cap) from their assignment until they left the
    open stages in the stored history (or at the replay's start, those owned and open then)."""

    def __init__(self, replay: _Replay) -> None:
        self.replay = replay
        self.states = {code: SdrState(code=code, weight=s.weight, daily_cap=s.daily_cap, open_cap=s.open_cap)
                       for code, s in replay.sdrs.items()}
        self.ends: dict[str, list[datetime]] = {code: [] for code in self.states}  # heaps of closing instants
        for code, end in replay.open_at_start:
            self.states[code].open_leads += 1
            if end is not None:
                heapq.heappush(self.ends[code], end)
        self.day: date | None = None

    def to(self, at: datetime) -> None:
        """Bring every state to ``at``: out of office, working hours, a new day's counts, leads closed since."""
        today = at.astimezone(self.replay.tz).date()
        for code, st in self.states.items():
            if today != self.day:
                st.assigned_today = 0
            st.out_of_office = any(o.starts_at <= at < o.ends_at for o in self.replay.sdrs[code].out_of_office)
            st.working_now = is_working(self.replay.calendars[code], at)
            ends = self.ends[code]
            while ends and ends[0] <= at:
                heapq.heappop(ends)
                st.open_leads -= 1
        self.day = today

    def opened(self, code: str, lead_id: int, at: datetime) -> None:
        """Count lead ``lead_id``, given to ``code`` at ``at`` (and counted open), closed when it left the open
        stages after ``at``."""
        end = next((t for t in self.replay.closed_at.get(lead_id, ()) if t >= at), None)
        if end is not None:
            heapq.heappush(self.ends[code], end)


class _ActualTally:
    """What happened to the replayed leads: each first assignment, attributed to the rule stored with it."""

    def __init__(self, replay: _Replay, candidate: RoutingRules) -> None:
        self.replay, self.candidate = replay, candidate
        self.in_force = {r.name: r for r in replay.in_force.rules}
        # availability as the replay's, daily and open counts of what really happened: who the router could
        # choose from, when a decision's candidates are not stored
        self.team = _Team(replay)
        self.per_sdr: Counter[str] = Counter()
        self.assigned: Counter[str] = Counter()  # by row label: the stored rule, or the candidate's
        self.rule_of: dict[str, tuple[RoutingRule | None, Mapping[str, Any]]] = {}  # label -> (rule, its pools)
        self.placed: dict[str, list[Placement]] = defaultdict(list)
        self.not_assigned = self.by_candidate = 0

    def add(self, lead_id: int, at: datetime, rec: RecordedDecision | None, was: str | None,
            simulated: Decision) -> None:
        self.team.to(at)
        if rec is None or was is None:
            self.not_assigned += rec is None
            return
        self.per_sdr[was] += 1
        if rec.rule and rec.rule in self.in_force:
            label, rule, pools = rec.rule, self.in_force[rec.rule], self.replay.in_force.pools
            found = recorded_eligible(rec, self.replay.weights)
        elif simulated.status == "assigned" and simulated.rule:
            # the stored rule is missing or no longer in the rules in force: the candidate rules' choice of rule
            self.by_candidate += 1
            label = f"{simulated.rule} (by the candidate rules)"
            rule, pools, found = next(r for r in self.candidate.rules if r.name == simulated.rule), \
                self.candidate.pools, None
        else:
            label, rule, pools, found = rec.rule or NOT_RECORDED, None, {}, None
        self.assigned[label] += 1
        self.rule_of[label] = (rule, pools)
        if rule is not None and rule.to.pool:
            if found is None:
                found = eligible(pools[rule.to.pool].members, _snapshot(self.team.states))
            self.placed[label].append(Placement(found, was))
        if was in self.team.states:
            st = self.team.states[was]
            st.assigned_today += 1
            st.open_leads += 1
            self.team.opened(was, lead_id, at)

    def result(self, min_expected: float) -> _Actual:
        in_force = self.replay.in_force
        labels = [*(r.name for r in in_force.rules if r.name in self.assigned),
                  *sorted(set(self.assigned) - set(self.in_force))]
        rows = []
        for label in labels:
            rule, pools = self.rule_of[label]
            row: dict[str, Any] = {"rule": label, "to": target_of(rule) if rule else "-",
                                   "assigned": self.assigned[label], "fairness": None, "unbounded": False}
            if rule is not None and rule.to.pool:
                pf = pool_fairness(self.placed[label], pools[rule.to.pool].members, min_expected)
                row.update(fairness=None if pf.fairness is None else round(pf.fairness, 3), unbounded=pf.unbounded)
            rows.append(row)
        by_pool = {pool: [r.name for r in in_force.rules if r.to.pool == pool] for pool in in_force.pools}
        members: dict[str, list[str]] = {pool: list(p.members) for pool, p in in_force.pools.items()}
        for label in labels:
            rule, pools = self.rule_of[label]
            if rule is not None and rule.to.pool:
                if label not in by_pool.setdefault(rule.to.pool, []):
                    by_pool[rule.to.pool].append(label)
                members[rule.to.pool] = list(dict.fromkeys([*members.get(rule.to.pool, []),
                                                            *pools[rule.to.pool].members]))
        figures = {pool: pool_figures(pool_fairness([p for label in feeding for p in self.placed.get(label, [])],
                                                    members[pool], min_expected), members[pool])
                   | {"rules": feeding} for pool, feeding in by_pool.items()}
        return _Actual(dict(sorted(self.per_sdr.items())), figures, rows, self.not_assigned, self.by_candidate)


def day_start(value: str, company_tz: str) -> datetime:
    """Return the company-local start of day for an ISO date (or the instant for an ISO datetime)."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        zone = ZoneInfo(company_tz)
        dt = datetime.combine(dt.date(), time.min, zone) if len(value) <= 10 else dt.replace(tzinfo=zone)
    return dt
