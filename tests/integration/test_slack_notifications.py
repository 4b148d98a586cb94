"""Slack through the outbox, end to end on a real database and a Slack workspace on loopback (tests/support/
slack_server.py): route and sweep with notify.yaml's Slack on, deliver, and look at what Slack received."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadops.config import NotifyRules, SlackRules
from leadops.db.models import Notification, SlackUser
from leadops.db.repositories.notices import SlackUserCache
from leadops.db.session import get_engine
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.notify.outbox import MAX_ATTEMPTS, deliver
from leadops.notify.senders import Channels, FileSender
from leadops.notify.slack import SlackSender
from leadops.services.sla import enforce
from tests.integration.test_route_sla import MONDAY_10_PARIS, route_sample
from tests.support.slack_server import SlackServer
from tests.support.units import units_for

TOKEN = "xoxb-leadops-test-0123456789"
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def slack():
    with SlackServer(tokens={TOKEN}, post_interval=0) as server:
        yield server


def with_slack(rules, server, **kw):
    """Return ``rules`` with notify.yaml's Slack on, pointed at ``server``."""
    slack = SlackRules(enabled=True, api_url=server.api_url, **{"per_channel_per_second": 10, **kw})
    return rules.model_copy(update={"notify": NotifyRules(slack=slack)})


def routed_with_slack(session, settings, rules, server, *, everyone_in_slack=True, **kw):
    """Route the two-lead sample with Slack on (every roster person a Slack member unless told otherwise); returns
    the rules used."""
    rules = with_slack(rules, server, **kw)
    if everyone_in_slack:
        for p in rules.roster.people:
            server.add_user(p.email, p.name)
    route_sample(session, settings, rules)
    return rules


def sweep(settings, rules, minutes):
    """Run the SLA sweep ``minutes`` after the sample was routed; returns its summary."""
    with SqlUnitOfWork(settings.database_url) as uow:
        return enforce(uow, rules, settings.company_time_zone, now=MONDAY_10_PARIS + timedelta(minutes=minutes))


def senders(settings, rules, *, token=TOKEN, webhook_url=None):
    """Return the outbox's senders (files for email, Slack) and the Slack one, as a new process builds them."""
    cache = SlackUserCache(lambda: Session(get_engine(settings.database_url)))
    slack = SlackSender(rules.notify.slack, token=token, webhook_url=webhook_url, cache=cache)
    return Channels({"email": FileSender(settings.outbox_dir, settings.mail_from), "slack": slack}), slack


def rows(session, **where):
    session.expire_all()
    stmt = select(Notification).order_by(Notification.id)
    for k, v in where.items():
        stmt = stmt.where(getattr(Notification, k) == v)
    return list(session.scalars(stmt))


def owner_email(session, rows_):
    return next(r.recipient.removeprefix("email:") for r in rows_ if r.recipient.startswith("email:"))


def emails_written(settings):
    return sorted(settings.outbox_dir.glob("*.eml")) if settings.outbox_dir.exists() else []


def test_an_assignment_is_a_direct_message_saying_who_why_and_by_when(session, settings, rules, roster, slack):
    rules = routed_with_slack(session, settings, rules, slack)
    queued = rows(session)
    assert [(r.channel, r.kind) for r in queued] == [("slack", "assignment")]  # the email is replaced, not doubled
    rep = owner_email(session, queued)

    channels, sender = senders(settings, rules)
    report = deliver(units_for(session), channels)

    assert (report.sent, report.fell_back, report.sent_by_channel) == (1, 0, {"slack": 1})
    [msg] = slack.messages_to(rep)
    assert msg["metadata"] == {"event_type": "leadops_notification", "event_payload": {"key": queued[0].key}}
    blocks = json.dumps(msg["blocks"], ensure_ascii=False)
    assert msg["blocks"][0]["type"] == "header" and "Léa Martin" in msg["blocks"][0]["text"]["text"]
    for shown in ("DSI", "Atelier Numérique SAS", "FR", "demo_request", "rule `france-benelux`",
                  "Mon 23 Nov 11:00 (Europe/Paris)", "hand-raiser"):
        assert shown in blocks, shown
    assert "Why it is hot" in blocks and "Why it is hot: grade" in msg["text"]
    # the grade, the score and its top factors (the largest first), as scoring stored them
    assert re.search(r"grade [A-D][1-3], score \d+: demo_request \S+ \+\d+, ", blocks)
    assert rows(session)[0].status == "sent" and not emails_written(settings)
    assert sender.stats["lookups"] == 1 and slack.calls("users.lookupByEmail") == 1

    # the SLA reminder, by a new process: the member comes from the slack_users cache, not from Slack
    swept = sweep(settings, rules, 46)
    assert swept.reminded == 1
    channels, sender = senders(settings, rules)
    deliver(units_for(session), channels)
    reminder = slack.messages_to(rep)[-1]
    assert reminder["text"].startswith("Reminder: first touch due Mon 23 Nov 11:00 (Europe/Paris)")
    assert sender.stats["cache_hits"] == 1 and slack.calls("users.lookupByEmail") == 1
    assert session.scalar(select(SlackUser.user_id).where(SlackUser.email == rep))


