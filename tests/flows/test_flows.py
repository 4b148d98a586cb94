"""The three flows under the Prefect test harness, on SQLite and PostgreSQL."""
import itertools
from datetime import datetime, timedelta, UTC
from pathlib import Path

from sqlalchemy import func, select

from leadops.db.models import Assignment, Lead, Notification, Quarantine, ReportRun, SlaClock

CSV = (
    "Email,First Name,Last Name,Company,Job Title,Country,Source\n"
    "lea@atelier-numerique.fr,Léa,Martin,Atelier Numérique SAS,DSI,France,demo_request\n"
    "hans@baeckerei-software.de,Hans,Müller,Bäckerei Software GmbH,CTO,Deutschland,contact_sales\n"
    "bad-address,No,Body,X,CTO,France,web_form\n"
)


def read_artifact(key, flow_run_id):
    """Return the artifact ``key`` created by one flow run, or None."""
    from uuid import UUID

    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)])))
    return found[0] if found else None


def test_pipeline_flow_ingests_routes_and_notifies(leadops_env, session, roster):
    from leadops.flows.lead_pipeline import lead_pipeline
    from leadops.flows.results import SourceCounts

    leadops_env.inbox_dir.mkdir(parents=True)
    (leadops_env.inbox_dir / "webform-1.csv").write_text(CSV, encoding="utf-8")
    out = lead_pipeline()
    assert (out.files, out.rows_read, out.inserted, out.quarantined) == (1, 3, 2, 1)
    assert out.per_source == {"default": SourceCounts(files=1, rejected=0, rows_read=3, inserted=2, merged=0, quarantined=1)}
    assert out.as_dict()["per_source"] == {"default": {"files": 1, "rejected": 0, "rows_read": 3, "inserted": 2, "merged": 0,
                                                       "quarantined": 1}}  # the JSON shape `leadops run pipeline --json` prints
    assert out.routed == 2 and out.notifications_sent == 2 and out.flow_run_id
    assert session.scalar(select(func.count()).select_from(Assignment).where(Assignment.active)) == 2
    assert session.scalar(select(func.count()).select_from(Quarantine)) == 1
    assert not list(leadops_env.inbox_dir.glob("*.csv"))  # moved out of the inbox
    assert (leadops_env.var_dir / "processed" / "webform-1.csv.result.json").exists()
    assert len(list(leadops_env.outbox_dir.glob("*.eml"))) == 2
    summary = read_artifact("lead-pipeline-summary", out.flow_run_id)
    assert summary is not None and "quarantined 1" in summary.data
    enrichment = read_artifact("lead-pipeline-enrichment", out.flow_run_id)
    assert enrichment is not None and '"provider": "offline"' in enrichment.data.replace("'", '"')
    assert out.enrichment_providers["offline"]["lookups"] >= 1
    progress = read_artifact("enrichment-progress", out.flow_run_id)
    assert progress is not None and float(progress.data) == 100.0  # the last checkpoint is always shown

    again = lead_pipeline()  # nothing new in the inbox: a rerun changes nothing
    assert (again.files, again.routed, again.notifications_sent) == (0, 0, 0)
    assert session.scalar(select(func.count()).select_from(Notification)) == 2


def test_enforce_sla_flow_time_travels(leadops_env, session, roster):
    from leadops.flows.enforce_sla import enforce_sla
    from leadops.flows.lead_pipeline import lead_pipeline

    leadops_env.inbox_dir.mkdir(parents=True)
    (leadops_env.inbox_dir / "webform-1.csv").write_text(CSV, encoding="utf-8")
    lead_pipeline()
    started = session.scalar(select(func.min(SlaClock.due_at)))
    out = enforce_sla(now=started + timedelta(days=7))
    assert out.breached >= 1 and out.events_emitted == out.breached
    assert out.notifications_sent >= out.breached
    assert enforce_sla(now=started + timedelta(days=7)).breached == 0  # exactly once


def test_weekly_report_flow_writes_html_and_names_the_run(leadops_env, session, roster):
    from prefect import get_client

    from leadops.flows.lead_pipeline import lead_pipeline
    from leadops.flows.weekly_report import weekly_report
    from leadops.domain.metrics import week_of

    leadops_env.inbox_dir.mkdir(parents=True)
    (leadops_env.inbox_dir / "webform-1.csv").write_text(CSV, encoding="utf-8")
    lead_pipeline()
    week = week_of(datetime.now(UTC), "Europe/Paris")
    out = weekly_report(week=week)
    html = Path(out.report_path).read_text(encoding="utf-8")
    assert week in html and ("<svg" in html or "data:image/png;base64" in html)
    assert out.headline["leads"] == 2
    assert session.scalar(select(ReportRun.week)) == week
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(out.flow_run_id)
    assert run.name == f"weekly-report-{week}"
    assert read_artifact("weekly-report-sdrs", out.flow_run_id) is not None
    assert "<h3>Per SDR</h3>" in html and "<h3>Per source</h3>" in html
    assert (Path(out.report_path).parent / f"sla-{week}.csv").exists()


