"""`leadops serve`: every deployment of prefect.yaml, with its schedule, served from one process.

For one machine without a worker or work pool: the schedules, parameters, tags, descriptions and
concurrency limits are read from prefect.yaml, so both ways of running stay the same.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _flow(entrypoint: str):
    """Return the flow of a prefect.yaml entrypoint: a module path (``leadops.flows.lead_pipeline.lead_pipeline``) or a
    file path (``flows/lead_pipeline.py:lead_pipeline``) of an installed module."""
    if ":" in entrypoint:
        path, name = entrypoint.split(":")
        module_name = Path(path).with_suffix("").as_posix().replace("/", ".")
    else:
        module_name, name = entrypoint.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), name)


def _schedules(spec: dict[str, Any]) -> list[Any]:
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    out: list[CronSchedule | IntervalSchedule] = []
    for s in spec.get("schedules") or []:
        if not s.get("active", True):
            continue
        if "cron" in s:
            out.append(CronSchedule(cron=s["cron"], timezone=s.get("timezone")))
        elif "interval" in s:
            from datetime import timedelta

            out.append(IntervalSchedule(interval=timedelta(seconds=s["interval"]), timezone=s.get("timezone")))
    return out


def _concurrency(spec: int | dict[str, Any]) -> Any:
    """Return a deployment's concurrency limit as prefect.yaml writes it: a number, or a mapping with
    ``limit`` and ``collision_strategy`` (ENQUEUE or CANCEL_NEW), as ``prefect deploy`` reads it."""
    if isinstance(spec, dict):
        from prefect.client.schemas.objects import ConcurrencyLimitConfig

        return ConcurrencyLimitConfig.model_validate(spec)
    return spec


def serve_deployments(prefect_yaml: Path = ROOT / "prefect.yaml") -> list[Any]:
    """Return one RunnerDeployment per prefect.yaml deployment (grain: deployment), ready for prefect.serve."""
    spec = yaml.safe_load(prefect_yaml.read_text(encoding="utf-8"))
    out = []
    for d in spec["deployments"]:
        kwargs: dict[str, Any] = dict(name=d["name"], description=d.get("description"), tags=d.get("tags") or [],
                                      parameters=d.get("parameters") or {})
        schedules = _schedules(d)
        if schedules:
            kwargs["schedules"] = schedules
        if d.get("concurrency_limit"):
            kwargs["concurrency_limit"] = _concurrency(d["concurrency_limit"])
        if d.get("triggers"):
            from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

            kwargs["triggers"] = [DeploymentEventTrigger.model_validate(t) for t in d["triggers"]]
        # A module-path entrypoint: served runs import the installed flow wherever the server keeps the
        # deployment's last storage settings. With a file path, a deployment created before by
        # `prefect deploy` (path None, pull steps) made every served run crash on "storage at None".
        from prefect.types.entrypoint import EntrypointType

        out.append(_flow(d["entrypoint"]).to_deployment(entrypoint_type=EntrypointType.MODULE_PATH, **kwargs))
    return out


def main(prefect_yaml: Path = ROOT / "prefect.yaml") -> None:
    """Serve every deployment of ``prefect_yaml`` until interrupted (needs a Prefect API: PREFECT_API_URL or a
    local server)."""
    from prefect import serve

    serve(*serve_deployments(prefect_yaml))