@SQLITE
def test_a_rep_unknown_to_slack_gets_the_email_and_the_report_says_why(session, settings, rules, roster, slack):
    rules = routed_with_slack(session, settings, rules, slack, everyone_in_slack=False)
    channels, _ = senders(settings, rules)
    report = deliver(units_for(session), channels)

    slack_row, email_row = rows(session)
    assert (slack_row.channel, slack_row.status) == ("slack", "fallback")
    assert "no Slack member with email" in slack_row.last_error
    # the email it stands for: the key an email-only setup would have used, sent in the same pass
    assert (email_row.channel, email_row.key, email_row.status) == ("email", slack_row.key.removesuffix(":slack"), "sent")
    assert email_row.recipient == slack_row.recipient.removeprefix("email:")
    assert len(emails_written(settings)) == 1 and "Lead #" in emails_written(settings)[0].read_text()
    assert report.fell_back == 1 and report.sent_by_channel == {"email": 1}
    assert report.fallbacks[0]["instead"] == f"email to {email_row.recipient}"
    assert "no Slack member" in report.fallbacks[0]["reason"]
    # asked once: the answer "none" is cached like a member
    assert slack.calls("users.lookupByEmail") == 1 and not slack.messages


@SQLITE
def test_a_revoked_token_sends_everything_by_email_without_hammering_slack(session, settings, rules, roster, slack):
    rules = routed_with_slack(session, settings, rules, slack)
    sweep(settings, rules, 46)
    assert len(rows(session, channel="slack")) == 2  # the assignment and its reminder
    slack.revoke(TOKEN)
    channels, sender = senders(settings, rules)
    report = deliver(units_for(session), channels)

    assert report.fell_back == 2 and len(emails_written(settings)) == 2
    assert all("token_revoked" in f["reason"] for f in report.fallbacks)
    assert sum(slack.calls(m) for m in ("users.lookupByEmail", "conversations.open", "chat.postMessage")) == 1
    assert "token_revoked" in sender.broken


@SQLITE
def test_a_breach_goes_to_the_rep_and_to_the_managers_channel_or_their_email(session, settings, rules, roster, slack):
    rules = routed_with_slack(session, settings, rules, slack, managers_channel="#sdr-managers")
    slack.add_channel("sdr-managers", member=False)  # the app was never invited
    swept = sweep(settings, rules, 61)
    assert swept.breached == 1
    breach = [r for r in rows(session) if r.kind == "sla_breach"]
    targets = sorted(r.recipient.split(":")[0] for r in breach)
    assert targets == ["channel", "email"]
    channels, _ = senders(settings, rules)
    report = deliver(units_for(session), channels)

    rep = next(r for r in breach if r.recipient.startswith("email:")).recipient.removeprefix("email:")
    assert "SLA breached" in slack.messages_to(rep)[-1]["text"]
    assert [f["to"] for f in report.fallbacks] == ["channel:#sdr-managers"]
    assert "not_in_channel" in report.fallbacks[0]["reason"]
    manager = next(p for p in rules.roster.people if p.code == "m.laurent")
    assert report.fallbacks[0]["instead"] == f"email to {manager.email}"
    row = next(r for r in breach if r.recipient.startswith("channel:"))
    assert rows(session, id=row.id)[0].status == "fallback"


@SQLITE
def test_a_message_sent_before_a_crash_is_not_posted_again(session, settings, rules, roster, slack):
    rules = routed_with_slack(session, settings, rules, slack)
    channels, _ = senders(settings, rules)
    deliver(units_for(session), channels)
    assert len(slack.messages) == 1
    # the sender died after Slack took the message and before the outbox recorded it: claimed, lease past
    row = rows(session)[0]
    session.execute(Notification.__table__.update().where(Notification.id == row.id).values(
        status="sending", sent_at=None, lease_until=row.created_at - timedelta(minutes=1), claimed_by="dead:1:x"))
    session.commit()

    channels, sender = senders(settings, rules)
    report = deliver(units_for(session), channels)
    assert (report.recovered, report.sent) == (1, 1)
    assert sender.stats["already_posted"] == 1 and len(slack.messages) == 1
    assert rows(session)[0].status == "sent"


