"""weekly-report: the SDR, funnel, SLA and outcome report for one ISO week, as artifacts and files."""
from __future__ import annotations

import contextlib
import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from leadops.flows.display import finish
from leadops.flows.results import WeeklyReportSummary
from leadops.domain.metrics import parse_iso_week, previous_week, week_of
from leadops.reporting.html import OUTCOME_TABLES, headline_rows, outcome_rows, outcome_summary, report_cells
from leadops.reporting.numbers import count
from leadops.tasks.common import current_flow_run_id, settings
from leadops.tasks.parameters import CONFIG_DIR, VAR_DIR, RunSettings
from leadops.tasks.pipeline import deliver_notifications
from leadops.tasks.report import build_report, queue_report_email
from leadops.services.model import MIN_AGE_DAYS
from leadops.services.report import OUTCOME_WEEKS


def last_complete_week(tz: str, now: datetime | None = None) -> str:
    """Return the ISO week before the one containing ``now`` in ``tz``."""
    return previous_week(week_of(now or datetime.now(UTC), tz))


def _run_name() -> str:
    from prefect.runtime import flow_run

    week = flow_run.parameters.get("week") or last_complete_week(settings().company_time_zone)
    with contextlib.suppress(ValueError):  # named as given; the flow itself fails with the message that says why
        week = parse_iso_week(week)
    return f"weekly-report-{week}"


def _md(text: str) -> str:
    """``text`` fit for one cell of a markdown table: no markup, no line break, no column separator."""
    return html.escape(" ".join(text.split())).replace("|", "\\|")


def outcomes_markdown(outcomes: dict[str, Any], tz: str) -> str:
    """Return the Outcomes section of the markdown artifact: the sentence and notes of the page, then its four
    tables with the page's texts."""
    parts = ["## Outcomes", _md(outcome_summary(outcomes, tz))]
    if not outcomes.get("leads"):
        return "\n\n".join(parts) + "\n"
    parts += [_md(n) for n in outcomes.get("notes", [])]
    for key, title, first in OUTCOME_TABLES:
        rows = "\n".join("| " + " | ".join(_md(c) for c in cells) + " |" for cells in outcome_rows(outcomes.get(key)))
        parts.append(f"### {title}\n\n| {first} | leads | converted | conversion rate | 95% interval |\n"
                     f"|---|---|---|---|---|\n{rows}")
    return "\n\n".join(parts) + "\n"


@flow(name="weekly-report", flow_run_name=_run_name)
def weekly_report(week: str | None = None, email_to: list[str] | None = None, resend: bool = False,
                  config_dir: str | None = CONFIG_DIR, var_dir: str | None = VAR_DIR,
                  outcome_weeks: int = OUTCOME_WEEKS, outcome_min_age_days: int = MIN_AGE_DAYS) -> WeeklyReportSummary:
    """Build the report for ``week`` (e.g. 2026-W47; default: last complete week) and email it to
    ``email_to`` (default: LEADOPS_REPORT_RECIPIENTS), once per week and recipient unless ``resend``;
    returns paths, headline and how many emails were sent. The Outcomes section judges the leads that
    arrived in the ``outcome_weeks`` weeks ending with ``week`` and at least ``outcome_min_age_days``
    days before its end.

    A malformed ``week`` (or an outcome period under one week or a negative age) fails the run first
    thing, before any task, with one line naming the parameter, the value and the expected form
    (:func:`leadops.domain.metrics.parse_iso_week`): a retry cannot fix it, so no task with retries
    ever sees it."""
    if week is not None:
        week = parse_iso_week(week, "week")
    if outcome_weeks < 1:
        raise ValueError(f"outcome_weeks = {outcome_weeks}: expected 1 or more")
    if outcome_min_age_days < 0:
        raise ValueError(f"outcome_min_age_days = {outcome_min_age_days}: expected 0 or more")
    run = RunSettings(config_dir=config_dir, var_dir=var_dir)
    tz = settings(run).company_time_zone
    week = week or last_complete_week(tz)
    res = build_report(week, run, outcome_weeks, outcome_min_age_days)
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
                 f"{rows}\n\n{outcomes_markdown(res.outcomes, tz)}\nHTML report: `{res.html_path}`\n",
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
