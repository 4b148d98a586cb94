"""Stage moves of a scoring pass over whole columns: MQL, nurture, disqualification, and who stays put."""
from datetime import UTC, datetime, timedelta

import pandas as pd

from leadops.domain.lifecycle import Stage
from leadops.domain.scoring import lifecycle_after_scoring, mql_cause, nurture_cause, ScoreResult
from leadops.domain.stage_moves import stage_moves

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
OLD = pd.Timestamp(NOW - timedelta(days=90))
RECENT = pd.Timestamp(NOW - timedelta(days=1))


def frame(rows):
    """rows: (id, stage, total, competitor, hand_raiser, owner, last_touch)."""
    leads = pd.DataFrame([dict(id=r[0], lifecycle_stage=r[1], is_competitor=r[3], is_hand_raiser=r[4], owner_sdr_id=r[5])
                          for r in rows]).set_index("id")
    total = pd.Series([float(r[2]) for r in rows], index=leads.index)
    touch = pd.Series([r[6] for r in rows], index=leads.index)
    return leads, total, touch


def moves(rows, threshold=60.0, days=30.0):
    leads, total, touch = frame(rows)
    return stage_moves(leads, total, touch, threshold=threshold, nurture_after_days=days, now=NOW)


def test_a_score_at_the_threshold_makes_an_mql_and_says_why():
    out = moves([(1, "new", 60, False, False, None, RECENT), (2, "new", 59.5, False, False, None, RECENT)])
    assert list(out.index) == [1]
    assert out.loc[1, "to_stage"] == Stage.MQL and out.loc[1, "from_stage"] == "new"
    assert out.loc[1, "cause"] == "score 60 crossed the MQL threshold 60" and out.loc[1, "disqualified_reason"] is None


def test_hand_raisers_are_fast_tracked_and_competitors_disqualified_first():
    out = moves([(1, "nurture", 5, False, True, None, OLD), (2, "new", 90, True, True, None, RECENT)])
    assert out.loc[1, "to_stage"] == "mql" and "hand-raiser" in out.loc[1, "cause"]
    assert (out.loc[2, "to_stage"], out.loc[2, "disqualified_reason"]) == ("disqualified", "competitor")


def test_untouched_unowned_leads_under_the_threshold_are_nurtured_even_an_unowned_mql():
    out = moves([(1, "new", 10, False, False, None, OLD), (2, "mql", 10, False, False, None, OLD),
                 (3, "recycled", 10, False, False, None, OLD), (4, "new", 10, False, False, None, RECENT),
                 (5, "mql", 10, False, False, 7, OLD)])
    assert sorted(out.index) == [1, 2, 3] and set(out["to_stage"]) == {"nurture"}
    assert out.loc[1, "cause"] == "score 10 under the MQL threshold 60 and no touch for 30 days"


def test_stages_past_the_scorer_never_move_and_no_move_to_the_same_stage():
    out = moves([(1, "sal", 99, True, True, 3, OLD), (2, "sql", 99, False, False, 3, OLD),
                 (3, "mql", 99, False, False, None, RECENT), (4, "nurture", 10, False, False, None, OLD)])
    assert out.empty and list(out.columns) == ["from_stage", "to_stage", "cause", "disqualified_reason"]


def test_the_columns_agree_with_the_one_lead_reference():
    rows = [(i, st, tot, comp, hand, None, RECENT) for i, (st, tot, comp, hand) in enumerate(
        [(st, tot, comp, hand) for st in ("new", "nurture", "recycled", "mql", "sal") for tot in (10, 60, 80)
         for comp in (False, True) for hand in (False, True)])]
    out = moves(rows)
    for i, st, tot, comp, hand, _, _ in rows:
        ref = lifecycle_after_scoring(st, ScoreResult(0, 0, 0, tot, "A", "1"), is_hand_raiser=hand, is_competitor=comp,
                                      threshold=60)
        if ref is None or ref.to_stage == st:
            assert i not in out.index
        else:
            assert (out.loc[i, "to_stage"], out.loc[i, "cause"], out.loc[i, "disqualified_reason"]) == (
                ref.to_stage, ref.cause, ref.disqualified_reason)


def test_causes_are_worded_once_per_distinct_score_and_minus_zero_keeps_its_sign():
    out = moves([(1, "new", 10, False, False, None, OLD), (2, "new", 10, False, False, None, OLD),
                 (3, "new", 0, False, False, None, OLD), (4, "new", 75.5, False, False, None, RECENT)])
    leads, _total, touch = frame([(5, "new", 0, False, False, None, OLD)])
    minus = stage_moves(leads, pd.Series([-0.0], index=leads.index), touch, threshold=60.0, nurture_after_days=30.0,
                        now=NOW)
    assert list(out["cause"]) == [nurture_cause(10.0, 60, 30), nurture_cause(10.0, 60, 30), nurture_cause(0.0, 60, 30),
                                  mql_cause(75.5, 60)]
    assert minus.loc[5, "cause"] == nurture_cause(-0.0, 60, 30) != nurture_cause(0.0, 60, 30)
