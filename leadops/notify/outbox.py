"""The notification outbox: enqueue once per key, deliver with retries, record every attempt."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leadops.db.bulk import dialect_insert
from leadops.db.models import Notification, utcnow
from leadops.notify.senders import Sender

MAX_ATTEMPTS = 5
CLAIM_BATCH = 50


def enqueue(session: Session, *, key: str, kind: str, recipient: str, subject: str, body: str, lead_id: int | None = None,
            channel: str = "email") -> bool:
    """Insert a pending notification unless one with ``key`` exists; returns True when inserted."""
    values = dict(key=key, kind=kind, recipient=recipient, subject=subject, body=body, lead_id=lead_id,
                  status="pending", attempts=0, created_at=utcnow(), channel=channel)
    stmt = dialect_insert(session, Notification).values(**values).on_conflict_do_nothing(index_elements=["key"]).returning(Notification.id)
    return session.execute(stmt).scalar() is not None


@dataclass
class DeliveryReport:
    """Counts of one outbox delivery pass."""

    sent: int = 0
    failed: int = 0
    gave_up: int = 0


def deliver(session: Session, sender: Sender, limit: int = 500, stale_after: timedelta = timedelta(minutes=10)) -> DeliveryReport:
    """Send pending notifications, oldest first; returns counts.

    Rows are claimed with a conditional UPDATE (pending -> sending), CLAIM_BATCH at a time,
    committed before the sends, so concurrent workers on any backend never send the same row
    twice; each outcome is committed as soon as known. A row left in ``sending`` by a crashed
    worker goes back to pending after ``stale_after`` (at-least-once on a crash; the
    X-Leadops-Key header lets receivers drop that rare duplicate).
    """
    report = DeliveryReport()
    now = utcnow()
    session.execute(
        update(Notification)
        .where(Notification.status == "sending", Notification.claimed_at < now - stale_after)
        .values(status="pending")
    )
    session.commit()
    ids = session.scalars(
        select(Notification.id).where(Notification.status == "pending").order_by(Notification.id).limit(limit)
    ).all()
    # Every transaction below starts with its write: on SQLite a transaction that read first and
    # then writes cannot wait for another writer (SQLITE_BUSY at once, "database is locked").
    session.commit()
    for start in range(0, len(ids), CLAIM_BATCH):
        # claimed CLAIM_BATCH at a time: one committed UPDATE for the batch instead of one per message,
        # and at most that many wait for stale_after if this worker dies before sending them
        claimed = session.scalars(
            update(Notification)
            .where(Notification.id.in_(ids[start:start + CLAIM_BATCH]), Notification.status == "pending")
            .values(status="sending", claimed_at=utcnow(), attempts=Notification.attempts + 1)
            .returning(Notification.id), execution_options={"synchronize_session": False}).all()
        session.commit()  # another worker skips these from here on
        notes = session.scalars(select(Notification).where(Notification.id.in_(claimed)).order_by(Notification.id)
                                .execution_options(populate_existing=True)).all()
        for note in notes:
            session.expunge(note)  # detached, loaded: sending reads no more from the database
        session.commit()
        for note in notes:
            try:
                sender.send(note)
            except Exception as exc:  # any transport error: keep the row, retry on the next pass
                status = "failed" if note.attempts >= MAX_ATTEMPTS else "pending"
                outcome = dict(status=status, last_error=f"{type(exc).__name__}: {exc}"[:1000])
                report.gave_up += status == "failed"
                report.failed += 1
            else:
                outcome = dict(status="sent", sent_at=utcnow(), last_error=None)
                report.sent += 1
            # each outcome as soon as known: a crash re-sends nothing already marked sent
            session.execute(update(Notification).where(Notification.id == note.id).values(**outcome),
                            execution_options={"synchronize_session": False})
            session.commit()
    return report
