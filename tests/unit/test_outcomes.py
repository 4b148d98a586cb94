"""Outcome feedback's pure parts (leadops/domain/outcomes.py): the Wilson interval, the score a lead is judged by,
and the tables by band, grade, rule and SDR."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from leadops.domain.outcomes import (
    ALL_LEADS, NO_GRADE, NO_RULE, NOT_ROUTED, OutcomeRecord, ScoreBasis, decision_score, evaluate, group_rate,
    wilson_interval,
)
from leadops.domain.scoring_pass import UNSCORED, band_counts, band_labels, band_of

T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)


# --------------------------------------------------------------------------- the interval


@pytest.mark.parametrize("successes, trials, low, high", [
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3 (Wilson)
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_the_wilson_interval_matches_published_values(successes, trials, low, high):
    got = wilson_interval(successes, trials)
    assert got is not None
    assert got[0] == pytest.approx(low, abs=5e-5) and got[1] == pytest.approx(high, abs=5e-5)


def test_no_trial_has_no_rate_and_no_interval():
    assert wilson_interval(0, 0) is None
    g = group_rate("empty", 0, 0)
    assert (g.rate, g.ci_low, g.ci_high) == (None, None, None)


@pytest.mark.parametrize("trials", [1, 2, 10, 1000])
def test_none_of_n_starts_at_zero_and_all_of_n_ends_at_one_with_a_width(trials):
    low, high = wilson_interval(0, trials)
    assert low == 0.0 and 0.0 < high < 1.0
    low, high = wilson_interval(trials, trials)
    assert high == 1.0 and 0.0 < low < 1.0


def test_the_interval_is_symmetric_around_one_half_and_contains_the_rate():
    for trials in (1, 3, 10, 57):
        for successes in range(trials + 1):
            low, high = wilson_interval(successes, trials)
            mirror = wilson_interval(trials - successes, trials)
            assert 0.0 <= low <= successes / trials <= high <= 1.0
            assert (low, high) == pytest.approx((1 - mirror[1], 1 - mirror[0]))


def test_the_interval_narrows_as_the_same_rate_has_more_leads():
    widths = [high - low for low, high in (wilson_interval(n // 5, n) for n in (5, 50, 500, 5000))]
    assert widths == sorted(widths, reverse=True) and widths[-1] < 0.025


@pytest.mark.parametrize("successes, trials", [(-1, 3), (4, 3), (0, -1)])
def test_impossible_counts_are_refused(successes, trials):
    with pytest.raises(ValueError, match="expected 0 <= successes <= trials"):
        wilson_interval(successes, trials)


# --------------------------------------------------------------------------- the score a lead is judged by


def _record(lead_id, score=None, grade=None, *, handoff_at=None, handoff_score=None, handoff_grade=None, rule=None,
            sdr=None):
    return OutcomeRecord(lead_id, T0, "new", score, grade, handoff_at, handoff_score, handoff_grade, rule, sdr)


def test_a_lead_is_judged_by_its_score_at_hand_off_not_its_inflated_current_score():
    r = _record(1, 95.0, "A1", handoff_at=T0, handoff_score=62.0, handoff_grade="B2")
    assert decision_score(r) == (62.0, "B2", ScoreBasis.HANDOFF)


def test_without_a_stored_score_at_hand_off_the_current_score_is_used_and_said():
    assert decision_score(_record(1, 95.0, "A1", handoff_at=T0)) == (95.0, "A1", ScoreBasis.CURRENT)


def test_a_lead_never_handed_to_sales_is_judged_by_its_current_score():
    assert decision_score(_record(1, 12.0, "D4")) == (12.0, "D4", ScoreBasis.NOT_HANDED_OFF)


def test_one_score_falls_in_the_band_band_counts_counts_it_in():
    scores = [-5.0, 0.0, 19.99, 20.0, 59.0, 99.99, 100.0, 130.0]
    counted = band_counts(pd.Series(scores, dtype="float64"))
    assert counted == pd.Series([band_of(s) for s in scores]).value_counts().to_dict()
    assert band_of(None) == band_of(float("nan")) == UNSCORED


# --------------------------------------------------------------------------- the tables


def _scenario():
    """Ten leads: four routed by rule "enterprise" to b.khan (three converted), three by "smb" to a.silva (one),
    one assigned by hand, two never routed (none converted)."""
    later = T0 + timedelta(days=1)
    records = [
        _record(1, 99.0, "A1", handoff_at=later, handoff_score=85.0, handoff_grade="A1", rule="enterprise", sdr="b.khan"),
        _record(2, 90.0, "A1", handoff_at=later, handoff_score=81.0, handoff_grade="A1", rule="enterprise", sdr="b.khan"),
        _record(3, 88.0, "A2", handoff_at=later, handoff_score=84.0, handoff_grade="A2", rule="enterprise", sdr="b.khan"),
        _record(4, 70.0, "B2", handoff_at=later, handoff_score=65.0, handoff_grade="B2", rule="enterprise", sdr="b.khan"),
        _record(5, 66.0, "B2", handoff_at=later, handoff_score=61.0, handoff_grade="B2", rule="smb", sdr="a.silva"),
        _record(6, 64.0, "B3", handoff_at=later, handoff_score=60.0, handoff_grade="B3", rule="smb", sdr="a.silva"),
        _record(7, 45.0, "C3", handoff_at=later, rule="smb", sdr="a.silva"),  # no score stored at hand-off
        _record(8, 70.0, None, handoff_at=later, handoff_score=70.0, rule=None, sdr="a.silva"),  # by hand, no grade
        _record(9, 10.0, "D4"),
        _record(10, None, None),  # never scored
    ]
    return records, {1, 2, 3, 5}


def test_each_table_splits_every_lead_once_and_counts_the_converted():
    records, converted = _scenario()
    out = evaluate(records, converted)
    assert (out.overall.group, out.overall.leads, out.overall.converted, out.overall.rate) == (ALL_LEADS, 10, 4, 0.4)
    for table in (out.by_band, out.by_grade, out.by_rule, out.by_sdr):
        assert sum(g.leads for g in table) == 10 and sum(g.converted for g in table) == 4
        for g in table:
            assert g.ci_low <= g.rate <= g.ci_high and g.rate == g.converted / g.leads
    assert [(g.group, g.leads, g.converted) for g in out.by_band] == [
        ("0-20", 1, 0), ("40-60", 1, 0), ("60-80", 4, 1), ("80-100", 3, 3), (UNSCORED, 1, 0)]
    assert [(g.group, g.leads, g.converted) for g in out.by_grade] == [
        ("A1", 2, 2), ("A2", 1, 1), ("B2", 2, 1), ("B3", 1, 0), ("C3", 1, 0), ("D4", 1, 0), (NO_GRADE, 2, 0)]
    assert [(g.group, g.leads, g.converted) for g in out.by_rule] == [
        ("enterprise", 4, 3), ("smb", 3, 1), (NO_RULE, 1, 0), (NOT_ROUTED, 2, 0)]
    assert [(g.group, g.leads, g.converted) for g in out.by_sdr] == [
        ("a.silva", 4, 1), ("b.khan", 4, 3), (NOT_ROUTED, 2, 0)]
    assert out.score_basis == {"handoff": 7, "current": 1, "not_handed_off": 2}


def test_a_group_of_one_lead_is_kept_with_its_wide_interval():
    records, converted = _scenario()
    one = next(g for g in evaluate(records, converted).by_rule if g.group == NO_RULE)
    assert one.leads == 1 and one.ci_low == 0.0 and one.ci_high > 0.75


def test_no_record_gives_empty_tables_and_an_overall_without_rate():
    out = evaluate([], set())
    assert (out.overall.leads, out.overall.rate, out.by_band, out.by_sdr) == (0, None, [], [])
    assert out.score_basis == {"handoff": 0, "current": 0, "not_handed_off": 0}
    assert band_labels()[0] == "0-20"
