import pytest

from leadops.config import RoutingRules
from leadops.domain.routing import RoutableLead, SdrState, route_batch, route_lead, segment_of

RULES = RoutingRules.model_validate({
    "pools": {"fr": {"members": ["a", "b"]}, "all": {"members": ["a", "b", "c"]}},
    "rules": [
        {"name": "owner", "to": {"account_owner": True}},
        {"name": "vip", "when": {"grade": ["A1"]}, "to": {"sdr": "c"}},
        {"name": "france", "when": {"country": "FR"}, "to": {"pool": "fr"}},
        {"name": "rest", "to": {"pool": "all"}},
    ],
})


def team(**over):
    s = {c: SdrState(code=c) for c in "abc"}
    for code, attrs in over.items():
        for k, v in attrs.items():
            setattr(s[code], k, v)
    return s


def lead(i=1, owner=None, **fields):
    return RoutableLead(i, {"country": "FR", "grade": "B2", **fields}, owner)


def test_first_matching_rule_wins_and_is_recorded():
    d = route_lead(lead(), RULES, team())
    assert d.status == "assigned" and d.rule == "france" and d.sdr in {"a", "b"}


def test_account_owner_gets_the_lead_when_available():
    d = route_lead(lead(owner="c"), RULES, team())
    assert (d.sdr, d.rule) == ("c", "owner")


def test_unavailable_account_owner_falls_through_with_the_reason():
    d = route_lead(lead(owner="c", country="DE"), RULES, team(c={"out_of_office": True}))
    assert d.rule == "rest" and d.sdr in {"a", "b"}
    assert {"rule": "owner", "sdr": "c", "skipped": "account owner out of office"} in d.candidates


def test_weighted_round_robin_splits_by_weight():
    sdrs = team(a={"weight": 2.0}, b={"weight": 1.0})
    decisions = route_batch([lead(i) for i in range(30)], RULES, sdrs)
    counts = {c: sum(d.sdr == c for d in decisions) for c in "ab"}
    assert counts == {"a": 20, "b": 10}


def test_caps_and_out_of_office_skip_candidates_with_reasons():
    sdrs = team(a={"assigned_today": 40, "daily_cap": 40}, b={"out_of_office": True})
    d = route_lead(lead(), RULES, sdrs)
    assert d.rule == "rest" and d.sdr == "c"
    reasons = {(c["rule"], c["sdr"]): c.get("skipped") for c in d.candidates}
    assert reasons[("france", "a")] == "daily cap 40 reached"
    assert reasons[("france", "b")] == "out of office"


def test_sdrs_in_working_hours_are_preferred():
    d = route_lead(lead(), RULES, team(a={"working_now": False}))
    assert d.sdr == "b"


def test_nobody_working_still_assigns_and_says_so():
    d = route_lead(lead(), RULES, team(a={"working_now": False}, b={"working_now": False}))
    assert d.sdr in {"a", "b"} and "nobody in working hours" in d.reason


def test_lead_nobody_can_take_is_unroutable_with_reason():
    off = {"active": False}
    d = route_lead(lead(), RULES, team(a=off, b=off, c=off))
    assert d.status == "unroutable" and d.sdr is None
    assert "unavailable" in d.reason and len(d.candidates) >= 3


def test_batch_load_is_shared_so_one_sdr_is_not_flooded():
    decisions = route_batch([lead(i, country="DE") for i in range(9)], RULES, team())
    assert sorted(sum(d.sdr == c for d in decisions) for c in "abc") == [3, 3, 3]


@pytest.mark.parametrize("band,segment", [("11-50", "smb"), ("201-1000", "mid"), ("5001+", "enterprise"), (None, None)])
def test_segment_from_employee_band(band, segment):
    assert segment_of(band) == segment
