"""The backtest's eligibility is the router's: the members a pool's rotation chooses among, as route_lead filters
them (skip_reason, then working hours when anyone is), whether computed before a decision or read back from the
candidates stored with it."""
import itertools
from datetime import UTC, datetime

import pytest

from leadops.config import RoutingRules
from leadops.db.repositories.leads import RecordedDecision
from leadops.domain.routing import RoutableLead, SdrState, route_lead
from leadops.services.backtest import eligible, recorded_eligible

RULES = RoutingRules.model_validate({
    "pools": {"team": {"members": ["a", "b", "c", "ghost"]}},
    "rules": [{"name": "team", "to": {"pool": "team"}}],
})
WEIGHTS = {"a": 1.0, "b": 1.5, "c": 0.5}
# what can keep an SDR out of a rotation, one at a time, or nothing
CONDITIONS = [{}, {"out_of_office": True}, {"working_now": False}, {"assigned_today": 40}, {"open_leads": 200},
              {"active": False}, {"weight": 0.0}]


def team(conditions):
    out = {}
    for code, extra in zip("abc", conditions, strict=True):
        st = SdrState(code=code, weight=WEIGHTS[code])
        for k, v in extra.items():
            setattr(st, k, v)
        out[code] = st
    return out


@pytest.mark.parametrize("conditions", list(itertools.product(CONDITIONS, repeat=3)))
def test_the_members_eligible_are_those_the_router_chose_among(conditions):
    states = team(conditions)
    before = {c: (s.skip_reason(), s.working_now, s.weight) for c, s in states.items()}
    expected = eligible(RULES.pools["team"].members, before)
    decision = route_lead(RoutableLead(1, {}), RULES, states)
    chosen_from = {c["sdr"] for c in decision.candidates if "load" in c}
    assert set(expected) == chosen_from
    assert all(expected[c] == WEIGHTS[c] for c in expected)
    if decision.status == "assigned":
        assert decision.sdr in expected
        stored = RecordedDecision(None, decision.rule, datetime(2026, 11, 23, tzinfo=UTC), list(decision.candidates))
        assert recorded_eligible(stored, WEIGHTS) == expected
    else:
        assert expected == {}


def test_a_decision_stored_without_its_candidates_says_nothing_of_who_was_eligible():
    assert recorded_eligible(RecordedDecision(1, "team", datetime(2026, 11, 23, tzinfo=UTC), []), WEIGHTS) is None
