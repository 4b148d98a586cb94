from datetime import datetime, timedelta, UTC

import pytest

from leadops.config import load_rules
from leadops.domain.scoring import (
    EngagementEvent, LeadFeatures, decay, lifecycle_after_scoring, score_lead,
)
from tests.conftest import ROOT

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def sr():
    return load_rules(ROOT / "config").scoring


def ideal():
    return LeadFeatures(industry="Software", employee_band="201-1000", country="FR", seniority="director",
                        department="it", email_domain="atelier.fr")


def test_engagement_halves_every_half_life():
    assert decay(40, 0, 14) == 40
    assert decay(40, 14, 14) == pytest.approx(20)
    assert decay(40, 28, 14) == pytest.approx(10)


def test_fit_sums_every_rule_that_fired_and_explains_each(sr):
    res = score_lead(ideal(), [], sr, NOW)
    fit_rules = {b["rule"]: b["points"] for b in res.breakdown if b["group"] == "fit"}
    assert fit_rules == {"industry=Software": 25, "employee_band=201-1000": 25, "country=FR": 15,
                         "seniority=director": 18, "department=it": 15}
    # 98 points capped at fit_cap 100 -> not capped; grade A
    assert res.fit == 98 and res.fit_grade == "A"


def test_old_engagement_counts_less_than_fresh(sr):
    fresh = score_lead(ideal(), [EngagementEvent("pricing_page", NOW)], sr, NOW)
    old = score_lead(ideal(), [EngagementEvent("pricing_page", NOW - timedelta(days=28))], sr, NOW)
    assert fresh.engagement == 15 and old.engagement == pytest.approx(3.75)


def test_engagement_is_capped_and_the_cap_is_explained(sr):
    events = [EngagementEvent("demo_request", NOW)] * 5
    res = score_lead(ideal(), events, sr, NOW)
    assert res.engagement == sr.engagement.cap
    assert any(b["rule"].startswith("cap") and b["group"] == "engagement" for b in res.breakdown)


def test_negative_signals_lower_the_score_and_total_never_goes_below_zero(sr):
    comp = LeadFeatures(email_domain="rivalleads.com", is_free_email=True)
    res = score_lead(comp, [], sr, NOW)
    assert {b["rule"] for b in res.breakdown if b["group"] == "negative"} == {"competitor", "free_email"}
    assert res.total == 0 and res.negative == -115


def test_grade_combines_fit_letter_and_engagement_digit(sr):
    res = score_lead(ideal(), [EngagementEvent("demo_request", NOW), EngagementEvent("pricing_page", NOW)], sr, NOW)
    assert res.grade == "A1"
    assert score_lead(LeadFeatures(), [], sr, NOW).grade == "D4"


def test_crossing_the_threshold_promotes_to_mql(sr):
    res = score_lead(ideal(), [], sr, NOW)
    change = lifecycle_after_scoring("new", res, is_hand_raiser=False, is_competitor=False, threshold=60)
    assert change.to_stage == "mql" and "crossed" in change.cause


def test_hand_raisers_are_fast_tracked_whatever_their_score(sr):
    res = score_lead(LeadFeatures(), [], sr, NOW)
    change = lifecycle_after_scoring("new", res, is_hand_raiser=True, is_competitor=False, threshold=60)
    assert res.total < 60 and change.to_stage == "mql"


def test_competitors_are_disqualified_with_a_reason(sr):
    res = score_lead(ideal(), [], sr, NOW)
    change = lifecycle_after_scoring("new", res, is_hand_raiser=True, is_competitor=True, threshold=60)
    assert (change.to_stage, change.disqualified_reason) == ("disqualified", "competitor")


def test_scoring_never_moves_leads_people_own(sr):
    res = score_lead(ideal(), [], sr, NOW)
    for stage in ("sal", "sql", "opportunity", "won", "lost", "disqualified"):
        assert lifecycle_after_scoring(stage, res, is_hand_raiser=True, is_competitor=False, threshold=0) is None
