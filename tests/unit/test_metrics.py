"""Weekly report metrics on small hand-made data with hand-computed expectations."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from leadops.domain.metrics import (
    NO_SDR,
    ActivityFact,
    LeadFact,
    OpportunityFact,
    QualityFact,
    activity_by_sdr,
    disqualification_reasons,
    first_touch_hours,
    funnel,
    in_period,
    iso_week_bounds,
    next_week,
    percentile,
    previous_week,
    quality,
    rate,
    results_by_sdr,
    sla_by,
    sla_summary,
    week_of,
)

T0 = datetime(2026, 11, 3, 10, tzinfo=UTC)  # a Tuesday in 2026-W45


def act(sdr, kind, outcome=None, at=T0):
    return ActivityFact(sdr=sdr, kind=kind, outcome=outcome, occurred_at=at, scheduled_for=None)


def lead(lead_id, stage, reached=(), reason=None, **kw):
    return LeadFact(
        lead_id=lead_id,
        source=kw.pop("source", "web_form"),
        arrived_at=kw.pop("arrived_at", T0),
        stage=stage,
        reached=frozenset(reached),
        disqualified_reason=reason,
        **kw,
    )


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def test_rate_is_none_on_zero_denominator():
    assert rate(0, 0) is None
    assert rate(3, 0) is None
    assert rate(0, 4) == 0.0
    assert rate(1, 4) == 0.25


def test_percentile_is_linear_interpolation():
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 0) == 1
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile([1, 2, 3, 4, 13], 90) == pytest.approx(9.4)  # h = 3.6 -> 4 + 0.6 * 9
    assert percentile([5], 90) == 5
    assert percentile([], 50) is None
    values = [0.3, 7.5, 1.25, 2.0, 9.0, 4.4]
    assert percentile(values, 50) == statistics.median(values)
    with pytest.raises(ValueError, match=r"percentile p must be within 0\.\.100, got 101"):
        percentile([1], 101)


def test_in_period_is_half_open():
    start, end = T0, T0 + timedelta(days=7)
    assert in_period(start, start, end)
    assert not in_period(end, start, end)
    assert not in_period(None, start, end)
    assert in_period(T0, None, None)


# --------------------------------------------------------------------------- #
# activity_by_sdr
# --------------------------------------------------------------------------- #
@pytest.fixture
def activities():
    alice = (
        [act("alice", "call", "no_answer")] * 3
        + [act("alice", "call", "connected")] * 2
        + [act("alice", "call", "meeting_booked"), act("alice", "call", "disqualified")]
        + [act("alice", "email", "no_reply")] * 4
        + [act("alice", "email", "replied")] * 2
        + [act("alice", "email", "meeting_booked")]
        + [act("alice", "email", "bounced")] * 2
        + [act("alice", "linkedin")] * 3
        + [act("alice", "meeting", "held"), act("alice", "meeting", "no_show"), act("alice", "meeting", "scheduled")]
    )
    bob = [act("bob", "linkedin")]
    carol = [act("carol", "email", "bounced")] * 2
    return alice + bob + carol


def test_activity_by_sdr_counts_and_rates(activities):
    result = activity_by_sdr(activities)
    assert list(result) == ["alice", "bob", "carol"]
    a = result["alice"]
    assert a["calls"] == 7
    assert (a["calls_no_answer"], a["calls_connected"], a["calls_meeting_booked"], a["calls_disqualified"]) == (3, 2, 1, 1)
    assert a["emails"] == 9
    assert (a["emails_no_reply"], a["emails_replied"], a["emails_meeting_booked"], a["emails_bounced"]) == (4, 2, 1, 2)
    assert a["linkedin"] == 3
    assert a["touches"] == 19
    assert a["meetings_booked"] == 2  # one call + one email
    assert (a["meetings_held"], a["meetings_no_show"], a["meetings_scheduled"]) == (1, 1, 1)
    assert a["connect_rate"] == pytest.approx(4 / 7)  # connected 2 + booked 1 + disqualified 1
    assert a["reply_rate"] == pytest.approx(3 / 7)  # (2 replied + 1 booked) / (9 - 2 bounced)
    assert a["activities_per_meeting"] == pytest.approx(9.5)  # 19 touches / 2 meetings


def test_activity_rates_are_none_not_zero_without_denominator(activities):
    result = activity_by_sdr(activities)
    bob, carol = result["bob"], result["carol"]
    assert bob["calls"] == 0 and bob["connect_rate"] is None
    assert bob["reply_rate"] is None
    assert bob["activities_per_meeting"] is None
    assert carol["emails"] == 2 and carol["reply_rate"] is None  # all bounced


def test_activity_by_sdr_empty():
    assert activity_by_sdr([]) == {}


# --------------------------------------------------------------------------- #
# results_by_sdr
# --------------------------------------------------------------------------- #
def test_results_by_sdr_for_a_week():
    start, end = iso_week_bounds("2026-W45", "UTC")
    before, inside, after = start - timedelta(days=2), start + timedelta(days=1), end + timedelta(hours=1)
    acts = [
        act("alice", "call", "meeting_booked", inside),
        act("alice", "email", "meeting_booked", before),  # previous week
        act("alice", "meeting", "held", inside),
        act("alice", "meeting", "held", inside),
        act("alice", "meeting", "held", before),
        act("bob", "call", "no_answer", inside),
    ]
    opps = [
        OpportunityFact("alice", inside, "open", 10_000.0),
        OpportunityFact("alice", inside, "won", 5_000.0, closed_at=inside),
        OpportunityFact("alice", before, "won", 20_000.0, closed_at=inside),  # revenue, not pipeline
        OpportunityFact("alice", after, "open", 7_000.0),  # next week
        OpportunityFact("bob", inside, "lost", 3_000.0, closed_at=inside),
        OpportunityFact(None, inside, "open", 1_000.0),
    ]
    result = results_by_sdr(acts, opps, start, end)
    assert list(result) == [NO_SDR, "alice", "bob"]
    assert result["alice"] == {
        "meetings_booked": 1,
        "meetings_held": 2,
        "future_meetings": 0,
        "saos": 2,
        "meeting_to_sao_rate": 1.0,
        "pipeline": 15_000.0,
        "won": 2,
        "revenue": 25_000.0,
    }
    assert result["bob"] == {
        "meetings_booked": 0,
        "meetings_held": 0,
        "future_meetings": 0,
        "saos": 1,
        "meeting_to_sao_rate": None,
        "pipeline": 3_000.0,
        "won": 0,
        "revenue": 0.0,
    }
    assert result[NO_SDR]["saos"] == 1 and result[NO_SDR]["pipeline"] == 1_000.0


# --------------------------------------------------------------------------- #
# funnel
# --------------------------------------------------------------------------- #
@pytest.fixture
def funnel_leads():
    return [
        lead(1, "new"),
        lead(2, "mql", {"mql"}),
        lead(3, "disqualified", {"mql", "disqualified"}, reason="out_of_icp"),
        lead(4, "sal", {"mql", "sal"}),
        lead(5, "sql", {"mql", "sal", "sql"}),
        lead(6, "opportunity", {"mql", "sal", "sql", "opportunity"}),
        lead(7, "won", {"mql", "sal", "sql", "opportunity", "won"}),
        lead(8, "lost", {"mql", "sal", "sql", "opportunity", "lost"}),
        lead(9, "sal", {"sal"}),  # skipped MQL (demo request): still counted as MQL
        lead(10, "nurture", {"nurture"}),
    ]


def test_funnel_counts_and_conversion_rates(funnel_leads):
    rows = funnel(funnel_leads)
    assert [r["step"] for r in rows] == ["leads", "mql", "sal", "sql", "opportunity", "won"]
    assert [r["count"] for r in rows] == [10, 8, 6, 4, 3, 1]
    assert [r["rate_from_top"] for r in rows] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.3, 0.1])
    assert rows[0]["rate_from_previous"] is None
    assert [r["rate_from_previous"] for r in rows[1:]] == pytest.approx([0.8, 0.75, 4 / 6, 0.75, 1 / 3])


def test_funnel_current_stage_counts_as_reached():
    rows = funnel([lead(1, "sql", reached=())])
    assert [r["count"] for r in rows] == [1, 1, 1, 1, 0, 0]
    assert rows[4]["rate_from_previous"] == 0.0
    assert rows[5]["rate_from_previous"] is None  # 0 / 0


def test_funnel_without_leads_has_no_invented_rates():
    rows = funnel([])
    assert [r["count"] for r in rows] == [0] * 6
    assert all(r["rate_from_top"] is None and r["rate_from_previous"] is None for r in rows)


# --------------------------------------------------------------------------- #
# disqualification reasons
# --------------------------------------------------------------------------- #
def test_disqualification_reasons_are_ranked_with_shares():
    leads = (
        [lead(i, "disqualified", {"disqualified"}, reason="out_of_icp") for i in range(3)]
        + [lead(10 + i, "disqualified", {"disqualified"}, reason="competitor") for i in range(3)]
        + [lead(20, "disqualified", {"disqualified"}, reason="no_budget")]
        + [lead(21, "nurture", {"disqualified", "nurture"}, reason="student")]  # recycled later
        + [lead(22, "disqualified", set(), reason=None)]
        + [lead(23, "mql", {"mql"}, reason="junk")]  # not disqualified: ignored
    )
    assert disqualification_reasons(leads) == [
        {"reason": "competitor", "count": 3, "share": pytest.approx(3 / 9)},
        {"reason": "out_of_icp", "count": 3, "share": pytest.approx(3 / 9)},
        {"reason": "no_budget", "count": 1, "share": pytest.approx(1 / 9)},
        {"reason": "student", "count": 1, "share": pytest.approx(1 / 9)},
        {"reason": "unspecified", "count": 1, "share": pytest.approx(1 / 9)},
    ]
    assert disqualification_reasons([]) == []


# --------------------------------------------------------------------------- #
# SLA
# --------------------------------------------------------------------------- #
def _sla_lead(i, assigned_after_h, touched_after_h, met):
    assigned = None if assigned_after_h is None else T0 + timedelta(hours=assigned_after_h)
    touched = None if touched_after_h is None else assigned + timedelta(hours=touched_after_h)
    return lead(i, "sal", {"mql", "sal"}, owner="alice", assigned_at=assigned, first_touch_at=touched, sla_met=met)


def test_sla_summary_separates_system_and_human_delay():
    leads = [
        _sla_lead(1, 0.1, 1, True),
        _sla_lead(2, 0.5, 2, True),
        _sla_lead(3, 1, 3, False),
        _sla_lead(4, 2, 8, False),
        _sla_lead(5, 0, None, False),  # assigned instantly, never touched: missed
        _sla_lead(6, None, None, None),  # not assigned yet: no SLA outcome
    ]
    s = sla_summary(leads)
    assert (s["sla_leads"], s["sla_met"], s["sla_missed"]) == (5, 2, 3)
    assert s["sla_compliance"] == pytest.approx(0.4)
    # human delay (assignment -> first touch): [1, 2, 3, 8]
    assert s["first_touch_count"] == 4
    assert s["first_touch_median_hours"] == pytest.approx(2.5)
    assert s["first_touch_p90_hours"] == pytest.approx(6.5)  # h = 2.7 -> 3 + 0.7 * 5
    # system delay (arrival -> assignment): [0, 0.1, 0.5, 1, 2]
    assert s["system_delay_count"] == 5
    assert s["system_delay_median_hours"] == pytest.approx(0.5)
    assert s["system_delay_p90_hours"] == pytest.approx(1.6)  # h = 3.6 -> 1 + 0.6 * 1
    assert sorted(first_touch_hours(leads)) == pytest.approx([1, 2, 3, 8])


def test_sla_summary_without_data_is_none_not_zero():
    s = sla_summary([lead(1, "new")])
    assert s["sla_leads"] == 0
    assert s["sla_compliance"] is None
    assert s["first_touch_median_hours"] is None and s["first_touch_p90_hours"] is None
    assert s["system_delay_median_hours"] is None


def test_first_touch_before_assignment_is_left_out():
    bad = lead(1, "sal", assigned_at=T0, first_touch_at=T0 - timedelta(hours=1), sla_met=True)
    assert first_touch_hours([bad]) == []


# --------------------------------------------------------------------------- #
# quality
# --------------------------------------------------------------------------- #
def test_quality_rates_per_source_and_enrichment():
    facts = [
        QualityFact("web_form", 100, 5),
        QualityFact("web_form", 50, 1),
        QualityFact("csv_upload", 0, 0),
        QualityFact("trade_show", 40, 10),
    ]
    q = quality(facts, enriched=30, enrich_attempted=40)
    assert q["sources"] == [
        {"source": "csv_upload", "rows_read": 0, "quarantined": 0, "quarantine_rate": None},
        {"source": "trade_show", "rows_read": 40, "quarantined": 10, "quarantine_rate": 0.25},
        {"source": "web_form", "rows_read": 150, "quarantined": 6, "quarantine_rate": pytest.approx(0.04)},
    ]
    assert q["total"] == {"rows_read": 190, "quarantined": 16, "quarantine_rate": pytest.approx(16 / 190)}
    assert q["enrichment_match_rate"] == 0.75
    assert quality([], 0, 0)["enrichment_match_rate"] is None
    assert quality([], 0, 0)["total"]["quarantine_rate"] is None


# --------------------------------------------------------------------------- #
# ISO weeks
# --------------------------------------------------------------------------- #
def test_iso_week_bounds_in_paris():
    start, end = iso_week_bounds("2026-W45", "Europe/Paris")
    assert start == datetime(2026, 11, 1, 23, tzinfo=UTC)  # Monday 2 Nov 00:00 CET
    assert end == datetime(2026, 11, 8, 23, tzinfo=UTC)
    assert start.tzinfo is UTC


def test_iso_week_53_exists_in_2026_and_spans_the_year_end():
    start, end = iso_week_bounds("2026-W53", "Europe/Paris")
    assert start == datetime(2026, 12, 27, 23, tzinfo=UTC)  # Monday 28 Dec local
    assert end == datetime(2027, 1, 3, 23, tzinfo=UTC)  # Monday 4 Jan local


@pytest.mark.parametrize("week", ["2025-W53", "2026-W54", "2026-W00"])
def test_nonexistent_iso_weeks_raise(week):
    with pytest.raises(ValueError, match="does not exist"):
        iso_week_bounds(week, "Europe/Paris")


def test_2025_w53_message_says_how_many_weeks():
    with pytest.raises(ValueError, match="ISO year 2025 has 52 weeks"):
        iso_week_bounds("2025-W53", "UTC")


@pytest.mark.parametrize("week", ["2026-45", "2026W45", "26-W45", "2026-W5", ""])
def test_malformed_weeks_raise(week):
    with pytest.raises(ValueError, match="expected an ISO week such as 2026-W47"):
        iso_week_bounds(week, "UTC")


def test_unknown_time_zone_raises():
    with pytest.raises(ValueError, match="unknown IANA time zone 'Nowhere/Special'"):
        iso_week_bounds("2026-W45", "Nowhere/Special")


def test_weeks_with_dst_changes_are_167_or_169_hours():
    s, e = iso_week_bounds("2026-W13", "Europe/Paris")  # contains 29 March
    assert e - s == timedelta(hours=167)
    s, e = iso_week_bounds("2026-W44", "America/New_York")  # contains 1 November
    assert s == datetime(2026, 10, 26, 4, tzinfo=UTC)
    assert e == datetime(2026, 11, 2, 5, tzinfo=UTC)
    assert e - s == timedelta(hours=169)


def test_previous_and_next_week_across_year_ends():
    assert previous_week("2026-W45") == "2026-W44"
    assert previous_week("2027-W01") == "2026-W53"
    assert previous_week("2026-W01") == "2025-W52"
    assert next_week("2026-W53") == "2027-W01"
    assert next_week("2025-W52") == "2026-W01"
    with pytest.raises(ValueError, match="ISO year 2025 has 52 weeks"):
        previous_week("2025-W53")


def test_week_of_uses_the_report_time_zone():
    late_sunday_utc = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)  # Monday 00:30 in Paris
    assert week_of(late_sunday_utc, "Europe/Paris") == "2026-W45"
    assert week_of(late_sunday_utc, "UTC") == "2026-W44"
    assert week_of(datetime(2027, 1, 1, 12, tzinfo=UTC), "Europe/Paris") == "2026-W53"
    assert week_of(datetime(2024, 12, 30, 12, tzinfo=UTC), "UTC") == "2025-W01"
    with pytest.raises(ValueError, match="naive"):
        week_of(datetime(2026, 11, 2), "UTC")  # noqa: DTZ001 - the naive input under test


def test_week_of_and_bounds_round_trip():
    for week in ["2026-W01", "2026-W13", "2026-W44", "2026-W53", "2027-W01"]:
        start, end = iso_week_bounds(week, "America/New_York")
        assert week_of(start, "America/New_York") == week
        assert week_of(end - timedelta(seconds=1), "America/New_York") == week
        assert week_of(end, "America/New_York") == next_week(week)


def test_sla_by_owner_and_source_separates_system_and_human_delay():
    leads = [
        lead(1, "mql", owner="alice", source="web_form", assigned_at=T0 + timedelta(hours=1),
             first_touch_at=T0 + timedelta(hours=3), sla_met=True),
        lead(2, "mql", owner="alice", source="webinar", assigned_at=T0 + timedelta(hours=2),
             first_touch_at=T0 + timedelta(hours=12), sla_met=False),
        lead(3, "mql", owner="bob", source="web_form", assigned_at=T0, sla_met=None),
        lead(4, "new", source="webinar"),
    ]
    by_sdr = {r["sdr"]: r for r in sla_by([f for f in leads if f.owner], "owner")}
    assert by_sdr["alice"]["sla_compliance"] == 0.5 and by_sdr["alice"]["sla_leads"] == 2
    assert by_sdr["alice"]["first_touch_median_hours"] == pytest.approx(6.0)  # human delay: 2 h and 10 h
    assert by_sdr["alice"]["system_delay_median_hours"] == pytest.approx(1.5)  # arrival -> assignment: 1 h and 2 h
    assert by_sdr["bob"]["sla_compliance"] is None  # nothing decided yet
    by_source = {r["source"]: r for r in sla_by(leads, "source")}
    assert set(by_source) == {"web_form", "webinar"} and by_source["webinar"]["sla_missed"] == 1


def test_sales_rejected_rate_counts_leads_sent_back_after_sal():
    from leadops.domain.metrics import sales_rejected

    leads = [lead(1, "recycled", reached=("mql", "sal")), lead(2, "sql", reached=("mql", "sal")),
             lead(3, "disqualified", reached=("mql", "sal", "sql")), lead(4, "mql", reached=("mql",)),
             lead(5, "nurture", reached=("sal",))]
    assert sales_rejected(leads) == {"sal": 4, "srl": 2, "srl_rate": 0.5}
    assert sales_rejected([]) == {"sal": 0, "srl": 0, "srl_rate": None}


def test_future_meetings_are_those_booked_in_the_week_still_ahead():
    end = T0 + timedelta(days=5)
    acts = [ActivityFact("alice", "meeting", "scheduled", T0, end + timedelta(days=2)),
            ActivityFact("alice", "meeting", "scheduled", T0, T0 + timedelta(days=1)),  # already past at week end
            ActivityFact("alice", "meeting", "held", T0, T0)]
    row = results_by_sdr(acts, [], T0 - timedelta(days=1), end)["alice"]
    assert (row["future_meetings"], row["meetings_held"]) == (1, 1)


def test_sales_rejected_sal_is_the_funnels_sal_step_even_when_a_stage_was_skipped():
    from leadops.domain.metrics import sales_rejected

    leads = [lead(1, "sql", reached=("sql",)),  # accepted straight to SQL: it passed SAL
             lead(2, "opportunity", reached=("opportunity",)),
             lead(3, "lost", reached=("mql", "sal")),  # sent back before SQL
             lead(4, "mql", reached=("mql",))]
    sal_step = next(r["count"] for r in funnel(leads) if r["step"] == "sal")
    assert sales_rejected(leads) == {"sal": sal_step, "srl": 1, "srl_rate": 1 / 3} and sal_step == 3


@pytest.mark.parametrize("step, expected", [("leads", True), ("mql", True), ("sal", True), ("sql", True),
                                            ("opportunity", False), ("won", False)])
def test_reached_step_counts_later_steps_as_reached(step, expected):
    from leadops.domain.metrics import reached_step

    assert reached_step(lead(1, "recycled", reached=("sql",)), step) is expected


def test_reached_step_rejects_an_unknown_step():
    from leadops.domain.metrics import reached_step

    with pytest.raises(ValueError, match="unknown funnel step 'mqls'"):
        reached_step(lead(1, "new"), "mqls")


@pytest.mark.parametrize("value, expected", [("2026-W47", "2026-W47"), (" 2026-w47 ", "2026-W47"),
                                             ("2026-W53", "2026-W53"), ("2027-W01", "2027-W01")])
def test_parse_iso_week_returns_the_canonical_week(value, expected):
    from leadops.domain.metrics import parse_iso_week

    assert parse_iso_week(value) == expected


@pytest.mark.parametrize("value", ["banana", "", "2026-47", "2026-W5", "W47", None, 202647])
def test_parse_iso_week_error_names_parameter_value_and_form_on_one_line(value):
    from leadops.domain.metrics import InvalidWeek, parse_iso_week

    with pytest.raises(InvalidWeek) as err:
        parse_iso_week(value)
    assert str(err.value) == f"week = {value!r}: expected an ISO week such as 2026-W47"
    assert isinstance(err.value, ValueError)


def test_parse_iso_week_says_when_a_well_formed_week_does_not_exist():
    from leadops.domain.metrics import InvalidWeek, parse_iso_week

    with pytest.raises(InvalidWeek) as err:
        parse_iso_week("2025-W53", "from_week")
    assert str(err.value) == ("from_week = '2025-W53': expected an ISO week such as 2026-W47; "
                              "2025-W53 does not exist (ISO year 2025 has 52 weeks)")


def test_an_included_sdr_without_activity_has_zero_counts_and_no_rates():
    row = activity_by_sdr([act("alice", "call", "connected")], include=["bob"])["bob"]
    assert (row["calls"], row["emails"], row["touches"], row["meetings_booked"]) == (0, 0, 0, 0)
    assert row["connect_rate"] is None and row["reply_rate"] is None
    assert list(activity_by_sdr([act("alice", "call")])) == ["alice"]  # nobody is added unasked
