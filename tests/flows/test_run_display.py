"""How leadops runs read in the Prefect UI, read back through the Prefect client: run names, final
state messages, one log line per stage without personal data, and numbers formatted for people."""
import re
from datetime import timedelta

from sqlalchemy import func, select

from leadops.flows.display import company_minute
from leadops.db.models import SlaClock
from tests.flows.test_flows import CSV, read_artifact

# what the CSV holds about people: none of it may reach a log line
PERSONAL = ("lea@", "Léa", "Martin", "hans@", "Hans", "Müller", "atelier-numerique", "Atelier", "baeckerei", "Bäckerei")


def read_run(flow_run_id):
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def run_logs(flow_run_id):
    """Return the messages logged by a flow run and its task runs, oldest first."""
    from uuid import UUID

    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)  # logs go to the API in batches: send what is queued
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(str(flow_run_id))])),
                                sort=LogSort.TIMESTAMP_ASC)
    return [log.message for log in logs]


def lead_rows(n: int) -> str:
    """Return a lead file of ``n`` valid rows (one company each) and one row with a bad address."""
    rows = "".join(f"p{i}@firm{i}x.fr,Ana,Roy{i},Firm {i} SAS,CTO,France,demo_request\n" for i in range(n))
    return CSV.splitlines(keepends=True)[0] + rows + "bad-address,No,Body,X,CTO,France,web_form\n"


def test_pipeline_run_is_named_by_its_start_and_ends_with_what_it_did(leadops_env, session, roster):
    from leadops.flows.lead_pipeline import lead_pipeline
    from leadops.flows.results import PipelineSummary

    leadops_env.inbox_dir.mkdir(parents=True)
    (leadops_env.inbox_dir / "webform-1.csv").write_text(CSV, encoding="utf-8")
    out = lead_pipeline()
    assert isinstance(out, PipelineSummary) and out.inserted == 2  # a direct call still returns the summary
    run = read_run(out.flow_run_id)
    assert re.fullmatch(r"lead-pipeline-\d{4}-\d\d-\d\dT\d\d:\d\d", run.name)
    assert run.name == f"lead-pipeline-{company_minute(run.expected_start_time, leadops_env.company_time_zone)}"
    assert run.state.is_completed()
    assert run.state.message == f"2 leads, 1 quarantined, {out.routed} routed" and out.routed >= 1

    logs = run_logs(out.flow_run_id)
    for stage in ("ingest webform-1.csv (source default, leads, done): 3 rows read, 2 inserted, 0 merged, 1 quarantined",
                  "enrich: ", "score (model ", "route: ", "notify: "):
        assert sum(m.startswith(stage) for m in logs) == 1, (stage, logs)
    assert any(re.fullmatch(rf"route: \d+ considered, {out.routed} assigned, .*", m) for m in logs)
    assert any(m.startswith(f"notify: {out.notifications_sent} sent") for m in logs)
    assert run.state.message in logs  # the summary is the run's last word in its logs too
    leaked = [m for m in logs if any(p in m for p in PERSONAL)]
    assert not leaked

    again = lead_pipeline()
    assert read_run(again.flow_run_id).state.message == "inbox empty"


def test_numbers_in_pipeline_artifacts_are_formatted_for_people(leadops_env, session, roster):
    from leadops.flows.lead_pipeline import lead_pipeline

    leadops_env.inbox_dir.mkdir(parents=True)
    (leadops_env.inbox_dir / "big.csv").write_text(lead_rows(1001), encoding="utf-8")
    out = lead_pipeline()
    assert (out.rows_read, out.inserted, out.quarantined) == (1002, 1001, 1)
    summary = read_artifact("lead-pipeline-summary", out.flow_run_id).data
    assert "rows read: **1,002** -> inserted 1,001, merged 0, quarantined 1" in summary
    assert f"{out.scored:,} scored" in summary and "1002" not in summary
    files = read_artifact("lead-pipeline-files", out.flow_run_id).data
    assert '"rows_read": "1,002"' in files.replace("'", '"') and '"inserted": "1,001"' in files.replace("'", '"')
    enrichment = read_artifact("lead-pipeline-enrichment", out.flow_run_id).data.replace("'", '"')
    assert f'"lookups": "{out.enrichment_providers["offline"]["lookups"]:,}"' in enrichment
    assert read_run(out.flow_run_id).state.message.startswith("1,001 leads, 1 quarantined, ")


