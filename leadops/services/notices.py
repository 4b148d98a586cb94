"""Where each notification goes: its email, and its Slack twin when notify.yaml has Slack carry its kind.

A rep's messages (assignment, reminder, their own breach, cadence) go to the rep: a direct message, the member
found by ``slack_user`` in sdrs.yaml or else by email (users.lookupByEmail, at send time). A manager's (breach
alerts, digests, unroutable alerts) go to their channel: their ``slack_channel`` in sdrs.yaml, else notify.yaml's
``managers_channel``, else a direct message. In webhook mode every message goes to the webhook's channel.

The Slack message carries, besides its Block Kit payload, the email(s) it stands for (address and outbox key):
when Slack cannot deliver it (no member with that email, the app not in the channel, a revoked token, retries
exhausted), the outbox queues those emails instead, under the keys they would have had, so a message is never
lost nor sent twice by email. With ``email_too`` the emails are queued at once as well.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from leadops.config import Person, Rules, SlackRules
from leadops.db.repositories.outbox import Message
from leadops.notify.slack_blocks import LeadCard, SlackPayload, mention

if TYPE_CHECKING:
    from leadops.db.unit_of_work import UnitOfWork

SLACK = "slack"


def slack_body(payload: SlackPayload, emails: Sequence[Message]) -> str:
    """Return the outbox body of a Slack message: its payload and the emails that stand in for it."""
    return json.dumps({**payload.as_dict(),
                       "fallback": [{"to": m.recipient, "key": m.key, "body": m.body} for m in emails]},
                      ensure_ascii=False, sort_keys=True)


class Notices:
    """Builds the outbox messages of one pass (routing, SLA sweep, digest) from its emails."""

    def __init__(self, uow: UnitOfWork, rules: Rules | None) -> None:
        self.uow = uow
        self.slack: SlackRules = rules.notify.slack if rules is not None else SlackRules()
        self.people: dict[str, Person] = {p.code: p for p in rules.roster.people} if rules is not None else {}
        self.connectors = {c.name: c for c in rules.sources.crm} if rules is not None else {}

    def carries(self, kind: str) -> bool:
        """Return whether Slack carries messages of ``kind`` (so a caller builds Slack payloads only then)."""
        return self.slack.carries(kind)

    def cards(self, lead_ids: Collection[int]) -> dict[int, LeadCard]:
        """Return what Slack shows of each lead, with its CRM link when a connector knows the record's URL."""
        return self.uow.notices.cards(lead_ids, self._record_link)

    def _record_link(self, connector: str, obj: str, record_id: str) -> tuple[str, str] | None:
        cfg = self.connectors.get(connector)
        url = cfg.record_link(obj, record_id) if cfg is not None else None
        return (url, "HubSpot" if cfg.kind == "hubspot" else "Salesforce") if url and cfg is not None else None

    def mention(self, code: str, name: str) -> str:
        """Return how a message names a person: ``<@U...>`` when their Slack id is in sdrs.yaml, else their name."""
        person = self.people.get(code)
        return mention(person.slack_user if person else None, name)

    def to_rep(self, email: Message, code: str, payload: Callable[[], SlackPayload]) -> list[Message]:
        """Return the messages of one notice to a rep: the email, or its Slack direct message (and the email with
        ``email_too``)."""
        if not self.carries(email.kind):
            return [email]
        slack = self._slack(f"{email.key}:slack", email, self._direct(code, email.recipient), payload(), [email])
        return [slack, email] if self.slack.email_too else [slack]

    def to_managers(self, emails: Sequence[tuple[Message, str]], event: str,
                    payload: Callable[[str | None], SlackPayload]) -> list[Message]:
        """Return the messages of one notice to managers (``emails``: each manager's email and code): one Slack
        message per channel (keyed by ``event`` and channel: two managers sharing a channel see it once), or a
        direct message to a manager without one; ``payload`` gets the manager's name (None for a channel)."""
        if not emails or not self.carries(emails[0][0].kind):
            return [m for m, _ in emails]
        by_target: dict[str, list[tuple[Message, str]]] = {}
        for m, code in emails:
            by_target.setdefault(self._manager_target(code, m.recipient), []).append((m, code))
        out: list[Message] = []
        for target, group in by_target.items():
            first = group[0][0]
            if target.startswith(("user:", "email:")):
                person = self.people.get(group[0][1])
                out.append(self._slack(f"{first.key}:slack", first, target,
                                       payload(person.name if person else None), [first]))
            else:
                out.append(self._slack(f"{event}:slack:{target.partition(':')[2]}", first, target, payload(None),
                                       [m for m, _ in group]))
        if self.slack.email_too:
            out += [m for m, _ in emails]
        return out

    def _direct(self, code: str, email: str) -> str:
        if self.slack.mode == "webhook":
            return "webhook"
        person = self.people.get(code)
        return f"user:{person.slack_user}" if person and person.slack_user else f"email:{email}"

    def _manager_target(self, code: str, email: str) -> str:
        if self.slack.mode == "webhook":
            return "webhook"
        person = self.people.get(code)
        channel = (person.slack_channel if person else None) or self.slack.managers_channel
        return f"channel:{channel}" if channel else self._direct(code, email)

    @staticmethod
    def _slack(key: str, email: Message, target: str, payload: SlackPayload, emails: Sequence[Message]) -> Message:
        return Message(key=key, kind=email.kind, recipient=target, subject=email.subject,
                       body=slack_body(payload, emails), lead_id=email.lead_id, channel=SLACK)
