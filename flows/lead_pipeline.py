"""lead-pipeline: inbox files -> ingest + GX gate -> enrich -> score -> route -> notify."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from leadops.flows.display import finish, pipeline_run_name
from leadops.flows.results import PipelineSummary
from leadops.flows.score_partitions import score_partitions
from leadops.reporting.numbers import count, table_cells
from leadops.tasks.parameters import CONFIG_DIR, VAR_DIR, RunSettings
from leadops.tasks.roster import sync_roster
from leadops.tasks.common import current_flow_run_id
from leadops.tasks.pipeline import (
    api_sources, deliver_notifications, discover_inbox, enrich_leads, ingest_api_source, ingest_file, publish_data_docs,
    route_leads, score_leads, set_aside_file,
)
from leadops.tasks.results import FileOutcome
from leadops.tasks.runners import scoring_runner


class IntakeRejected(Exception):
    """Raised after a full run when a batch failed the batch-level gate: the run must show Failed.

    ``summary`` is what the run did (what a successful run returns), so a caller can still
    report it (``leadops run pipeline --json``); it is kept out of ``args`` (the run's log shows the
    message only) and pickled with the exception.
    """

    def __init__(self, message: str, summary: PipelineSummary | None = None) -> None:
        super().__init__(message)
        self.summary = summary

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.summary)


def _ingest(path: str, run: RunSettings) -> FileOutcome:
    """Return the outcome of ingesting ``path``; a file whose ingest failed after its retries is set
    aside in var/failed with the reason, so it blocks neither the other files nor later runs."""
    state = ingest_file(path, run, return_state=True)
    if not state.is_failed():
        return state.result()
    exc = state.result(raise_on_failure=False)
    return set_aside_file(path, str(exc) if isinstance(exc, BaseException) else f"{path}: ingest failed", run)


@flow(name="lead-pipeline", flow_run_name=pipeline_run_name, log_prints=False)
def lead_pipeline(config_dir: str | None = CONFIG_DIR, var_dir: str | None = VAR_DIR,
                  refresh_stale_enrichment: bool = False) -> PipelineSummary:
    """Run one pass of the pipeline over the inbox; returns counts per stage (grain: rows and leads).

    The run is named after its start in the company zone (``lead-pipeline-2026-12-06T09:15``) and
    ends Completed with a one-line summary ("12 leads, 1 quarantined, 9 routed", "inbox empty").
    A file rejected by the batch-level gate does not stop the others: everything else runs,
    then the run fails naming the file and the problem.
    """
    log = get_run_logger()
    run = RunSettings(config_dir=config_dir, var_dir=var_dir)
    # the inbox first: with files waiting, the validation process starts importing GX (~3 s of a core) while the
    # roster syncs, instead of while the first file is read
    waiting = discover_inbox(run)
    roster = sync_roster(run)  # sdrs.yaml is the truth: edits take effect on this run
    runner = scoring_runner(run)  # before any ingest: a runner setting that cannot work stops the run here
    files = [_ingest(p, run) for p in waiting]
    # a file another run claimed first is that run's to report
    taken = tuple(f.file for f in files if f.status == "taken")
    files = [f for f in files if f.status != "taken"]
    apis = [ingest_api_source(name, run) for name in api_sources(run)]
    files += [page for a in apis for page in a.pages]  # each API page is a batch, accounted like a file
    api_errors = [a for a in apis if a.error]
    docs = publish_data_docs(run) if files else None
    rejected = [f for f in files if f.status == "rejected"]
    for f in rejected:
        log.warning("file rejected: %s", f.error)
    enriched = enrich_leads(run, stale=refresh_stale_enrichment)
    # Files stay one after the other (a lead in two files, or the same person under two emails,
    # must meet the other copy in the database); scoring is per lead, so it can be partitioned.
    scored = score_leads(run) if runner is None else \
        score_partitions.with_options(task_runner=runner)(run, flow_run_id=current_flow_run_id())
    routed = route_leads(run)
    sent = deliver_notifications(run)
    if routed.unroutable:
        log.warning("%d lead(s) could not be routed: see the fallback queue (routing_status=unroutable)", routed.unroutable)

    summary = PipelineSummary(
        flow_run_id=current_flow_run_id(), **PipelineSummary.intake(files), taken_by_another_run=taken, data_docs=docs,
        **PipelineSummary.api(apis),
        enriched=enriched.enriched, partially_enriched=enriched.partial, not_enriched=enriched.not_enriched,
        enrichment_skipped=enriched.skipped, enrichment_errors=enriched.errors, enrichment_providers=enriched.providers,
        scored=scored.scored, score_changed=scored.changed, promoted_mql=scored.promoted_mql,
        disqualified=scored.disqualified, model_version=scored.model_version,
        routed=routed.assigned, unroutable=routed.unroutable, per_sdr=routed.per_sdr,
        notifications_sent=sent.sent, notifications_failed=sent.failed, roster=roster.counts,
    )
    create_table_artifact(
        key="lead-pipeline-files", description="One row per inbox file: where every row went.",
        table=[table_cells({"file": f.file, "source": f.source, "kind": f.kind, "status": f.status,
                            "rows_read": f.rows_read, "inserted": f.inserted, "merged": f.merged,
                            "quarantined": f.quarantined, "error": f.error})
               for f in files] or [{"file": "(inbox empty)"}],
    )
    create_table_artifact(
        key="lead-pipeline-sources", description="Per source: rows_read = inserted + merged + quarantined.",
        table=[table_cells({"source": k, **asdict(v)}) for k, v in summary.per_source.items()] or [{"source": "(no rows)"}],
    )
    create_table_artifact(
        key="lead-pipeline-enrichment", description="Per enrichment provider: lookups, answers, cache hits, latency.",
        table=[table_cells({"provider": name, **numbers}) for name, numbers in enriched.providers.items()]
        or [{"provider": "(none)"}],
    )
    create_table_artifact(
        key="lead-pipeline-assignments",
        description=(f"One row per assignment made by this run (the first {count(len(routed.assignments))} of "
                     f"{count(routed.assigned)}; `leadops explain LEAD` shows any lead's decisions)."),
        table=routed.assignments or [{"lead_id": None, "sdr": "(no assignment)"}],
    )
    create_markdown_artifact(key="lead-pipeline-summary", markdown=_markdown(summary),
                             description="What this pipeline run did.")
    if rejected or api_errors:
        create_markdown_artifact(
            key="lead-pipeline-validation", description="Batches rejected by the intake gate.",
            markdown="# Intake failures\n\n" + "\n".join(f"- `{Path(f.file).name}`: {f.error}" for f in rejected)
            + "".join(_gate_table(f) for f in rejected)
            + "".join(f"\n- API source `{a.source}`: {a.error} (watermark kept: the next run reads again)" for a in api_errors)
            + f"\n\nFiles are in `var/failed/` with a `.result.json`; Data Docs: `{docs}`\n",
        )
        problems = [f"{f.error}" for f in rejected] + [f"{a.error}" for a in api_errors]
        raise IntakeRejected(f"{len(problems)} intake problem(s) (everything else was processed): " + "; ".join(problems),
                             summary)
    return finish(summary, _message(summary))


def _message(s: PipelineSummary) -> str:
    """Return the run's one-line summary: leads taken in (new and merged), quarantined rows and
    leads routed ("12 leads, 1 quarantined, 9 routed"); "inbox empty" when no file or page came."""
    head = "inbox empty" if not s.files else f"{count(s.inserted + s.merged)} leads"
    if s.files and s.quarantined:
        head += f", {count(s.quarantined)} quarantined"
    if s.activities.rows_read:
        head += f", {count(s.activities.inserted)} new activities"
    # routing also takes MQLs waiting from earlier runs (a rescore, an SDR back from holiday)
    return head + (f", {count(s.routed)} routed" if s.files or s.routed else "")


def _gate_table(f: FileOutcome) -> str:
    """Return a markdown table of the batch-level gate's results for one rejected file ('' if none)."""
    if not f.validation:
        return ""

    def cell(v: Any) -> str:
        return str("" if v is None else v).replace("|", "\\|")

    def observed(v: dict[str, Any]) -> str:
        pct = v.get("unexpected_percent")
        return cell(v["observed"]) if pct is None else f"{100 - pct:.1f}% filled"

    rows = "".join(f"| {'pass' if v['success'] else '**FAIL**'} | {cell(v['expectation'])} | {cell(v['column'])} "
                   f"| {observed(v)} |\n" for v in f.validation)
    return (f"\n\n## `{Path(f.file).name}`: validation result (suite leads_raw)\n\n"
            "| result | expectation | column | observed |\n| --- | --- | --- | --- |\n" + rows)