def test_sla_rescore_and_reprocess_runs_say_what_they_cover(leadops_env, session, roster):
    from leadops.flows.enforce_sla import enforce_sla
    from leadops.flows.lead_pipeline import lead_pipeline
    from leadops.flows.maintenance import quarantine_reprocess
    from leadops.flows.rescore import rescore

    leadops_env.inbox_dir.mkdir(parents=True)
    (leadops_env.inbox_dir / "webform-1.csv").write_text(CSV, encoding="utf-8")
    lead_pipeline()
    at = session.scalar(select(func.min(SlaClock.due_at))) + timedelta(days=7, seconds=30)
    swept = enforce_sla(now=at)
    run = read_run(swept.flow_run_id)
    assert run.name == f"enforce-sla-{company_minute(at, leadops_env.company_time_zone, seconds=True)}"
    assert run.state.message == (f"{swept.open} open clocks: {swept.met} met, {swept.reminded} reminded, "
                                 f"{swept.breached} breached, {swept.reassigned} reassigned")
    assert swept.breached >= 1
    assert any(m.startswith(f"SLA sweep: {swept.open} open clocks,") for m in run_logs(swept.flow_run_id))

    rescored = rescore(sources=["web_form", "demo_request"], arrived_since="2026-01-01")
    run = read_run(rescored.flow_run_id)
    assert run.name == "rescore-source-web_form+demo_request-since-2026-01-01"
    assert run.state.message == (f"{rescored.scoring.scored} leads rescored, {rescored.scoring.changed} changed, "
                                 f"{rescored.routed} routed")
    assert read_run(rescore(lead_ids=[1, 2, 3], route=False).flow_run_id).name == "rescore-3-leads"
    assert read_run(rescore().flow_run_id).name == "rescore-all-open"

    held = quarantine_reprocess()
    run = read_run(held.flow_run_id)
    assert run.name == "quarantine-reprocess-all-sources"
    assert run.state.message == "0 of 1 rows re-admitted, 1 still held"
    assert read_run(quarantine_reprocess(source="webinar").flow_run_id).name == "quarantine-reprocess-webinar"


def test_a_rejected_batch_fails_the_run_with_the_problem_as_its_message(leadops_env, session, roster):
    from leadops.flows.lead_pipeline import lead_pipeline

    leadops_env.inbox_dir.mkdir(parents=True)
    (leadops_env.inbox_dir / "b-sparse.csv").write_text(
        "Email,First Name,Source\n,A,web_form\n,B,web_form\nc@forge.fr,C,web_form\n", encoding="utf-8")
    state = lead_pipeline(return_state=True)
    assert state.is_failed()
    run = read_run(state.state_details.flow_run_id)
    assert run.state.is_failed() and "b-sparse.csv: email fill rate 33% is under the required 80%" in run.state.message
    assert run.name.startswith("lead-pipeline-")


def test_long_stages_show_progress_and_quick_ones_do_not(leadops_env, session, roster, monkeypatch):
    """Ingest, scoring and routing show a progress artifact once they have run PROGRESS_SECONDS, by
    the tasks' clock: a clock 10 s further at every reading makes every stage long (and every
    chunk due), a frozen one keeps them all quick."""
    from itertools import count

    import leadops.services.route as route
    import leadops.services.score as score
    import leadops.tasks.pipeline as pipeline
    from leadops.flows.lead_pipeline import lead_pipeline

    monkeypatch.setenv("LEADOPS_INTAKE_CHUNK_ROWS", "100")
    monkeypatch.setattr(score, "CHUNK", 100)
    monkeypatch.setattr(route, "ROUTE_CHUNK", 100)
    leadops_env.inbox_dir.mkdir(parents=True)
    keys = ("ingest-progress", "scoring-progress", "routing-progress")

    monkeypatch.setattr(pipeline, "_clock", lambda: 1000.0)
    (leadops_env.inbox_dir / "quick.csv").write_text(lead_rows(250), encoding="utf-8")
    quick = lead_pipeline()
    assert quick.inserted == 250 and quick.scored > 100 and quick.routed > 0
    assert [read_artifact(k, quick.flow_run_id) for k in keys] == [None, None, None]

    monkeypatch.setattr(pipeline, "_clock", count(0, 10).__next__)
    import prefect.artifacts

    written = []  # every description written, first (create) and later (update)
    for name in ("create_progress_artifact", "update_progress_artifact"):
        def spy(*args, _real=getattr(prefect.artifacts, name), **kwargs):  # noqa: B008 - binds this loop turn's function
            written.append(kwargs["description"])
            return _real(*args, **kwargs)
        monkeypatch.setattr(prefect.artifacts, name, spy)
    (leadops_env.inbox_dir / "long.csv").write_text(lead_rows(450).replace("@firm", "@long"), encoding="utf-8")
    out = lead_pipeline()
    assert out.inserted == 450 and out.scored > 100 and out.routed > 0
    shown = {k: read_artifact(k, out.flow_run_id) for k in keys}
    assert all(a is not None and float(a.data) == 100.0 for a in shown.values())  # the end is always shown
    assert shown["ingest-progress"].description == "long.csv: 451 of about 451 rows stored"
    assert shown["scoring-progress"].description == f"Leads scored: {out.scored} of {out.scored}"
    assert shown["routing-progress"].description.startswith("MQLs routed: ")
    # chunk by chunk on the way (enrichment's own checkpoints too)
    assert [d for d in written if d.startswith("long.csv")] == [
        "long.csv: 100 of about 451 rows stored", "long.csv: 200 of about 451 rows stored",
        "long.csv: 300 of about 451 rows stored", "long.csv: 400 of about 451 rows stored",
        # under 100% until the file is done (the estimate stays above what is stored), then 100%
        "long.csv: 451 of about 452 rows stored", "long.csv: 451 of about 451 rows stored"]
    assert "Leads scored: 100 of " + str(out.scored) in written
    assert any(re.fullmatch(r"MQLs routed: 100 of \d+ in the queue", d) for d in written)
