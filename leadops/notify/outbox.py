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

    Each row is claimed with a conditional UPDATE (pending -> sending) committed before the send,
    so concurrent workers on any backend never send the same row twice. A row left in ``sending``
    by a crashed worker goes back to pending after ``stale_after`` (at-least-once on a crash; the
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
    for nid in ids:
        claimed = session.execute(
            update(Notification)
            .where(Notification.id == nid, Notification.status == "pending")
            .values(status="sending", claimed_at=utcnow(), attempts=Notification.attempts + 1)
        ).rowcount
        session.commit()
        if claimed != 1:
            continue  # another worker has it
        note = session.get(Notification, nid)
        session.refresh(note)
        try:
            sender.send(note)
        except Exception as exc:  # any transport error: keep the row, retry on the next pass
            note.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            note.status = "failed" if note.attempts >= MAX_ATTEMPTS else "pending"
            report.gave_up += note.status == "failed"
            report.failed += 1
        else:
            note.status, note.sent_at, note.last_error = "sent", utcnow(), None
            report.sent += 1
        session.commit()
    return report
