"""Slack messages as Block Kit: what each kind shows, Slack's limits, and lead data that cannot ping or link."""
from __future__ import annotations

import json
from datetime import UTC, datetime

from leadops.notify import slack_blocks as sb

DUE = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CARD = sb.LeadCard(id=7, name="Léa Martin", title="DSI", company="Atelier Numérique", country="FR",
                   source="demo_request", grade="A1", score=87.4, factors=("demo_request x1 +45", "seniority=vp +20"),
                   crm_url="https://app.hubspot.com/contacts/42/record/0-1/901", crm_name="HubSpot")


def texts(payload: sb.SlackPayload) -> str:
    return json.dumps(payload.as_dict(), ensure_ascii=False)


def test_an_assignment_shows_who_why_hot_why_you_and_the_due_time_in_the_reps_zone():
    p = sb.assignment(CARD, rep="<@U1>", rule="france-benelux", reason="pool france, weighted round robin",
                      due=DUE, time_zone="America/New_York", policy="hand-raiser")
    assert p.blocks[0] == {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                      "text": "New lead for you: Léa Martin (Atelier Numérique)"}}
    fields = [f["text"] for f in p.blocks[1]["fields"]]
    assert fields == ["*Title*\nDSI", "*Company*\nAtelier Numérique", "*Country*\nFR", "*Source*\ndemo_request"]
    assert p.blocks[2]["text"]["text"] == "*Why it is hot:* grade A1, score 87: demo_request x1 +45, seniority=vp +20"
    assert p.blocks[3]["text"]["text"] == "*Why you:* rule `france-benelux`: pool france, weighted round robin"
    assert "Mon 23 Nov 05:00 (America/New_York)" in p.blocks[4]["text"]["text"]  # 10:00 UTC in New York
    assert p.blocks[-1]["elements"][-1]["text"] == "<https://app.hubspot.com/contacts/42/record/0-1/901|Open in HubSpot>"
    assert p.text == ("New lead for you: Léa Martin, DSI at Atelier Numérique (FR, demo_request). Why it is hot: grade "
                      "A1, demo_request x1 +45, seniority=vp +20. Why you: france-benelux: pool france, weighted round "
                      "robin. First touch due Mon 23 Nov 05:00 (America/New_York). HubSpot: "
                      "https://app.hubspot.com/contacts/42/record/0-1/901")


def test_lead_data_cannot_mention_a_channel_nor_make_a_link():
    card = sb.LeadCard(id=1, name="<!channel> Bob", company="<https://evil.example|Forge> & Co", title="<@U999>")
    p = sb.assignment(card, rep="*Ana*", rule="r", reason="because <b>", due=None, time_zone="UTC", policy="p")
    # the header is plain_text, which Slack shows as written (no mentions, no links); the rest is mrkdwn, escaped
    assert p.blocks[0]["text"]["type"] == "plain_text"
    text = json.dumps([p.text, *p.blocks[1:]], ensure_ascii=False)
    assert "<!channel>" not in text and "<https://evil" not in text and "<@U999>" not in text
    assert "&lt;!channel&gt; Bob" in text and "&lt;https://evil.example|Forge&gt; &amp; Co" in text


def test_a_link_cannot_be_broken_out_of_and_a_missing_one_is_left_out():
    card = sb.LeadCard(id=1, name="A", crm_url="https://crm.example/r/1|x>y", crm_name="Salesforce")
    footer = sb.reminder(card, rep="A", due=DUE, time_zone="UTC", policy="p").blocks[-1]["elements"]
    assert footer[-1]["text"] == "<https://crm.example/r/1%7Cx%3Ey|Open in Salesforce>"
    no_link = sb.reminder(sb.LeadCard(id=1, name="A"), rep="A", due=DUE, time_zone="UTC", policy="p")
    assert "Open in" not in texts(no_link) and "CRM:" not in no_link.text


def test_mentions_notify_by_slack_id_and_fall_back_to_a_bold_escaped_name():
    assert sb.mention("U123", "Ana") == "<@U123>"
    assert sb.mention(None, "Ana <x>") == "*Ana &lt;x&gt;*"


def test_a_long_digest_stays_within_slacks_limits_and_says_how_many_are_left_out():
    lines = [sb.DigestLine(sb.LeadCard(id=i, name="N" * 200, company="C" * 200), owner="<@U1>", owner_name="Ana",
                           what="no first touch", policy="mql", started=DUE) for i in range(55)]
    p = sb.digest("<@U9>", lines, time_zone="Europe/Paris")
    assert len(p.blocks) <= sb.MAX_BLOCKS
    assert p.blocks[0]["text"]["text"] == "55 lead(s) of your team are past their SLA"
    assert all(len(b["text"]["text"]) <= sb.TEXT_MAX for b in p.blocks if b["type"] == "section")
    assert "and 15 more" in p.blocks[-1]["elements"][0]["text"]
    assert p.text.count("\n- ") == 40 and p.text.startswith("55 lead(s)")


def test_headers_are_cut_to_slacks_150_characters():
    p = sb.assignment(sb.LeadCard(id=1, name="x" * 300), rep="A", rule="r", reason="q", due=DUE, time_zone="UTC",
                      policy="p")
    assert len(p.blocks[0]["text"]["text"]) == sb.HEADER_MAX and p.blocks[0]["text"]["text"].endswith("…")


def test_breach_cadence_and_unroutable_messages_say_what_happened_and_what_to_do():
    to_manager = sb.breach(CARD, owner="<@U1>", owner_name="Ana", target_minutes=60, policy="hand-raiser",
                           to_manager=True)
    assert "assigned to <@U1> had no first touch within 60 business minutes" in texts(to_manager)
    assert "`leadops reassign 7` moves it" in texts(to_manager)
    assert to_manager.text.startswith("SLA breached: Léa Martin, DSI at Atelier Numérique (FR, demo_request) (owner Ana)")
    to_rep = sb.breach(CARD, owner="<@U1>", owner_name="Ana", target_minutes=60, policy="p", to_manager=False)
    assert "<@U1>, this lead had no first touch" in texts(to_rep)
    behind = sb.cadence(CARD, missed=False, owner="<@U1>", owner_name="Ana", progress="2 of 6 follow-up touches",
                        ends=DUE, time_zone="Europe/Paris")
    assert behind.text.startswith("Follow-up behind: ") and "ends Mon 23 Nov 11:00 (Europe/Paris)" in behind.text
    lost = sb.unroutable(CARD, reason="no SDR covers country XX")
    assert "`leadops explain 7` shows every candidate" in texts(lost) and "no SDR covers country XX" in lost.text
