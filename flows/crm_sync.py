"""crm-sync: read HubSpot / Salesforce incrementally, run the new leads through enrich, score and route, and
write the decisions back to the CRM."""
from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from leadops.crm.sync import ReadOutcome, WriteBackOutcome, watermark_text
from leadops.flows.display import finish
from leadops.flows.results import CrmSyncSummary
from leadops.reporting.numbers import count, table_cells
from leadops.tasks.common import current_flow_run_id
from leadops.tasks.crm import crm_connectors, read_crm, write_back_crm
from leadops.tasks.parameters import CONFIG_DIR, VAR_DIR, RunSettings
from leadops.tasks.pipeline import deliver_notifications, enrich_leads, route_leads, score_leads
from leadops.tasks.roster import sync_roster


class CrmSyncFailed(Exception):
    """Raised after a full run when a connector stopped on an error: the run must show Failed (what could be done
    was done; the watermarks of the objects that failed did not move)."""


def crm_run_name() -> str:
    """Return ``crm-sync-<connectors or all>``."""
    from prefect.runtime import flow_run

    names = (flow_run.parameters or {}).get("connectors")
    return "crm-sync-" + ("+".join(names) if names else "all")


@flow(name="crm-sync", flow_run_name=crm_run_name, log_prints=False)
def crm_sync(config_dir: str | None = CONFIG_DIR, var_dir: str | None = VAR_DIR, connectors: list[str] | None = None,
             write_back: bool = True) -> CrmSyncSummary:
    """Sync each CRM connector (all of sources.yaml's ``crm:``, or those named); returns counts per object.

    Order: roster, read every connector, enrich + score + route + notify (the lead pipeline's tasks), then write
    back every connector. A connector that fails does not stop the others; the run fails at the end naming it."""
    run = RunSettings(config_dir=config_dir, var_dir=var_dir)
    known = crm_connectors(run)
    names = connectors or known
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"crm-sync: unknown connector(s) {', '.join(unknown)} "
                         f"(sources.yaml crm: has {', '.join(known) or 'none'})")
    if not names:
        return finish(CrmSyncSummary.of(current_flow_run_id(), [], [], 0), "no CRM connector (sources.yaml crm:)")
    sync_roster(run)
    reads = [read_crm(name, run) for name in names]
    enrich_leads(run)
    score_leads(run)
    routed = route_leads(run)
    deliver_notifications(run)
    writes = [write_back_crm(name, run) for name in names] if write_back else []
    summary = CrmSyncSummary.of(current_flow_run_id(), reads, writes, routed.assigned)
    _artifacts(reads, writes)
    errors = [f"{r.connector} read: {r.error}" for r in reads if r.error] + \
             [f"{w.connector} write-back: {w.error}" for w in writes if w.error]
    if errors:
        raise CrmSyncFailed(f"{len(errors)} CRM problem(s) (everything else was done): " + "; ".join(errors))
    return finish(summary, summary.message())


def _artifacts(reads: list[ReadOutcome], writes: list[WriteBackOutcome]) -> None:
    create_table_artifact(
        key="crm-sync-objects", description="Per connector and object: records read and where they went; the watermark.",
        table=[table_cells({"connector": o.connector, "object": o.object, "kind": o.kind, "pages": o.pages,
                            "read": o.read, "created": o.created, "merged": o.merged, "quarantined": o.quarantined,
                            "skipped": o.skipped, "unmatched": o.unmatched,
                            "read_since": watermark_text(o.since), "watermark": watermark_text(o.watermark),
                            "error": o.error}) for r in reads for o in r.objects]
        or [{"connector": "(no connector)"}])
    rows: list[dict[str, Any]] = []
    for w in writes:
        d, p = w.delivery, w.plan
        for obj, c in (d.per_object.items() if d else []):
            rows.append(table_cells({"connector": w.connector, "object": obj, "written": c["written"],
                                     "conflicts": c["conflicts"], "retry": c["retry"], "failed": c["failed"]}))
        if p is not None:
            rows.append(table_cells({"connector": w.connector, "object": "(plan)", "queued": p.queued,
                                     "unchanged": p.unchanged, "superseded": p.superseded, "owner_kept": p.owner_kept,
                                     "owner_unmapped": p.owner_unmapped, "error": w.error}))
        elif w.error:
            rows.append(table_cells({"connector": w.connector, "object": "(write-back)", "error": w.error}))
    create_table_artifact(key="crm-sync-write-back",
                          description="Per connector and object: records written back, conflicts, retries and failures.",
                          table=rows or [{"connector": "(write-back off)"}])
    lines = ["# CRM sync", ""]
    for r in reads:
        lines.append(f"## {r.connector}")
        lines.append(f"- owners mapped to SDRs: {count(r.owners_mapped)} ({count(r.owners_unmapped)} SDR(s) without a "
                     "CRM owner)")
        for o in r.objects:
            lines.append(f"- {o.object}: read {count(o.read)} since {watermark_text(o.since)}; watermark "
                         f"{watermark_text(o.watermark)}" + (f"; **stopped**: {o.error}" if o.error else ""))
        wb = next((w for w in writes if w.connector == r.connector), None)
        for step, usage in (("read", r.usage), ("write-back", wb.usage if wb else {})):
            for limiter, n in sorted((usage.get("requests") or {}).items()):
                lines.append(f"- {step} requests ({limiter}): {count(n)}, throttled (429): "
                             f"{count((usage.get('throttled') or {}).get(limiter, 0))}")
        last = (wb.usage if wb else {}).get("daily_api_usage") or r.usage.get("daily_api_usage")
        if last:
            used, most = last
            lines.append(f"- daily API allocation: {count(used)} of {count(most)} used")
        if wb and wb.delivery and wb.delivery.errors:
            lines += ["", "| write-back error | records |", "|---|---|"] + \
                     [f"| {e} | {count(n)} |" for e, n in wb.delivery.errors.most_common(20)]
        lines.append("")
    create_markdown_artifact(key="crm-sync-summary", markdown="\n".join(lines), description="What this CRM sync did.")