def _markdown(s: PipelineSummary) -> str:
    """Return the `lead-pipeline-summary` artifact: counts per stage, then rows per quarantine reason."""
    lines = [
        "# Lead pipeline run", "",
        f"- files: **{count(s.files)}** ({count(s.files_rejected)} rejected)",
        (f"- rows read: **{count(s.rows_read)}** -> inserted {count(s.inserted)}, merged {count(s.merged)}, "
        f"quarantined {count(s.quarantined)}"),
        (f"- enrichment: {count(s.enriched)} enriched, {count(s.partially_enriched)} partial, "
        f"{count(s.not_enriched)} not enriched, {count(s.enrichment_skipped)} skipped (personal email)"),
        (f"- scoring ({s.model_version}): {count(s.scored)} scored, {count(s.promoted_mql)} new MQLs, "
        f"{count(s.disqualified)} disqualified"),
        f"- routing: {count(s.routed)} assigned, {count(s.unroutable)} unroutable",
        f"- notifications sent: {count(s.notifications_sent)}", "",
    ]
    if s.quarantine_reasons:
        lines += ["| quarantine reason | rows |", "|---|---|"] + [f"| {r} | {count(n)} |"
                                                                  for r, n in s.quarantine_reasons.items()]
    return "\n".join(lines)
