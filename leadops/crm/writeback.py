"""Write leadops' decisions back to the CRM: planned into the outbox, delivered in batches, never blindly.

Planning compares each linked lead's decisions (owner, score, grade, stage, routing reason, SLA status) with the
values the CRM held when leadops last read or wrote the record, and queues one outbox message per record whose
values differ. The message key is the record, the values and the modification stamp they were decided against:
the same change is queued once whatever the number of runs, and a newer decision supersedes a pending older one.

An owner set in the CRM by someone else is kept: leadops writes the owner only when the CRM's owner is empty or
still the one leadops wrote last.

Delivery claims up to ``batch_size`` messages at a time (the outbox's leases: a dead sender's claims come back),
reads the records' current stamps (``check_modified``) and skips any record changed in the CRM since leadops read
it (superseded: the next sync reads it again and decides again), writes the rest in one batch call, and records
each record's outcome: sent; failed for good with the CRM's reason (a retry cannot fix a missing property); or
back to pending for the next pass (a rate limit or an outage outlasting the retries). Nothing is dropped silently:
every message ends sent, superseded or failed with its reason, and the run's artifact counts them.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leadops.crm.connection import Connection
from leadops.crm.http import CrmAuthError, CrmError
from leadops.db.models import Notification, utcnow
from leadops.db.repositories.crm import Decision
from leadops.db.repositories.outbox import Message
from leadops.db.unit_of_work import UnitOfWorkFactory
from leadops.notify.outbox import MAX_ATTEMPTS, Heartbeat, holder_name

PLAN_CHUNK = 2000
DEFAULT_LEASE = timedelta(seconds=60)


@dataclass
class PlanReport:
    """What one planning pass queued (grain: one CRM record)."""

    queued: int = 0
    unchanged: int = 0
    superseded: int = 0
    owner_kept: int = 0  # the CRM's owner was set by someone else: kept
    owner_unmapped: int = 0  # the lead's SDR has no owner id in this CRM


@dataclass
class DeliveryReport:
    """What one write-back delivery pass did (grain: one record update)."""

    written: int = 0
    failed: int = 0  # for good, with the CRM's reason
    retry: int = 0  # back to pending for the next pass
    conflicts: int = 0  # changed in the CRM since leadops read it: not written
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    per_object: dict[str, Counter[str]] = field(default_factory=dict)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return str(round(value)) if abs(value - round(value)) < 1e-9 else f"{value:.1f}"
    return str(value)


def same(a: Any, b: Any) -> bool:
    """Return True when a CRM value and a leadops value are the same (numbers compared as numbers, "" as None)."""
    a, b = (None if v in ("", None) else v for v in (a, b))
    if a is None or b is None:
        return a is b
    try:
        return abs(float(a) - float(b)) < 1e-6
    except (TypeError, ValueError):
        return str(a) == str(b)


def desired(d: Decision, fields: Mapping[str, str], owner_ids: Mapping[str, str], report: PlanReport) -> dict[str, str | None]:
    """Return CRM property -> value to write for one record (only the properties whose value must change)."""
    values: dict[str, Any] = {"score": _text(round(d.score)) if d.score is not None else None, "grade": d.grade,
                              "lifecycle_stage": d.lifecycle_stage,
                              "routing_reason": d.routing_reason[:255] if d.routing_reason else None,
                              "sla_status": d.sla_status}
    out: dict[str, str | None] = {}
    for key, prop in fields.items():
        if key == "owner":
            if d.owner is None:
                continue
            oid = owner_ids.get(d.owner)
            if oid is None:
                report.owner_unmapped += 1
                continue
            current = d.link.seen.get(prop)
            if current not in (None, "") and not same(current, d.link.written.get(prop)) and not same(current, oid):
                report.owner_kept += 1  # someone set it in the CRM: theirs
                continue
            value: Any = oid
        else:
            value = values[key]
            if value is None:
                continue  # nothing decided: never blank a CRM field
        if not same(d.link.seen.get(prop), value):
            out[prop] = value
    return out


def message_for(connector: str, d: Decision, props: dict[str, str | None]) -> Message:
    """Return the outbox message of one record's update, keyed by record, values and base stamp."""
    base = d.link.modified_at.isoformat()
    body = {"object": d.link.object, "id": d.link.external_id, "properties": props, "base_modified_at": base}
    digest = hashlib.sha256(json.dumps([props, base], sort_keys=True).encode()).hexdigest()[:20]
    recipient = f"{connector}:{d.link.object}:{d.link.external_id}"
    return Message(key=f"crm:{recipient}:{digest}", kind="crm_update", recipient=recipient,
                   subject=f"{connector} {d.link.object} {d.link.external_id}", body=json.dumps(body, sort_keys=True),
                   lead_id=d.link.lead_id, channel="crm")


def plan(units: UnitOfWorkFactory, connector: str, objects: Sequence[str], fields: Mapping[str, str],
         owner_ids: Mapping[str, str]) -> PlanReport:
    """Queue the write-back of every linked record whose decisions differ from what the CRM holds; returns counts.

    ``objects``: the connector's lead objects (the records written); ``owner_ids``: SDR code -> CRM owner id. One
    unit per chunk of ``PLAN_CHUNK`` records."""
    report = PlanReport()
    after = 0
    while True:
        with units() as uow:
            chunk = uow.crm.decisions(connector, objects, after, PLAN_CHUNK)
            if not chunk:
                return report
            after = chunk[-1].link.id
            messages = []
            for d in chunk:
                props = desired(d, fields, owner_ids, report)
                if props:
                    messages.append(message_for(connector, d, props))
                else:
                    report.unchanged += 1
            uow.outbox.enqueue_many(messages, utcnow())
            report.queued += len(messages)
            report.superseded += uow.crm.supersede([m.recipient for m in messages], [m.key for m in messages])


