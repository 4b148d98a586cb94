"""How leadops runs read in the Prefect UI: flow run names and final state messages.

Run names say what a run did or covers (``lead-pipeline-2026-12-06T09:15``, ``rescore-source-webinar``);
Prefect calls the ``*_run_name`` functions with no argument when the run starts and they read the
run's parameters from ``prefect.runtime``. A flow ends with :func:`finish`, so the run's final
state carries a one-line summary ("12 leads, 9 routed") while a direct call still returns the
flow's summary (leadops.flows.results).
"""
from __future__ import annotations

from datetime import datetime, UTC
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

R = TypeVar("R")


def company_minute(at: datetime, tz: str, seconds: bool = False) -> str:
    """Return ``at`` in the zone ``tz`` as ``2026-12-06T09:15`` (naive ``at`` is UTC); with ``seconds``,
    ``:SS`` is added when they are not zero."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m-%dT%H:%M") + (local.strftime(":%S") if seconds and local.second else "")


def selection(stages: list[str] | None = None, sources: list[str] | None = None, arrived_since: Any = None,
              lead_ids: list[int] | None = None) -> str:
    """Return what a scoring selection covers, for a run name: ``all-open``, ``stage-new+mql``,
    ``source-webinar-since-2026-11-01``, ``lead-42``, ``3-leads`` (parts joined by ``-``)."""
    parts = []
    if lead_ids is not None:
        parts.append(f"lead-{lead_ids[0]}" if len(lead_ids) == 1 else f"{len(lead_ids)}-leads")
    if stages:
        parts.append("stage-" + _listed(stages))
    if sources:
        parts.append("source-" + _listed(sources))
    if arrived_since:
        since = arrived_since.isoformat() if isinstance(arrived_since, datetime) else str(arrived_since)
        parts.append(f"since-{since}")
    return "-".join(parts) or "all-open"


def _listed(values: list[str], shown: int = 3) -> str:
    # a name, not a query: past a few values the UI's parameters tab has the rest
    return "+".join(values[:shown]) + (f"+{len(values) - shown}-more" if len(values) > shown else "")


def _parameters() -> dict[str, Any]:
    from prefect.runtime import flow_run

    return dict(flow_run.parameters or {})


def _zone(params: dict[str, Any]) -> str:
    """Return the company time zone of the run's settings, or UTC when they cannot be read (the
    run's first task then says why; a name must not be what fails a run)."""
    from leadops.tasks.parameters import RunSettings

    try:
        return RunSettings(config_dir=params.get("config_dir"), var_dir=params.get("var_dir")).settings().company_time_zone
    except Exception:  # noqa: BLE001
        return "UTC"


def _started(params: dict[str, Any]) -> str:
    from prefect.runtime import flow_run

    start = flow_run.scheduled_start_time  # a deployment's scheduled time, else when the run was created
    return company_minute(start, _zone(params))


def pipeline_run_name() -> str:
    """Return ``lead-pipeline-<start in the company zone, to the minute>``."""
    return f"lead-pipeline-{_started(_parameters())}"


def sla_run_name() -> str:
    """Return ``enforce-sla-<instant evaluated>``: the ``now`` parameter (time travel), else the run's start."""
    params = _parameters()
    now = params.get("now")
    if isinstance(now, str):
        now = datetime.fromisoformat(now)
    if isinstance(now, datetime):
        return f"enforce-sla-{company_minute(now, _zone(params), seconds=True)}"
    return f"enforce-sla-{_started(params)}"


def digest_run_name() -> str:
    """Return ``sla-breach-digest-<start in the company zone, to the minute>``."""
    return f"sla-breach-digest-{_started(_parameters())}"


def rescore_run_name() -> str:
    """Return ``rescore-<selection>`` (see :func:`selection`)."""
    p = _parameters()
    return "rescore-" + selection(p.get("stages"), p.get("sources"), p.get("arrived_since"), p.get("lead_ids"))


def partitions_run_name() -> str:
    """Return ``score-partitions-changed-leads`` (the pipeline's pass) or ``score-partitions-<selection>`` (a rescore)."""
    p = _parameters()
    if p.get("only_changed", True):
        return "score-partitions-changed-leads"
    return "score-partitions-" + selection(p.get("stages"), p.get("sources"), p.get("arrived_since"), p.get("lead_ids"))


def reprocess_run_name() -> str:
    """Return ``quarantine-reprocess-<source>`` or ``quarantine-reprocess-all-sources``."""
    return f"quarantine-reprocess-{_parameters().get('source') or 'all-sources'}"


def finish(summary: R, message: str) -> R:
    """Return the final state of a flow run: Completed with ``message`` (what the UI shows beside
    the state) and ``summary`` as its data; logs ``message``.

    Prefect's engine keeps a returned state as the run's final state and gives the caller its
    data, so calling the flow directly (the CLI, tests, a parent flow) still returns ``summary``:
    hence typed as ``summary``'s type, which is what every caller of a flow receives.
    """
    from prefect import get_run_logger
    from prefect.states import Completed

    get_run_logger().info("%s", message)
    return cast(R, Completed(message=message, data=summary))
