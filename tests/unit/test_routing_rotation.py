"""The weighted round robin of a pool (leadops/domain/routing.py) under absences, returns and gaps.

The bound tested: while a pool's candidates stay the same set of n SDRs of total weight W, any N consecutive
picks of that pool give an SDR of weight w at most N*w/W + 1 + (n - 2)*w/W leads (under N/n + 2 with equal
weights), however long that SDR was away before the first of them: out of office, outside working hours, at
a cap, inactive, or no routing at all for days. Across the whole run, two SDRs who were candidates at every
pick have taken leads within one turn of their weights: |count_i/w_i - count_j/w_j| <= max(1/w_i, 1/w_j).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given, settings as hsettings, strategies as st

from leadops.config import Rules, RoutingRules, load_rules
from leadops.db.repositories.routing import RoutingSdr
from leadops.domain.business_time import WorkCalendar
from leadops.domain.routing import Decision, RoutableLead, SdrState, keep_pace, route_batch, route_lead
from leadops.services.route import route_pending
from tests.support.fake_routing import FakeRoutingRepository, StoredLead
from tests.support.fakes import FakeUnitOfWork

#: (chosen SDR, the pool's candidates compared at that pick)
Pick = tuple[str, frozenset[str]]

BIG = 10**9  # a cap nobody reaches


def picks_of(decisions: Iterable[Decision], rule: str) -> list[Pick]:
    """Return the picks made by ``rule``'s pool, in order, each with the candidates it compared (the trail's
    entries that carry a load)."""
    return [(d.sdr or "", frozenset(c["sdr"] for c in d.candidates if c.get("rule") == rule and "load" in c))
            for d in decisions if d.status == "assigned" and d.rule == rule]


def over_the_bound(picks: Sequence[Pick], weights: dict[str, float]) -> list[str]:
    """Return every window of consecutive picks, inside a run of picks with the same candidates, where an SDR
    got more than N*w/W + 1 + (n - 2)*w/W leads; empty when the bound holds everywhere."""
    problems = []
    start = 0
    while start < len(picks):
        same = picks[start][1]
        end = start
        while end < len(picks) and picks[end][1] == same:
            end += 1
        n, total = len(same), sum(weights[c] for c in same)
        run = [code for code, _ in picks[start:end]]
        for a in range(len(run)):
            counts: Counter[str] = Counter()
            for b in range(a, len(run)):
                code = run[b]
                counts[code] += 1  # only the SDR just counted can have gone over: the others' bounds grew
                size, w = b - a + 1, weights[code]
                bound = size * w / total + 1 + (n - 2) * w / total
                if counts[code] > bound + 1e-9:
                    problems.append(f"{code} (weight {w:g}) took {counts[code]} of picks {start + a}..{start + b} "
                                    f"among {sorted(same)}: more than {bound:.2f}")
        start = end
    return problems


def lead(i: int, country: str = "FR", owner: str | None = None) -> RoutableLead:
    return RoutableLead(i, {"country": country}, owner)


# ---------------------------------------------------------------------------------------------- the rotation itself


def reference_wrr(weights: dict[str, float], n: int) -> list[str]:
    """Plain weighted round robin (least virtual time after the pick, then code), no pace rule."""
    vt = dict.fromkeys(weights, 0.0)
    out = []
    for _ in range(n):
        code = min(vt, key=lambda c: (vt[c] + 1 / weights[c], c))
        vt[code] += 1 / weights[code]
        out.append(code)
    return out


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.5, 1.0, 1.2, 1.5, 2.0, 3.0]), min_size=1, max_size=6), st.integers(1, 120))
def test_while_everyone_stays_available_the_pace_rule_changes_nothing(weights_list, n):
    weights = {f"s{i}": w for i, w in enumerate(weights_list)}
    rules = RoutingRules.model_validate({"pools": {"team": {"members": list(weights)}},
                                         "rules": [{"name": "team", "to": {"pool": "team"}}]})
    states = {c: SdrState(code=c, weight=w, daily_cap=BIG, open_cap=BIG) for c, w in weights.items()}
    decisions = route_batch([lead(i) for i in range(n)], rules, states)
    assert [d.sdr for d in decisions] == reference_wrr(weights, n)


def test_keep_pace_raises_only_who_lags_more_than_one_of_their_turns():
    a, b, c = SdrState("a", positions={"p": 10.0}), SdrState("b", weight=2.0, positions={"p": 9.6}), SdrState("c")
    keep_pace("p", [a, b, c])
    assert a.positions == {"p": 10.0} and b.positions == {"p": 9.6}  # within a turn: untouched
    assert c.positions == {"p": 9.0}  # new: one turn behind the pace, so next in line
    keep_pace("q", [a])
    assert a.positions == {"p": 10.0}  # alone in a pool: nobody's pace to keep


TWO_POOLS = RoutingRules.model_validate({
    "pools": {"fr": {"members": ["a", "b"]}, "all": {"members": ["a", "b", "c"]}},
    "rules": [{"name": "owner", "to": {"account_owner": True}},
              {"name": "vip", "when": {"country": ["LU"]}, "to": {"sdr": "c"}},
              {"name": "france", "when": {"country": ["FR"]}, "to": {"pool": "fr"}},
              {"name": "rest", "to": {"pool": "all"}}]})


def test_account_owners_and_rules_naming_one_sdr_take_no_turn_in_a_pool_but_count_toward_caps():
    states = {c: SdrState(code=c) for c in "abc"}
    route_lead(lead(1, "FR", owner="a"), TWO_POOLS, states)
    route_lead(lead(2, "LU"), TWO_POOLS, states)
    assert states["a"].positions == {} and states["c"].positions == {}
    assert (states["a"].assigned_today, states["c"].assigned_today) == (1, 1)
    # so a owning accounts does not lose their turn in the pool: the rotation starts as if nothing happened
    assert [route_lead(lead(i, "FR"), TWO_POOLS, states).sdr for i in range(3, 7)] == ["a", "b", "a", "b"]


def test_an_sdr_of_two_pools_keeps_their_turn_in_each():
    states = {c: SdrState(code=c, daily_cap=BIG, open_cap=BIG) for c in "abc"}
    route_batch([lead(i, "FR") for i in range(40)], TWO_POOLS, states)  # a and b take 20 each in fr
    decisions = route_batch([lead(i, "DE") for i in range(40, 70)], TWO_POOLS, states)
    # one number across pools made c take every "all" lead until level with a and b (20 of them)
    assert Counter(d.sdr for d in decisions) == {"a": 10, "b": 10, "c": 10}
    # French and German leads in turn: a and b's French leads must not cost them their turns in "all"
    decisions = route_batch([lead(i, "FR" if i % 2 else "DE") for i in range(70, 130)], TWO_POOLS, states)
    assert Counter(d.sdr for d in decisions if d.rule == "rest") == {"a": 10, "b": 10, "c": 10}


def test_an_sdr_back_in_the_middle_of_a_replay_takes_their_share_from_then_on():
    """As the backtest replays: one route_lead per lead, availability changed between two leads."""
    rules = RoutingRules.model_validate({"pools": {"team": {"members": ["a", "b", "x"]}},
                                         "rules": [{"name": "team", "to": {"pool": "team"}}]})
    states = {"a": SdrState("a", daily_cap=BIG, open_cap=BIG), "b": SdrState("b", weight=1.5, daily_cap=BIG, open_cap=BIG),
              "x": SdrState("x", daily_cap=BIG, open_cap=BIG, out_of_office=True)}
    before = route_batch([lead(i) for i in range(500)], rules, states)
    assert "x" not in {d.sdr for d in before}
    states["x"].out_of_office = False
    after = route_batch([lead(i) for i in range(500, 600)], rules, states)
    picks = picks_of(after, "team")
    assert not over_the_bound(picks, {"a": 1.0, "b": 1.5, "x": 1.0})
    assert 100 / 3.5 - 2 <= Counter(d.sdr for d in after)["x"] <= 100 / 3.5 + 2  # 28 or 29, not 100


# ---------------------------------------------------------------------------------------------- random absences


@dataclass(frozen=True)
class Route:
    leads: int
    country: str  # FR: pool fr (a0, m0); anything else: pool team (everyone)
    owner: int | None  # an account owner among the movers (their lead takes no turn)


@dataclass(frozen=True)
class Away:
    mover: int
    why: str  # out_of_office | off_hours | cap | inactive


@dataclass(frozen=True)
class Back:
    mover: int


@dataclass(frozen=True)
class Gap:
    new_day: bool  # routing stops (the states are saved and reloaded, as between passes); a new day resets counts


def unavailable(s: SdrState, why: str) -> None:
    """Make ``s`` unable to take a pool's lead for ``why``."""
    if why == "out_of_office":
        s.out_of_office = True
    elif why == "off_hours":
        s.working_now = False
    elif why == "cap":
        s.daily_cap = s.assigned_today
    else:
        s.active = False


