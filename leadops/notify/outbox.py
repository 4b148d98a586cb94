"""The notification outbox: enqueue once per key, deliver with retries, record every attempt.

Delivery is at-least-once at the wire and keyed: a message re-sent after a crash carries the same
idempotency key (the email's Message-ID, the webhook's Idempotency-Key header, the .eml file's name),
so a receiver that de-duplicates on it shows it once. Claims are leases: a sender renews its claims
while it lives, and the next delivery pass takes back the claims of a sender that died once their
lease is past (``LEADOPS_OUTBOX_LEASE_SECONDS``, 30 s by default).
"""
from __future__ import annotations

import os
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.orm import Session

from leadops.db.bulk import dialect_insert
from leadops.db.models import Notification, utcnow
from leadops.notify.senders import Sender

MAX_ATTEMPTS = 5
CLAIM_BATCH = 50
DEFAULT_LEASE = timedelta(seconds=30)


def enqueue(session: Session, *, key: str, kind: str, recipient: str, subject: str, body: str, lead_id: int | None = None,
            channel: str = "email") -> bool:
    """Insert a pending notification unless one with ``key`` exists; returns True when inserted."""
    values = dict(key=key, kind=kind, recipient=recipient, subject=subject, body=body, lead_id=lead_id,
                  status="pending", attempts=0, created_at=utcnow(), channel=channel)
    stmt = dialect_insert(session, Notification).values(**values).on_conflict_do_nothing(index_elements=["key"]).returning(Notification.id)
    return session.execute(stmt).scalar() is not None


@dataclass
class DeliveryReport:
    """Counts of one outbox delivery pass (grain: one message attempt)."""

    sent: int = 0
    failed: int = 0
    gave_up: int = 0
    # messages taken back from a sender whose lease ran out (it died or lost the database mid-batch)
    recovered: int = 0


def claimable(now: datetime):
    """Return the condition of a row this pass may claim at ``now``: pending, or claimed under a lease that is past
    (or a claim of a version that kept no lease)."""
    expired = or_(Notification.lease_until.is_(None), Notification.lease_until < now)
    return or_(Notification.status == "pending", and_(Notification.status == "sending", expired))


