"""Tasks of SLA enforcement: sweep clocks, emit one Prefect event per breach."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from leadops.services import sla
from leadops.services.sla import SlaSummary
from leadops.tasks.common import current_flow_run_id, log_stage, retry_transient_only, rules, settings, units
from leadops.tasks.parameters import RunSettings


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10, retry_condition_fn=retry_transient_only)
def sweep_clocks(run: RunSettings, now: datetime | None = None) -> SlaSummary:
    """Evaluate open SLA clocks as of ``now``; returns counts (grain: clock) and the new breaches."""
    s = settings(run)
    with units(s) as uow:
        out = sla.enforce(uow, rules(s), s.company_time_zone, now=now, flow_run_id=current_flow_run_id())
    log_stage("SLA sweep", open_clocks=out.open, met=out.met, reminded=out.reminded, breached=out.breached,
              reassigned=out.reassigned, cadences_closed=out.closed, notifications_queued=out.notifications_queued)
    return out


@task(cache_policy=NO_CACHE)
def emit_breach_events(breaches: list[dict[str, Any]]) -> int:
    """Emit `leadops.sla.breached` per new breach so Prefect automations can react; returns the count."""
    from prefect.events import emit_event

    for b in breaches:
        emit_event(
            event="leadops.sla.breached",
            resource={"prefect.resource.id": f"leadops.lead.{b['lead_id']}", "leadops.policy": b["policy"]},
            related=[{"prefect.resource.id": f"leadops.sdr.{b['sdr']}", "prefect.resource.role": "owner"}],
            payload={"clock_id": b["clock_id"], "policy": b["policy"]},
        )
    log_stage("SLA events", breach_events_emitted=len(breaches))
    return len(breaches)