scripts = st.fixed_dictionaries({
    "anchors": st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0]), min_size=2, max_size=3),
    "movers": st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), min_size=1, max_size=3),
}).flatmap(lambda team: st.tuples(st.just(team), st.lists(st.one_of(
    st.builds(Route, st.integers(1, 60), st.sampled_from(["DE", "DE", "FR"]),
              st.one_of(st.none(), st.integers(0, len(team["movers"]) - 1))),
    st.builds(Away, st.integers(0, len(team["movers"]) - 1),
              st.sampled_from(["out_of_office", "off_hours", "cap", "inactive"])),
    st.builds(Back, st.integers(0, len(team["movers"]) - 1)),
    st.builds(Gap, st.booleans())), min_size=1, max_size=40)))


@hsettings(max_examples=300, deadline=None)
@given(scripts)
def test_after_any_absence_nobody_takes_more_than_their_share_of_a_window_and_nobody_away_is_chosen(script):
    team, steps = script
    anchors = {f"a{i}": w for i, w in enumerate(team["anchors"])}  # always available
    movers = {f"m{i}": w for i, w in enumerate(team["movers"])}
    weights = {**anchors, **movers}
    rules = RoutingRules.model_validate({
        "pools": {"team": {"members": list(weights)}, "fr": {"members": ["a0", "m0"]}},
        "rules": [{"name": "owner", "to": {"account_owner": True}},
                  {"name": "fr", "when": {"country": ["FR"]}, "to": {"pool": "fr"}},
                  {"name": "team", "to": {"pool": "team"}}]})

    def fresh(positions: dict[tuple[str, str], float], today: dict[str, int]) -> dict[str, SdrState]:
        """The states a new pass loads: stored positions, today's counts, everyone available unless away."""
        states = {c: SdrState(code=c, weight=w, daily_cap=BIG, open_cap=BIG, assigned_today=today.get(c, 0))
                  for c, w in weights.items()}
        for (pool, code), vt in positions.items():
            states[code].positions[pool] = vt
        for code, why in away.items():
            unavailable(states[code], why)
        return states

    away: dict[str, str] = {}
    states = fresh({}, {})
    decisions: list[Decision] = []
    for step in steps:
        if isinstance(step, Route):
            for _ in range(step.leads):
                owner = f"m{step.owner}" if step.owner is not None else None
                d = route_lead(lead(len(decisions), step.country, owner), rules, states)
                assert d.status == "assigned"  # the anchors are always there
                # away means no pool lead; only an owner outside working hours still gets their account's lead
                assert d.sdr not in away or (away[d.sdr] == "off_hours" and d.rule == "owner"), (d.sdr, away)
                decisions.append(d)
        elif isinstance(step, Away):
            code = f"m{step.mover}"
            away[code] = step.why
            unavailable(states[code], step.why)
        elif isinstance(step, Back):
            code = f"m{step.mover}"
            away.pop(code, None)
            s = states[code]
            s.out_of_office, s.working_now, s.daily_cap, s.active = False, True, BIG, True
        else:
            saved = {(pool, c): vt for c, s in states.items() for pool, vt in s.positions.items()}
            today = {} if step.new_day else {c: s.assigned_today for c, s in states.items()}
            states = fresh(saved, today)
    for pool in ("team", "fr"):
        assert not over_the_bound(picks_of(decisions, pool), weights)
    team_counts = Counter(code for code, _ in picks_of(decisions, "team"))
    for i, wi in anchors.items():
        for j, wj in anchors.items():
            assert abs(team_counts[i] / wi - team_counts[j] / wj) <= max(1 / wi, 1 / wj) + 1e-9, team_counts


