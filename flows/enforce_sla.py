"""enforce-sla: sweep open SLA clocks in business time; remind, escalate, reassign, notify."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from tasks.common import current_flow_run_id
from tasks.pipeline import deliver_notifications
from tasks.sla import emit_breach_events, sweep_clocks


@flow(name="enforce-sla")
def enforce_sla(now: datetime | None = None, config_dir: str | None = None, var_dir: str | None = None) -> dict[str, Any]:
    """Evaluate every open clock as of ``now`` (default: the current time); returns counts per outcome."""
    overrides = {"config_dir": config_dir, "var_dir": var_dir}
    swept = sweep_clocks(overrides, now)
    events = emit_breach_events(swept["breaches"])
    sent = deliver_notifications(overrides)
    create_table_artifact(key="enforce-sla-breaches", description="SLA breaches found by this sweep.",
                          table=swept["breaches"] or [{"lead_id": None, "sdr": "(no new breach)"}])
    return {
        "flow_run_id": current_flow_run_id(), "open": swept["open"], "met": swept["met"],
        "reminded": swept["reminded"], "breached": swept["breached"], "reassigned": swept["reassigned"],
        "events_emitted": events, "notifications_sent": sent["sent"], "notifications_failed": sent["failed"],
    }
