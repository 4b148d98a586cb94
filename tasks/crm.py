"""Tasks of the crm-sync flow: read a CRM connector, write its decisions back."""
from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from leadops.crm.sync import ReadOutcome, WriteBackOutcome
from leadops.tasks.common import current_flow_run_id, log_stage, rules, settings
from leadops.tasks.parameters import RunSettings


def crm_connectors(run: RunSettings) -> list[str]:
    """Return the names of the CRM connectors configured in sources.yaml (``crm:``)."""
    return [c.name for c in rules(settings(run)).sources.crm]


def _connect(name: str, run: RunSettings):
    from leadops.crm.connection import connect

    s = settings(run)
    cfg = next(c for c in rules(s).sources.crm if c.name == name)
    return connect(cfg, s.database_url)


@task(cache_policy=NO_CACHE, task_run_name="crm-read-{name}")
def read_crm(name: str, run: RunSettings) -> ReadOutcome:
    """Read one connector's leads and activities since their watermarks; returns per-object counts and any error.

    No task-level retries: the client retries each request, and pages are committed as they land."""
    from leadops.crm import sync
    from leadops.crm.credentials import CredentialsError
    from leadops.db.unit_of_work import sql_units

    s = settings(run)
    try:
        conn = _connect(name, run)
    except CredentialsError as exc:
        return ReadOutcome(name, error=str(exc))
    out = sync.read(sql_units(s.database_url), conn, rules(s), s, flow_run_id=current_flow_run_id())
    for o in out.objects:
        log_stage(f"crm read {name} {o.object}", read=o.read, created=o.created, merged=o.merged,
                  quarantined=o.quarantined, unmatched=o.unmatched)
    return out


@task(cache_policy=NO_CACHE, task_run_name="crm-write-back-{name}")
def write_back_crm(name: str, run: RunSettings) -> WriteBackOutcome:
    """Queue one connector's changed decisions and deliver them in batches; returns counts and any error."""
    from leadops.crm import sync
    from leadops.crm.credentials import CredentialsError
    from leadops.db.unit_of_work import sql_units

    s = settings(run)
    try:
        conn = _connect(name, run)
    except CredentialsError as exc:
        return WriteBackOutcome(name, error=str(exc))
    out = sync.write_back(sql_units(s.database_url), conn, rules(s))
    if out.plan and out.delivery:
        log_stage(f"crm write-back {name}", queued=out.plan.queued, written=out.delivery.written,
                  conflicts=out.delivery.conflicts, failed=out.delivery.failed, retry=out.delivery.retry)
    return out