# ---------------------------------------------------------------------------------------------- through the service

PARIS = "Europe/Paris"
MONDAY_10_PARIS = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ALL_DAY = WorkCalendar.build(PARIS, "00:00", "23:59", range(7))  # always working (passes run between 8:00 and 18:00)


def roster_sdr(sdr_id: int, code: str, weight: float, *, daily_cap: int = 10_000,
               calendar: WorkCalendar = ALL_DAY, absences: tuple[tuple[datetime, datetime], ...] = ()) -> RoutingSdr:
    return RoutingSdr(id=sdr_id, code=code, name=code, email=f"{code}@example.com", time_zone=PARIS, weight=weight,
                      daily_cap=daily_cap, open_cap=10_000, active=True, calendar=calendar, absences=absences)


@cache
def config_rules() -> Rules:
    """config/'s rule files (a function, not the ``rules`` fixture: hypothesis would print them in every report)."""
    return load_rules(Path(__file__).resolve().parents[2] / "config")


def team_rules(rules: Rules, members: Iterable[str]) -> Rules:
    """config/'s rules (SLA policies, notices) with every lead routed to one pool, ``team``."""
    routing = RoutingRules.model_validate({"rules": [{"name": "team", "to": {"pool": "team"}}],
                                           "pools": {"team": {"members": list(members)}}})
    return rules.model_copy(update={"routing": routing})


