"""explain-lead: a lead's whole timeline as a markdown artifact, on demand (ops answering "why did I
get this lead?" from the Prefect UI)."""
from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from leadops.flows.display import finish
from leadops.flows.results import ExplainSummary
from leadops.reporting.numbers import count
from leadops.tasks.common import current_flow_run_id, settings, units


@flow(name="explain-lead", flow_run_name="explain-lead-{lead_id}")
def explain_lead(lead_id: int) -> ExplainSummary:
    """Create the `lead-<id>-timeline` markdown artifact; returns the number of events."""
    from leadops.services.timeline import markdown, timeline

    with units(settings()) as uow:
        events = timeline(uow, lead_id)
    create_markdown_artifact(key=f"lead-{lead_id}-timeline", markdown=markdown(lead_id, events),
                             description=f"Everything that happened to lead {lead_id}")
    return finish(ExplainSummary(flow_run_id=current_flow_run_id(), lead_id=lead_id, events=len(events)),
                  f"lead {lead_id}: {count(len(events))} events")
