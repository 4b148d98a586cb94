"""PassRouter (leadops/domain/routing_pass.py) decides as route_lead does, lead for lead, and leaves the same states."""
from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings as hsettings, strategies as st

from leadops.config import RoutingRules
from leadops.domain.routing import RoutableLead, SdrState, route_lead
from leadops.domain.routing_pass import PassRouter

CODES = ["a", "b", "c", "d"]
GHOST = "zz"  # in pools and owning accounts, not on the roster
POOLS = ["p0", "p1", "p2"]
#: the fields rules test and the values leads carry: text, booleans, numbers that are equal but not the same text
VALUES: dict[str, list[Any]] = {
    "segment": [None, "smb", "mid"],
    "language": [None, "fr", "en", 1, "1", True, "True", 1.0],
    "is_hand_raiser": [True, False, 1, 0, "True"],
    "grade": [None, "A1", "B2"],
}

sdr_states = st.builds(
    SdrState, code=st.just(""), weight=st.sampled_from([0.0, 0.5, 1.0, 2.0]), daily_cap=st.integers(0, 6),
    open_cap=st.integers(0, 6), assigned_today=st.integers(0, 3), open_leads=st.integers(0, 3), active=st.booleans(),
    out_of_office=st.booleans(), working_now=st.booleans(), paired_ae=st.sampled_from([None, "ae1"]),
    positions=st.dictionaries(st.sampled_from(POOLS), st.sampled_from([0.0, 0.5, 1.0, 3.0]), max_size=2))

whens = st.dictionaries(st.sampled_from(sorted(VALUES)),
                        st.lists(st.sampled_from([v for vs in VALUES.values() for v in vs if v is not None]),
                                 min_size=1, max_size=3), max_size=2)
targets = st.one_of(st.just({"account_owner": True}), st.builds(lambda p: {"pool": p}, st.sampled_from(POOLS)),
                    st.builds(lambda s: {"sdr": s}, st.sampled_from([*CODES, GHOST])))
pools = st.fixed_dictionaries({p: st.fixed_dictionaries({
    "members": st.lists(st.sampled_from([*CODES, GHOST]), max_size=4, unique=True),
    "policy": st.sampled_from(["next_available", "hold_for_owner"]),
    "hold_max_hours": st.sampled_from([1, 24])}) for p in POOLS})


@st.composite
def routing_rules(draw: st.DrawFn) -> RoutingRules:
    rules = [{"name": f"r{i}", "when": draw(whens), "to": draw(targets)} for i in range(draw(st.integers(0, 6)))]
    return RoutingRules.model_validate({"pools": draw(pools), "rules": rules})


@st.composite
def leads(draw: st.DrawFn) -> list[RoutableLead]:
    out = []
    for i in range(draw(st.integers(0, 60))):
        fields = {k: draw(st.sampled_from(vs)) for k, vs in VALUES.items()}
        if draw(st.integers(0, 20)) == 0:
            fields["language"] = ["fr"]  # unhashable: matched on its own
        fields["email_domain"] = draw(st.sampled_from(["acme.com", "globex.fr", None]))
        out.append(RoutableLead(i, fields, draw(st.sampled_from([None, "", *CODES, GHOST])),
                                draw(st.sampled_from([None, 0.0, 5.0, 30.0]))))
    return out


@hsettings(max_examples=300, deadline=None)
@given(routing_rules(), st.lists(sdr_states, min_size=len(CODES), max_size=len(CODES)), leads())
def test_pass_router_gives_route_leads_decisions_and_states_lead_for_lead(rules, states, queue):
    team = dict(zip(CODES, states, strict=True))
    for code, s in team.items():
        s.code = code
    reference, fast = copy.deepcopy(team), copy.deepcopy(team)
    expected = [route_lead(lead, rules, reference) for lead in queue]
    router = PassRouter(rules)
    assert [router.decide(lead, fast) for lead in queue] == expected
    assert fast == reference


OWNER_FIRST = RoutingRules.model_validate({
    "pools": {"all": {"members": ["a", "b"]}},
    "rules": [{"name": "owner", "to": {"account_owner": True}}, {"name": "rest", "to": {"pool": "all"}}]})


def test_an_owner_who_reaches_a_cap_mid_pass_sends_the_next_leads_of_the_account_to_the_pool():
    states = {"a": SdrState("a", daily_cap=2), "b": SdrState("b")}
    router = PassRouter(OWNER_FIRST)
    decisions = [router.decide(RoutableLead(i, {"email_domain": "acme.com"}, "a"), states) for i in range(4)]
    assert [(d.sdr, d.rule) for d in decisions] == [("a", "owner"), ("a", "owner"), ("b", "rest"), ("b", "rest")]
    assert decisions[0].reason == "account owner of acme.com" and decisions[0].candidates == ()
    assert decisions[2].candidates[0] == {"rule": "owner", "sdr": "a", "skipped": "account owner daily cap 2 reached"}
    assert states["a"].assigned_today == 2 and states["a"].positions == {}


def test_rules_are_tested_once_per_combination_of_the_values_they_test():
    rules = RoutingRules.model_validate({
        "pools": {"all": {"members": ["a"]}},
        "rules": [{"name": "fr", "when": {"language": ["fr"]}, "to": {"sdr": "a"}}, {"name": "rest", "to": {"pool": "all"}}]})
    router = PassRouter(rules)
    for i in range(50):
        router.decide(RoutableLead(i, {"language": ["fr", "en", None][i % 3], "email_domain": f"d{i}.com"}), {})
    assert len(router.seen) == 3