def add_mqls(routing: FakeRoutingRepository, n: int, at: datetime) -> None:
    """Queue ``n`` French hand-raisers arrived just before ``at``."""
    first = max(routing.leads, default=0) + 1
    for i in range(first, first + n):
        routing.leads[i] = StoredLead(i, at - timedelta(seconds=n - (i - first)), columns={
            "email_domain": f"firm{i}.fr", "company": f"Firm {i}", "first_name": "Jane", "last_name": f"Doe{i}",
            "job_title": "CTO", "country": "FR", "grade": "B2", "employee_band": "51-200", "is_hand_raiser": True})


def service_picks(routing: FakeRoutingRepository) -> list[Pick]:
    """The stored assignments of pool ``team``, in the order they were made, each with its candidates."""
    return [(routing.code_of(a.sdr_id) or "", frozenset(c["sdr"] for c in a.candidates if "load" in c))
            for a in routing.assignments if a.status == "assigned" and a.rule == "team"]


def test_an_sdr_back_after_a_weekend_without_routing_takes_their_weight_share_not_three_times_it():
    """The measured case: Xavier (weight 1 of 5.5) was out of office two weeks while the others took leads;
    on Monday, three days after the last pass, he took 546 of the next 1,000 leads (3.0x his share) because
    the pace came only from positions moved in the last day."""
    weights = {"s.xavier": 1.0, "s.anna": 1.0, "s.ben": 1.0, "s.carla": 1.0, "s.dora": 1.5}
    leave = ((MONDAY_10_PARIS - timedelta(days=15), MONDAY_10_PARIS - timedelta(hours=2)),)
    routing = FakeRoutingRepository(roster={code: roster_sdr(i, code, w, absences=leave if code == "s.xavier" else ())
                                            for i, (code, w) in enumerate(weights.items(), start=1)})
    uow = FakeUnitOfWork(routing=routing, outbox=routing.outbox)
    team = team_rules(config_rules(), weights)
    for day in (14, 13, 12, 11, 10, 7, 6, 5, 4, 3):  # two weeks, Monday to Friday: 200 leads a day without him
        now = MONDAY_10_PARIS - timedelta(days=day)
        add_mqls(routing, 200, now)
        assert "s.xavier" not in route_pending(uow, team, PARIS, now=now).per_sdr
    taken = Counter[str]()
    for hour in range(4):  # Monday: 1,000 leads in four passes, Xavier back
        now = MONDAY_10_PARIS + timedelta(hours=hour)
        add_mqls(routing, 250, now)
        taken.update(route_pending(uow, team, PARIS, now=now).per_sdr)
    share = 1000 * 1.0 / 5.5  # 181.8
    assert share - 2 <= taken["s.xavier"] <= share + 2, taken
    monday = service_picks(routing)[-1000:]
    assert not over_the_bound(monday, weights)
    # his position in the pool was raised once to its pace and then moved with his turns
    assert routing.stored_positions[("team", 1)].updated_at == MONDAY_10_PARIS + timedelta(hours=3)


