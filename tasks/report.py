"""Task of the weekly report: build files from stored data."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from leadops.services.report import build_weekly_report
from tasks.common import current_flow_run_id, settings, unit_of_work


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def build_report(week: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Build the week's HTML and CSV report; returns paths and headline metrics."""
    s = settings(overrides)
    with unit_of_work(s) as session:
        return asdict(build_weekly_report(session, week, s.company_time_zone, s.reports_dir,
                                          flow_run_id=current_flow_run_id()))
