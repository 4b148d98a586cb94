"""Slack messages as Block Kit: one function per message kind, pure (no IO), each returning the blocks and the
plain-text rendering Slack shows in notifications (and the webhook and screen readers fall back to).

Every value that comes from a lead (name, company, title...) is escaped for Slack's mrkdwn (``&``, ``<``, ``>``):
a lead named ``<!channel>`` must not ping a channel, nor a company named ``<https://evil|Forge>`` become a link.
Links (the lead in the CRM) are only the URLs leadops builds from its own configuration.

The shapes follow Slack's Block Kit reference: a ``header`` (plain_text, at most 150 characters), ``section``
blocks with ``text`` and up to 10 ``fields`` (mrkdwn, each at most 2,000 characters), ``context`` with up to 10
elements, a ``divider``; at most 50 blocks a message. docs/how-to/slack.md shows each kind with its JSON.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

HEADER_MAX = 150
FIELD_MAX = 2000
TEXT_MAX = 3000
MAX_BLOCKS = 50


@dataclass(frozen=True)
class LeadCard:
    """What a Slack message shows of one lead (grain: one lead): who, why it is hot, where it is in the CRM."""

    id: int
    name: str
    title: str | None = None
    company: str | None = None
    country: str | None = None
    source: str | None = None
    grade: str | None = None
    score: float | None = None
    # the score's largest contributions, best first, in words ("demo request +30")
    factors: tuple[str, ...] = ()
    crm_url: str | None = None
    crm_name: str | None = None  # "HubSpot", "Salesforce"

    @property
    def label(self) -> str:
        """Return ``Name (Company)``, or ``lead #ID`` parts when unknown."""
        who = self.name or f"lead #{self.id}"
        return f"{who} ({self.company})" if self.company else who


@dataclass(frozen=True)
class SlackPayload:
    """One Slack message: ``text`` (the plain-text rendering) and ``blocks`` (Block Kit)."""

    text: str
    blocks: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """Return the ``text`` and ``blocks`` arguments of chat.postMessage (and an incoming webhook's body)."""
        return {"text": self.text, "blocks": list(self.blocks)}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, sort_keys=True)


def escape(text: object) -> str:
    """Return ``text`` safe inside Slack mrkdwn: ``&``, ``<`` and ``>`` as entities, nothing else touched."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str | None, name: str) -> str:
    """Return ``<@U123>`` (Slack notifies that person) when the Slack id is known, else the name in bold."""
    return f"<@{user_id}>" if user_id else f"*{escape(name)}*"


def local_time(at: datetime | None, time_zone: str) -> str:
    """Return ``Mon 07 Dec 14:30 (Europe/Berlin)``: ``at`` in the reader's own time zone; "soon" when unknown."""
    if at is None:
        return "soon"
    return f"{at.astimezone(ZoneInfo(time_zone)):%a %d %b %H:%M} ({time_zone})"


def _payload(text: str, blocks: tuple[dict[str, Any], ...]) -> SlackPayload:
    """Return the message; its plain text escaped too (Slack formats it: a lead's ``<!channel>`` would ping)."""
    return SlackPayload(_cut(escape(text), 40_000), blocks)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(text, HEADER_MAX), "emoji": True}}


def _section(text: str, fields: Sequence[str] = ()) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, TEXT_MAX)}}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": _cut(f, FIELD_MAX)} for f in fields[:10]]
    return block


def _context(*parts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(p, FIELD_MAX)} for p in parts[:10]]}


def _link(card: LeadCard) -> str | None:
    """Return the mrkdwn link to the lead in its CRM, when known."""
    if not card.crm_url:
        return None
    return f"<{card.crm_url.replace('|', '%7C').replace('>', '%3E')}|Open in {escape(card.crm_name or 'the CRM')}>"


def _lead_fields(card: LeadCard) -> list[str]:
    return [f"*Title*\n{escape(card.title or '—')}", f"*Company*\n{escape(card.company or '—')}",
            f"*Country*\n{escape(card.country or '—')}", f"*Source*\n{escape(card.source or '—')}"]