def test_rejected_batch_fails_the_run_after_processing_everything_else(leadops_env, session, roster):
    import pytest

    from leadops.flows.lead_pipeline import IntakeRejected, lead_pipeline

    leadops_env.inbox_dir.mkdir(parents=True)
    (leadops_env.inbox_dir / "a-good.csv").write_text(CSV, encoding="utf-8")
    (leadops_env.inbox_dir / "b-sparse.csv").write_text(
        "Email,First Name,Source\n,A,web_form\n,B,web_form\nc@forge.fr,C,web_form\n", encoding="utf-8")
    with pytest.raises(IntakeRejected, match=r"b-sparse.csv: email fill rate 33% is under the required 80%"):
        lead_pipeline()
    assert session.scalar(select(func.count()).select_from(Lead)) == 2  # the good file went through
    assert session.scalar(select(func.count()).select_from(Assignment)) == 2
    assert (leadops_env.var_dir / "failed" / "b-sparse.csv").exists()
    assert (leadops_env.var_dir / "data_docs" / "index.html").exists()
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:  # the failed run's id is not returned: take the newest
        [art] = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["lead-pipeline-validation"])),
                                      limit=1, sort="CREATED_DESC")
    assert "`b-sparse.csv`: validation result" in art.data
    assert "| **FAIL** | expect_column_values_to_not_be_null | email | 33.3% filled |" in art.data


def test_pipeline_reads_configured_api_sources_incrementally(leadops_env, session, roster, tmp_path, monkeypatch):
    import shutil

    import yaml

    from leadops.flows.lead_pipeline import lead_pipeline
    from leadops.flows.results import SourceCounts
    from tests.support.crm_server import FakeCrm

    cfg_dir = tmp_path / "config"
    shutil.copytree(leadops_env.config_dir, cfg_dir)
    with FakeCrm("tok") as crm:
        crm.add(120)
        sources = yaml.safe_load((cfg_dir / "sources.yaml").read_text(encoding="utf-8"))
        sources["apis"] = [{"name": "crm", "url": crm.url, "source": "web_form", "token_env": "LEADOPS_TEST_CRM_TOKEN"}]
        (cfg_dir / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
        monkeypatch.setenv("LEADOPS_CONFIG_DIR", str(cfg_dir))
        monkeypatch.setenv("LEADOPS_TEST_CRM_TOKEN", "tok")
        out = lead_pipeline()
        assert out.per_source["crm"] == SourceCounts(files=2, rejected=0, rows_read=120, inserted=120, merged=0,
                                                     quarantined=0)
        assert out.api_watermarks["crm"].startswith("2026-11-20T10:00:00")
        again = lead_pipeline()
        assert again.rows_read == 0 and crm.log[-1]["params"]["updated_since"].startswith("2026-11-20T10:00:00")


def test_rescore_flow_reports_distribution_and_is_idempotent(leadops_env, session, roster):
    from leadops.flows.lead_pipeline import lead_pipeline
    from leadops.flows.rescore import rescore

    leadops_env.inbox_dir.mkdir(parents=True)
    (leadops_env.inbox_dir / "webform-1.csv").write_text(CSV, encoding="utf-8")
    lead_pipeline()
    out = rescore()
    assert out.scoring.scored >= 2 and out.scoring.changed == 0 and out.scoring.stage_changes == {}
    assert out.scoring.distribution_before == out.scoring.distribution_after
    table = read_artifact("rescore-distribution", out.flow_run_id)
    assert table is not None and "before" in table.data
    assert read_artifact("rescore-summary", out.flow_run_id) is not None
    only_mql = rescore(stages=["new"])
    assert only_mql.scoring.scored == 0  # the pipeline made both MQLs


def test_breach_digest_flow_emails_each_manager_once_per_hour(leadops_env, session, roster):
    from leadops.flows.enforce_sla import enforce_sla
    from leadops.flows.lead_pipeline import lead_pipeline
    from leadops.flows.sla_digest import sla_breach_digest

    leadops_env.inbox_dir.mkdir(parents=True)
    (leadops_env.inbox_dir / "webform-1.csv").write_text(CSV, encoding="utf-8")
    lead_pipeline()
    started = session.scalar(select(func.min(SlaClock.due_at)))
    enforce_sla(now=started + timedelta(days=7))
    out = sla_breach_digest()
    assert out.breaches >= 1 and out.queued == out.managers >= 1
    session.rollback()  # end this session's read snapshot: the flow wrote through its own
    digest = session.scalar(select(Notification).where(Notification.kind == "sla_digest"))
    assert "past their SLA" in digest.body and "no first touch" in digest.body and digest.status == "sent"
    assert sla_breach_digest().queued == 0  # the same hour: nothing new


def test_prefect_yaml_trigger_matches_the_breach_event():
    import fnmatch

    import yaml
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "prefect.yaml").read_text(encoding="utf-8"))
    deployment = next(d for d in spec["deployments"] if d["name"] == "sla-breach-digest")
    trigger = DeploymentEventTrigger.model_validate(deployment["triggers"][0])
    assert trigger.expect == {"leadops.sla.breached"} and trigger.threshold == 5
    # the resource id enforce-sla emits (tasks/sla.py) matches the trigger's pattern
    assert fnmatch.fnmatch("leadops.lead.42", trigger.match.root["prefect.resource.id"])
    assert {d["name"] for d in spec["deployments"]} >= {"lead-pipeline", "enforce-sla", "weekly-report", "rescore",
                                                         "sla-breach-digest"}


