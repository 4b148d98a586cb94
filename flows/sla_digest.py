"""sla-breach-digest: tell each manager which of their team's leads are past their SLA, in one email.

Meant to be run by a Prefect automation on a burst of `leadops.sla.breached` events (see the
`triggers` of this deployment in prefect.yaml), or on demand. One digest per manager per hour:
reruns within the hour send nothing new.
"""
from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from leadops.flows.display import digest_run_name, finish
from leadops.flows.results import DigestSummary
from leadops.reporting.numbers import count
from leadops.tasks.common import current_flow_run_id, log_stage, rules, settings, units
from leadops.tasks.parameters import CONFIG_DIR, VAR_DIR, RunSettings
from leadops.tasks.pipeline import deliver_notifications
from leadops.tasks.results import DigestCounts


@task(cache_policy=NO_CACHE)
def queue_digests(run: RunSettings) -> DigestCounts:
    """Queue one digest per manager listing their team's breached, still-open clocks (an email, or a Slack message
    to the manager's channel); returns counts (grain: manager, clock, message)."""
    from leadops.services.sla import queue_breach_digests

    s = settings(run)
    with units(s) as uow:
        out = DigestCounts.of(queue_breach_digests(uow, rules=rules(s), company_tz=s.company_time_zone))
    log_stage("SLA digests", managers=out.managers, breaches=out.breaches, queued=out.queued)
    return out


@flow(name="sla-breach-digest", flow_run_name=digest_run_name)
def sla_breach_digest(config_dir: str | None = CONFIG_DIR, var_dir: str | None = VAR_DIR) -> DigestSummary:
    """Queue and send the managers' breach digests; returns how many managers, breaches and emails."""
    run = RunSettings(config_dir=config_dir, var_dir=var_dir)
    queued = queue_digests(run)
    sent = deliver_notifications(run)
    return finish(DigestSummary(flow_run_id=current_flow_run_id(), managers=queued.managers, breaches=queued.breaches,
                                queued=queued.queued, notifications_sent=sent.sent),
                  f"{count(queued.queued)} digest(s) for {count(queued.managers)} manager(s), "
                  f"{count(queued.breaches)} breaches; {count(sent.sent)} message(s) sent")