@SQLITE
def test_slack_outages_are_retried_then_fall_back_after_the_last_attempt(session, settings, rules, roster, slack):
    rules = routed_with_slack(session, settings, rules, slack)
    slack.fail_next(1, 503, method="chat.postMessage")
    channels, _ = senders(settings, rules)
    report = deliver(units_for(session), channels)
    row = rows(session)[0]
    assert (report.failed, row.status, row.last_error) == (1, "pending", "RuntimeError: Slack chat_postMessage failed: HTTP 503")
    channels, _ = senders(settings, rules)
    assert deliver(units_for(session), channels).sent == 1 and len(slack.messages) == 1

    # an outage that outlasts every attempt: the message falls back to email on the last one
    # (as a new message: the same key would be found in the channel's history and not posted again)
    session.execute(Notification.__table__.update().values(status="pending", sent_at=None, attempts=0,
                                                           key=Notification.key + "-again"))
    session.commit()
    slack.fail_next(MAX_ATTEMPTS + 1, 500, method="chat.postMessage")
    reports = []
    for _ in range(MAX_ATTEMPTS):
        channels, _ = senders(settings, rules)
        reports.append(deliver(units_for(session), channels))
    assert [r.fell_back for r in reports] == [0] * (MAX_ATTEMPTS - 1) + [1]
    assert reports[-1].fallbacks[0]["reason"].startswith(f"gave up after {MAX_ATTEMPTS} attempts: RuntimeError")
    assert len(emails_written(settings)) == 1 and len(slack.messages) == 1


@SQLITE
def test_webhook_mode_posts_everything_to_the_webhook_channel(session, settings, rules, roster, slack):
    rules = with_slack(rules, slack, mode="webhook")
    slack.add_channel("sdr-leads")
    hook = slack.add_webhook("#sdr-leads")
    route_sample(session, settings, rules)
    assert rows(session)[0].recipient == "webhook"
    channels, _ = senders(settings, rules, token=None, webhook_url=hook)
    report = deliver(units_for(session), channels)
    [msg] = slack.messages_to("#sdr-leads")
    assert report.sent_by_channel == {"slack": 1} and msg["via"] == "webhook"
    assert msg["text"].startswith("New lead for you: Léa Martin") and msg["blocks"]

    slack.revoke_webhook(hook)
    sweep(settings, rules, 46)
    channels, _ = senders(settings, rules, token=None, webhook_url=hook)
    report = deliver(units_for(session), channels)
    assert report.fell_back == 1 and "invalid_token" in report.fallbacks[0]["reason"]
    assert hook not in json.dumps(report.fallbacks) and hook.rpartition("/")[2] not in json.dumps(report.fallbacks)


@SQLITE
def test_the_token_is_in_no_row_no_report_and_no_log(session, settings, rules, roster, slack, caplog):
    caplog.set_level("DEBUG")
    rules = with_slack(rules, slack)
    slack.add_user("sophie.dubois@example.com")
    route_sample(session, settings, rules)
    slack.fail_next(1, 200, error="invalid_auth")
    channels, sender = senders(settings, rules)
    report = deliver(units_for(session), channels)
    assert report.fell_back == 1
    stored = " ".join(f"{r.recipient} {r.body} {r.last_error}" for r in rows(session))
    for text in (stored, json.dumps(report.fallbacks), caplog.text, str(sender.broken)):
        assert TOKEN not in text and TOKEN[5:] not in text


@SQLITE
def test_a_lead_read_from_the_crm_links_to_its_record(session, settings, rules, roster, slack):
    from leadops.crm.config import HubSpotConnector
    from leadops.db.models import CrmLink, Lead

    rules = rules.model_copy(update={"sources": rules.sources.model_copy(update={"crm": [
        HubSpotConnector(name="hubspot", kind="hubspot", portal_id="4242")]})})
    rules = routed_with_slack(session, settings, rules, slack)
    lea = session.scalar(select(Lead.id).where(Lead.email == "lea@atelier-numerique.fr"))
    session.add(CrmLink(connector="hubspot", object="contacts", external_id="90210", lead_id=lea,
                        modified_at=MONDAY_10_PARIS))
    session.commit()
    sweep(settings, rules, 46)
    channels, _ = senders(settings, rules)
    deliver(units_for(session), channels)
    reminder = slack.messages[-1]
    link = "https://app.hubspot.com/contacts/4242/record/0-1/90210"
    assert reminder["blocks"][-1]["elements"][-1]["text"] == f"<{link}|Open in HubSpot>"
    assert reminder["text"].endswith(f"HubSpot: {link}")
    assert "Open in" not in json.dumps(slack.messages[0]["blocks"])  # routed before the link existed: no link


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_delivering_processes_share_each_channels_pace_on_postgresql(settings, slack):
    import itertools

    from tests.unit.test_slack_sender import Note

    slack.add_channel("sdr-managers")
    slack.post_interval = 0.3  # Slack's one message a second, scaled down
    rules = SlackRules(enabled=True, api_url=slack.api_url, per_channel_per_second=3)
    a, b = (SlackSender(rules, token=TOKEN, database_url=settings.database_url) for _ in range(2))
    for i, sender in zip(range(6), itertools.cycle([a, b]), strict=False):
        sender.send(Note(recipient="channel:#sdr-managers", key=f"k{i}"))
    posts = [e for e in slack.log if e["method"] == "chat.postMessage"]
    assert [e["status"] for e in posts] == [200] * 6 and a.stats["rate_limited"] + b.stats["rate_limited"] == 0
    # the server refuses posts closer than its interval: none refused across two senders means they shared the pace
    assert a.stats["paced_seconds"] + b.stats["paced_seconds"] > 0
