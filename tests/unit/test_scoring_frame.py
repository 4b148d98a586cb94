"""The vectorized scorer agrees with the one-lead reference on random leads and events."""
import json
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from leadops.config import load_rules
from leadops.domain.scoring import EngagementEvent, LeadFeatures, score_lead
from leadops.domain.scoring_frame import LEAD_COLUMNS, breakdown_json, breakdowns, score_frame

RULES = load_rules(Path(__file__).resolve().parents[2] / "config").scoring
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
maybe = lambda values: st.one_of(st.none(), st.sampled_from(values))  # noqa: E731

lead = st.fixed_dictionaries({
    "industry": maybe(["Software", "Retail", "Mining", "IT Services"]),
    "employee_band": maybe(["1-10", "51-200", "5001+", "weird"]),
    "revenue_band": maybe(["1-10M", None]),
    "country": maybe(["FR", "DE", "US", "BR"]),
    "seniority": maybe(["c_level", "vp", "manager", "student", "intern", "individual"]),
    "department": maybe(["it", "sales", "hr"]),
    "source": st.sampled_from(["web_form", "demo_request", "import", "webinar"]),
    "job_title": maybe(["CTO", "Open to work - data", "Étudiant", "Head of Sales"]),
    "email_domain": st.sampled_from(["acme.fr", "gmail.com", "rivalleads.com"]),
    "is_free_email": st.booleans(), "is_disposable_email": st.booleans(), "is_competitor": st.booleans(),
    "do_not_contact": st.booleans(), "bounced": st.booleans(),
})
event = st.tuples(st.sampled_from(["pricing_page", "email_click", "webinar_attended", "reply", "unknown", "import",
                                   "demo_request"]),
                  st.floats(min_value=-2, max_value=200))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(lead, st.lists(event, max_size=6)), min_size=1, max_size=12))
def test_frame_scores_equal_the_one_lead_reference(cases):
    leads = pd.DataFrame([c[0] for c in cases], index=range(1, len(cases) + 1), columns=list(LEAD_COLUMNS))
    rows = [{"lead_id": i, "kind": k, "at": NOW - timedelta(days=d)}
            for i, (_, evs) in enumerate(cases, start=1) for k, d in evs]
    events = pd.DataFrame(rows, columns=["lead_id", "kind", "at"])
    scored = score_frame(leads, events, RULES, NOW)
    parts = breakdowns(scored, leads, RULES)
    texts = breakdown_json(scored, leads, RULES)
    for i, (feats, evs) in enumerate(cases, start=1):
        ref = score_lead(LeadFeatures(**feats), [EngagementEvent(k, NOW - timedelta(days=d)) for k, d in evs], RULES, NOW)
        row = scored.loc[i]
        assert (row["fit"], row["engagement"], row["negative"], row["total"], row["grade"]) == pytest_approx(ref)
        assert parts[i] == list(ref.breakdown)
        # the history's JSON, built by column, is exactly the text json.dumps writes for the reference list
        assert texts[i] == json.dumps(parts[i])


def test_breakdown_json_appends_the_extra_entry_and_escapes_labels():
    # a label with a quote and a backslash fires (the rule's default gives it points): its JSON must stay valid
    rules = RULES.model_copy(update={"fit": [RULES.fit[0].model_copy(update={"default": 3.0}), *RULES.fit[1:]]})
    odd = 'Soft"ware\\'
    leads = pd.DataFrame([dict.fromkeys(LEAD_COLUMNS) | {"industry": odd, "source": "web_form",
                                                             "email_domain": "acme.fr"}] * 2,
                         index=[1, 2], columns=list(LEAD_COLUMNS))
    events = pd.DataFrame(columns=["lead_id", "kind", "at"])
    scored = score_frame(leads, events, rules, NOW)
    extra = pd.Series(['{"group": "model", "rule": "p", "points": 1.5}', None], index=[1, 2])
    texts = breakdown_json(scored, leads, rules, extra)
    parts = breakdowns(scored, leads, rules)
    assert {"group": "fit", "rule": f"industry={odd}", "points": 3.0} in parts[2]
    assert json.loads(texts[1]) == [*parts[1], {"group": "model", "rule": "p", "points": 1.5}]
    assert texts[2] == json.dumps(parts[2])


def pytest_approx(ref):
    import pytest

    return (pytest.approx(ref.fit, abs=0.011), pytest.approx(ref.engagement, abs=0.011),
            pytest.approx(ref.negative, abs=0.011), pytest.approx(ref.total, abs=0.011), ref.grade)


def test_breakdown_json_formats_each_distinct_value_once_but_tells_minus_zero_and_blanks_apart():
    # points rounding to -0.0 and 0.0 (json writes "-0.0"), repeated labels and points, None and NaN blanks (both
    # "None"): the text by distinct value is still exactly json.dumps of the reference list
    leads = pd.DataFrame([dict.fromkeys(LEAD_COLUMNS) | {"industry": v, "country": "FR", "source": "web_form",
                                                             "email_domain": "acme.fr"}
                          for v in ("Software", None, float("nan"), "Software")], index=[1, 2, 3, 4],
                         columns=list(LEAD_COLUMNS))
    rules = RULES.model_copy(update={"fit": [RULES.fit[0].model_copy(update={"default": 3.0}), *RULES.fit[1:]]})
    scored = score_frame(leads, pd.DataFrame(columns=["lead_id", "kind", "at"]), rules, NOW)
    scored["cap:fit"] = [-0.001, 0.001, -0.004, 0.0]
    texts = breakdown_json(scored, leads, rules)
    parts = breakdowns(scored, leads, rules)
    assert [texts[i] for i in scored.index] == [json.dumps(parts[i]) for i in scored.index]
    assert '"points": -0.0}' in texts[1] and '"points": 0.0}' in texts[2] and '"rule": "industry=None"' in texts[3]
