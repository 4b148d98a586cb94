"""An in-memory outbox repository: queued messages by key, a second enqueue of a key ignored, and the claims,
leases and outcomes of delivery on one row per message (what notification_outbox holds)."""
from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from leadops.db.models import Notification
from leadops.db.repositories.outbox import Message


@dataclass
class Row:
    """One queued message and its delivery state."""

    id: int
    message: Message
    status: str = "pending"
    attempts: int = 0
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None

    def claimable(self, now: datetime) -> bool:
        expired = self.lease_until is None or self.lease_until < now
        return self.status == "pending" or (self.status == "sending" and expired)


class FakeOutboxRepository:
    def __init__(self) -> None:
        self.messages: dict[str, Message] = {}
        self.rows: dict[str, Row] = {}
        # delivery's heartbeat renews from a thread of its own, as it does on the database
        self._lock = threading.Lock()

    def enqueue(self, message: Message) -> bool:
        if message.key in self.messages:
            return False
        self.messages[message.key] = message
        self.rows[message.key] = Row(len(self.rows) + 1, message)
        return True

    def enqueue_many(self, messages: Sequence[Message], now: datetime) -> None:
        for m in messages:
            self.enqueue(m)

    def _by_id(self) -> dict[int, Row]:
        return {r.id: r for r in self.rows.values()}

    def give_up_stalled(self, now: datetime, max_attempts: int, error: str) -> int:
        with self._lock:
            stalled = [r for r in self.rows.values()
                       if r.status == "sending" and r.attempts >= max_attempts and r.claimable(now)]
            for r in stalled:
                r.status, r.lease_until, r.last_error = "failed", None, error
            return len(stalled)

    def claimable(self, now: datetime, limit: int, crm: str | None = None,
                  keys: Collection[str] | None = None) -> list[tuple[int, bool]]:
        def lane(r: Row) -> bool:
            channel = r.message.channel
            if keys is not None and r.message.key not in keys:
                return False
            return channel != "crm" if crm is None else channel == "crm" and r.message.recipient.startswith(f"{crm}:")

        with self._lock:
            return [(r.id, r.status == "sending") for r in sorted(self.rows.values(), key=lambda r: r.id)
                    if r.claimable(now) and lane(r)][:limit]

    def claim(self, ids: Sequence[int], holder: str, now: datetime, lease_until: datetime) -> list[Notification]:
        with self._lock:
            by_id = self._by_id()
            claimed = [by_id[i] for i in sorted(ids) if i in by_id and by_id[i].claimable(now)]
            for r in claimed:
                r.status, r.claimed_by, r.claimed_at, r.lease_until = "sending", holder, now, lease_until
                r.attempts += 1
            return [Notification(id=r.id, key=r.message.key, kind=r.message.kind, channel=r.message.channel,
                                 recipient=r.message.recipient, subject=r.message.subject, body=r.message.body,
                                 lead_id=r.message.lead_id, status=r.status, attempts=r.attempts) for r in claimed]

    def mark_sent(self, message_id: int, at: datetime) -> bool:
        with self._lock:
            r = self._by_id()[message_id]
            if r.status == "sent":
                return False
            r.status, r.sent_at, r.lease_until, r.last_error = "sent", at, None, None
            return True

    def mark_sent_many(self, message_ids: Sequence[int], at: datetime) -> int:
        return sum(self.mark_sent(i, at) for i in message_ids)

    def requeue_failed(self, crm: str) -> int:
        with self._lock:
            rows = [r for r in self.rows.values() if r.message.channel == "crm" and r.status == "failed"
                    and r.message.recipient.startswith(f"{crm}:")]
            for r in rows:
                r.status, r.attempts, r.lease_until, r.claimed_by = "pending", 0, None, None
            return len(rows)

    def mark_superseded(self, message_id: int, error: str) -> bool:
        with self._lock:
            r = self._by_id()[message_id]
            if r.status != "sending":
                return False
            r.status, r.lease_until, r.last_error = "superseded", None, error[:1000]
            return True

    def mark_failed(self, message_id: int, holder: str, error: str, *, give_up: bool) -> bool:
        with self._lock:
            r = self._by_id()[message_id]
            if r.claimed_by != holder or r.status != "sending":
                return False
            r.status, r.lease_until, r.last_error = "failed" if give_up else "pending", None, error[:1000]
            return True

    def mark_fell_back(self, message_id: int, holder: str, reason: str) -> bool:
        with self._lock:
            r = self._by_id()[message_id]
            if r.claimed_by != holder or r.status != "sending":
                return False
            r.status, r.lease_until, r.last_error = "fallback", None, reason[:1000]
            return True

    def renew(self, holder: str, until: datetime) -> int:
        with self._lock:
            held = [r for r in self.rows.values() if r.claimed_by == holder and r.status == "sending"]
            for r in held:
                r.lease_until = until
            return len(held)

    def release(self, holder: str) -> int:
        with self._lock:
            held = [r for r in self.rows.values() if r.claimed_by == holder and r.status == "sending"]
            for r in held:
                r.status, r.lease_until = "pending", None
            return len(held)
