"""enforce-sla: sweep open SLA clocks in business time; remind, escalate, reassign, notify."""
from __future__ import annotations

from datetime import datetime

from prefect import flow
from prefect.artifacts import create_table_artifact

from leadops.tasks.roster import sync_roster
from leadops.flows.display import finish, sla_run_name
from leadops.flows.results import SlaRunSummary
from leadops.reporting.numbers import count
from leadops.tasks.parameters import CONFIG_DIR, VAR_DIR, RunSettings
from leadops.tasks.common import current_flow_run_id
from leadops.tasks.pipeline import deliver_notifications
from leadops.tasks.sla import emit_breach_events, sweep_clocks


@flow(name="enforce-sla", flow_run_name=sla_run_name)
def enforce_sla(now: datetime | None = None, config_dir: str | None = CONFIG_DIR,
                var_dir: str | None = VAR_DIR) -> SlaRunSummary:
    """Evaluate every open clock as of ``now`` (default: the current time); returns counts per outcome
    (grain: clock).

    The run is named after the instant it evaluates (``enforce-sla-2026-11-20T18:00`` in the company
    zone) and ends with a one-line summary ("12 open clocks: 2 reminded, 1 breached, 0 reassigned").
    """
    run = RunSettings(config_dir=config_dir, var_dir=var_dir)
    sync_roster(run)  # sdrs.yaml is the truth: edits take effect on this run
    swept = sweep_clocks(run, now)
    events = emit_breach_events(swept.breaches)
    sent = deliver_notifications(run)
    create_table_artifact(key="enforce-sla-breaches", description="SLA breaches found by this sweep.",
                          table=swept.breaches or [{"lead_id": None, "sdr": "(no new breach)"}])
    summary = SlaRunSummary(
        flow_run_id=current_flow_run_id(), open=swept.open, met=swept.met, reminded=swept.reminded,
        breached=swept.breached, reassigned=swept.reassigned, events_emitted=events,
        notifications_sent=sent.sent, notifications_failed=sent.failed)
    return finish(summary, f"{count(swept.open)} open clocks: {count(swept.met)} met, {count(swept.reminded)} "
                           f"reminded, {count(swept.breached)} breached, {count(swept.reassigned)} reassigned")