def _hot(card: LeadCard) -> str:
    """Return why the lead is hot: grade, score and its top factors."""
    score = f", score {card.score:.0f}" if card.score is not None else ""
    factors = f": {', '.join(escape(f) for f in card.factors)}" if card.factors else ""
    return f"grade {escape(card.grade or '—')}{score}{factors}"


def _plain_lead(card: LeadCard) -> str:
    """Return ``Léa Martin, DSI at Atelier (FR, demo_request)`` with what is known."""
    role = " at ".join(b for b in (card.title, card.company) if b)
    where = ", ".join(b for b in (card.country, card.source) if b)
    return ", ".join(b for b in (card.name or f"lead #{card.id}", role) if b) + (f" ({where})" if where else "")


def _footer(card: LeadCard, *extra: str) -> dict[str, Any]:
    link = _link(card)
    return _context(*extra, f"lead #{card.id}", *([link] if link else []))


def _plain_link(card: LeadCard) -> str:
    return f" {card.crm_name or 'CRM'}: {card.crm_url}" if card.crm_url else ""


def buttons(lead_id: int) -> dict[str, Any]:
    """Return the actions block of an assignment: "Contacted" and "Not mine: reassign" (with a confirmation); the
    intake service handles the presses (leadops.realtime.slack_actions)."""
    return {"type": "actions", "block_id": f"leadops_lead_{lead_id}", "elements": [
        {"type": "button", "action_id": "leadops_contacted", "value": str(lead_id), "style": "primary",
         "text": {"type": "plain_text", "text": "Contacted"}},
        {"type": "button", "action_id": "leadops_not_mine", "value": str(lead_id), "style": "danger",
         "text": {"type": "plain_text", "text": "Not mine: reassign"},
         "confirm": {"title": {"type": "plain_text", "text": "Hand this lead back?"},
                     "text": {"type": "mrkdwn", "text": "The routing rules give it to someone else."},
                     "confirm": {"type": "plain_text", "text": "Reassign"},
                     "deny": {"type": "plain_text", "text": "Keep it"}}},
    ]}


def assignment(card: LeadCard, *, rep: str, rule: str, reason: str, due: datetime | None, time_zone: str,
               policy: str, with_buttons: bool = False) -> SlackPayload:
    """Return the message telling a rep (``rep``: a mention) a lead is theirs: who, why hot, why them, by when (and
    the buttons, ``with_buttons``, when the intake service handles them)."""
    due_text = local_time(due, time_zone)
    blocks = (
        _header(f"New lead for you: {card.label}"),
        _section(f"{rep}, this lead is yours.", _lead_fields(card)),
        _section(f"*Why it is hot:* {_hot(card)}"),
        _section(f"*Why you:* rule `{escape(rule)}`: {escape(reason)}"),
        _section(f"*First touch due:* {due_text} · SLA policy `{escape(policy)}`"),
        *([buttons(card.id)] if with_buttons else []),
        _footer(card),
    )
    text = (f"New lead for you: {_plain_lead(card)}. Why it is hot: grade {card.grade or '—'}"
            + (f", {', '.join(card.factors)}" if card.factors else "")
            + f". Why you: {rule}: {reason}. First touch due {due_text}.{_plain_link(card)}")
    return _payload(text, blocks)


def reminder(card: LeadCard, *, rep: str, due: datetime | None, time_zone: str, policy: str) -> SlackPayload:
    """Return the rep's reminder that a first touch is due soon (due in the rep's time zone)."""
    due_text = local_time(due, time_zone)
    blocks = (
        _section(f":alarm_clock: {rep}, first touch due *{due_text}* for *{escape(card.label)}*",
                 _lead_fields(card)),
        _footer(card, f"SLA policy `{escape(policy)}`"),
    )
    return _payload(f"Reminder: first touch due {due_text} for {_plain_lead(card)}.{_plain_link(card)}", blocks)


