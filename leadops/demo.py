"""What `leadops demo` reads of the database to make a second run change nothing.

The demo seeds the sample, runs the pipeline, sweeps SLA clocks and builds the weekly report.
Every write of those steps is keyed, but two of them depend on the instant they run at: the
sweep (a clock crosses its reminder or breach threshold as time passes) and the report (each
build is a row of ``report_runs``). These queries let the demo evaluate the sweep at the instant
of the sample's routing and reuse a report already built from the same data.
"""
from __future__ import annotations

from datetime import datetime, UTC
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadops.db.models import ReportRun, SlaClock


def sla_instant(session: Session) -> datetime | None:
    """Return the instant the demo sweeps SLA clocks at: the latest clock start, i.e. when the demo's
    pipeline routed the sample (None without any clock: sweep at the current time).

    A second demo routes nothing, so it sweeps the same instant; every step it finds was taken by the
    first (steps are keyed by clock and step), so nothing new is reminded, breached or sent. A
    reassignment made by that sweep starts its clock at the same instant, which keeps it the latest.
    """
    at = session.scalar(select(func.max(SlaClock.started_at)))
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def built_report(session: Session, week: str) -> ReportRun | None:
    """Return the latest build of ``week``'s report whose HTML file still exists (None: build it)."""
    run = session.scalars(select(ReportRun).where(ReportRun.week == week).order_by(ReportRun.id.desc())).first()
    return run if run is not None and run.html_path and Path(run.html_path).is_file() else None
