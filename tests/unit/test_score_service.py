"""The scoring pass (leadops/services/score.py) on an in-memory unit of work, with config/scoring.yaml
(MQL threshold 60; Software, 201-1000, FR, c_level, it: a full fit score; an import of nobody known: 0)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadops.domain.lifecycle import Stage
from leadops.services.score import rescore_filter, score_open_leads, select_for_scoring
from tests.support.fake_scoring import FakeScoringRepository, lead_row
from tests.support.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HOT, COLD = 1, 2


@pytest.fixture
def scoring():
    arrived = NOW - timedelta(hours=1)
    return FakeScoringRepository(rows={
        HOT: lead_row(arrived, industry="Software", employee_band="201-1000", country="FR", seniority="c_level",
                      department="it"),
        COLD: lead_row(arrived, source="import"),
    })


@pytest.fixture
def uow(scoring):
    return FakeUnitOfWork(scoring=scoring)


def test_scoring_two_leads_writes_two_scores_with_breakdowns_and_moves_the_one_over_the_threshold(uow, scoring, rules):
    out = score_open_leads(uow, rules, now=NOW, flow_run_id="run-1")

    assert (out.scored, out.changed, out.promoted_mql) == (2, 2, 1)
    assert out.stage_changes == {"new->mql": 1} and out.model_version == rules.scoring.version
    assert [h.lead_id for h in scoring.history] == [HOT, COLD]
    hot = scoring.history[0]
    assert hot.total >= rules.scoring.mql_threshold and hot.flow_run_id == "run-1" and hot.scored_at == NOW
    assert {p["rule"] for p in hot.breakdown if p["group"] == "fit"} >= {"industry=Software", "country=FR"}
    assert scoring.rows[HOT]["lifecycle_stage"] == Stage.MQL.value
    assert scoring.rows[COLD]["lifecycle_stage"] == Stage.NEW.value and scoring.rows[COLD]["score"] == 0.0
    [move] = scoring.stage_history
    assert (move.lead_id, move.from_stage, move.to_stage, move.changed_at) == (HOT, "new", "mql", NOW)
    assert scoring.locks == 1  # the routing lock: scoring moves stages routing reads
    assert uow.commits == 0  # the caller commits


def test_a_second_pass_finds_nothing_changed_and_a_rescore_writes_no_history_for_the_same_scores(uow, scoring, rules):
    score_open_leads(uow, rules, now=NOW)
    again = score_open_leads(uow, rules, now=NOW)
    assert (again.scored, again.changed) == (0, 0)

    rescore = score_open_leads(uow, rules, now=NOW, only_changed=False)
    assert (rescore.scored, rescore.changed, rescore.promoted_mql) == (2, 0, 0)
    assert len(scoring.history) == 2 and len(scoring.stage_history) == 1
    assert rescore.distribution_before == rescore.distribution_after
    assert uow.commits == 0


def test_engagement_since_the_last_score_selects_the_lead_again(uow, scoring, rules):
    score_open_leads(uow, rules, now=NOW)
    scoring.acts.append((COLD, "web", "pricing_page", NOW + timedelta(minutes=5)))
    assert score_open_leads(uow, rules, now=NOW + timedelta(minutes=1)).scored == 0  # not due yet
    out = score_open_leads(uow, rules, now=NOW + timedelta(minutes=10))
    assert (out.scored, out.changed) == (1, 1)
    assert scoring.rows[COLD]["engagement_score"] > 0


def test_a_competitor_is_disqualified_and_a_lead_untouched_for_long_goes_to_nurture(rules):
    old = NOW - timedelta(days=rules.scoring.nurture_after_days + 1)
    scoring = FakeScoringRepository(rows={
        1: lead_row(NOW, is_competitor=True, email_domain="rivalleads.com"),
        2: lead_row(old, source="import"),
    })
    out = score_open_leads(FakeUnitOfWork(scoring=scoring), rules, now=NOW)
    assert (out.disqualified, out.nurtured) == (1, 1)
    assert scoring.rows[1]["lifecycle_stage"] == Stage.DISQUALIFIED.value and scoring.rows[1]["disqualified_reason"]
    assert scoring.rows[2]["lifecycle_stage"] == Stage.NURTURE.value


def test_a_rescore_filter_narrows_the_selection(uow, scoring, rules):
    assert rescore_filter() is None and rescore_filter([], [], None) is None
    assert select_for_scoring(uow, only_changed=False, where=rescore_filter(sources=["import"])) == [COLD]
    assert select_for_scoring(uow, only_changed=False, where=rescore_filter(stages=["mql"])) == []
    assert select_for_scoring(uow, only_changed=False, lead_ids=[HOT]) == [HOT]
    assert select_for_scoring(uow, where=rescore_filter(arrived_since=NOW)) == []


def test_progress_is_reported_chunk_by_chunk(uow, rules, monkeypatch):
    import leadops.services.score as score

    monkeypatch.setattr(score, "CHUNK", 1)
    seen: list[tuple[int, int]] = []
    score_open_leads(uow, rules, now=NOW, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
