"""intake-service-summary: what the real-time intake service did since its last summary, as a flow run with
artifacts. Run by the service itself every few minutes (``leadops intake serve --summary-every``) when a Prefect
API is configured; Completed while the service is healthy, Failed (one line) when it is not. Two automations
(deployments/automations/intake-service-*.yaml) fire when the runs stop coming or one fails."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Failed, State

from leadops.flows.display import finish
from leadops.reporting.numbers import count, table_cells


@dataclass
class IntakeServiceSummary:
    """One window of the intake service (grain: requests and leads since the last summary)."""

    host: str
    window_seconds: float
    healthy: bool
    requests: int
    leads_accepted: int
    leads_quarantined: int
    refused: int
    routed: int
    notified: int
    failed_passes: int
    store_failures: int
    routed_p50_seconds: float | None
    routed_p95_seconds: float | None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_name() -> str:
    from prefect.runtime import flow_run

    return f"intake-service-{flow_run.parameters['window']['host']}"


@flow(name="intake-service-summary", flow_run_name=_run_name)
def intake_service_summary(window: dict[str, Any]) -> IntakeServiceSummary | State:
    """Publish one window of the service (``window``: the fields of IntakeServiceSummary); Failed with its problem
    when the service is unhealthy."""
    s = IntakeServiceSummary(**window)
    p95 = f"{s.routed_p95_seconds:.2f} s" if s.routed_p95_seconds is not None else "-"
    p50 = f"{s.routed_p50_seconds:.2f} s" if s.routed_p50_seconds is not None else "-"
    create_markdown_artifact(key="intake-service-summary", description="The intake service since its last summary.",
                             markdown=(f"# Intake service on {s.host}\n\n"
                                       f"Over the last {s.window_seconds:.0f} s: {count(s.requests)} requests, "
                                       f"{count(s.leads_accepted)} leads accepted, {count(s.leads_quarantined)} "
                                       f"quarantined, {count(s.refused)} requests refused; {count(s.routed)} routed "
                                       f"(stored to routed p50 {p50}, p95 {p95}), {count(s.notified)} notifications "
                                       f"sent.\n\nHealth: {'ok' if s.healthy else s.problem}\n"))
    create_table_artifact(key="intake-service-window", description="The window's counts.",
                          table=[table_cells({"what": k, "value": v}) for k, v in s.as_dict().items()])
    line = (f"{count(s.leads_accepted)} leads accepted, {count(s.routed)} routed (p95 {p95}), "
            f"{count(s.leads_quarantined)} quarantined, {count(s.refused)} refused")
    if not s.healthy:
        return Failed(message=f"intake service on {s.host} unhealthy: {s.problem}; {line}")
    return finish(s, line)
