"""On-demand maintenance flows: rebuild past weekly reports (backfill) and re-admit quarantined rows."""
from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from leadops.flows.display import finish, reprocess_run_name
from leadops.flows.results import BackfilledWeek, BackfillSummary, ReprocessSummary
from leadops.domain.metrics import next_week
from leadops.reporting.numbers import count
from leadops.tasks.common import current_flow_run_id, log_stage, rules, settings, units
from leadops.tasks.parameters import CONFIG_DIR, VAR_DIR, RunSettings
from leadops.tasks.report import build_report
from leadops.tasks.results import ReprocessCounts


@flow(name="report-backfill", flow_run_name="report-backfill-{from_week}-to-{to_week}")
def report_backfill(from_week: str, to_week: str, config_dir: str | None = CONFIG_DIR,
                    var_dir: str | None = VAR_DIR) -> BackfillSummary:
    """Rebuild the weekly report of every ISO week from ``from_week`` to ``to_week`` included (no email).

    Idempotent: the same stored data gives the same files. Returns the weeks and their paths.
    """
    run = RunSettings(config_dir=config_dir, var_dir=var_dir)
    weeks, w = [], from_week
    while True:
        weeks.append(w)
        if w == to_week:
            break
        if len(weeks) > 260:
            raise ValueError(f"{from_week} to {to_week}: more than 5 years of weeks, or to_week is before from_week")
        w = next_week(w)
    built = tuple(BackfilledWeek(week=wk, report_path=build_report(wk, run).html_path) for wk in weeks)
    create_table_artifact(key="report-backfill", table=[{"week": b.week, "report_path": b.report_path} for b in built],
                          description=f"Reports rebuilt {from_week} to {to_week}")
    return finish(BackfillSummary(flow_run_id=current_flow_run_id(), weeks=built),
                  f"{count(len(built))} weekly report(s) rebuilt, {from_week} to {to_week}")


@task(cache_policy=NO_CACHE)
def release_open_rows(run: RunSettings, source: str | None, limit: int) -> ReprocessCounts:
    """Re-validate open quarantine rows (rules or suites may have been fixed); returns counts (grain: input
    row) and the reasons of the rows that still fail."""
    from leadops.services import quarantine

    s = settings(run)
    with units(s) as uow:
        ids = [q.id for q in quarantine.list_rows(uow, source=source, limit=limit)]
        outcomes = quarantine.release(uow, ids, rules(s), s)
    released = [o for o in outcomes if o.status == "released"]
    held: dict[str, int] = {}
    for o in outcomes:
        for r in o.reasons if o.status == "held" else ():
            held[r] = held.get(r, 0) + 1
    log_stage(f"quarantine reprocess ({source or 'all sources'})", rows_considered=len(ids), released=len(released),
              still_held=len(ids) - len(released))
    return ReprocessCounts(considered=len(ids), released=len(released),
                           inserted=sum(o.result == "inserted" for o in released),
                           merged=sum(o.result == "merged" for o in released),
                           still_held=len(ids) - len(released), held_reasons=held)


@flow(name="quarantine-reprocess", flow_run_name=reprocess_run_name)
def quarantine_reprocess(source: str | None = None, limit: int = 10_000, config_dir: str | None = CONFIG_DIR,
                         var_dir: str | None = VAR_DIR) -> ReprocessSummary:
    """Re-admit open quarantine rows that now pass validation (after a fix to sources.yaml, scoring.yaml or a
    suite); rows that still fail stay with their current reasons. Idempotent. Returns the counts and
    the reasons of the rows still held; the run is named after the source (``quarantine-reprocess-webinar``,
    ``-all-sources``) and ends with "5 of 20 rows re-admitted, 15 still held"."""
    out = release_open_rows(RunSettings(config_dir=config_dir, var_dir=var_dir), source, limit)
    create_table_artifact(key="quarantine-reprocess",
                          table=[{"reason": r, "rows": count(n)} for r, n in out.held_reasons.items()]
                          or [{"reason": "(none held)"}],
                          description=f"{count(out.released)} of {count(out.considered)} rows re-admitted; "
                                      "still held by reason")
    return finish(ReprocessSummary(flow_run_id=current_flow_run_id(), counts=out),
                  f"{count(out.released)} of {count(out.considered)} rows re-admitted, "
                  f"{count(out.still_held)} still held")