@dataclass(frozen=True)
class Pass:
    gap_hours: int  # since the previous pass (days of no routing when large)
    leads: int


service_scripts = st.fixed_dictionaries({
    "anchors": st.lists(st.sampled_from([1.0, 1.5, 2.0]), min_size=2, max_size=2),
    # each mover: weight, daily cap, afternoons only, out of office from hour h for d hours of the run
    "movers": st.lists(st.tuples(st.sampled_from([0.5, 1.0, 2.0]), st.sampled_from([3, 8, 10_000]), st.booleans(),
                                 st.integers(0, 200), st.integers(0, 120)), min_size=1, max_size=2),
    "passes": st.lists(st.builds(Pass, st.sampled_from([1, 2, 3, 5, 24, 49, 72, 97]), st.integers(1, 30)),
                       min_size=2, max_size=8),
})


@hsettings(max_examples=25, deadline=None)
@given(service_scripts)
def test_passes_gaps_and_returns_through_the_service_keep_every_window_within_the_bound(script):
    """route_pending pass after pass (positions stored and read back by the fake repository, as the database
    does), hours or days apart; movers out of office, outside their afternoon hours or at their daily cap."""
    start = MONDAY_10_PARIS - timedelta(hours=1)  # Monday 9:00 in Paris
    anchors = {f"s.anchor{i}": w for i, w in enumerate(script["anchors"])}
    movers = {f"s.mover{i}": m for i, m in enumerate(script["movers"])}
    weights = {**anchors, **{code: m[0] for code, m in movers.items()}}
    roster = {code: roster_sdr(i, code, w) for i, (code, w) in enumerate(anchors.items(), start=1)}
    for i, (code, (w, cap, afternoons, away_from, away_for)) in enumerate(movers.items(), start=len(roster) + 1):
        calendar = WorkCalendar.build(PARIS, "13:00", "18:00", range(7)) if afternoons else ALL_DAY
        away = ((start + timedelta(hours=away_from), start + timedelta(hours=away_from + away_for)),)
        roster[code] = roster_sdr(i, code, w, daily_cap=cap, calendar=calendar, absences=away)
    routing = FakeRoutingRepository(roster=roster)
    uow = FakeUnitOfWork(routing=routing, outbox=routing.outbox)
    team = team_rules(config_rules(), weights)
    now = start
    for p in script["passes"]:
        now += timedelta(hours=p.gap_hours)
        local = now.astimezone(ZoneInfo(PARIS)).hour
        if not 8 <= local < 18:  # keep the anchors' evenings out of it: passes in the day
            now += timedelta(hours=(8 - local) % 24)
        add_mqls(routing, p.leads, now)
        route_pending(uow, team, PARIS, now=now)
    picks = service_picks(routing)
    assert len(picks) == sum(p.leads for p in script["passes"])  # the anchors take whatever the others cannot
    for a in routing.assignments:
        assert not routing.roster[routing.code_of(a.sdr_id) or ""].out_of_office(a.at)
    assert not over_the_bound(picks, weights)
    counts = Counter(code for code, _ in picks)
    (i, wi), (j, wj) = anchors.items()
    assert abs(counts[i] / wi - counts[j] / wj) <= max(1 / wi, 1 / wj) + 1e-9, counts
