"""One lead's story, in order: where it came from, merges, quarantine, enrichment, scores, stages,
routing, SLA clocks, notifications and activities. What ops open when a rep asks "why did I get
this lead?" or "why was it taken from me?".
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadops.db.models import (
    Activity, Assignment, EnrichmentLookup, EnrichmentRecord, IngestBatch, Lead, LeadMerge, LeadStageChange,
    Notification, Quarantine, ScoreHistory, Sdr, SlaClock, SlaEvent,
)


def timeline(session: Session, lead_id: int) -> list[dict[str, Any]]:
    """Return the lead's events oldest first (grain: one event: at, kind, what, detail)."""
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise ValueError(f"no lead {lead_id}")
    codes: dict[int | None, str] = dict(session.execute(select(Sdr.id, Sdr.code)).tuples().all())
    events: list[dict[str, Any]] = []

    def add(at: datetime | None, kind: str, what: str, detail: Any = None) -> None:
        events.append({"at": at.isoformat() if at else None, "kind": kind, "what": what, "detail": detail})

    merged_from = session.scalars(select(LeadMerge.ingest_batch_id).where(LeadMerge.lead_id == lead_id))
    batch_ids = [lead.ingest_batch_id, *merged_from]
    batches: dict[int | None, IngestBatch] = {
        b.id: b for b in session.scalars(select(IngestBatch).where(IngestBatch.id.in_(batch_ids)))}
    origin = batches.get(lead.ingest_batch_id)
    add(lead.arrived_at, "arrived", f"from {origin.origin if origin else 'a batch'} row {lead.source_row} "
        f"(source {lead.source}{', campaign ' + lead.campaign if lead.campaign else ''})",
        {"stored_at": lead.created_at.isoformat(), "batch": lead.ingest_batch_id})
    for m in session.scalars(select(LeadMerge).where(LeadMerge.lead_id == lead_id).order_by(LeadMerge.id)):
        b = batches.get(m.ingest_batch_id)
        add(m.merged_at, "merged", f"{b.origin if b else 'batch ' + str(m.ingest_batch_id)} row {m.source_row} "
            f"merged in (matched by {m.matched_by})", {"fields_filled": m.fields_filled})
    needle = lead.email.casefold()
    for q in session.scalars(select(Quarantine).where(Quarantine.ingest_batch_id.in_(list(batches)))):
        if any(isinstance(v, str) and needle in v.casefold() for v in q.raw.values()):
            add(q.created_at, "quarantined", f"{q.origin} row {q.source_row} held back ({q.status})", {"reasons": q.reasons})
    subjects = [lead.email_domain, f"email:{lead.email}"]
    fields: dict[tuple[str, str], list[str]] = {}
    for rec in session.scalars(select(EnrichmentRecord).where(EnrichmentRecord.domain.in_(subjects))):
        fields.setdefault((rec.domain, rec.provider), []).append(rec.field)
    for look in session.scalars(select(EnrichmentLookup).where(EnrichmentLookup.domain.in_(subjects))):
        what = "person" if look.domain.startswith("email:") else f"company {look.domain}"
        add(look.fetched_at, "enrichment", f"{look.provider}: {what} {look.status}",
            {"fields": sorted(fields.get((look.domain, look.provider), [])), "error": look.error})
    for h in session.scalars(select(ScoreHistory).where(ScoreHistory.lead_id == lead_id).order_by(ScoreHistory.id)):
        add(h.scored_at, "scored", f"score {h.score:g} grade {h.grade} (model {h.model_version})", {"breakdown": h.breakdown})
    for change in session.scalars(select(LeadStageChange).where(LeadStageChange.lead_id == lead_id).order_by(LeadStageChange.id)):
        add(change.changed_at, "stage", f"{change.from_stage or '-'} -> {change.to_stage}: {change.cause}")
    for a in session.scalars(select(Assignment).where(Assignment.lead_id == lead_id).order_by(Assignment.id)):
        skipped = [c for c in a.candidates if c.get("skipped")]
        who = codes.get(a.sdr_id) or "-"
        add(a.assigned_at, "routing", f"{a.kind} {a.status}: {who} (rule {a.rule or '-'}): {a.reason}",
            {"previous": codes.get(a.previous_sdr_id), "candidates_skipped": skipped})
        if a.ended_at:
            add(a.ended_at, "routing", f"assignment to {who} ended")
    clocks = {c.id: c for c in session.scalars(select(SlaClock).where(SlaClock.lead_id == lead_id))}
    for c in clocks.values():
        add(c.started_at, "sla", f"{c.kind} clock for {codes.get(c.sdr_id)} started, policy {c.policy}, "
            f"due {c.due_at.isoformat() if c.due_at else '-'}")
    for e in session.scalars(select(SlaEvent).where(SlaEvent.clock_id.in_(list(clocks))).order_by(SlaEvent.id)):
        if e.step != "started":
            add(e.at, "sla", f"{clocks[e.clock_id].kind} {e.step}: {e.detail}")
    for n in session.scalars(select(Notification).where(Notification.lead_id == lead_id).order_by(Notification.id)):
        add(n.created_at, "notification", f"{n.kind} to {n.recipient} via {n.channel}: {n.status}",
            {"sent_at": n.sent_at.isoformat() if n.sent_at else None, "error": n.last_error})
    for act in session.scalars(select(Activity).where(Activity.lead_id == lead_id).order_by(Activity.occurred_at)):
        add(act.occurred_at, "activity", f"{act.kind} {act.outcome or ''} by {codes.get(act.sdr_id) or 'marketing'}".strip())
    return sorted(events, key=lambda e: (e["at"] or "", e["kind"]))


def markdown(lead_id: int, events: list[dict[str, Any]]) -> str:
    """Return the timeline as a markdown table (for a Prefect artifact)."""
    rows = "\n".join(f"| {e['at'] or ''} | {e['kind']} | {str(e['what']).replace('|', '/')} |" for e in events)
    return f"# Lead {lead_id}: what happened\n\n| when (UTC) | what | detail |\n|---|---|---|\n{rows}\n"
