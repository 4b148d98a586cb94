"""The notification outbox as a repository: queue a message once per key, and the claims, leases and outcomes
delivery works with (the delivery pass itself: leadops.notify.outbox).

A row is ``pending``, ``sending`` (claimed by ``claimed_by`` until ``lease_until``), ``sent`` or ``failed``
(given up). Every method that changes rows is one set-based conditional UPDATE, so two senders on any backend
never both win the same row.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import ColumnElement, CursorResult, Executable, Table, and_, bindparam, or_, select, true, update
from sqlalchemy.orm import Session

from leadops.db.bulk import dialect_insert
from leadops.db.bulk_update import SET_BASED_FROM, insert_from
from leadops.db.models import Notification, utcnow


class Message(NamedTuple):  # a named tuple, not a frozen dataclass: a routing pass builds one per assignment
    """One notification to queue: its idempotency key, kind, recipient and content."""

    key: str
    kind: str
    recipient: str
    subject: str
    body: str
    lead_id: int | None = None
    channel: str = "email"


class OutboxRepository(Protocol):
    """Where services queue notifications and where delivery claims them and records what happened."""

    def enqueue(self, message: Message) -> bool:
        """Queue ``message`` unless one with its key exists; returns True when this call queued it."""
        ...

    def enqueue_many(self, messages: Sequence[Message], now: datetime) -> None:
        """Queue ``messages`` (created at ``now``) in one set-based write, skipping every key that exists (a
        routing chunk's assignment messages: one statement, not one per message)."""
        ...

    def give_up_stalled(self, now: datetime, max_attempts: int, error: str) -> int:
        """Mark ``failed`` (with ``error``) every claim past its lease already attempted ``max_attempts`` times
        (its sending stopped its sender each time); returns how many."""
        ...

    def claimable(self, now: datetime, limit: int, crm: str | None = None,
                  keys: Collection[str] | None = None) -> list[tuple[int, bool]]:
        """Return (id, claimed before) of up to ``limit`` rows a pass may claim at ``now``, oldest first:
        pending, or claimed under a lease that is past (``claimed before`` is True for those).

        ``crm``: None for notifications (every channel but ``crm``), else the CRM updates of that connector;
        ``keys``: only the rows of these keys (the stand-ins a pass just queued)."""
        ...

    def mark_sent_many(self, message_ids: Sequence[int], at: datetime) -> int:
        """Record messages ``message_ids`` as sent at ``at`` in one statement (a CRM batch); returns how many changed."""
        ...

    def requeue_failed(self, crm: str) -> int:
        """Put back to pending (attempts 0, error kept until the next attempt) every CRM update of connector ``crm``
        that failed for good, once its cause is fixed (a property created, a permission granted); returns how many."""
        ...

    def mark_superseded(self, message_id: int, error: str) -> bool:
        """Record a claimed message as superseded (not sent: its target changed; a newer message will replace it)."""
        ...

    def claim(self, ids: Sequence[int], holder: str, now: datetime, lease_until: datetime) -> list[Notification]:
        """Claim for ``holder`` until ``lease_until`` those of ``ids`` still claimable at ``now``, counting one
        attempt each; returns the claimed messages, oldest first, loaded (they read nothing more)."""
        ...

    def mark_sent(self, message_id: int, at: datetime) -> bool:
        """Record message ``message_id`` as sent at ``at``, whoever holds its claim now; returns False when it was already.

        Meant as a transaction of its own: on PostgreSQL that transaction's commit does not wait for the disk
        (a database crash right after it may undo it; the message is then sent again under its key)."""
        ...

    def mark_failed(self, message_id: int, holder: str, error: str, *, give_up: bool) -> bool:
        """Record a failed send of message ``message_id`` while ``holder`` still holds it: back to pending, or failed
        for good with ``give_up``; returns False when the claim was no longer ``holder``'s."""
        ...

    def mark_fell_back(self, message_id: int, holder: str, reason: str) -> bool:
        """Mark a claimed message ``fallback`` (its channel could not deliver it; its stand-ins are queued), with
        the reason; returns False when ``holder`` no longer holds it."""
        ...

    def renew(self, holder: str, until: datetime) -> int:
        """Extend every claim ``holder`` still has to ``until``; returns how many."""
        ...

    def release(self, holder: str) -> int:
        """Hand back (to pending) every claim ``holder`` still has; returns how many."""
        ...


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Return the condition of a row a pass may claim at ``now``: pending, or claimed under a lease that is past
    (or a claim of a version that kept no lease)."""
    expired = or_(Notification.lease_until.is_(None), Notification.lease_until < now)
    return or_(Notification.status == "pending", and_(Notification.status == "sending", expired))


#: one message delivered (``mark_sent``), as one Core statement built once: the ORM's UPDATE machinery cost
#: more than the statement itself, once per message
_OUTBOX = cast(Table, Notification.__table__)
_MARK_SENT = update(_OUTBOX).where(
    _OUTBOX.c.id == bindparam("message_id"), _OUTBOX.c.status != "sent",
).values(status="sent", sent_at=bindparam("sent_at_"), lease_until=None, last_error=None)

#: rows an UPDATE changes are never in the session: it need not look for them
_NO_SYNC = {"synchronize_session": False}


def _changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE; returns how many rows it changed."""
    # an UPDATE's result is a CursorResult, whose rowcount the generic Result type does not declare
    return cast(CursorResult[Any], session.execute(statement, execution_options=_NO_SYNC)).rowcount or 0


class SqlOutboxRepository:
    """The outbox table (notification_outbox), keyed by ``key``: a second enqueue of a key does nothing."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def enqueue(self, message: Message) -> bool:
        values = dict(key=message.key, kind=message.kind, recipient=message.recipient, subject=message.subject,
                      body=message.body, lead_id=message.lead_id, channel=message.channel, status="pending",
                      attempts=0, created_at=utcnow())
        stmt = dialect_insert(self.session, Notification).values(**values) \
            .on_conflict_do_nothing(index_elements=["key"]).returning(Notification.id)
        return self.session.execute(stmt).scalar() is not None

    def enqueue_many(self, messages: Sequence[Message], now: datetime) -> None:
        if not messages:
            return
        if len(messages) >= SET_BASED_FROM:  # a routing chunk: by column, one INSERT ... SELECT
            insert_from(self.session.connection(), cast(Table, Notification.__table__), {
                "key": [m.key for m in messages], "kind": [m.kind for m in messages],
                "channel": [m.channel for m in messages], "recipient": [m.recipient for m in messages],
                "subject": [m.subject for m in messages], "body": [m.body for m in messages],
                "lead_id": [m.lead_id for m in messages]},
                fixed={"status": "pending", "attempts": 0, "created_at": now}, skip_conflicts_on="key")
            return
        self.session.execute(
            dialect_insert(self.session, Notification.__table__).on_conflict_do_nothing(index_elements=["key"]),
            [dict(key=m.key, kind=m.kind, channel=m.channel, recipient=m.recipient, subject=m.subject, body=m.body,
                  lead_id=m.lead_id, status="pending", attempts=0, created_at=now) for m in messages])

    def give_up_stalled(self, now: datetime, max_attempts: int, error: str) -> int:
        return _changed(self.session, update(Notification)
                        .where(Notification.status == "sending", Notification.attempts >= max_attempts,
                               or_(Notification.lease_until.is_(None), Notification.lease_until < now))
                        .values(status="failed", lease_until=None, last_error=error))

    def claimable(self, now: datetime, limit: int, crm: str | None = None,
                  keys: Collection[str] | None = None) -> list[tuple[int, bool]]:
        lane = Notification.channel != "crm" if crm is None else \
            and_(Notification.channel == "crm", Notification.recipient.startswith(f"{crm}:", autoescape=True))
        only = Notification.key.in_(sorted(keys)) if keys is not None else true()
        rows = self.session.execute(select(Notification.id, Notification.status)
                                    .where(_claimable(now), lane, only).order_by(Notification.id).limit(limit))
        return [(id_, status == "sending") for id_, status in rows]

    def claim(self, ids: Sequence[int], holder: str, now: datetime, lease_until: datetime) -> list[Notification]:
        claimed = self.session.scalars(
            update(Notification)
            .where(Notification.id.in_(ids), _claimable(now))
            .values(status="sending", claimed_at=now, claimed_by=holder, lease_until=lease_until,
                    attempts=Notification.attempts + 1)
            .returning(Notification.id), execution_options=_NO_SYNC).all()
        if not claimed:
            return []
        notes = list(self.session.scalars(select(Notification).where(Notification.id.in_(claimed))
                                          .order_by(Notification.id).execution_options(populate_existing=True)))
        for note in notes:
            self.session.expunge(note)  # detached, loaded: sending reads no more from the database
        return notes

    def mark_sent(self, message_id: int, at: datetime) -> bool:
        # delivered is a fact whoever holds the claim now: recording it spares the receiver one more copy
        conn = self.session.connection()
        if conn.dialect.name == "postgresql":
            # Committed without waiting for the WAL flush (this transaction only): a pass marks one message per
            # commit, and the flush was most of its time. A database crash may then lose the last marks (the
            # last ~0.6 s): those messages are sent again with their idempotency keys, as the one in flight when
            # a sender dies before its commit is, and as SQLite's WAL with synchronous=NORMAL already allows.
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO off")
        return bool(conn.execute(_MARK_SENT, {"message_id": message_id, "sent_at_": at}).rowcount)

    def mark_sent_many(self, message_ids: Sequence[int], at: datetime) -> int:
        return _changed(self.session, update(Notification)
                        .where(Notification.id.in_(list(message_ids)), Notification.status != "sent")
                        .values(status="sent", sent_at=at, lease_until=None, last_error=None))

    def requeue_failed(self, crm: str) -> int:
        return _changed(self.session, update(Notification)
                        .where(Notification.channel == "crm", Notification.status == "failed",
                               Notification.recipient.startswith(f"{crm}:", autoescape=True))
                        .values(status="pending", attempts=0, lease_until=None, claimed_by=None))

    def mark_superseded(self, message_id: int, error: str) -> bool:
        return bool(_changed(self.session, update(Notification)
                             .where(Notification.id == message_id, Notification.status == "sending")
                             .values(status="superseded", lease_until=None, last_error=error[:1000])))

    def mark_failed(self, message_id: int, holder: str, error: str, *, give_up: bool) -> bool:
        # only while still ours: a pass that took the claim back decides from here
        return bool(_changed(self.session, update(Notification)
                             .where(Notification.id == message_id, Notification.claimed_by == holder,
                                    Notification.status == "sending")
                             .values(status="failed" if give_up else "pending", lease_until=None,
                                     last_error=error[:1000])))

    def mark_fell_back(self, message_id: int, holder: str, reason: str) -> bool:
        return bool(_changed(self.session, update(Notification)
                             .where(Notification.id == message_id, Notification.claimed_by == holder,
                                    Notification.status == "sending")
                             .values(status="fallback", lease_until=None, last_error=reason[:1000])))

    def renew(self, holder: str, until: datetime) -> int:
        return self._held_by(holder, lease_until=until)

    def release(self, holder: str) -> int:
        return self._held_by(holder, status="pending", lease_until=None)

    def _held_by(self, holder: str, **values: object) -> int:
        """Set ``values`` on every claim ``holder`` still has; returns how many."""
        return _changed(self.session, update(Notification)
                        .where(Notification.claimed_by == holder, Notification.status == "sending").values(**values))
