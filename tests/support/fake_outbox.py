"""An in-memory outbox repository: queued messages by key, a second enqueue of a key ignored."""
from __future__ import annotations

from leadops.db.repositories.outbox import Message


class FakeOutboxRepository:
    def __init__(self) -> None:
        self.messages: dict[str, Message] = {}

    def enqueue(self, message: Message) -> bool:
        if message.key in self.messages:
            return False
        self.messages[message.key] = message
        return True
