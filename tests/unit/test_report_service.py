"""The weekly report's orchestration (leadops/services/report.py) on an in-memory unit of work.

A handful of facts in 2026-W47 (Paris) and one lead the week before: the service loads them through
``uow.reporting``, writes the files, records one report run per build of the week (none for the weeks
it only reads for the comparison and the trend), queues the email once per week and recipient through
``uow.outbox`` and never commits.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leadops.domain.lifecycle import Stage
from leadops.domain.metrics import ActivityFact, LeadFact, OpportunityFact, QualityFact, iso_week_bounds
from leadops.domain.outcomes import OutcomeRecord
from leadops.services.report import build_weekly_report, display_labels, queue_report_email, report_email_key
from tests.support.fake_leads import FakeLeadRepository
from tests.support.fake_outbox import FakeOutboxRepository
from tests.support.fake_reporting import FakeReportingRepository
from tests.support.fakes import FakeUnitOfWork

TZ = "Europe/Paris"
WEEK = "2026-W47"
START, END = iso_week_bounds(WEEK, TZ)
TUESDAY = START + timedelta(days=1, hours=9)
LAST_WEEK = START - timedelta(days=5)


def _lead(lead_id, stage, reached, at=TUESDAY, **kw):
    return LeadFact(lead_id, "web_form", at, stage, frozenset(reached | {stage}), **kw)


@pytest.fixture
def reporting() -> FakeReportingRepository:
    return FakeReportingRepository(
        names={"a.silva": "Ana Silva", "a.silva2": "Ana Silva", "b.khan": "Bilal Khan"},
        activity_facts=[ActivityFact("a.silva", "call", "connected", TUESDAY),
                        ActivityFact("b.khan", "call", "meeting_booked", TUESDAY),
                        ActivityFact("b.khan", "meeting", "held", TUESDAY),
                        ActivityFact("a.silva", "web", None, TUESDAY)],  # a page view: not an SDR activity
        lead_facts=[_lead(1, Stage.SAL, {Stage.MQL}, owner="a.silva", assigned_at=TUESDAY,
                          first_touch_at=TUESDAY + timedelta(hours=2), sla_met=True),
                    _lead(2, Stage.NEW, set(), owner="b.khan", assigned_at=TUESDAY, sla_met=False),
                    _lead(3, Stage.DISQUALIFIED, {Stage.MQL}, disqualified_reason="student"),
                    _lead(4, Stage.MQL, set(), at=LAST_WEEK)],
        opportunity_facts=[OpportunityFact("b.khan", TUESDAY, "open", 5000.0)],
        batches=[(TUESDAY, QualityFact("web_form", 40, 2))],
        enrichment={1: "enriched", 2: "miss", 3: "skipped"},
        sla_events=[(TUESDAY, "breach"), (TUESDAY, "reassign"), (TUESDAY, "reminder"), (LAST_WEEK, "breach")],
    )


@pytest.fixture
def uow(reporting: FakeReportingRepository) -> FakeUnitOfWork:
    return FakeUnitOfWork(reporting=reporting, outbox=FakeOutboxRepository(), leads=FakeLeadRepository())


def test_the_headline_is_computed_from_the_weeks_facts(uow, tmp_path):
    res = build_weekly_report(uow, WEEK, TZ, tmp_path)
    assert res.headline["leads"] == 3 and res.headline["mqls"] == 2  # the funnel's MQL step: MQL or later
    assert res.headline["activities"] == 3 and res.headline["meetings_booked"] == 1
    assert res.headline["saos"] == 1 and res.headline["pipeline"] == 5000.0
    assert res.headline["sla_compliance"] == 0.5
    assert res.previous["leads"] == 1


def test_the_outcomes_judge_the_leads_old_enough_at_the_weeks_end_not_at_build_time(uow, reporting, tmp_path):
    def lead(lead_id, days_before_end, stage):
        at = END - timedelta(days=days_before_end)
        return OutcomeRecord(lead_id, at, stage, 95.0, "A1", handoff_at=at, handoff_score=55.0, handoff_grade="C1",
                             rule="enterprise", sdr="a.silva")

    reporting.outcome_facts = [lead(10, 15, "sql"), lead(11, 20, "recycled"), lead(12, 13, "sql"),  # 13 days: too young
                               lead(13, 7 * 8 + 1, "sql")]  # before the 8 weeks
    uow.leads.stages = {11: {"mql", "sal"}}
    res = build_weekly_report(uow, WEEK, TZ, tmp_path)
    out = res.outcomes
    assert (out["leads"], out["converted"]) == (2, 1) and out["evaluated_at"] == END.isoformat()
    assert [(r["group"], r["leads"]) for r in out["by_band"]] == [("40-60", 2)]  # the score at hand-off, not 95
    assert [(r["group"], r["sdr_code"]) for r in out["by_sdr"]] == [("Ana Silva (a.silva)", "a.silva")]
    rows = Path(res.csv_paths[-1]).read_text(encoding="utf-8-sig").splitlines()
    assert rows[0] == "table,group,sdr_code,leads,converted,conversion_rate,ci_low,ci_high"
    assert rows[1].startswith("overall,All leads,,2,1,0.5,")


def test_a_build_records_one_report_run_for_its_week(uow, reporting, tmp_path):
    res = build_weekly_report(uow, WEEK, TZ, tmp_path, flow_run_id="run-1")
    [run] = reporting.runs  # the previous week and the trend are read, not recorded
    assert (run.week, run.period_start, run.period_end, run.flow_run_id) == (WEEK, START, END, "run-1")
    assert run.html_path == res.html_path and res.report_run_id == 1
    assert run.headline["leads"] == 3.0 and isinstance(run.headline["leads"], float)  # JSON numbers


def test_a_rebuild_writes_the_same_files_and_records_its_own_run(uow, reporting, tmp_path):
    first = build_weekly_report(uow, " 2026-w47 ", TZ, tmp_path)
    files = {p: Path(p).read_bytes() for p in (first.html_path, *first.csv_paths)}
    again = build_weekly_report(uow, WEEK, TZ, tmp_path)
    assert {p: Path(p).read_bytes() for p in (again.html_path, *again.csv_paths)} == files
    assert again.headline == first.headline
    assert [r.week for r in reporting.runs] == [WEEK, WEEK]  # each build is a row of report_runs
    assert [r.headline for r in reporting.runs] == [reporting.runs[0].headline] * 2


def test_the_sla_box_counts_the_weeks_breaches_and_reassignments(uow, tmp_path):
    page = Path(build_weekly_report(uow, WEEK, TZ, tmp_path).html_path).read_text(encoding="utf-8")
    assert ">Breaches</th><td class=\"num\">1</td>" in page
    assert ">Reassignments</th><td class=\"num\">1</td>" in page


def test_sdrs_sharing_a_name_show_their_code():
    assert display_labels({"a.silva": "Ana Silva", "a.silva2": "Ana Silva ", "b.khan": "Bilal Khan", "x": None}) == {
        "a.silva": "Ana Silva (a.silva)", "a.silva2": "Ana Silva (a.silva2)", "b.khan": "Bilal Khan", "x": "x"}


def test_the_report_email_is_queued_once_per_week_and_recipient(uow, tmp_path):
    res = build_weekly_report(uow, WEEK, TZ, tmp_path)
    to = ["ops@example.com", "cro@example.com"]
    assert queue_report_email(uow, WEEK, res.html_path, to) == 2
    assert queue_report_email(uow, WEEK, res.html_path, to) == 0  # a rerun of the flow queues nothing more
    queued = uow.outbox.messages
    assert sorted(queued) == [f"report:{WEEK}:cro@example.com", f"report:{WEEK}:ops@example.com"]
    message = queued[f"report:{WEEK}:ops@example.com"]
    assert (message.kind, message.subject) == ("weekly_report", f"[leadops] Weekly report {WEEK}")
    assert message.body == Path(res.html_path).read_text(encoding="utf-8")


def test_a_resend_queues_again_under_a_key_of_its_own(uow, tmp_path):
    res = build_weekly_report(uow, WEEK, TZ, tmp_path)
    queue_report_email(uow, WEEK, res.html_path, ["ops@example.com"])
    now = datetime(2026, 11, 30, 8, 0, 5, tzinfo=UTC)
    assert queue_report_email(uow, WEEK, res.html_path, ["ops@example.com"], resend=True, now=now) == 1
    assert report_email_key(WEEK, "ops@example.com", now) == f"report:{WEEK}:ops@example.com:20261130T080005"
    assert report_email_key(WEEK, "ops@example.com", now) in uow.outbox.messages


def test_the_service_never_commits(uow, tmp_path):
    res = build_weekly_report(uow, WEEK, TZ, tmp_path)
    queue_report_email(uow, WEEK, res.html_path, ["ops@example.com"])
    assert (uow.commits, uow.rollbacks) == (0, 0)


def test_a_malformed_week_fails_before_anything_is_read_or_written(uow, reporting, tmp_path):
    with pytest.raises(ValueError, match=r"^week = 'banana': expected an ISO week such as 2026-W47$"):
        build_weekly_report(uow, "banana", TZ, tmp_path / "reports")
    assert not (tmp_path / "reports").exists() and reporting.runs == []
