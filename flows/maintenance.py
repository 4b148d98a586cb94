"""On-demand maintenance flows: rebuild past weekly reports (backfill) and re-admit quarantined rows."""
from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from leadops.flows.display import finish, reprocess_run_name
from leadops.domain.metrics import next_week
from leadops.reporting.numbers import count
from leadops.tasks.common import current_flow_run_id, log_stage, rules, settings, unit_of_work
from leadops.tasks.report import build_report


@flow(name="report-backfill", flow_run_name="report-backfill-{from_week}-to-{to_week}")
def report_backfill(from_week: str, to_week: str, config_dir: str | None = None, var_dir: str | None = None) -> dict[str, Any]:
    """Rebuild the weekly report of every ISO week from ``from_week`` to ``to_week`` included (no email).

    Idempotent: the same stored data gives the same files. Returns the weeks and their paths.
    """
    overrides = {"config_dir": config_dir, "var_dir": var_dir}
    weeks, w = [], from_week
    while True:
        weeks.append(w)
        if w == to_week:
            break
        if len(weeks) > 260:
            raise ValueError(f"{from_week} to {to_week}: more than 5 years of weeks, or to_week is before from_week")
        w = next_week(w)
    built = [{"week": wk, "report_path": build_report(wk, overrides)["html_path"]} for wk in weeks]
    create_table_artifact(key="report-backfill", table=built, description=f"Reports rebuilt {from_week} to {to_week}")
    return finish({"flow_run_id": current_flow_run_id(), "weeks": built},
                  f"{count(len(built))} weekly report(s) rebuilt, {from_week} to {to_week}")


@task(cache_policy=NO_CACHE)
def release_open_rows(overrides: dict[str, Any], source: str | None, limit: int) -> dict[str, Any]:
    """Re-validate open quarantine rows (rules or suites may have been fixed); returns counts and what still fails."""
    from leadops.services import quarantine

    s = settings(overrides)
    with unit_of_work(s) as session:
        ids = [q.id for q in quarantine.list_rows(session, source=source, limit=limit)]
        outcomes = quarantine.release(session, ids, rules(s), s)
    released = [o for o in outcomes if o.status == "released"]
    held: dict[str, int] = {}
    for o in outcomes:
        for r in o.reasons if o.status == "held" else ():
            held[r] = held.get(r, 0) + 1
    log_stage(f"quarantine reprocess ({source or 'all sources'})", rows_considered=len(ids), released=len(released),
              still_held=len(ids) - len(released))
    return {"considered": len(ids), "released": len(released),
            "inserted": sum(o.result == "inserted" for o in released), "merged": sum(o.result == "merged" for o in released),
            "still_held": len(ids) - len(released), "held_reasons": held}


@flow(name="quarantine-reprocess", flow_run_name=reprocess_run_name)
def quarantine_reprocess(source: str | None = None, limit: int = 10_000, config_dir: str | None = None,
                         var_dir: str | None = None) -> dict[str, Any]:
    """Re-admit open quarantine rows that now pass validation (after a fix to sources.yaml, scoring.yaml or a
    suite); rows that still fail stay with their current reasons. Idempotent. Returns the counts and
    the reasons of the rows still held; the run is named after the source (``quarantine-reprocess-webinar``,
    ``-all-sources``) and ends with "5 of 20 rows re-admitted, 15 still held"."""
    out = release_open_rows({"config_dir": config_dir, "var_dir": var_dir}, source, limit)
    create_table_artifact(key="quarantine-reprocess",
                          table=[{"reason": r, "rows": count(n)} for r, n in out["held_reasons"].items()]
                          or [{"reason": "(none held)"}],
                          description=f"{count(out['released'])} of {count(out['considered'])} rows re-admitted; "
                                      "still held by reason")
    return finish({"flow_run_id": current_flow_run_id(), **out},
                  f"{count(out['released'])} of {count(out['considered'])} rows re-admitted, "
                  f"{count(out['still_held'])} still held")
