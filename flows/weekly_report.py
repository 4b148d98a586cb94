"""weekly-report: the SDR, funnel and SLA report for one ISO week, as artifacts and files."""
from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from leadops.flows.display import finish
from leadops.flows.results import WeeklyReportSummary
from leadops.domain.metrics import parse_iso_week, previous_week, week_of
from leadops.reporting.html import headline_rows, report_cells
from leadops.reporting.numbers import count
from leadops.tasks.common import current_flow_run_id, settings
from leadops.tasks.parameters import CONFIG_DIR, VAR_DIR, RunSettings
from leadops.tasks.pipeline import deliver_notifications
from leadops.tasks.report import build_report, queue_report_email


def last_complete_week(tz: str, now: datetime | None = None) -> str:
    """Return the ISO week before the one containing ``now`` in ``tz``."""
    return previous_week(week_of(now or datetime.now(UTC), tz))


def _run_name() -> str:
    from prefect.runtime import flow_run

    week = flow_run.parameters.get("week") or last_complete_week(settings().company_time_zone)
    with contextlib.suppress(ValueError):  # named as given; the flow itself fails with the message that says why
        week = parse_iso_week(week)
    return f"weekly-report-{week}"


@flow(name="weekly-report", flow_run_name=_run_name)
def weekly_report(week: str | None = None, email_to: list[str] | None = None, resend: bool = False,
                  config_dir: str | None = CONFIG_DIR, var_dir: str | None = VAR_DIR) -> WeeklyReportSummary:
    """Build the report for ``week`` (e.g. 2026-W47; default: last complete week) and email it to
    ``email_to`` (default: LEADOPS_REPORT_RECIPIENTS), once per week and recipient unless ``resend``;
    returns paths, headline and how many emails were sent.

    A malformed ``week`` fails the run first thing, before any task, with one line naming the
    parameter, the value and the expected form (:func:`leadops.domain.metrics.parse_iso_week`):
    a retry cannot fix it, so no task with retries ever sees it."""
    if week is not None:
        week = parse_iso_week(week, "week")
    run = RunSettings(config_dir=config_dir, var_dir=var_dir)
    week = week or last_complete_week(settings(run).company_time_zone)
    res = build_report(week, run)
    recipients = email_to if email_to is not None else settings(run).report_recipients
    emailed = 0
    if recipients:
        queue_report_email(week, res.html_path, recipients, run, resend)
        emailed = deliver_notifications(run).sent
    h, p = res.headline, res.previous
    # The same labels and number formats as the HTML page: one name per figure, numbers for people.
    rows = "\n".join(f"| {name} | {this} | {before} | {change} |" for name, this, before, change in headline_rows(h, p))
    create_markdown_artifact(
        key="weekly-report", description=f"Weekly report {week}",
        markdown=f"# Weekly report {week}\n\n| figure | {week} | {previous_week(week)} | change |\n|---|---|---|---|\n"
                 f"{rows}\n\nHTML report: `{res.html_path}`\n",
    )
    create_table_artifact(key="weekly-report-sdrs",
                          table=[report_cells(r) for r in res.sdr_rows] or [{"sdr": "(no activity)"}],
                          description=f"Per-SDR activity and results, {week}")
    create_table_artifact(key="weekly-report-funnel",
                          table=[report_cells(r) for r in res.funnel] or [{"step": "(no leads)"}],
                          description=f"Funnel of leads that arrived in {week}")
    create_link_artifact(key="weekly-report-html", link=Path(res.html_path).resolve().as_uri(),
                         link_text=f"weekly-report-{week}.html")
    summary = WeeklyReportSummary(flow_run_id=current_flow_run_id(), week=week, report_path=res.html_path,
                                  csv_paths=tuple(res.csv_paths), headline=h, emails_sent=emailed)
    return finish(summary, f"{week}: {count(h['leads'])} leads, {count(h['mqls'])} MQLs, {count(h['saos'])} SAOs"
                           + (f", emailed to {count(emailed)}" if recipients else ""))
