"""Roster sync task: every flow run that routes or reassigns makes the database's roster that of sdrs.yaml first."""
from __future__ import annotations

from datetime import datetime, UTC

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from leadops.services import roster
from leadops.tasks.common import current_flow_run_id, retry_transient_only, rules, settings, units
from leadops.tasks.parameters import RunSettings
from leadops.tasks.results import RosterCounts, RosterSyncResult


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_transient_only)
def sync_roster(run: RunSettings | None = None) -> RosterSyncResult:
    """Sync config/sdrs.yaml into the database and reassign open leads of people who left; returns the counts
    (grain: person, lead) and one line per change (codes only, no lead data)."""
    s = settings(run)
    r = rules(s)
    with units(s) as uow:
        out = roster.sync(uow, r, reassign=roster.by_routing_rules(
            uow, r, s.company_time_zone, datetime.now(UTC), flow_run_id=current_flow_run_id()))
    counts = out.counts()
    log = get_run_logger()
    if out.changes or out.reassigned or out.not_reassigned:
        log.info("roster sync: %s", ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no change")
        for line in out.lines()[:50]:
            log.info("roster: %s", line)
    else:
        log.info("roster sync: sdrs.yaml and the database agree")
    return RosterSyncResult(counts=RosterCounts(**counts), changes=tuple(out.lines()))