def holder_name() -> str:
    """Return a name for this sender's claims: host, process id and a nonce (two passes in one process differ)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class Heartbeat:
    """Renews ``holder``'s claims (``sending`` rows) every third of ``lease`` on a connection of its own while a
    pass sends, so a slow receiver never makes a live sender's claims look dead.

    ``held_until`` is the lease the last renewal wrote: a sender must not start a send at or past it (another
    pass may have taken the message back)."""

    def __init__(self, engine: Engine, holder: str, lease: timedelta, held_until: datetime) -> None:
        self.engine, self.holder, self.lease, self.held_until = engine, holder, lease, held_until
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
        with self.engine.begin() as conn:
            conn.execute(update(Notification)
                         .where(Notification.claimed_by == self.holder, Notification.status == "sending")
                         .values(lease_until=until))
        self.held_until = until

    def _run(self) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 3):
            try:
                self.renew()
            except Exception:  # noqa: BLE001 - a missed renewal only shortens the lease; held_until says so
                continue


def deliver(session: Session, sender: Sender, limit: int = 500, lease: timedelta | None = None) -> DeliveryReport:
    """Send pending notifications (and those of a dead sender whose lease is past), oldest first; returns counts.

    Rows are claimed with a conditional UPDATE (-> sending, with this pass's name and lease), CLAIM_BATCH at
    a time, committed before the sends, so concurrent senders on any backend never send the same row twice
    while its holder lives; each outcome is committed as soon as known. A pass killed between a receiver's
    acceptance and the commit of 'sent' leaves that message claimed: the next pass after the lease sends
    it again with the same idempotency key, which a de-duplicating receiver drops.
    """
    lease = lease or DEFAULT_LEASE
    holder = holder_name()
    report = DeliveryReport()
    now = utcnow()
    # A message whose sending stopped its sender MAX_ATTEMPTS times (killed, out of memory) would be claimed
    # again forever: give up on it, visibly, like a message the receiver refused MAX_ATTEMPTS times.
    report.gave_up += session.execute(
        update(Notification)
        .where(Notification.status == "sending", Notification.attempts >= MAX_ATTEMPTS,
               or_(Notification.lease_until.is_(None), Notification.lease_until < now))
        .values(status="failed", lease_until=None,
                last_error=f"gave up: the sender stopped while sending it {MAX_ATTEMPTS} times"),
        execution_options={"synchronize_session": False}).rowcount or 0
    session.commit()
    rows = session.execute(
        select(Notification.id, Notification.status).where(claimable(now)).order_by(Notification.id).limit(limit)
    ).all()
    # Every transaction below starts with its write: on SQLite a transaction that read first and
    # then writes cannot wait for another writer (SQLITE_BUSY at once, "database is locked").
    session.commit()
    ids = [r.id for r in rows]
    was_claimed = {r.id for r in rows if r.status == "sending"}
    claimed_at = utcnow()
    beat = Heartbeat(session.get_bind().engine, holder, lease, claimed_at + lease)
    try:
        with beat:
            for start in range(0, len(ids), CLAIM_BATCH):
                # claimed CLAIM_BATCH at a time: one committed UPDATE for the batch instead of one per message
                claimed_at = utcnow()
                claimed = session.scalars(
                    update(Notification)
                    .where(Notification.id.in_(ids[start:start + CLAIM_BATCH]), claimable(claimed_at))
                    .values(status="sending", claimed_at=claimed_at, claimed_by=holder, lease_until=claimed_at + lease,
                            attempts=Notification.attempts + 1)
                    .returning(Notification.id), execution_options={"synchronize_session": False}).all()
                session.commit()  # another sender skips these from here on, until the lease is past
                beat.held_until = max(beat.held_until, claimed_at + lease)
                report.recovered += len(was_claimed.intersection(claimed))
                notes = session.scalars(select(Notification).where(Notification.id.in_(claimed)).order_by(Notification.id)
                                        .execution_options(populate_existing=True)).all()
                for note in notes:
                    session.expunge(note)  # detached, loaded: sending reads no more from the database
                session.commit()
                for note in notes:
                    if utcnow() >= beat.held_until:
                        # the lease could not be renewed (database unreachable): another pass may own these now
                        return report
                    _send_one(session, sender, note, holder, report)
    finally:
        _release(session, holder)
    return report


def _send_one(session: Session, sender: Sender, note: Notification, holder: str, report: DeliveryReport) -> None:
    """Send one claimed message and commit its outcome (sent, or back to pending / failed with the error)."""
    try:
        sender.send(note)
    except Exception as exc:  # any transport error: keep the row, retry on the next pass
        status = "failed" if note.attempts >= MAX_ATTEMPTS else "pending"
        report.gave_up += status == "failed"
        report.failed += 1
        # only while still ours: a pass that took the claim back decides from here
        where = [Notification.claimed_by == holder, Notification.status == "sending"]
        outcome = dict(status=status, lease_until=None, last_error=f"{type(exc).__name__}: {exc}"[:1000])
    else:
        report.sent += 1
        # delivered is a fact whoever holds the claim now: recording it spares the receiver one more copy
        where = [Notification.status != "sent"]
        outcome = dict(status="sent", sent_at=utcnow(), lease_until=None, last_error=None)
    # each outcome as soon as known: a crash re-sends nothing already marked sent
    session.execute(update(Notification).where(Notification.id == note.id, *where).values(**outcome),
                    execution_options={"synchronize_session": False})
    session.commit()


def _release(session: Session, holder: str) -> None:
    """Hand back the claims this pass still holds (it stopped early: an error, a lost lease) so the next pass
    need not wait for the lease; best effort, as the lease frees them anyway."""
    try:
        session.rollback()
        session.execute(update(Notification)
                        .where(Notification.claimed_by == holder, Notification.status == "sending")
                        .values(status="pending", lease_until=None),
                        execution_options={"synchronize_session": False})
        session.commit()
    except Exception:  # noqa: BLE001 - the database is the likely cause of the stop; the lease covers it
        session.rollback()
