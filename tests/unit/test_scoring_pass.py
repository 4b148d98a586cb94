"""Partitioned scoring: cutting the leads and adding the partitions' summaries back up."""
import pytest

from leadops.domain.scoring_pass import ScoreSummary, combine, partitions


def test_partitions_cut_in_order_and_an_empty_selection_is_one_empty_partition():
    assert partitions([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert partitions([7], 20_000) == [[7]]
    assert partitions([], 3) == [[]]


def test_summaries_of_disjoint_partitions_add_up():
    a = ScoreSummary(scored=3, changed=2, promoted_mql=1, model_version="v1", grades={"A1": 2, "B2": 1},
                     stage_changes={"new->mql": 1}, distribution_before={"unscored": 3},
                     distribution_after={"40-60": 2, "60-80": 1})
    b = ScoreSummary(scored=2, changed=2, disqualified=1, nurtured=1, model_version="v1", grades={"A1": 1, "D4": 1},
                     stage_changes={"new->disqualified": 1, "new->nurture": 1}, distribution_before={"unscored": 2},
                     distribution_after={"0-20": 2})
    out = combine([a, b])
    assert (out.scored, out.changed, out.promoted_mql, out.disqualified, out.nurtured) == (5, 4, 1, 1, 1)
    assert out.model_version == "v1"
    assert out.grades == {"A1": 3, "B2": 1, "D4": 1}
    assert out.stage_changes == {"new->disqualified": 1, "new->mql": 1, "new->nurture": 1}
    assert out.distribution_before == {"unscored": 5}
    assert out.distribution_after == {"0-20": 2, "40-60": 2, "60-80": 1}


def test_partitions_scored_with_different_models_are_not_one_pass():
    with pytest.raises(ValueError, match="different model versions"):
        combine([ScoreSummary(model_version="v1"), ScoreSummary(model_version="v2")])


def test_score_bands_count_leads_per_band_and_the_unscored_apart():
    import pandas as pd

    from leadops.domain.scoring_pass import band_counts, band_labels

    assert band_labels() == ["0-20", "20-40", "40-60", "60-80", "80-100", "100+"]
    scores = pd.Series([0.0, 19.99, 20.0, 59.0, 100.0, 130.0, -5.0, None], dtype="float64")
    assert band_counts(scores) == {"0-20": 3, "20-40": 1, "40-60": 1, "100+": 2, "unscored": 1}
    assert band_counts(pd.Series([], dtype="float64")) == {}
