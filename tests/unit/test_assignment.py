"""What an assignment implies: the fields routing matches on, the SLA policy, and the messages' words."""
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypothesis import given, settings as hsettings, strategies as st

from leadops.domain.assignment import (
    PolicyPicker, assignment_message, lead_fields, policy_for, unroutable_body, unroutable_subject,
)

LEAD = {"id": 42, "first_name": "Ana", "last_name": "Silva", "company": "Atelier", "email_domain": "atelier.fr",
        "job_title": "CTO", "country": "FR", "grade": "A2", "employee_band": "201-1000", "is_hand_raiser": None}


@dataclass
class Policy:
    name: str
    when: dict = field(default_factory=dict)


def test_lead_fields_add_segment_fit_grade_and_a_plain_hand_raiser_flag():
    f = lead_fields(LEAD)
    assert (f["segment"], f["fit_grade"], f["is_hand_raiser"]) == ("mid", "A", False)
    assert f["country"] == "FR" and f is not LEAD and "segment" not in LEAD
    unscored = lead_fields({"grade": None, "employee_band": None, "is_hand_raiser": 1})
    assert (unscored["segment"], unscored["fit_grade"], unscored["is_hand_raiser"]) == (None, "D", True)


def test_the_first_matching_policy_applies_and_the_last_is_the_default():
    policies = [Policy("hot", {"is_hand_raiser": [True]}), Policy("enterprise", {"segment": ["enterprise"]}),
                Policy("standard")]
    assert policy_for(lead_fields({**LEAD, "is_hand_raiser": True}), policies).name == "hot"
    assert policy_for(lead_fields({**LEAD, "employee_band": "5001+"}), policies).name == "enterprise"
    assert policy_for(lead_fields(LEAD), policies).name == "standard"
    assert policy_for(lead_fields(LEAD), [Policy("only", {"country": ["DE"]})]).name == "only"


def test_assignment_message_names_the_lead_why_and_the_due_time_in_the_sdrs_zone():
    due = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)
    subject, body = assignment_message(LEAD, reason="rule fr -> pool fr: least loaded", sdr_name="Marc",
                                       sdr_time_zone="Europe/Paris", policy="standard", due=due)
    assert subject == "[leadops] New lead for you: Ana Silva (Atelier)"
    assert body == ("Hello Marc,\n\nLead #42 is yours: Ana Silva, CTO at Atelier (FR), grade A2.\n"
                    "Why you: rule fr -> pool fr: least loaded.\n"
                    "First touch due by Fri 20 Nov 14:30 (Europe/Paris), policy standard.\n")


def test_assignment_message_without_name_title_company_or_country():
    bare = {**LEAD, "first_name": None, "last_name": "", "company": None, "job_title": None, "country": None}
    subject, body = assignment_message(bare, reason="r", sdr_name="Marc", sdr_time_zone="UTC", policy="p",
                                       due=datetime(2026, 11, 20, 9, tzinfo=UTC))
    assert subject == "[leadops] New lead for you: a new lead (atelier.fr)"
    assert "a new lead, title unknown at atelier.fr (country unknown)" in body


def test_unroutable_alert_tells_the_manager_why_and_what_to_do():
    assert unroutable_subject(LEAD) == "[leadops] Lead #42 could not be routed"
    assert unroutable_body("Eve", LEAD, "no rule matched") == (
        "Hello Eve,\n\nLead #42 (Atelier, FR) is in the fallback queue: no rule matched.\n"
        "`leadops explain 42` shows every candidate considered; `leadops reassign 42 --to SDR` assigns it by hand.\n")


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-1, 2), st.sampled_from(["", "A", "B", "FR", "DE", "mid"]))
_KEYS = ["is_hand_raiser", "fit_grade", "country", "segment"]


@hsettings(max_examples=200, deadline=None)
@given(policies=st.lists(st.dictionaries(st.sampled_from(_KEYS), st.lists(_VALUES, max_size=3), max_size=2),
                         min_size=1, max_size=4),
       leads=st.lists(st.dictionaries(st.sampled_from([*_KEYS, "job_title"]), _VALUES), min_size=1, max_size=30))
def test_the_policy_picker_answers_as_policy_for_lead_after_lead(policies, leads):
    rules = [Policy(f"p{i}", when) for i, when in enumerate(policies)]
    pick = PolicyPicker(rules)
    for fields in leads:  # twice each: the second answer comes from what the first one decided
        assert pick(fields) is policy_for(fields, rules)
        assert pick(fields) is policy_for(fields, rules)


_TEXT = st.one_of(st.none(), st.sampled_from(["", "Ana", "O'Brien", "Zoë"]), st.text(max_size=6))


@hsettings(max_examples=200, deadline=None)
@given(first=_TEXT, last=_TEXT, company=_TEXT, title=_TEXT, country=_TEXT, grade=_TEXT, reason=st.text(max_size=10))
def test_the_message_built_from_its_due_line_is_the_one_joined_words_give(first, last, company, title, country, grade,
                                                                         reason):
    lead = {**LEAD, "first_name": first, "last_name": last, "company": company, "job_title": title,
            "country": country, "grade": grade}
    due = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)
    subject, body = assignment_message(lead, reason=reason, sdr_name="Marc", sdr_time_zone="Europe/Paris",
                                       policy="standard", due=due)
    who = " ".join(x for x in (first, last) if x) or "a new lead"  # the words as they were first written
    place = company or lead["email_domain"]
    assert subject == f"[leadops] New lead for you: {who} ({place})"
    assert body == (f"Hello Marc,\n\nLead #42 is yours: {who}, {title or 'title unknown'} at {place} "
                    f"({country or 'country unknown'}), grade {grade}.\nWhy you: {reason}.\n"
                    f"First touch due by Fri 20 Nov 14:30 (Europe/Paris), policy standard.\n")