def deliver(units: UnitOfWorkFactory, conn: Connection, *, limit: int = 100_000, lease: timedelta | None = None,
            on_batch: Callable[[DeliveryReport], None] | None = None) -> DeliveryReport:
    """Send the pending write-backs of ``conn``'s connector in batches; returns what happened (grain: record).

    Raises CrmAuthError (the run must stop: every further call would fail too) after handing back its claims."""
    cfg = conn.cfg
    lease = lease or DEFAULT_LEASE
    holder = holder_name()
    report = DeliveryReport()
    with units() as uow:
        uow.outbox.give_up_stalled(utcnow(), MAX_ATTEMPTS,
                                   f"gave up: the sender stopped while writing it {MAX_ATTEMPTS} times")
    with units() as uow:
        ids = [i for i, _ in uow.outbox.claimable(utcnow(), limit, crm=cfg.name)]
    beat = Heartbeat(units, holder, lease, utcnow() + lease)
    size = conn.write_batch(len(ids))
    try:
        with beat:
            for start in range(0, len(ids), size):
                now = utcnow()
                with units() as uow:
                    notes = uow.outbox.claim(ids[start:start + size], holder, now, now + lease)
                beat.held_until = max(beat.held_until, now + lease)
                if notes:
                    _send_batch(units, conn, notes, holder, report)
                    if on_batch is not None:
                        on_batch(report)
    finally:
        try:
            with units() as uow:
                uow.outbox.release(holder)
        except Exception:  # noqa: BLE001, S110 - the lease frees them anyway
            pass
    return report


def _send_batch(units: UnitOfWorkFactory, conn: Connection, notes: list[Notification], holder: str,
                report: DeliveryReport) -> None:
    """Write one claimed batch (grouped by object) and commit every record's outcome in one unit."""
    cfg = conn.cfg
    by_object: dict[str, list[tuple[Notification, dict[str, Any]]]] = {}
    for n in notes:
        by_object.setdefault(json.loads(n.body)["object"], []).append((n, json.loads(n.body)))
    for obj, items in by_object.items():
        counts = report.per_object.setdefault(obj, Counter())
        sent: list[tuple[Notification, dict[str, Any], datetime | None]] = []
        failed: list[tuple[Notification, str, bool]] = []  # note, error, give up
        conflicts: list[tuple[Notification, str]] = []
        todo = items
        try:
            if cfg.write_back.check_modified:
                stamps = conn.read_modified_at(obj, [b["id"] for _, b in items])
                todo = []
                for n, b in items:
                    now_at, base = stamps.get(b["id"]), datetime.fromisoformat(b["base_modified_at"])
                    if now_at is None:
                        failed.append((n, f"{obj} {b['id']} is no longer in the CRM (deleted or merged)", True))
                    elif now_at > base:
                        conflicts.append((n, (f"changed in the CRM at {now_at.isoformat()} after leadops read it "
                                             f"({base.isoformat()}): not overwritten; read again on the next sync")))
                    else:
                        todo.append((n, b))
            results = {r.id: r for r in conn.update(obj, {b["id"]: b["properties"] for _, b in todo})} if todo else {}
        except CrmAuthError:
            raise
        except CrmError as exc:
            # the whole batch failed after the transport's retries: a later pass may succeed if it was retryable
            error = conn.redact(str(exc))
            failed += [(n, error, not exc.retryable) for n, _ in todo]
            results, todo = {}, []
        for n, b in todo:
            r = results.get(b["id"])
            if r is None:
                failed.append((n, f"the CRM returned no result for {obj} {b['id']}", False))
            elif r.ok:
                sent.append((n, b, r.modified_at))
            else:
                failed.append((n, conn.redact(r.error or "failed"), not r.retryable))
        _record(units, conn, obj, holder, sent, failed, conflicts, report, counts)


def _record(units: UnitOfWorkFactory, conn: Connection, obj: str, holder: str,
            sent: list[tuple[Notification, dict[str, Any], datetime | None]], failed: list[tuple[Notification, str, bool]],
            conflicts: list[tuple[Notification, str]], report: DeliveryReport, counts: Counter[str]) -> None:
    now = utcnow()
    with units() as uow:
        uow.outbox.mark_sent_many([n.id for n, _, _ in sent], now)
        uow.crm.mark_written(conn.cfg.name, obj, [(b["id"], b["properties"], stamp) for _, b, stamp in sent], now)
        for n, error in conflicts:
            uow.outbox.mark_superseded(n.id, error)
        for n, error, give_up in failed:
            final = give_up or n.attempts >= MAX_ATTEMPTS
            uow.outbox.mark_failed(n.id, holder, error, give_up=final)
            if final:
                report.failed += 1
                counts["failed"] += 1
                report.errors[error.split(":", 1)[0][:80] if ":" in error else error[:80]] += 1
            else:
                report.retry += 1
                counts["retry"] += 1
    report.written += len(sent)
    report.conflicts += len(conflicts)
    counts["written"] += len(sent)
    counts["conflicts"] += len(conflicts)