def breach(card: LeadCard, *, owner: str, owner_name: str, target_minutes: int, policy: str,
           to_manager: bool) -> SlackPayload:
    """Return the alert that a first-touch SLA was missed: to the owner, or to their manager's channel."""
    who = f"assigned to {owner}" if to_manager else f"{owner}, this lead"
    blocks = (
        _section(f":rotating_light: *SLA breached:* {escape(card.label)} {who} had no first touch within "
                 f"{target_minutes} business minutes.", _lead_fields(card)),
        _footer(card, f"SLA policy `{escape(policy)}`", f"`leadops reassign {card.id}` moves it"),
    )
    return _payload(f"SLA breached: {_plain_lead(card)} (owner {owner_name}) had no first touch within "
                        f"{target_minutes} business minutes (policy {policy}).{_plain_link(card)}", blocks)


def cadence(card: LeadCard, *, missed: bool, owner: str, owner_name: str, progress: str, ends: datetime | None,
            time_zone: str) -> SlackPayload:
    """Return the message that a follow-up cadence is behind (``missed`` False) or missed."""
    state = "missed" if missed else "behind"
    ends_text = local_time(ends, time_zone)
    blocks = (_section(f":hourglass: *Follow-up {state}:* {escape(card.label)}, owner {owner}: {escape(progress)} so "
                       f"far; the cadence ends {ends_text}."), _footer(card))
    return _payload(f"Follow-up {state}: {_plain_lead(card)}, owner {owner_name}: {progress} so far; the cadence "
                        f"ends {ends_text}.{_plain_link(card)}", blocks)


@dataclass(frozen=True)
class DigestLine:
    """One breached clock in a manager's digest (grain: one clock)."""

    card: LeadCard
    owner: str  # a mention
    owner_name: str
    what: str  # "no first touch", "follow-up cadence missed"
    policy: str
    started: datetime


def digest(manager: str, lines: Sequence[DigestLine], *, time_zone: str) -> SlackPayload:
    """Return a manager's digest of their team's breached clocks, one line per clock (at most 40 shown)."""
    shown = list(lines[:40])
    rows = [f"• {escape(ln.card.label)} (lead #{ln.card.id}), owner {ln.owner}: {escape(ln.what)}, policy "
            f"`{escape(ln.policy)}`, since {local_time(ln.started, time_zone)}"
            + (f" · {_link(ln.card)}" if ln.card.crm_url else "") for ln in shown]
    blocks: list[dict[str, Any]] = [_header(f"{len(lines)} lead(s) of your team are past their SLA"),
                                    _section(f"{manager}, these leads are past their SLA:")]
    # one section per 10 lines keeps each under the 3,000-character limit of a section's text
    blocks += [_section("\n".join(rows[i:i + 10])) for i in range(0, len(rows), 10)]
    more = len(lines) - len(shown)
    blocks.append(_context(*([f"and {more} more in the email digest and the enforce-sla runs"] if more else []),
                           "`leadops explain LEAD_ID` shows the routing; `leadops reassign LEAD_ID` moves a lead"))
    plain = "\n".join(f"- {ln.card.label} (lead #{ln.card.id}), owner {ln.owner_name}: {ln.what}, policy {ln.policy}"
                      for ln in shown)
    return _payload(f"{len(lines)} lead(s) of your team are past their SLA:\n{plain}", tuple(blocks))


def unroutable(card: LeadCard, *, reason: str) -> SlackPayload:
    """Return the managers' alert that a lead could not be routed, why, and what to do."""
    blocks = (
        _section(f":warning: *Lead could not be routed:* {escape(card.label)}: {escape(reason)}", _lead_fields(card)),
        _footer(card, f"`leadops explain {card.id}` shows every candidate; `leadops reassign {card.id} --to SDR` "
                      f"assigns it"),
    )
    return _payload(f"Lead could not be routed: {_plain_lead(card)}: {reason}.{_plain_link(card)}", blocks)
