"""The notification outbox: enqueue once per key, deliver with retries, record every attempt.

Delivery is at-least-once at the wire and keyed: a message re-sent after a crash carries the same
idempotency key (the email's Message-ID, the webhook's Idempotency-Key header, the .eml file's name),
so a receiver that de-duplicates on it shows it once. Claims are leases: a sender renews its claims
while it lives, and the next delivery pass takes back the claims of a sender that died once their
lease is past (``LEADOPS_OUTBOX_LEASE_SECONDS``, 30 s by default).

A pass works through a factory of units of work, one short transaction per step (give up on stalled
claims, list, claim a batch, each outcome), committed at once: a claim must be visible to every other
sender before the first send of its batch, and an outcome durable before the next send (but a 'sent' mark on
PostgreSQL, committed without waiting for the disk: a database crash may undo the last ones, whose messages are
then sent again under their keys, see SqlOutboxRepository.mark_sent).
"""
from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy.orm import Session

from leadops.db.models import Notification, utcnow
from leadops.db.repositories.outbox import Message, OutboxRepository, SqlOutboxRepository
from leadops.notify.senders import FallBack, Sender

class OutboxUnit(Protocol):
    """What delivery needs of a unit of work (leadops.db.unit_of_work.UnitOfWork is one): its outbox, and a
    transaction that commits on a clean exit. Declared here, not imported: the routing service imports this
    module, and the unit of work's repositories import the routing service."""

    @property
    def outbox(self) -> OutboxRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


#: what ``deliver`` receives: a new unit on each call (``sql_units(url)``: a UnitOfWorkFactory is one)
OutboxUnits = Callable[[], OutboxUnit]

MAX_ATTEMPTS = 5
CLAIM_BATCH = 50
DEFAULT_LEASE = timedelta(seconds=30)


def enqueue(session: Session, *, key: str, kind: str, recipient: str, subject: str, body: str,
            lead_id: int | None = None, channel: str = "email") -> bool:
    """Insert a pending notification unless one with ``key`` exists; returns True when inserted.

    For callers that hold a session, not a unit of work (the routing service, the weekly report task); a
    service on the unit-of-work seam calls ``uow.outbox.enqueue`` (this is what runs)."""
    return SqlOutboxRepository(session).enqueue(Message(key=key, kind=kind, recipient=recipient, subject=subject,
                                                        body=body, lead_id=lead_id, channel=channel))


@dataclass
class DeliveryReport:
    """Counts of one outbox delivery pass (grain: one message attempt)."""

    sent: int = 0
    failed: int = 0
    gave_up: int = 0
    # messages taken back from a sender whose lease ran out (it died or lost the database mid-batch)
    recovered: int = 0
    # messages their channel could not deliver (Slack: no such member, a revoked token...), replaced by their
    # stand-ins (emails) queued in the same transaction; ``fallbacks`` says which and why (the run's artifact)
    fell_back: int = 0
    fallbacks: list[dict[str, Any]] = field(default_factory=list)
    sent_by_channel: dict[str, int] = field(default_factory=dict)
    # the channel senders' own counts (Slack: posted, rate_limited, waited_seconds, lookups, cache_hits...)
    channel_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the keys of the stand-ins queued by this pass (sent by its later rounds)
    stand_ins: list[str] = field(default_factory=list)


