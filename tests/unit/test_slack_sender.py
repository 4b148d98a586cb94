"""The Slack sender against a Slack workspace on loopback: targets, rate limits, pacing, refusals; and where
leadops.services.notices sends each notice (a rep's direct message, one message per managers' channel)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from leadops.config import NotifyRules, Person, Roster, SlackRules
from leadops.db.repositories.outbox import Message
from leadops.notify.senders import FallBack
from leadops.notify.slack import SlackSender
from leadops.notify.slack_blocks import SlackPayload
from leadops.services.notices import Notices
from tests.support.slack_server import SlackServer

TOKEN = "xoxb-unit-test-token-42"


@dataclass
class Note:
    """An outbox row as a sender sees it."""

    recipient: str
    key: str = "k1"
    kind: str = "assignment"
    channel: str = "slack"
    subject: str = "[leadops] New lead"
    body: str = field(default_factory=lambda: json.dumps({"text": "New lead", "blocks": [], "fallback": [
        {"to": "ana@forge.fr", "key": "assignment:1", "body": "Hello Ana"}]}))
    lead_id: int | None = 1
    attempts: int = 1
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@pytest.fixture
def slack():
    with SlackServer(tokens={TOKEN}, post_interval=0) as server:
        yield server


def sender(server, sleeps=None, **kw):
    rules = SlackRules(enabled=True, api_url=server.api_url, **kw)
    return SlackSender(rules, token=TOKEN, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_a_slack_id_from_sdrs_yaml_skips_the_email_lookup(slack):
    uid = slack.add_user("ana.other@forge.fr", "Ana")
    s = sender(slack)
    s.send(Note(recipient=f"user:{uid}"))
    assert slack.calls("users.lookupByEmail") == 0 and len(slack.messages_to(uid)) == 1


def test_a_429_is_waited_out_as_slack_asks_and_a_longer_one_is_left_to_the_next_pass(slack):
    slack.add_channel("sdr-managers")
    sleeps: list[float] = []
    s = sender(slack, sleeps, max_wait_seconds=5)
    slack.fail_next(1, 429, retry_after=2, method="chat.postMessage")
    s.send(Note(recipient="channel:#sdr-managers"))
    assert sleeps == [2.0] and s.stats["rate_limited"] == 1 and len(slack.messages) == 1
    slack.fail_next(1, 429, retry_after=120, method="chat.postMessage")
    with pytest.raises(RuntimeError, match=r"rate limited chat_postMessage: retry after 120 s"):
        s.send(Note(recipient="channel:#sdr-managers", key="k2"))
    assert len(slack.messages) == 1


def test_messages_to_one_channel_are_spaced_so_slack_never_refuses_them(slack):
    slack.add_channel("sdr-managers")
    slack.post_interval = 0.25  # Slack's one message per second, scaled down
    s = SlackSender(SlackRules(enabled=True, api_url=slack.api_url, per_channel_per_second=3.5), token=TOKEN)
    for i in range(4):
        s.send(Note(recipient="channel:#sdr-managers", key=f"k{i}"))
    posts = [e for e in slack.log if e["method"] == "chat.postMessage"]
    assert [e["status"] for e in posts] == [200] * 4 and s.stats["rate_limited"] == 0
    # the server refuses posts closer than its interval: none refused means the sender spaced them itself
    assert s.stats["paced_seconds"] > 0


@pytest.mark.parametrize(("setup", "reason"), [
    (lambda sl: sl.add_channel("sdr-managers", member=False), "not_in_channel"),
    (lambda sl: None, "channel_not_found"),
    (lambda sl: sl.archive(sl.add_channel("sdr-managers")), "is_archived"),
])
def test_a_channel_slack_cannot_post_to_falls_back_without_breaking_the_sender(slack, setup, reason):
    setup(slack)
    s = sender(slack)
    with pytest.raises(FallBack, match=reason):
        s.send(Note(recipient="channel:#sdr-managers"))
    assert s.broken is None  # other targets still work
    assert [(e.recipient, e.key, e.body) for e in s.fallback(Note(recipient="channel:#x"))] == [
        ("ana@forge.fr", "assignment:1", "Hello Ana")]


def test_a_deleted_member_and_a_missing_scope_are_told_apart(slack):
    slack.add_user("gone@forge.fr", deleted=True)
    s = sender(slack)
    with pytest.raises(FallBack, match=r"no Slack member with email gone@forge\.fr"):
        s.send(Note(recipient="email:gone@forge.fr"))
    assert s.broken is None
    slack.fail_next(1, 200, error="missing_scope", method="users.lookupByEmail")
    with pytest.raises(FallBack, match=r"Slack refused the credentials \(missing_scope"):
        s.send(Note(recipient="email:new@forge.fr"))
    assert s.broken and s.broken.startswith("Slack refused the credentials")


def test_without_credentials_every_message_falls_back_with_the_reason():
    s = SlackSender(SlackRules(enabled=True), token=None)
    with pytest.raises(FallBack, match="no Slack credentials"):
        s.send(Note(recipient="email:ana@forge.fr"))


# --------------------------------------------------------------------------- where each notice goes

def _person(code, **kw):
    return Person(code=code, name=code.title(), email=f"{code}@forge.fr", **kw)


class _Rules:
    def __init__(self, slack: SlackRules, people: list[Person]) -> None:
        self.notify = NotifyRules(slack=slack)
        self.roster = Roster(people=people)
        self.sources = type("S", (), {"crm": []})()


def _email(key, to, kind="unroutable_alert"):
    return Message(key=key, kind=kind, recipient=to, subject="s", body=f"Hello {to}", lead_id=3)


def _payload(_name=None):
    return SlackPayload("t")


def test_managers_sharing_a_channel_see_one_message_and_the_others_their_own():
    people = [_person("m.a", role="manager"), _person("m.b", role="manager"),
              _person("m.c", role="manager", slack_channel="#team-c"), _person("m.d", role="manager")]
    notices = Notices(None, _Rules(SlackRules(enabled=True, managers_channel="#sdr-managers"), people))  # type: ignore[arg-type]
    out = notices.to_managers([(_email(f"unroutable:9:{p.code}", p.email), p.code) for p in people],
                              "unroutable:9", _payload)
    assert [(m.key, m.recipient, m.channel) for m in out] == [
        ("unroutable:9:slack:#sdr-managers", "channel:#sdr-managers", "slack"),
        ("unroutable:9:slack:#team-c", "channel:#team-c", "slack")]
    fallback = json.loads(out[0].body)["fallback"]
    assert [f["to"] for f in fallback] == ["m.a@forge.fr", "m.b@forge.fr", "m.d@forge.fr"]


def test_a_rep_is_reached_by_slack_id_or_email_and_email_too_keeps_the_email():
    people = [_person("s.ana", slack_user="U0ANA"), _person("s.bob")]
    notices = Notices(None, _Rules(SlackRules(enabled=True, email_too=True), people))  # type: ignore[arg-type]
    ana = notices.to_rep(_email("assignment:1", "s.ana@forge.fr", "assignment"), "s.ana", _payload)
    bob = notices.to_rep(_email("assignment:2", "s.bob@forge.fr", "assignment"), "s.bob", _payload)
    assert [(m.channel, m.recipient) for m in ana] == [("slack", "user:U0ANA"), ("email", "s.ana@forge.fr")]
    assert [(m.channel, m.recipient) for m in bob] == [("slack", "email:s.bob@forge.fr"), ("email", "s.bob@forge.fr")]
    assert notices.mention("s.ana", "Ana") == "<@U0ANA>" and notices.mention("s.bob", "Bob") == "*Bob*"


def test_kinds_left_out_of_notify_yaml_stay_email_and_webhook_mode_posts_to_the_webhook():
    people = [_person("s.ana")]
    only_breaches = Notices(None, _Rules(SlackRules(enabled=True, kinds=["sla_breach", "cadence"]), people))  # type: ignore[arg-type]
    assert [m.channel for m in only_breaches.to_rep(_email("a:1", "x", "assignment"), "s.ana", _payload)] == ["email"]
    assert only_breaches.carries("cadence_reminder") and not only_breaches.carries("sla_digest")
    hook = Notices(None, _Rules(SlackRules(enabled=True, mode="webhook"), people))  # type: ignore[arg-type]
    assert [m.recipient for m in hook.to_rep(_email("a:1", "x", "assignment"), "s.ana", _payload)] == ["webhook"]
    off = Notices(None, _Rules(SlackRules(enabled=False), people))  # type: ignore[arg-type]
    assert [m.channel for m in off.to_rep(_email("a:1", "x", "sla_breach"), "s.ana", _payload)] == ["email"]


def test_credentials_come_from_the_environment_and_their_absence_is_one_line():
    from types import SimpleNamespace

    from pydantic import SecretStr

    from leadops.notify.slack import load_credentials
    from leadops.redact import redact

    env = SimpleNamespace(slack_token=SecretStr("xoxb-env-token-123"), slack_webhook_url=None)
    assert load_credentials(SlackRules(enabled=True), env) == ("xoxb-env-token-123", None, None)
    assert redact("auth failed for xoxb-env-token-123") == "auth failed for <redacted>"
    hook = SimpleNamespace(slack_token=None, slack_webhook_url=SecretStr("https://hooks.example/services/T1/B2/s3cr3tXYZ"))
    assert load_credentials(SlackRules(enabled=True, mode="webhook"), hook)[1].endswith("/s3cr3tXYZ")
    assert "s3cr3tXYZ" not in redact("posting to s3cr3tXYZ failed")
    none = SimpleNamespace(slack_token=None, slack_webhook_url=None)
    assert load_credentials(SlackRules(enabled=True), none) == (None, None, (
        "no Slack credentials: set LEADOPS_SLACK_TOKEN or name a prefect-slack block in notify.yaml "
        "(slack.credentials_block)"))
    assert "LEADOPS_SLACK_WEBHOOK_URL" in load_credentials(SlackRules(enabled=True, mode="webhook"), none)[2]
