"""Write a :class:`SeedPlan`: its history into the database, its inbox files into the inbox folder.

Idempotent: leads are keyed by email, accounts by domain, activities by ``external_key``; rows
hanging off a lead are only written together with a newly inserted lead.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from leadops.config import Rules
from leadops.seed.plan import SeedPlan


def write_inbox_files(plan: SeedPlan, inbox_dir: Path | str, ingested: set[str] | frozenset[str] = frozenset()
                      ) -> list[Path]:
    """Write the plan's inbox files (exact bytes) into ``inbox_dir``; returns the paths written.

    A file whose SHA-256 is in ``ingested`` (content hashes of ingest batches) is not written:
    the pipeline would only find it ingested before and file it in var/processed once more.
    """
    inbox_dir = Path(inbox_dir)
    inbox_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in [*plan.inbox_files, *plan.activity_files]:
        if hashlib.sha256(f.content).hexdigest() in ingested:
            continue
        path = inbox_dir / f.name
        path.write_bytes(f.content)
        paths.append(path)
    return paths


def ingested_hashes(session: Session) -> set[str]:
    """Return the content hashes of the files ingested before (ingest batches not rejected: a
    rejected file is retried when it lands again)."""
    from leadops.db.models import IngestBatch

    return set(session.scalars(select(IngestBatch.content_hash).where(IngestBatch.status != "rejected")))


def _insert(session: Session, model: type, rows: list[dict[str, Any]]) -> int:
    if rows:
        session.execute(insert(model), rows)
    return len(rows)


def write_history(session: Session, plan: SeedPlan, rules: Rules) -> dict[str, int]:
    """Write the plan's history into the database; returns rows inserted per table.

    Idempotent: leads already present (by email) are skipped with everything hanging off
    them; accounts are inserted by domain when missing. Does not commit.
    """
    from leadops.db.models import (
        Account, Activity, Assignment, Lead, LeadStageChange, Opportunity, SlaClock, SlaEvent,
    )
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.roster import apply_roster

    ids = apply_roster(SqlUnitOfWork.around(session), rules.roster)
    counts: dict[str, int] = {"sdrs": len(ids)}
    have_domains = set(session.scalars(select(Account.domain)))
    counts["accounts"] = _insert(session, Account, [
        {"domain": a.domain, "name": a.name, "name_key": a.name_key, "owner_sdr_id": ids[a.owner] if a.owner else None,
         "created_at": a.created_at} for a in plan.accounts if a.domain not in have_domains])
    account_ids = dict(session.execute(select(Account.domain, Account.id)).tuples().all())
    have_emails = set(session.scalars(select(Lead.email)))
    new = [pl for pl in plan.leads if pl.email not in have_emails]
    counts["leads"] = _insert(session, Lead, [
        {**pl.fields, "owner_sdr_id": ids[pl.owner] if pl.owner else None,
         "account_id": account_ids.get(pl.account_domain) if pl.account_domain else None} for pl in new])
    emails = [pl.email for pl in new]
    lead_ids: dict[str, int] = {}
    for i in range(0, len(emails), 500):
        lead_ids.update(session.execute(select(Lead.email, Lead.id).where(Lead.email.in_(emails[i:i + 500]))).tuples().all())
    counts["lead_stage_history"] = _insert(session, LeadStageChange, [
        {"lead_id": lead_ids[pl.email], "from_stage": s.from_stage, "to_stage": s.to_stage, "cause": s.cause,
         "changed_at": s.at} for pl in new for s in pl.stages])
    counts["assignments"] = _insert(session, Assignment, [
        {"lead_id": lead_ids[pl.email], "sdr_id": ids[a.sdr], "ae_id": ids[a.ae] if a.ae else None, "kind": "initial",
         "status": "assigned", "rule": a.rule, "reason": a.reason, "candidates": a.candidates, "active": True,
         "assigned_at": a.assigned_at}
        for pl in new if (a := pl.assignment)])
    assignment_ids = dict(session.execute(
        select(Assignment.lead_id, Assignment.id).where(Assignment.active, Assignment.lead_id.in_(lead_ids.values()))
    ).tuples().all()) if lead_ids else {}
    # a clock starts with an assignment: a lead with a clock has an owner
    clocked = [(pl, pl.clock, pl.owner) for pl in new if pl.clock is not None and pl.owner is not None]
    counts["sla_clocks"] = _insert(session, SlaClock, [
        {"lead_id": lead_ids[pl.email], "sdr_id": ids[owner], "assignment_id": assignment_ids[lead_ids[pl.email]],
         "policy": c.policy, "kind": "first_touch", "target_seconds": c.target_seconds, "started_at": c.started_at,
         "due_at": c.due_at, "status": c.status, "elapsed_seconds": c.elapsed_seconds, "met_at": c.met_at,
         "evaluated_at": c.evaluated_at} for pl, c, owner in clocked])
    clock_ids = dict(session.execute(
        select(SlaClock.assignment_id, SlaClock.id).where(SlaClock.assignment_id.in_(assignment_ids.values()))
    ).tuples().all()) if assignment_ids else {}
    counts["sla_events"] = _insert(session, SlaEvent, [
        {"clock_id": clock_ids[assignment_ids[lead_ids[pl.email]]], "step": step, "at": at, "elapsed_seconds": el,
         "detail": detail} for pl, c, _ in clocked for step, at, el, detail in c.events])
    have_keys = set(session.scalars(select(Activity.external_key).where(Activity.external_key.like(
        f"seed:{plan.seed}:%"))))
    counts["activities"] = _insert(session, Activity, [
        {"lead_id": lead_ids[pl.email], "sdr_id": ids[a.sdr] if a.sdr else None, "kind": a.kind, "outcome": a.outcome,
         "occurred_at": a.occurred_at, "scheduled_for": a.scheduled_for, "detail": a.detail,
         "external_key": a.external_key} for pl in new for a in pl.activities if a.external_key not in have_keys])
    counts["opportunities"] = _insert(session, Opportunity, [
        {"lead_id": lead_ids[pl.email], "sdr_id": ids[o.sdr], "ae_id": ids[o.ae] if o.ae else None,
         "created_at": o.created_at, "stage": o.stage, "amount": o.amount, "closed_at": o.closed_at}
        for pl in new if (o := pl.opportunity)])
    session.flush()
    return counts

