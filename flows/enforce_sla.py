"""enforce-sla: sweep open SLA clocks in business time; remind, escalate, reassign, notify."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from leadops.tasks.roster import sync_roster
from leadops.flows.display import finish, sla_run_name
from leadops.reporting.numbers import count
from leadops.tasks.common import current_flow_run_id
from leadops.tasks.pipeline import deliver_notifications
from leadops.tasks.sla import emit_breach_events, sweep_clocks


@flow(name="enforce-sla", flow_run_name=sla_run_name)
def enforce_sla(now: datetime | None = None, config_dir: str | None = None, var_dir: str | None = None) -> dict[str, Any]:
    """Evaluate every open clock as of ``now`` (default: the current time); returns counts per outcome.

    The run is named after the instant it evaluates (``enforce-sla-2026-11-20T18:00`` in the company
    zone) and ends with a one-line summary ("12 open clocks: 2 reminded, 1 breached, 0 reassigned").
    """
    overrides = {"config_dir": config_dir, "var_dir": var_dir}
    roster = sync_roster(overrides)  # sdrs.yaml is the truth: edits take effect on this run
    swept = sweep_clocks(overrides, now)
    events = emit_breach_events(swept["breaches"])
    sent = deliver_notifications(overrides)
    create_table_artifact(key="enforce-sla-breaches", description="SLA breaches found by this sweep.",
                          table=swept["breaches"] or [{"lead_id": None, "sdr": "(no new breach)"}])
    summary = {
        "flow_run_id": current_flow_run_id(), "open": swept["open"], "met": swept["met"],
        "reminded": swept["reminded"], "breached": swept["breached"], "reassigned": swept["reassigned"],
        "events_emitted": events, "notifications_sent": sent["sent"], "notifications_failed": sent["failed"],
    }
    return finish(summary, f"{count(swept['open'])} open clocks: {count(swept['met'])} met, {count(swept['reminded'])} "
                           f"reminded, {count(swept['breached'])} breached, {count(swept['reassigned'])} reassigned")
