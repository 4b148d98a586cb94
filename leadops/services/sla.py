"""Enforce first-touch SLAs in each owner's business time: met, reminder, breach, reassignment.

Every step is an sla_events row unique on (clock, step) and every message an outbox row keyed by
(kind, clock, step), so reruns and overlapping runs never act twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from leadops.config import Rules
from leadops.db.bulk import dialect_insert
from leadops.db.models import Activity, Lead, Sdr, SlaClock, SlaEvent, utcnow
from leadops.domain.business_time import BusinessIndex, add_business_seconds
from leadops.domain.routing import Decision
from leadops.notify.outbox import enqueue
from leadops.services.route import calendar_of, reassign

OPEN = ("open", "breached")
CADENCE_ENDS = ("sql", "opportunity", "won", "lost", "disqualified", "nurture")


@dataclass
class SlaSummary:
    """Counts of one SLA sweep (grain: clocks) and the breaches it found."""

    open: int = 0
    met: int = 0
    reminded: int = 0
    breached: int = 0
    reassigned: int = 0
    closed: int = 0  # cadence clocks ended because the lead moved on
    notifications_queued: int = 0
    breaches: list[dict[str, Any]] = field(default_factory=list)
    # what was done, lead by lead (one row per reminder, breach or reassignment, in clock order; the
    # first ACTIONS_SHOWN, the counts cover all): what a dry run prints and what its real run then does
    actions: list[dict[str, Any]] = field(default_factory=list)


ACTIONS_SHOWN = 1000


def _action(summary: SlaSummary, **row: Any) -> None:
    """Record one step taken on one lead in ``summary.actions`` (up to ACTIONS_SHOWN rows)."""
    if len(summary.actions) < ACTIONS_SHOWN:
        summary.actions.append(row)


def _epoch_us(values) -> "np.ndarray":
    """Epoch microseconds (int64) of a column of aware datetimes."""
    return pd.to_datetime(pd.Series(values), utc=True).astype("datetime64[us, UTC]").astype("int64").to_numpy()


def _start_cadences(session: Session, first_touches: pd.DataFrame, sdrs: dict[int, Sdr], cadence: Any,
                    now: datetime) -> None:
    """Open a follow-up cadence clock from each first touch just met (once per assignment)."""
    if first_touches.empty:
        return
    rows = []
    for r in first_touches.itertuples():
        start = r.touched.to_pydatetime()
        due = add_business_seconds(calendar_of(sdrs[int(r.sdr_id)]), start, cadence.within)
        rows.append(dict(lead_id=int(r.lead_id), sdr_id=int(r.sdr_id), assignment_id=int(r.assignment_id),
                         policy="cadence", kind="cadence", touches_required=cadence.touches,
                         target_seconds=int(cadence.within), started_at=start, due_at=due, status="open",
                         elapsed_seconds=0))
    for i in range(0, len(rows), 1000):
        session.execute(dialect_insert(session, SlaClock).values(rows[i:i + 1000])
                        .on_conflict_do_nothing(index_elements=["assignment_id", "kind"]))


def _by(due: Any) -> str:
    return f" by {due:%Y-%m-%d %H:%M} UTC" if due is not None and not pd.isna(due) else " soon"


def _record_steps(session: Session, rows: list[dict[str, Any]]) -> set[tuple[int, str]]:
    """Insert SLA events, skipping (clock, step) pairs already there; returns the pairs this call inserted.

    The unique (clock_id, step) constraint makes overlapping sweeps safe: only the sweep whose
    insert lands sends the matching notification.
    """
    if not rows:
        return set()
    done: set[tuple[int, str]] = set()
    for i in range(0, len(rows), 1000):
        stmt = (dialect_insert(session, SlaEvent).values(rows[i:i + 1000]).on_conflict_do_nothing(index_elements=["clock_id", "step"])
                .returning(SlaEvent.clock_id, SlaEvent.step))
        done.update((c, st) for c, st in session.execute(stmt))
    return done


def enforce(session: Session, rules: Rules, company_tz: str, *, now: datetime | None = None,
            flow_run_id: str | None = None) -> SlaSummary:
    """Evaluate every open clock as of ``now``, set-based; returns counts per outcome.

    Clocks are read as one frame; elapsed business time is computed for all of them at once
    from each owner's cumulative business-time index; only the clocks that reach a step are
    written (met, reminder, breach, reassign), each step once thanks to the unique
    (clock, step) constraint.
    """
    now = now or utcnow()
    sla = rules.sla
    summary = SlaSummary()
    # a cadence ends when the lead moves on (qualified, closed, disqualified, back to nurture)
    summary.closed = session.execute(
        update(SlaClock).where(SlaClock.kind == "cadence", SlaClock.status.in_(OPEN),
                               SlaClock.lead_id.in_(select(Lead.id).where(Lead.lifecycle_stage.in_(CADENCE_ENDS))))
        .values(status="closed", evaluated_at=now)).rowcount or 0
    clocks = pd.DataFrame(session.execute(
        select(SlaClock.id, SlaClock.lead_id, SlaClock.sdr_id, SlaClock.assignment_id, SlaClock.kind,
               SlaClock.touches_required, SlaClock.started_at, SlaClock.target_seconds, SlaClock.policy, SlaClock.due_at)
        .where(SlaClock.status.in_(OPEN)).order_by(SlaClock.id)).all(),
        columns=["id", "lead_id", "sdr_id", "assignment_id", "kind", "required", "started_at", "target", "policy", "due_at"])
    if clocks.empty:
        return summary
    # the owner's touches since each clock started: the first one meets a first-touch clock,
    # the N-th one (the first included) completes a cadence
    touch_rows = pd.DataFrame(session.execute(
        select(SlaClock.id, Activity.occurred_at)
        .join(Activity, (SlaClock.lead_id == Activity.lead_id) & (SlaClock.sdr_id == Activity.sdr_id))
        .where(SlaClock.status.in_(OPEN), Activity.kind.in_(sla.touch_kinds), Activity.occurred_at >= SlaClock.started_at,
               Activity.occurred_at <= now)).all(), columns=["id", "at"])
    touch_rows = touch_rows.sort_values(["id", "at"])
    touch_rows["n"] = touch_rows.groupby("id").cumcount() + 1
    done_count = touch_rows.groupby("id")["n"].max().rename("touch_count")
    clocks = clocks.merge(done_count, left_on="id", right_index=True, how="left")
    clocks["touch_count"] = clocks["touch_count"].fillna(0).astype(int)
    nth = touch_rows.merge(clocks[["id", "required"]], on="id")
    nth = nth[nth["n"] == nth["required"]][["id", "at"]].rename(columns={"at": "touched"})
    clocks = clocks.merge(nth, on="id", how="left")
    met = clocks["touched"].notna().to_numpy()
    start_us = _epoch_us(clocks["started_at"])
    now_us = int(pd.Timestamp(now).tz_convert("UTC").value // 1000)
    end_us = np.where(met, _epoch_us(clocks["touched"].where(clocks["touched"].notna(), now)), now_us)
    elapsed = np.zeros(len(clocks), dtype=np.int64)
    sdrs = {s.id: s for s in session.scalars(select(Sdr).options(selectinload(Sdr.out_of_office)))}
    for sdr_id, idx in clocks.groupby("sdr_id").indices.items():
        lo = pd.Timestamp(int(start_us[idx].min()), unit="us", tz="UTC").to_pydatetime()
        index = BusinessIndex(calendar_of(sdrs[sdr_id]), lo, max(now, lo + timedelta(seconds=1)))
        elapsed[idx] = index.between(start_us[idx], end_us[idx])
    target = clocks["target"].to_numpy()
    ratio = np.where(target > 0, elapsed / np.maximum(target, 1), 1.0)
    summary.met = int(met.sum())
    summary.open = int((~met).sum())

    # met clocks: closed with their elapsed time
    if met.any():
        rows = clocks[met]
        el = elapsed[met]
        session.execute(update(SlaClock), [
            {"id": int(cid), "status": "met", "met_at": t.to_pydatetime(), "elapsed_seconds": int(e), "evaluated_at": now}
            for cid, t, e in zip(rows["id"], rows["touched"], el)])
        what = {"first_touch": "first touch", "cadence": "follow-up cadence"}
        _record_steps(session, [dict(clock_id=int(cid), step="met", at=t.to_pydatetime(), elapsed_seconds=int(e),
                                     detail=f"{what.get(k, k)} {'late' if e > tg else 'in time'}")
                                for cid, t, e, tg, k in zip(rows["id"], rows["touched"], el, rows["target"], rows["kind"])])
        if sla.cadence is not None:
            _start_cadences(session, rows[rows["kind"] == "first_touch"], sdrs, sla.cadence, now)

    # open clocks crossing a threshold: one event each, then their messages
    steps: list[dict[str, Any]] = []
    first_touch = (clocks["kind"] == "first_touch").to_numpy()
    for step, threshold in (("reminder", sla.reminder_at), ("breach", 1.0), ("reassign", sla.reassign_at)):
        hit = ~met & (ratio >= threshold) & (first_touch if step == "reassign" else True)  # cadences are not reassigned
        steps += [dict(clock_id=int(cid), step=step, at=now, elapsed_seconds=int(e), detail=f"{r:.0%} of target")
                  for cid, e, r in zip(clocks["id"].to_numpy()[hit], elapsed[hit], ratio[hit])]
    new = _record_steps(session, steps)
    if not new:
        return summary
    by_id = clocks.set_index("id")
    touched_ids = sorted({c for c, _ in new})
    session.execute(update(SlaClock), [
        {"id": int(cid), "elapsed_seconds": int(elapsed[by_id.index.get_loc(cid)]), "evaluated_at": now}
        for cid in touched_ids])
    breached = [int(cid) for cid, step in new if step == "breach"]
    if breached:
        session.execute(update(SlaClock).where(SlaClock.id.in_(breached)).values(status="breached"))
    leads = {le.id: le for le in session.scalars(select(Lead).where(Lead.id.in_(
        [int(by_id.at[c, "lead_id"]) for c in touched_ids])))}
    for cid, step in sorted(new, key=lambda cs: (cs[0], ("reminder", "breach", "reassign").index(cs[1]))):
        row = by_id.loc[cid]
        sdr, lead = sdrs[int(row["sdr_id"])], leads[int(row["lead_id"])]
        label = f"lead #{lead.id} ({lead.company or lead.email_domain})"
        if row["kind"] == "cadence" and step in ("reminder", "breach"):
            done, required = int(row["touch_count"]), int(row["required"])
            summary.reminded += step == "reminder"
            summary.breached += step == "breach"
            manager = sdrs.get(sdr.manager_id) if step == "breach" else None
            notified = []
            for who in filter(None, (sdr, manager)):
                if enqueue(session, key=f"sla:{cid}:{step}:{who.code}", kind=f"cadence_{step}", recipient=who.email,
                           lead_id=lead.id,
                           subject=f"[leadops] Follow-up {'behind' if step == 'reminder' else 'missed'}: {label}",
                           body=f"{label} owned by {sdr.name}: {done} of {required} follow-up touches so far; the "
                                f"cadence ends{_by(row['due_at'])}.\n"):
                    notified.append(who.code)
            summary.notifications_queued += len(notified)
            _action(summary, lead_id=lead.id, clock_id=int(cid), clock="cadence", step=step, sdr=sdr.code,
                    to=None, rule=None, notified=notified, detail=f"{done} of {required} follow-up touches")
            continue
        notified = []
        detail = None
        to = rule = None
        if step == "reminder":
            summary.reminded += 1
            if enqueue(session, key=f"sla:{cid}:reminder", kind="sla_reminder", recipient=sdr.email, lead_id=lead.id,
                       subject=f"[leadops] Reminder: first touch due soon for {label}",
                       body=f"{sdr.name}, {label} is due for a first touch{_by(row['due_at'])} ({row['policy']}).\n"):
                notified.append(sdr.code)
        elif step == "breach":
            summary.breached += 1
            manager = sdrs.get(sdr.manager_id)
            for who in filter(None, (sdr, manager)):
                if enqueue(session, key=f"sla:{cid}:breach:{who.code}", kind="sla_breach", recipient=who.email,
                           lead_id=lead.id, subject=f"[leadops] SLA breached: {label} (owner {sdr.name})",
                           body=f"{label} assigned to {sdr.name} had no first touch within {int(row['target']) // 60} "
                                f"business minutes (policy {row['policy']}).\n"):
                    notified.append(who.code)
            summary.breaches.append({"lead_id": lead.id, "sdr": sdr.code, "policy": row["policy"], "clock_id": int(cid)})
        elif step == "reassign":
            clock = session.get(SlaClock, int(cid))
            decision = _reassign(session, clock, lead, rules, company_tz, now, flow_run_id)
            if decision.status == "assigned":
                summary.reassigned += 1
                to, rule = decision.sdr, decision.rule
            else:
                detail = f"stays with {sdr.code}: {decision.reason}"
        summary.notifications_queued += len(notified)
        share = ratio[by_id.index.get_loc(cid)]
        _action(summary, lead_id=lead.id, clock_id=int(cid), clock="first_touch", step=step, sdr=sdr.code, to=to,
                rule=rule, notified=notified, detail=detail or f"policy {row['policy']}, {share:.0%} of target")
    return summary


def _reassign(session: Session, clock: SlaClock, lead: Lead, rules: Rules, company_tz: str, now: datetime,
              flow_run_id: str | None) -> Decision:
    """End the owner's assignment and route the lead again without them; returns the routing decision.

    An ``unroutable`` decision changed nothing: nobody else can take the lead, so it stays with its
    owner and the breach (already escalated) stands.
    """
    return reassign(session, lead, rules, company_tz, now, kind="reassign", flow_run_id=flow_run_id,
                    reason=f"SLA {clock.policy} missed by the owner")


def queue_breach_digests(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Queue, per manager, one email listing their team's breached clocks still open (keyed by manager and hour).

    Returns {"managers": n, "breaches": n, "queued": n}: ``queued`` is 0 when this hour's
    digests were already queued.
    """
    now = now or utcnow()
    rows = session.execute(
        select(SlaClock.id, SlaClock.policy, SlaClock.kind, SlaClock.started_at, Lead.id, Lead.company, Lead.email_domain,
               Sdr.code, Sdr.name, Sdr.manager_id)
        .join(Lead, Lead.id == SlaClock.lead_id).join(Sdr, Sdr.id == SlaClock.sdr_id)
        .where(SlaClock.status == "breached").order_by(Sdr.code, SlaClock.started_at)).all()
    by_manager: dict[int, list[Any]] = {}
    for r in rows:
        if r.manager_id is not None:
            by_manager.setdefault(r.manager_id, []).append(r)
    queued = 0
    for manager_id, items in sorted(by_manager.items()):
        manager = session.get(Sdr, manager_id)
        what = {"first_touch": "no first touch", "cadence": "follow-up cadence missed"}
        lines = [f"- lead #{r[4]} ({r.company or r.email_domain}), owner {r.name} ({r.code}): "
                 f"{what.get(r.kind, r.kind)}, policy {r.policy}, clock started {r.started_at:%Y-%m-%d %H:%M} UTC"
                 for r in items]
        queued += enqueue(session, key=f"sla-digest:{manager.code}:{now:%Y%m%d%H}", kind="sla_digest",
                          recipient=manager.email,
                          subject=f"[leadops] {len(items)} lead(s) of your team are past their SLA",
                          body=f"Hello {manager.name},\n\nThese leads are past their SLA:\n" + "\n".join(lines)
                               + "\n\n`leadops explain LEAD_ID` shows the routing; `leadops reassign LEAD_ID` moves a lead.\n")
    return {"managers": len(by_manager), "breaches": sum(len(v) for v in by_manager.values()), "queued": queued}
