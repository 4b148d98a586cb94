"""One lead's story, in order: where it came from, merges, quarantine, enrichment, scores, stages,
routing, SLA clocks, notifications and activities. What ops open when a rep asks "why did I get
this lead?" or "why was it taken from me?".

The history is read through ``uow.leads`` (leadops/db/repositories/leads.py); this module only tells it.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from leadops.db.repositories.leads import LeadHistory
from leadops.db.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from leadops.db.models import IngestBatch


def timeline(uow: UnitOfWork, lead_id: int) -> list[dict[str, Any]]:
    """Return the lead's events oldest first (grain: one event: at, kind, what, detail)."""
    history = uow.leads.history(lead_id)
    if history is None:
        raise ValueError(f"no lead {lead_id}")
    return events(history)


def events(h: LeadHistory) -> list[dict[str, Any]]:
    """Return the events of a lead's stored history, oldest first (grain: one event: at, kind, what, detail)."""
    lead = h.lead

    def code(sdr_id: int | None) -> str | None:
        return h.sdr_codes.get(sdr_id) if sdr_id is not None else None

    def batch(batch_id: int | None) -> IngestBatch | None:
        return h.batches.get(batch_id) if batch_id is not None else None

    out: list[dict[str, Any]] = []

    def add(at: datetime | None, kind: str, what: str, detail: Any = None) -> None:
        out.append({"at": at.isoformat() if at else None, "kind": kind, "what": what, "detail": detail})

    origin = batch(lead.ingest_batch_id)
    add(lead.arrived_at, "arrived", f"from {origin.origin if origin else 'a batch'} row {lead.source_row} "
        f"(source {lead.source}{', campaign ' + lead.campaign if lead.campaign else ''})",
        {"stored_at": lead.created_at.isoformat(), "batch": lead.ingest_batch_id})
    for m in h.merges:
        b = batch(m.ingest_batch_id)
        add(m.merged_at, "merged", f"{b.origin if b else 'batch ' + str(m.ingest_batch_id)} row {m.source_row} "
            f"merged in (matched by {m.matched_by})", {"fields_filled": m.fields_filled})
    needle = lead.email.casefold()
    for q in h.quarantined:
        if any(isinstance(v, str) and needle in v.casefold() for v in q.raw.values()):
            add(q.created_at, "quarantined", f"{q.origin} row {q.source_row} held back ({q.status})", {"reasons": q.reasons})
    fields: dict[tuple[str, str], list[str]] = {}
    for rec in h.enrichment_records:
        fields.setdefault((rec.domain, rec.provider), []).append(rec.field)
    for look in h.enrichment_lookups:
        what = "person" if look.domain.startswith("email:") else f"company {look.domain}"
        add(look.fetched_at, "enrichment", f"{look.provider}: {what} {look.status}",
            {"fields": sorted(fields.get((look.domain, look.provider), [])), "error": look.error})
    for score in h.scores:
        add(score.scored_at, "scored", f"score {score.score:g} grade {score.grade} (model {score.model_version})",
            {"breakdown": score.breakdown})
    for change in h.stage_changes:
        add(change.changed_at, "stage", f"{change.from_stage or '-'} -> {change.to_stage}: {change.cause}")
    for a in h.assignments:
        skipped = [c for c in a.candidates if c.get("skipped")]
        who = code(a.sdr_id) or "-"
        add(a.assigned_at, "routing", f"{a.kind} {a.status}: {who} (rule {a.rule or '-'}): {a.reason}",
            {"previous": code(a.previous_sdr_id), "candidates_skipped": skipped})
        if a.ended_at:
            add(a.ended_at, "routing", f"assignment to {who} ended")
    clocks = {c.id: c for c in h.clocks}
    for c in clocks.values():
        add(c.started_at, "sla", f"{c.kind} clock for {code(c.sdr_id)} started, policy {c.policy}, "
            f"due {c.due_at.isoformat() if c.due_at else '-'}")
    for e in h.sla_events:
        if e.step != "started":
            add(e.at, "sla", f"{clocks[e.clock_id].kind} {e.step}: {e.detail}")
    for n in h.notifications:
        add(n.created_at, "notification", f"{n.kind} to {n.recipient} via {n.channel}: {n.status}",
            {"sent_at": n.sent_at.isoformat() if n.sent_at else None, "error": n.last_error})
    for act in h.activities:
        add(act.occurred_at, "activity", f"{act.kind} {act.outcome or ''} by {code(act.sdr_id) or 'marketing'}".strip())
    return sorted(out, key=lambda e: (e["at"] or "", e["kind"]))


def markdown(lead_id: int, events: list[dict[str, Any]]) -> str:
    """Return the timeline as a markdown table (for a Prefect artifact)."""
    rows = "\n".join(f"| {e['at'] or ''} | {e['kind']} | {str(e['what']).replace('|', '/')} |" for e in events)
    return f"# Lead {lead_id}: what happened\n\n| when (UTC) | what | detail |\n|---|---|---|\n{rows}\n"
