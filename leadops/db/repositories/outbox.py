"""The notification outbox as a repository: queue a message once per key (delivery: leadops.notify.outbox)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Message:
    """One notification to queue: its idempotency key, kind, recipient and content."""

    key: str
    kind: str
    recipient: str
    subject: str
    body: str
    lead_id: int | None = None
    channel: str = "email"


class OutboxRepository(Protocol):
    """Where services queue notifications."""

    def enqueue(self, message: Message) -> bool:
        """Queue ``message`` unless one with its key exists; returns True when this call queued it."""
        ...


class SqlOutboxRepository:
    """The outbox table (notification_outbox), keyed by ``key``: a second enqueue of a key does nothing."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def enqueue(self, message: Message) -> bool:
        from leadops.notify.outbox import enqueue

        return enqueue(self.session, key=message.key, kind=message.kind, recipient=message.recipient,
                       subject=message.subject, body=message.body, lead_id=message.lead_id, channel=message.channel)
