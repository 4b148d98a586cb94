"""The buttons of a Slack assignment message, handled by the intake service (``POST /v1/slack/actions``, the Slack
app's Interactivity Request URL): "Contacted" records the rep's touch (the SLA clock stops at the next sweep),
"Not mine: reassign" hands the lead back to the routing rules without them.

Every request is verified as Slack documents it ("Verifying requests from Slack"): ``X-Slack-Signature`` is
``v0=`` + the hex HMAC-SHA256, keyed by the app's signing secret, of ``v0:<X-Slack-Request-Timestamp>:<raw body>``;
a timestamp more than 5 minutes away is refused. Only the lead's current owner can press either button.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from leadops.config import Rules, Settings
from leadops.intake.webhook import Refused

CONTACTED = "leadops_contacted"
NOT_MINE = "leadops_not_mine"
MAX_SKEW_SECONDS = 300


def slack_signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """Return the ``X-Slack-Signature`` of ``body`` sent at ``timestamp`` (what Slack computes)."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Return when the request is Slack's; raise Refused(401) saying why otherwise (``headers``: lower-case)."""
    stamp, given = headers.get("x-slack-request-timestamp", ""), headers.get("x-slack-signature", "")
    if not stamp or not given:
        raise Refused(401, "no X-Slack-Request-Timestamp / X-Slack-Signature")
    try:
        sent = float(stamp)
    except ValueError:
        raise Refused(401, "X-Slack-Request-Timestamp is not epoch seconds") from None
    if abs(now - sent) > MAX_SKEW_SECONDS:
        raise Refused(401, "timestamp more than 5 minutes from now: replayed")
    if not hmac.compare_digest(given.encode(), slack_signature(secret, stamp, body).encode()):
        raise Refused(401, "wrong signature")


@dataclass(frozen=True)
class Action:
    """One button press (grain: one action of one payload)."""

    user_id: str
    action_id: str
    lead_id: int
    action_ts: str
    response_url: str | None


def parse(body: bytes) -> Action:
    """Return the button press of a ``block_actions`` payload (form field ``payload``); Refused(400) otherwise."""
    try:
        payload = json.loads(parse_qs(body.decode("utf-8"))["payload"][0])
        action = payload["actions"][0]
        return Action(user_id=str(payload["user"]["id"]), action_id=str(action["action_id"]),
                      lead_id=int(action["value"]), action_ts=str(action.get("action_ts") or payload.get("trigger_id")),
                      response_url=payload.get("response_url"))
    except (KeyError, IndexError, ValueError, TypeError, UnicodeDecodeError):
        raise Refused(400, "not a Slack block_actions payload of leadops' buttons") from None


def handle(settings: Settings, rules: Rules, action: Action) -> str:
    """Apply one press for the lead's owner; returns the line to show the rep (nothing changes for anyone else)."""
    from sqlalchemy import select

    from leadops.db.models import Activity, Lead, Sdr, SlackUser
    from leadops.db.session import when_unlocked
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.route import reassign

    if action.action_id not in (CONTACTED, NOT_MINE):
        return f"unknown button {action.action_id!r}: nothing changed"

    def apply() -> str:
        with SqlUnitOfWork(settings.database_url) as uow:
            session = uow.session
            lead = session.get(Lead, action.lead_id)
            owner = session.get(Sdr, lead.owner_sdr_id) if lead is not None and lead.owner_sdr_id else None
            who = _member(rules, action.user_id, session.scalar(select(SlackUser.email)
                                                                 .where(SlackUser.user_id == action.user_id)))
            if lead is None or owner is None:
                return f"lead #{action.lead_id} has no owner now: nothing changed"
            if who != owner.code:
                return f"lead #{lead.id} is {owner.name}'s, not yours: nothing changed"
            now = datetime.now(UTC)
            if action.action_id == CONTACTED:
                key = f"slack:{action.user_id}:{action.action_ts}"[:200]
                if session.scalar(select(Activity.id).where(Activity.external_key == key)) is None:
                    session.add(Activity(lead_id=lead.id, sdr_id=owner.id, kind=rules.notify.slack.contacted_kind,
                                         outcome="contacted", occurred_at=now, external_key=key,
                                         detail="marked contacted in Slack"))
                return f"lead #{lead.id}: contact recorded; its first-touch clock stops at the next SLA sweep"
            decision = reassign(uow, lead.id, rules, settings.company_time_zone, now, kind="manual",
                                reason=f"not mine: declined in Slack by {owner.code}")
            if decision.status == "assigned":
                return f"lead #{lead.id} moved to {decision.sdr} ({decision.reason})"
            return f"lead #{lead.id} stays with you: {decision.reason}"

    return when_unlocked(apply)  # SQLite: the intake or the router may be writing


def _member(rules: Rules, user_id: str, email: str | None) -> str | None:
    """Return the roster code of Slack member ``user_id``: by ``slack_user`` in sdrs.yaml, else by the email the
    member was looked up with."""
    for p in rules.roster.people:
        if p.slack_user == user_id or (email and p.email.lower() == email.lower() and not p.slack_user):
            return p.code
    return None


def reply(response_url: str | None, text: str) -> None:
    """Show ``text`` to the rep who pressed (an ephemeral message through Slack's ``response_url``); best effort."""
    if not response_url:
        return
    import requests

    with contextlib.suppress(requests.RequestException):  # the press is applied; the echo is a courtesy
        requests.post(response_url, json={"response_type": "ephemeral", "replace_original": False, "text": text},
                      timeout=5)


def answer(action: Action, text: str) -> dict[str, Any]:
    """Return the HTTP answer to Slack (acknowledged; the rep sees ``text`` through the response URL)."""
    return {"ok": True, "lead_id": action.lead_id, "text": text}
