"""What every channel sender shares: the message it gets, the Protocol it implements, and FallBack."""
from __future__ import annotations

from typing import Protocol


class Message(Protocol):
    key: str
    kind: str
    channel: str
    recipient: str
    subject: str
    body: str
    lead_id: int | None


class Sender(Protocol):
    def send(self, msg: Message) -> None:
        """Deliver one message or raise; the outbox records the error and retries later (FallBack: it queues the
        message's stand-ins instead, see ``fallback``)."""
        ...


class FallBack(Exception):
    """This channel cannot deliver the message and a retry cannot help (no Slack member with that email, a channel
    the app is not in, a revoked token): the outbox queues the message's stand-ins (``fallback``) instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
