"""Senders: SMTP email and a file drop (the offline default). Both behind the Sender Protocol."""
from __future__ import annotations

import hashlib
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from leadops.config import Settings


class Message(Protocol):
    key: str
    recipient: str
    subject: str
    body: str


class Sender(Protocol):
    def send(self, msg: Message) -> None:
        """Deliver one message or raise; the outbox records the error and retries later."""
        ...


def to_email(msg: Message, sender: str) -> EmailMessage:
    em = EmailMessage()
    em["From"] = sender
    em["To"] = msg.recipient
    em["Subject"] = msg.subject
    # The outbox key travels with the message so a receiver can de-duplicate too.
    em["X-Leadops-Key"] = msg.key
    em.set_content(msg.body)
    return em


class FileSender:
    """Writes each message as an .eml file under ``folder`` (named by its key, so rewrites are idempotent)."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder, self.sender = Path(folder), sender

    def send(self, msg: Message) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(msg.key.encode()).hexdigest()[:16] + ".eml"
        (self.folder / name).write_bytes(bytes(to_email(msg, self.sender)))


class SmtpSender:
    """Sends through an SMTP server; credentials come from settings (environment), never logged."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def send(self, msg: Message) -> None:
        with smtplib.SMTP(self.s.smtp_host, self.s.smtp_port, timeout=30) as smtp:
            if self.s.smtp_starttls:
                smtp.starttls()
            if self.s.smtp_username and self.s.smtp_password:
                smtp.login(self.s.smtp_username, self.s.smtp_password.get_secret_value())
            smtp.send_message(to_email(msg, self.s.mail_from))


def sender_for(settings: Settings) -> Sender:
    """Return the sender the settings choose (LEADOPS_NOTIFY_CHANNEL=file|smtp)."""
    if settings.notify_channel == "smtp":
        return SmtpSender(settings)
    return FileSender(settings.outbox_dir, settings.mail_from)