def holder_name() -> str:
    """Return a name for this sender's claims: host, process id and a nonce (two passes in one process differ)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class Heartbeat:
    """Renews ``holder``'s claims (``sending`` rows) every third of ``lease`` while a pass sends, so a slow
    receiver never makes a live sender's claims look dead.

    It runs on a thread of its own and renews in units of work of its own (each a session and a pooled
    connection of its own): the sending thread is blocked in a receiver's call or holds its outcome's unit,
    a session must never be shared between threads, and a renewal must commit whatever the sending does.

    ``held_until`` is the lease the last renewal wrote: a sender must not start a send at or past it (another
    pass may have taken the message back)."""

    def __init__(self, units: OutboxUnits, holder: str, lease: timedelta, held_until: datetime) -> None:
        self.units, self.holder, self.lease, self.held_until = units, holder, lease, held_until
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"outbox-lease-{holder}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def renew(self) -> None:
        """Extend every claim this holder still has to now + lease; raises on a database error."""
        until = utcnow() + self.lease
        with self.units() as uow:
            uow.outbox.renew(self.holder, until)
        self.held_until = until

    def _run(self) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 3):
            try:
                self.renew()
            except Exception:  # noqa: BLE001, S112 - a missed renewal only shortens the lease; held_until says so
                continue


def deliver(units: OutboxUnits, sender: Sender, limit: int = 500,
            lease: timedelta | None = None) -> DeliveryReport:
    """Send pending notifications (and those of a dead sender whose lease is past), oldest first; returns counts
    (grain: one message attempt).

    Rows are claimed with a conditional UPDATE (-> sending, with this pass's name and lease), CLAIM_BATCH at
    a time, each claim in a unit of its own committed before the sends, so concurrent senders on any backend
    never send the same row twice while its holder lives; each outcome is committed as soon as known, in a
    unit of its own. A pass killed between a receiver's acceptance and the commit of 'sent' leaves that
    message claimed: the next pass after the lease sends it again with the same idempotency key, which a
    de-duplicating receiver drops.
    """
    lease = lease or DEFAULT_LEASE
    report = DeliveryReport()
    # a message that fell back queued its stand-ins (emails): later rounds send those, and only those, in this pass
    keys: set[str] | None = None
    for _ in range(3):
        stand_ins = len(report.stand_ins)
        _deliver_round(units, sender, limit, lease, report, keys)
        keys = set(report.stand_ins[stand_ins:])
        if not keys:
            break
    stats = getattr(sender, "stats", None)
    report.channel_stats = stats() if callable(stats) else {}
    return report


def _deliver_round(units: OutboxUnits, sender: Sender, limit: int, lease: timedelta, report: DeliveryReport,
                   keys: set[str] | None) -> None:
    """One listing of the claimable messages, claimed and sent batch by batch (see ``deliver``)."""
    holder = holder_name()
    now = utcnow()
    # A message whose sending stopped its sender MAX_ATTEMPTS times (killed, out of memory) would be claimed
    # again forever: give up on it, visibly, like a message the receiver refused MAX_ATTEMPTS times.
    with units() as uow:
        report.gave_up += uow.outbox.give_up_stalled(
            now, MAX_ATTEMPTS, f"gave up: the sender stopped while sending it {MAX_ATTEMPTS} times")
    # Listing is a unit of its own and every unit below starts with its write: on SQLite a transaction that
    # read first and then writes cannot wait for another writer (SQLITE_BUSY at once, "database is locked").
    with units() as uow:
        rows = uow.outbox.claimable(now, limit, keys=keys)
    ids = [id_ for id_, _ in rows]
    was_claimed = {id_ for id_, before in rows if before}
    beat = Heartbeat(units, holder, lease, utcnow() + lease)
    try:
        with beat:
            for start in range(0, len(ids), CLAIM_BATCH):
                # claimed CLAIM_BATCH at a time: one committed UPDATE for the batch instead of one per message
                claimed_at = utcnow()
                with units() as uow:
                    notes = uow.outbox.claim(ids[start:start + CLAIM_BATCH], holder, claimed_at, claimed_at + lease)
                # committed: another sender skips these from here on, until the lease is past
                beat.held_until = max(beat.held_until, claimed_at + lease)
                report.recovered += len(was_claimed.intersection(n.id for n in notes))
                for note in notes:
                    if utcnow() >= beat.held_until:
                        # the lease could not be renewed (database unreachable): another pass may own these now
                        return
                    _send_one(units, sender, note, holder, report)
    finally:
        _release(units, holder)


def _send_one(units: OutboxUnits, sender: Sender, note: Notification, holder: str,
              report: DeliveryReport) -> None:
    """Send one claimed message and commit its outcome (sent, or back to pending / failed with the error)."""
    try:
        sender.send(note)
    except FallBack as exc:
        if not _fall_back(units, sender, note, holder, exc.reason, report):
            # refused with nothing to stand in for it: failed for good, with the reason (a retry cannot help)
            report.failed += 1
            report.gave_up += 1
            with units() as uow:
                uow.outbox.mark_failed(note.id, holder, exc.reason, give_up=True)
    except Exception as exc:  # noqa: BLE001 - any transport error: keep the row, retry on the next pass
        give_up = note.attempts >= MAX_ATTEMPTS
        error = f"{type(exc).__name__}: {exc}"
        if give_up and _fall_back(units, sender, note, holder, f"gave up after {note.attempts} attempts: {error}",
                                  report):
            return
        report.gave_up += give_up
        report.failed += 1
        # each outcome as soon as known: a crash re-sends nothing already marked sent
        with units() as uow:
            uow.outbox.mark_failed(note.id, holder, error, give_up=give_up)
    else:
        report.sent += 1
        report.sent_by_channel[note.channel] = report.sent_by_channel.get(note.channel, 0) + 1
        with units() as uow:
            uow.outbox.mark_sent(note.id, utcnow())


def _fall_back(units: OutboxUnits, sender: Sender, note: Notification, holder: str, reason: str,
               report: DeliveryReport) -> bool:
    """Replace ``note`` by its stand-ins (``sender.fallback``), queued in the transaction that marks it
    ``fallback`` with the reason; returns False (nothing done) when it has none."""
    hook = getattr(sender, "fallback", None)
    stand_ins = list(hook(note)) if hook is not None else []
    if not stand_ins:
        return False
    with units() as uow:
        uow.outbox.mark_fell_back(note.id, holder, reason)
        for m in stand_ins:
            uow.outbox.enqueue(m)
    report.stand_ins += [m.key for m in stand_ins]
    report.fell_back += 1
    report.fallbacks.append({"key": note.key, "kind": note.kind, "to": note.recipient, "reason": reason[:300],
                             "instead": ", ".join(f"{m.channel} to {m.recipient}" for m in stand_ins)})
    return True


def _release(units: OutboxUnits, holder: str) -> None:
    """Hand back the claims this pass still holds (it stopped early: an error, a lost lease) so the next pass
    need not wait for the lease; best effort, as the lease frees them anyway."""
    try:
        with units() as uow:
            uow.outbox.release(holder)
    except Exception:  # noqa: BLE001, S110 - the database is the likely cause of the stop; the lease covers it
        pass