def test_weekly_report_is_emailed_once_over_smtp(leadops_env, session, roster, monkeypatch):
    import socket
    from email import message_from_bytes

    from aiosmtpd.controller import Controller

    from leadops.flows.lead_pipeline import lead_pipeline
    from leadops.flows.weekly_report import weekly_report
    from leadops.domain.metrics import week_of

    received = []

    class Inbox:
        async def handle_DATA(self, server, sess, envelope):  # noqa: N802 - the name aiosmtpd calls
            received.append(message_from_bytes(envelope.content))
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctl = Controller(Inbox(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        monkeypatch.setenv("LEADOPS_NOTIFY_CHANNEL", "smtp")
        monkeypatch.setenv("LEADOPS_SMTP_PORT", str(port))
        leadops_env.inbox_dir.mkdir(parents=True)
        (leadops_env.inbox_dir / "webform-1.csv").write_text(CSV, encoding="utf-8")
        lead_pipeline()
        received.clear()  # the SDRs' assignment emails
        week = week_of(datetime.now(UTC), "Europe/Paris")
        out = weekly_report(week=week, email_to=["boss@example.com", "ops@example.com"])
        assert out.emails_sent == 2 and len(received) == 2
        msg = received[0]
        assert msg["Subject"] == f"[leadops] Weekly report {week}" and msg["X-Leadops-Key"].startswith(f"report:{week}:")
        html = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
        assert f"<h1>Weekly lead report — {week}</h1>" in html and "data:image/png;base64," in html
        again = weekly_report(week=week, email_to=["boss@example.com", "ops@example.com"])
        assert again.emails_sent == 0 and len(received) == 2  # rebuilt, not re-sent
    finally:
        ctl.stop()


def test_backfill_reprocess_and_explain_flows(leadops_env, session, roster):
    from leadops.flows.explain_lead import explain_lead
    from leadops.flows.lead_pipeline import lead_pipeline
    from leadops.flows.maintenance import quarantine_reprocess, report_backfill

    leadops_env.inbox_dir.mkdir(parents=True)
    (leadops_env.inbox_dir / "webform-1.csv").write_text(CSV, encoding="utf-8")
    lead_pipeline()
    out = report_backfill(from_week="2026-W52", to_week="2027-W02")
    assert [w.week for w in out.weeks] == ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]
    assert all(Path(w.report_path).exists() for w in out.weeks)
    again = quarantine_reprocess()
    assert (again.counts.considered, again.counts.released, again.counts.still_held) == (1, 0, 1)  # still invalid
    lead_id = session.scalar(select(func.min(Assignment.lead_id)))
    told = explain_lead(lead_id=lead_id)
    assert told.events >= 5
    assert read_artifact(f"lead-{lead_id}-timeline", told.flow_run_id) is not None


def test_serve_builds_every_deployment_of_prefect_yaml_with_its_schedule():
    from leadops.deployments.serve import serve_deployments

    deployments = {d.name: d for d in serve_deployments()}
    assert set(deployments) == {"lead-pipeline", "enforce-sla", "weekly-report", "rescore", "sla-breach-digest",
                                "report-backfill", "quarantine-reprocess", "explain-lead", "crm-sync"}
    weekly = deployments["weekly-report"]
    assert weekly.schedules[0].schedule.cron == "0 7 * * 1" and weekly.schedules[0].schedule.timezone == "Europe/Paris"
    pipeline = deployments["lead-pipeline"]
    # every minute (speed to lead: p95 under 2 minutes, bench/speed_to_lead.py); a tick finding the
    # previous run still going is cancelled, not queued, so runs never pile up
    assert pipeline.schedules[0].schedule.interval.total_seconds() == 60
    assert pipeline.concurrency_limit == 1 and pipeline.concurrency_options.collision_strategy == "CANCEL_NEW"
    assert not deployments["rescore"].schedules and deployments["sla-breach-digest"].triggers
    crm = deployments["crm-sync"]
    assert crm.schedules[0].schedule.interval.total_seconds() == 300
    assert crm.concurrency_limit == 1 and crm.concurrency_options.collision_strategy == "CANCEL_NEW"


def test_the_zombie_run_automation_waits_three_heartbeats_of_every_leadops_run():
    import re

    import yaml

    from leadops.deployments.automations import load

    root = Path(__file__).resolve().parents[2]
    [zombie] = [a for a in load() if a.name == "leadops-crash-zombie-runs"]
    trigger = zombie.trigger
    assert trigger.posture == "Proactive" and trigger.after == {"prefect.flow-run.heartbeat"}
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Crashed"} <= trigger.expect
    assert trigger.for_each == {"prefect.resource.id"} and zombie.actions[0].state == "CRASHED"
    spec = yaml.safe_load((root / "prefect.yaml").read_text(encoding="utf-8"))
    beats = {int(d["work_pool"]["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]) for d in spec["deployments"]}
    cli = re.search(r'"PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "(\d+)"', (root / "leadops" / "cli.py").read_text()).group(1)
    assert beats == {int(cli)} and trigger.within.total_seconds() >= 3 * int(cli)  # a late beat is not a death
    # the automation only watches runs tagged leadops: every deployment carries the tag
    assert all("leadops" in d["tags"] for d in spec["deployments"])
    assert trigger.match_related.root == {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.leadops"}


def test_the_prefect_server_turns_the_pipeline_schedule_into_scheduled_runs():
    """What the server's scheduler does every minute for a served or deployed schedule. Prefect 3.8's
    scheduler failed on SQLAlchemy 2.1 ("Can't evaluate bulk DML statement": no scheduled run, ever);
    constraints.txt pairs SQLAlchemy 2.1 with Prefect 3.9, whose scheduler handles it."""
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from leadops.deployments.serve import serve_deployments

    deployment_id = next(d for d in serve_deployments() if d.name == "lead-pipeline").apply()
    with get_client(sync_client=True) as client:
        client.request("POST", "/deployments/{id}/schedule", path_params={"id": deployment_id}, json={})
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
    assert runs and all(r.state.is_scheduled() for r in runs)
    gaps = sorted(r.expected_start_time for r in runs)
    assert {(b - a).total_seconds() for a, b in itertools.pairwise(gaps)} == {60.0}  # every minute


def test_enrichment_commits_its_checkpoints_only_commit_seconds_apart(leadops_env, session, roster, monkeypatch):
    """Work is flushed every 200 domains; on SQLite committed there only COMMIT_SECONDS apart (and at the
    end), by the task's clock: frozen, 450 domains commit once; a clock 10 s further at every
    reading, at each of the 3 checkpoints. On PostgreSQL (leads written at each checkpoint) at each of
    them whatever the clock."""
    from itertools import count

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    import leadops.tasks.pipeline as pipeline
    from leadops.flows.lead_pipeline import lead_pipeline

    commits: list[int] = []
    enriching: list[bool] = []
    enrich_pending = pipeline.enrich.enrich_pending

    def watched(*args, **kwargs):
        enriching.append(True)
        try:
            return enrich_pending(*args, **kwargs)
        finally:
            enriching.clear()

    def on_commit(_session):
        if enriching:
            commits[-1] += 1

    monkeypatch.setattr(pipeline.enrich, "enrich_pending", watched)
    event.listen(Session, "after_commit", on_commit)
    leadops_env.inbox_dir.mkdir(parents=True)
    try:
        for run, clock in enumerate([lambda: 1000.0, count(0, 10).__next__]):
            rows = "".join(f"p{i}@firm{run}x{i}.fr,Ana,Roy{i},Firm {run} {i} SAS,CTO,France,web_form\n" for i in range(450))
            (leadops_env.inbox_dir / f"firms-{run}.csv").write_text(CSV.splitlines(keepends=True)[0] + rows, encoding="utf-8")
            monkeypatch.setattr(pipeline, "_clock", clock)
            commits.append(0)
            out = lead_pipeline()
            assert out.inserted == 450 and out.enrichment_providers["offline"]["lookups"] == 450
            progress = read_artifact("enrichment-progress", out.flow_run_id)
            assert progress is not None and float(progress.data) == 100.0
    finally:
        event.remove(Session, "after_commit", on_commit)
    sqlite = leadops_env.database_url.startswith("sqlite")
    assert commits == ([1, 3] if sqlite else [3, 3])  # checkpoints at 200, 400 and 450 (the end, always committed)
