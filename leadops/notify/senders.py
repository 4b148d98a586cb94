"""Senders: SMTP email, a JSON webhook and a file drop (the offline default), behind the Sender Protocol.

Each message carries an idempotency key derived from its outbox key, the same on every attempt: the
email's Message-ID (and X-Leadops-Key), the webhook's Idempotency-Key (and X-Leadops-Key) header, the
.eml file's name. A message re-sent after a crash is therefore recognisable as the same message.
"""
from __future__ import annotations

import hashlib
import os
import smtplib
from pathlib import Path
from typing import Any

from leadops.config import Settings


from leadops.notify.base import FallBack, Message, Sender
from leadops.notify.email_format import email_bytes, to_email

__all__ = ["FallBack", "Message", "Sender"]


class FileSender:
    """Writes each message as an .eml file under ``folder``, named by its key: a rewrite after a crash is the same
    file with the same bytes, and the file appears whole or not at all (written aside, then renamed)."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder, self.sender = Path(folder), sender

    def send(self, msg: Message) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(msg.key.encode()).hexdigest()[:16] + ".eml"
        part = self.folder / f".{name}.{os.getpid()}.part"  # a reader globbing *.eml never sees a half-written file
        part.write_bytes(email_bytes(msg, self.sender))
        os.replace(part, self.folder / name)


class SmtpSender:
    """Sends through an SMTP server; credentials come from settings (environment), never logged."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def send(self, msg: Message) -> None:
        from leadops.redact import redact, secrets_of_settings

        try:
            with smtplib.SMTP(self.s.smtp_host, self.s.smtp_port, timeout=30) as smtp:
                if self.s.smtp_starttls:
                    smtp.starttls()
                if self.s.smtp_username and self.s.smtp_password:
                    smtp.login(self.s.smtp_username, self.s.smtp_password.get_secret_value())
                smtp.send_message(to_email(msg, self.s.mail_from))
        except smtplib.SMTPException as exc:
            # a server's reply (535 ...) may repeat the credentials, in any encoding: redacted before it is stored
            raise RuntimeError(redact(f"{type(exc).__name__}: {exc}", secrets_of_settings(self.s))) from None


class WebhookSender:
    """POSTs each message as JSON to LEADOPS_WEBHOOK_URL (a secret: never logged), with the outbox key in the
    ``Idempotency-Key`` header (and ``X-Leadops-Key``, and ``key`` in the body), the same on every attempt, so
    the receiver can drop the copy a crash re-sends; non-2xx raises (retried)."""

    def __init__(self, settings: Settings, timeout: float = 10.0) -> None:
        self.url = settings.webhook_url.get_secret_value() if settings.webhook_url else None
        self.timeout = timeout

    def send(self, msg: Message) -> None:
        import requests

        if not self.url:
            raise RuntimeError("LEADOPS_WEBHOOK_URL is not set: webhook notifications cannot be delivered")
        payload = {"key": msg.key, "kind": msg.kind, "recipient": msg.recipient, "subject": msg.subject,
                   "body": msg.body, "lead_id": msg.lead_id}
        try:
            resp = requests.post(self.url, json=payload, headers={"Idempotency-Key": msg.key, "X-Leadops-Key": msg.key},
                                 timeout=self.timeout)
        except requests.RequestException as exc:
            raise RuntimeError(f"webhook unreachable ({type(exc).__name__})") from None  # the URL may hold a token
        if resp.status_code >= 300:
            raise RuntimeError(f"webhook answered HTTP {resp.status_code}")


class LazySlack:
    """The Slack sender, built at its first message (rules, credentials block, slack_sdk): a pass without Slack
    messages loads none of it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sender: Any = None

    @property
    def sender(self) -> Any:
        if self._sender is None:
            from sqlalchemy.orm import Session

            from leadops.config import load_rules_cached
            from leadops.db.repositories.notices import SlackUserCache
            from leadops.db.session import get_engine
            from leadops.notify.slack import SlackSender, load_credentials

            slack = load_rules_cached(self.settings.config_dir).notify.slack
            token, url, problem = load_credentials(slack, self.settings)
            engine = get_engine(self.settings.database_url)
            cache = SlackUserCache(lambda: Session(engine))
            self._sender = SlackSender(slack, token=token, webhook_url=url, cache=cache, problem=problem,
                                       database_url=self.settings.database_url)
        return self._sender

    def send(self, msg: Message) -> None:
        self.sender.send(msg)

    def fallback(self, msg: Message) -> list[Any]:
        return list(self.sender.fallback(msg))

    @property
    def stats(self) -> dict[str, Any]:
        return dict(self._sender.stats) if self._sender is not None else {}


class Channels:
    """Dispatches each message to the sender of its channel (email, webhook, slack)."""

    def __init__(self, by_channel: dict[str, Sender]) -> None:
        self.by_channel = by_channel

    def send(self, msg: Message) -> None:
        sender = self.by_channel.get(msg.channel)
        if sender is None:
            raise RuntimeError(f"no sender for channel {msg.channel!r}")
        sender.send(msg)

    def fallback(self, msg: Message) -> list[Any]:
        """Return the messages standing in for ``msg`` when its channel cannot deliver it ([] when none)."""
        hook = getattr(self.by_channel.get(msg.channel), "fallback", None)
        return list(hook(msg)) if hook is not None else []

    def stats(self) -> dict[str, dict[str, Any]]:
        """Return each channel sender's own counts (Slack: posted, rate_limited, lookups...), by channel."""
        found = {name: getattr(s, "stats", None) for name, s in self.by_channel.items()}
        return {name: dict(stats) for name, stats in found.items() if stats}


def sender_for(settings: Settings) -> Sender:
    """Return the senders the settings choose: email by LEADOPS_NOTIFY_CHANNEL (file|smtp), webhook by
    LEADOPS_WEBHOOK_URL, Slack by notify.yaml (built at its first message)."""
    email: Sender = (SmtpSender(settings) if settings.notify_channel == "smtp"
                     else FileSender(settings.outbox_dir, settings.mail_from))
    return Channels({"email": email, "webhook": WebhookSender(settings), "slack": LazySlack(settings)})
