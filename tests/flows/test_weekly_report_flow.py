"""The weekly-report flow: a malformed week fails the run first thing, and its artifacts read like the page."""
from __future__ import annotations

import json
from uuid import UUID

import pytest


def _task_runs(flow_run_id):
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(str(flow_run_id))])))


@pytest.mark.parametrize("week", ["banana", "2025-W53", "2026-47"])
def test_a_malformed_week_fails_the_run_before_any_task(week):
    from leadops.flows.weekly_report import weekly_report
    from leadops.domain.metrics import InvalidWeek

    state = weekly_report(week=week, return_state=True)
    assert state.is_failed()
    with pytest.raises(InvalidWeek) as err:
        state.result()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"week = {week!r}: expected an ISO week such as 2026-W47")
    assert _task_runs(state.state_details.flow_run_id) == []  # nothing ran, so nothing was retried


def test_artifacts_show_labels_and_numbers_for_people(leadops_env, session, roster):
    from prefect import get_client

    from leadops.flows.weekly_report import weekly_report
    from tests.flows.test_flows import read_artifact

    out = weekly_report(week="2026-w45")  # lower case is read as the same week
    assert out.week == "2026-W45"
    headline = read_artifact("weekly-report", out.flow_run_id).data
    assert "| Leads arrived | 0 | 0 | +0 |" in headline
    assert "| SLA compliance | — | — | — |" in headline  # no 'None', no 0%
    funnel = json.loads(read_artifact("weekly-report-funnel", out.flow_run_id).data)
    assert funnel[0] == {"step": "leads", "count": "0", "rate_from_previous": "—", "rate_from_top": "—"}
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(out.flow_run_id)
        assert run.name == "weekly-report-2026-W45"
        h = out.headline
        assert run.state.message == f"2026-W45: {h['leads']:,} leads, {h['mqls']:,} MQLs, {h['saos']:,} SAOs"


def test_the_markdown_artifact_has_the_outcome_tables_of_the_page(leadops_env, session):
    from leadops.db.models import Sdr
    from leadops.flows.weekly_report import weekly_report
    from tests.flows.test_flows import read_artifact
    from tests.integration.test_weekly_report import HOSTILE_RULE, OLD_LEADS, WEEK, _add_old_leads

    sdrs = {code: Sdr(code=code, name=name, email=f"{code}@example.com")
            for code, name in (("a.silva", "Ana Silva"), ("b.khan", "Bilal Khan"))}
    session.add_all(sdrs.values())
    session.flush()
    _add_old_leads(session, sdrs)
    session.commit()
    out = weekly_report(week=WEEK)
    markdown = read_artifact("weekly-report", out.flow_run_id).data
    outcomes = markdown.split("## Outcomes", 1)[1]
    enterprise = [lead for lead in OLD_LEADS if lead[0] == "enterprise"]
    won = sum(1 for lead in enterprise if {"sql", "opportunity"} & set(lead[4]))
    assert f"| enterprise | {len(enterprise)} | {won} | {100 * won / len(enterprise):.1f}% | " in outcomes
    assert "| =1+1 &lt;b&gt;smb&lt;/b&gt; | 1 | 0 | 0.0% | 0.0%–" in outcomes and HOSTILE_RULE not in outcomes
    for title in ("By score band", "By grade", "By routing rule (first assignment)", "By SDR (first assignment)"):
        assert f"### {title}" in outcomes
    assert f"{len(OLD_LEADS)} leads" in outcomes and "HTML report:" in outcomes  # the link stays last
