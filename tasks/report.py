"""Task of the weekly report: build files from stored data."""
from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from leadops.services import report
from leadops.services.report import ReportResult
from leadops.tasks.common import current_flow_run_id, retry_transient_only, settings, units
from leadops.tasks.parameters import RunSettings


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10, retry_condition_fn=retry_transient_only)
def build_report(week: str, run: RunSettings, outcome_weeks: int = report.OUTCOME_WEEKS,
                 outcome_min_age_days: int = report.MIN_AGE_DAYS) -> ReportResult:
    """Build the week's HTML and CSV report; returns paths and headline metrics (grain: one ISO week).
    ``outcome_weeks`` and ``outcome_min_age_days``: the Outcomes section's period and age."""
    s = settings(run)
    with units(s) as uow:
        return report.build_weekly_report(uow, week, s.company_time_zone, s.reports_dir, flow_run_id=current_flow_run_id(),
                                          outcome_weeks=outcome_weeks, outcome_min_age_days=outcome_min_age_days)


@task(cache_policy=NO_CACHE)
def queue_report_email(week: str, html_path: str, recipients: list[str], run: RunSettings,
                       resend: bool = False) -> int:
    """Queue the HTML report for each recipient (once per week and recipient unless ``resend``); returns rows queued."""
    s = settings(run)
    with units(s) as uow:
        return report.queue_report_email(uow, week, html_path, recipients, resend=resend)
