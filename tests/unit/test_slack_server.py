"""The loopback Slack workspace through the real slack_sdk clients (and plain urllib for the encodings slack_sdk does
not send): the shapes of every Web API method and of incoming webhooks, each documented error, 429 pacing per
channel with Retry-After, revoked tokens, history with metadata in one answer, scripted faults, the records."""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.support.slack_server import SlackServer

TOKEN = "xoxb-unit-test-token"
OTHER = "xoxb-other-token"
TS = re.compile(r"^\d{10}\.\d{6}$")
SECTION_TOO_LONG = {"channel": "#sales", "text": "x",
                    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}]}


@pytest.fixture
def slack():
    """A workspace without pacing (tests of pacing set ``post_interval``) holding two users and three channels."""
    with SlackServer(tokens=(TOKEN, OTHER), post_interval=0) as server:
        server.add_user("ana@forge.fr", "Ana Martin")
        server.add_user("bob@forge.fr", "Bob Roy", deleted=True)
        server.add_channel("sales")
        server.add_channel("random", member=False)
        server.add_channel("old-leads", archived=True)
        yield server


def client(slack: SlackServer, token: str | None = TOKEN) -> WebClient:
    return WebClient(token=token, base_url=slack.api_url)


def ids(slack: SlackServer) -> dict[str, str]:
    """The ids the fixture made, as the workspace answers them."""
    web = client(slack)
    return {"ana": web.users_lookupByEmail(email="ana@forge.fr")["user"]["id"],
            "sales": slack._names["sales"], "random": slack._names["random"], "old": slack._names["old-leads"]}


def raw(url: str, *, query: dict[str, Any] | None = None, body: bytes | None = None, ctype: str | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """A plain HTTP request (GET without a body): ``(status, headers, body text)``."""
    if query:
        url = f"{url}?{urlencode(query)}"
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET",
                                     headers={**({"Content-Type": ctype} if ctype else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, dict(resp.headers.items()), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read().decode()


def api_error(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


# --------------------------------------------------------------------------- methods
def test_auth_test(slack):
    data = client(slack).auth_test().data
    assert data == {"ok": True, "url": "https://leadops-test.slack.com/", "team": "leadops-test", "user": "leadops",
                    "team_id": "T0LEADOPS", "user_id": "U0BOT", "bot_id": "B0BOT"}


def test_lookup_by_email_in_every_encoding(slack):
    uid = slack.add_user("cleo@forge.fr", "Cléo Durand", user_id="U0CLEO")
    assert uid == "U0CLEO"
    expected = {"id": "U0CLEO", "team_id": "T0LEADOPS", "name": "cleo", "real_name": "Cléo Durand", "deleted": False,
                "is_bot": False, "tz": "Europe/Paris",
                "profile": {"email": "cleo@forge.fr", "real_name": "Cléo Durand", "display_name": "Cléo Durand"}}
    web = client(slack)
    assert web.users_lookupByEmail(email="cleo@forge.fr").data == {"ok": True, "user": expected}  # form POST
    assert web.api_call("users.lookupByEmail", json={"email": "Cleo@Forge.fr"})["user"] == expected  # JSON body
    url = slack.api_url + "users.lookupByEmail"
    status, _, body = raw(url, query={"email": "cleo@forge.fr", "token": TOKEN})  # GET, token as a parameter
    assert status == 200 and json.loads(body) == {"ok": True, "user": expected}
    status, headers, body = raw(url, query={"email": "cleo@forge.fr"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert json.loads(body)["user"]["id"] == "U0CLEO" and headers["Content-Type"].startswith("application/json")
    status, _, body = raw(url, body=urlencode({"email": "cleo@forge.fr", "token": TOKEN}).encode(),
                          ctype="application/x-www-form-urlencoded")
    assert json.loads(body)["user"]["id"] == "U0CLEO"
    assert all("token" not in entry["params"] for entry in slack.log)


def test_lookup_by_email_errors(slack):
    web = client(slack)
    for email in ("nobody@forge.fr", "bob@forge.fr"):  # unknown, deactivated
        e = api_error(lambda email=email: web.users_lookupByEmail(email=email))
        assert e.response.status_code == 200 and e.response.data == {"ok": False, "error": "users_not_found"}
    assert api_error(lambda: web.api_call("users.lookupByEmail")).response["error"] == "invalid_arguments"
    slack.deactivate("ana@forge.fr")
    assert api_error(lambda: web.users_lookupByEmail(email="ana@forge.fr")).response["error"] == "users_not_found"


def test_conversations_open_is_stable(slack):
    web, ana = client(slack), ids(slack)["ana"]
    first = web.conversations_open(users=ana).data
    assert first == {"ok": True, "channel": {"id": first["channel"]["id"]}} and first["channel"]["id"].startswith("D")
    again = web.conversations_open(users=[ana]).data  # slack_sdk joins a list with commas
    assert again["channel"]["id"] == first["channel"]["id"] and again["already_open"] is True
    assert slack.dm_of("ana@forge.fr") == first["channel"]["id"]
    assert web.conversations_open(channel=first["channel"]["id"])["channel"]["id"] == first["channel"]["id"]
    assert api_error(lambda: web.conversations_open(users="U0NOBODY")).response["error"] == "user_not_found"
    bob = slack._emails["bob@forge.fr"]
    assert api_error(lambda: web.conversations_open(users=bob)).response["error"] == "user_disabled"
    assert api_error(lambda: web.api_call("conversations.open")).response["error"] == "users_list_not_supplied"


def test_post_message_to_a_channel_by_id_and_name(slack):
    web, sales = client(slack), ids(slack)["sales"]
    answers = [web.chat_postMessage(channel=target, text=f"to {target}", unfurl_links=False, unfurl_media=False,
                                    mrkdwn=True).data for target in (sales, "#sales", "sales")]
    for answer, target in zip(answers, (sales, "#sales", "sales"), strict=True):
        assert answer["ok"] is True and answer["channel"] == sales and TS.match(answer["ts"])
        assert answer["message"] == {"type": "message", "text": f"to {target}", "user": "U0BOT", "bot_id": "B0BOT",
                                     "team": "T0LEADOPS", "ts": answer["ts"]}
    stamps = [a["ts"] for a in answers]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 3
    assert [m["text"] for m in slack.messages_to("#sales")] == ["to " + t for t in (sales, "#sales", "sales")]
    assert slack.messages_to("sales") == slack.messages_to(sales) == slack.messages
    assert slack.messages[0] == {"channel": sales, "ts": stamps[0], "text": f"to {sales}", "blocks": None,
                                 "metadata": None, "via": "api", "user": None, "token": TOKEN}


def test_post_message_to_a_user_goes_to_their_dm(slack):
    web, ana = client(slack), ids(slack)["ana"]
    answer = web.chat_postMessage(channel=ana, text="New lead: Forge SAS")
    dm = answer["channel"]
    assert dm.startswith("D") and web.conversations_open(users=ana)["channel"]["id"] == dm
    web.chat_postMessage(channel=dm, text="Reminder")
    assert [m["text"] for m in slack.messages_to(ana)] == ["New lead: Forge SAS", "Reminder"]
    assert slack.messages_to("ana@forge.fr") == slack.messages_to(dm) == slack.messages_to(ana)
    assert {m["user"] for m in slack.messages} == {ana} and {m["channel"] for m in slack.messages} == {dm}
    assert slack.messages_to("nobody@forge.fr") == [] and slack.messages_to("#nowhere") == []
    # an email is not a channel for chat.postMessage
    assert api_error(lambda: web.chat_postMessage(channel="ana@forge.fr", text="x")).response["error"] == \
        "channel_not_found"


def test_post_message_blocks_and_metadata_as_json_and_as_form(slack):
    web, sales = client(slack), ids(slack)["sales"]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Forge SAS* scored 87"}}, {"type": "divider"}]
    metadata = {"event_type": "lead_assigned", "event_payload": {"lead_id": "L-1", "score": 87}}
    by_json = web.chat_postMessage(channel=sales, text="Forge SAS", blocks=blocks, metadata=metadata)
    assert by_json["message"]["blocks"] == blocks and by_json["message"]["metadata"] == metadata
    by_form = web.api_call("chat.postMessage", params={"channel": "#sales", "text": "Forge SAS",
                                                       "blocks": json.dumps(blocks), "metadata": json.dumps(metadata)})
    assert by_form["message"]["blocks"] == blocks and by_form["message"]["metadata"] == metadata
    first, second = slack.messages
    assert first["blocks"] == second["blocks"] == blocks and first["metadata"] == second["metadata"] == metadata
    assert slack.log[-2]["params"]["blocks"] == blocks and slack.log[-1]["params"]["blocks"] == json.dumps(blocks)
    only_blocks = web.api_call("chat.postMessage", json={"channel": sales, "blocks": blocks})
    assert only_blocks["message"]["text"] == "" and slack.messages[-1]["blocks"] == blocks
    limits = web.api_call("chat.postMessage", json={"channel": sales, "text": "x" * 40_000, "blocks": [
        {"type": "section", "text": {"type": "plain_text", "text": "y" * 3_000}}] * 50})
    assert limits["ok"] is True  # the limits themselves pass


@pytest.mark.parametrize("body, error", [
    ({"channel": "C0NOWHERE", "text": "x"}, "channel_not_found"),
    ({"text": "x"}, "channel_not_found"),
    ({"channel": "#random", "text": "x"}, "not_in_channel"),
    ({"channel": "old-leads", "text": "x"}, "is_archived"),
    ({"channel": "#sales"}, "no_text"),
    ({"channel": "#sales", "text": "", "blocks": []}, "no_text"),
    ({"channel": "#sales", "text": "x" * 40_001}, "msg_too_long"),
    ({"channel": "#sales", "text": "x", "blocks": {"type": "divider"}}, "invalid_blocks"),
    ({"channel": "#sales", "text": "x", "blocks": ["divider"]}, "invalid_blocks"),
    ({"channel": "#sales", "text": "x", "blocks": [{"text": "no type"}]}, "invalid_blocks"),
    ({"channel": "#sales", "text": "x", "blocks": [{"type": 3}]}, "invalid_blocks"),
    ({"channel": "#sales", "text": "x", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
    (SECTION_TOO_LONG, "invalid_blocks"),
    ({"channel": "#sales", "text": "x", "blocks": "[{not json"}, "invalid_blocks_format"),
    ({"channel": "#sales", "text": "x", "metadata": "[1]"}, "invalid_metadata_format"),
    ({"channel": "#sales", "text": "x", "metadata": {"event_type": "x"}}, "invalid_metadata_schema"),
])
def test_post_message_errors(slack, body, error):
    e = api_error(lambda: client(slack).api_call("chat.postMessage", json=body))
    assert e.response.status_code == 200 and e.response["ok"] is False and e.response["error"] == error
    assert slack.messages == [] and slack.log[-1]["error"] == error and slack.log[-1]["status"] == 200


def test_invalid_blocks_say_where(slack):
    e = api_error(lambda: client(slack).api_call("chat.postMessage", json={"channel": "#sales", "blocks": [
        {"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}]}))
    assert e.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]"]


def test_the_deactivated_users_dm_is_archived(slack):
    web, ana = client(slack), ids(slack)["ana"]
    dm = web.conversations_open(users=ana)["channel"]["id"]
    slack.deactivate(ana)
    for target in (ana, dm):
        assert api_error(lambda target=target: web.chat_postMessage(channel=target, text="x")).response["error"] == \
            "is_archived"


# --------------------------------------------------------------------------- pacing
def test_posts_to_one_channel_are_paced_with_429_and_retry_after(slack):
    web, sales = client(slack), ids(slack)["sales"]
    other = slack.add_channel("sdr-team")
    slack.post_interval = 0.3  # settable after start
    web.chat_postMessage(channel=sales, text="first")
    e = api_error(lambda: web.chat_postMessage(channel="#sales", text="too soon"))
    assert e.response.status_code == 429 and e.response.data == {"ok": False, "error": "ratelimited"}
    assert e.response.headers["Retry-After"] == "1"  # the remaining wait rounded up, at least 1
    assert web.chat_postMessage(channel=other, text="another channel")["ok"] is True
    ana = ids(slack)["ana"]
    web.chat_postMessage(channel=ana, text="a DM")
    assert api_error(lambda: web.chat_postMessage(channel=ana, text="DM too soon")).response.status_code == 429
    slack.post_interval = 2.5
    e = api_error(lambda: web.chat_postMessage(channel=sales, text="still too soon"))
    assert int(e.response.headers["Retry-After"]) == 3  # ceil(2.5 - elapsed): an integer slack_sdk's handler reads
    slack.post_interval = 0.3
    time.sleep(0.3)
    assert web.chat_postMessage(channel=sales, text="in time")["ok"] is True
    assert [m["text"] for m in slack.messages_to(sales)] == ["first", "in time"]
    assert [entry["status"] for entry in slack.log if entry["method"] == "chat.postMessage"] == [
        200, 429, 200, 200, 429, 429, 200]
    slack.post_interval = 0
    for i in range(3):
        web.chat_postMessage(channel=sales, text=f"unpaced {i}")


def test_webhooks_share_the_channel_pacing(slack):
    slack.post_interval = 0.5
    hook = WebhookClient(slack.add_webhook("#sales"))
    assert hook.send(text="by webhook").status_code == 200
    e = api_error(lambda: client(slack).chat_postMessage(channel="#sales", text="by API"))
    assert e.response.status_code == 429
    slack.post_interval = 0
    client(slack).chat_postMessage(channel="#sales", text="by API")
    slack.post_interval = 0.5
    answer = hook.send(text="by webhook, too soon")
    assert (answer.status_code, answer.body, answer.headers["Retry-After"]) == (429, "rate_limited", "1")
    assert [m["via"] for m in slack.messages_to("sales")] == ["webhook", "api"]


# --------------------------------------------------------------------------- history
def test_history_newest_first_with_metadata_in_one_answer(slack):
    web, sales = client(slack), ids(slack)["sales"]
    posted = [web.chat_postMessage(channel=sales, text=f"m{i}", metadata={"event_type": "lead_assigned",
                                                                           "event_payload": {"lead_id": f"L-{i}"}})
              for i in range(5)]
    stamps = [p["ts"] for p in posted]
    answer = web.conversations_history(channel=sales, include_all_metadata=True).data  # sent as "1"
    assert answer["ok"] is True and answer["has_more"] is False and "response_metadata" not in answer
    assert [m["text"] for m in answer["messages"]] == ["m4", "m3", "m2", "m1", "m0"]
    assert answer["messages"][0] == {"type": "message", "text": "m4", "user": "U0BOT", "bot_id": "B0BOT",
                                     "team": "T0LEADOPS", "ts": stamps[4],
                                     "metadata": {"event_type": "lead_assigned", "event_payload": {"lead_id": "L-4"}}}
    plain = web.conversations_history(channel=sales)["messages"]
    assert all("metadata" not in m for m in plain) and len(plain) == 5
    window = web.conversations_history(channel=sales, oldest=stamps[1], latest=stamps[3])["messages"]
    assert [m["text"] for m in window] == ["m3", "m2"]  # oldest excluded, latest included
    assert [m["text"] for m in web.conversations_history(channel=sales, oldest=stamps[1], inclusive=True)[
        "messages"]] == ["m4", "m3", "m2", "m1"]
    cut = web.conversations_history(channel=sales, limit=2).data
    assert [m["text"] for m in cut["messages"]] == ["m4", "m3"] and cut["has_more"] is True
    status, _, body = raw(slack.api_url + "conversations.history",  # GET with a query string, "true"
                          query={"channel": sales, "include_all_metadata": "true", "oldest": stamps[3], "token": TOKEN})
    assert status == 200
    assert [m["metadata"]["event_payload"]["lead_id"] for m in json.loads(body)["messages"]] == ["L-4"]
    by_json = web.api_call("conversations.history", json={"channel": sales, "include_all_metadata": True, "limit": 1})
    assert by_json["messages"][0]["metadata"]["event_payload"] == {"lead_id": "L-4"}


def test_history_of_a_dm_and_errors(slack):
    web, ana = client(slack), ids(slack)["ana"]
    dm = web.chat_postMessage(channel=ana, text="hello", blocks=[{"type": "divider"}])["channel"]
    messages = web.conversations_history(channel=dm)["messages"]
    assert [(m["text"], m["blocks"]) for m in messages] == [("hello", [{"type": "divider"}])]
    assert web.conversations_history(channel=ids(slack)["old"])["messages"] == []  # archived: readable
    for channel, error in (("C0NOWHERE", "channel_not_found"), ("#sales", "channel_not_found"),
                           (ids(slack)["random"], "not_in_channel"), (ana, "channel_not_found")):
        assert api_error(lambda channel=channel: web.conversations_history(channel=channel)).response["error"] == error
    e = api_error(lambda: web.conversations_history(channel=dm, oldest="yesterday"))
    assert e.response["error"] == "invalid_ts_oldest"


# --------------------------------------------------------------------------- auth, unknown methods, faults
def test_auth_errors(slack):
    assert api_error(lambda: client(slack, None).auth_test()).response.data == {"ok": False, "error": "not_authed"}
    assert api_error(lambda: client(slack, "xoxb-unknown").auth_test()).response["error"] == "invalid_auth"
    slack.revoke(TOKEN)
    for call in (lambda: client(slack).auth_test(), lambda: client(slack).chat_postMessage(channel="#sales", text="x"),
                 lambda: client(slack).conversations_history(channel=slack._names["sales"])):
        e = api_error(call)
        assert e.response.status_code == 200 and e.response["error"] == "token_revoked"
    status, _, body = raw(slack.api_url + "auth.test", query={"token": TOKEN})
    assert status == 200 and json.loads(body)["error"] == "token_revoked"
    assert client(slack, OTHER).chat_postMessage(channel="#sales", text="x")["message"]["text"] == "x"
    assert slack.messages[-1]["token"] == OTHER and all(m["token"] != TOKEN for m in slack.messages)
    _, _, body = raw(slack.api_url + "auth.test", body=b'{"broken', ctype="application/json",
                     headers={"Authorization": f"Bearer {OTHER}"})
    assert json.loads(body) == {"ok": False, "error": "invalid_json"}


def test_unknown_method_is_404(slack):
    e = api_error(lambda: client(slack).api_call("chat.scheduleMessage", json={"channel": "#sales", "text": "x"}))
    assert e.response.status_code == 404 and e.response["error"] == "unknown_method"
    assert slack.calls("chat.scheduleMessage") == 1 and slack.messages == []


def test_fail_next(slack):
    web = client(slack)
    slack.fail_next(2, 503)
    for _ in range(2):
        e = api_error(web.auth_test)
        assert e.response.status_code == 503 and "non-JSON" in e.response["error"]  # slack_sdk's reading of HTML
    assert web.auth_test()["ok"] is True
    slack.fail_next(status=200, error="fatal_error")
    e = api_error(lambda: web.chat_postMessage(channel="#sales", text="x"))
    assert (e.response.status_code, e.response.data) == (200, {"ok": False, "error": "fatal_error"})
    slack.fail_next(status=429, retry_after=7, method="chat.postMessage")
    assert web.auth_test()["ok"] is True and web.users_lookupByEmail(email="ana@forge.fr")["ok"] is True
    e = api_error(lambda: web.chat_postMessage(channel="#sales", text="x"))
    assert e.response.status_code == 429 and e.response.headers["Retry-After"] == "7"
    assert e.response.data == {"ok": False, "error": "ratelimited"}
    slack.fail_next(status=429)
    assert api_error(web.auth_test).response.headers["Retry-After"] == "1"
    slack.fail_next(status=500, error="internal_error", method="conversations.open")
    e = api_error(lambda: web.conversations_open(users=slack._emails["ana@forge.fr"]))
    assert (e.response.status_code, e.response["error"]) == (500, "internal_error")
    slack.fail_next(status=401, method="auth.test")  # before authentication: even a bad token gets the fault
    status, headers, body = raw(slack.api_url + "auth.test", query={"token": "nope"})
    assert status == 401 and body.startswith("<html>") and headers["Content-Type"].startswith("text/html")
    assert slack.messages == [] and web.chat_postMessage(channel="#sales", text="x")["ok"] is True
    assert [e["status"] for e in slack.log[:3]] == [503, 503, 200]


# --------------------------------------------------------------------------- webhooks
def test_webhook_posts(slack):
    url = slack.add_webhook("#sales")
    assert re.fullmatch(re.escape(slack.url) + r"/services/T0LEADOPS/B[0-9A-Z]+/[A-Za-z0-9]{24}", url)
    hook = WebhookClient(url)
    answer = hook.send(text="Digest: 12 leads")
    assert (answer.status_code, answer.body) == (200, "ok") and answer.headers["Content-Type"].startswith("text/plain")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Digest*"}}]
    assert hook.send(blocks=blocks).body == "ok"
    first, second = slack.messages_to("#sales")
    assert first == {"channel": slack._names["sales"], "ts": first["ts"], "text": "Digest: 12 leads", "blocks": None,
                     "metadata": None, "via": "webhook", "user": None, "token": None}
    assert second["blocks"] == blocks and float(second["ts"]) > float(first["ts"])
    history = client(slack).conversations_history(channel=slack._names["sales"])["messages"]
    assert [m["text"] for m in history] == ["", "Digest: 12 leads"] and "user" not in history[0]
    ana = ids(slack)["ana"]
    assert WebhookClient(slack.add_webhook(ana)).send(text="to Ana").body == "ok"
    assert [m["text"] for m in slack.messages_to("ana@forge.fr")] == ["to Ana"] and slack.messages[-1]["user"] == ana
    status, _, body = raw(url, body=urlencode({"payload": json.dumps({"text": "legacy form"})}).encode(),
                          ctype="application/x-www-form-urlencoded")
    assert (status, body) == (200, "ok") and slack.messages_to("sales")[-1]["text"] == "legacy form"
    assert slack.calls("webhook") == 4 and slack.log[-1]["method"] == "webhook"


def test_webhook_errors(slack):
    url = slack.add_webhook(slack._names["sales"])
    hook = WebhookClient(url)
    cases = [
        (lambda: hook.send_dict({"unfurl_links": False}), 400, "no_text"),
        (lambda: hook.send(text="x", blocks=[{"text": "no type"}]), 400, "invalid_blocks"),
        (lambda: hook.send(text="x", blocks=[{"type": "divider"}] * 51), 400, "invalid_blocks"),
        (lambda: WebhookClient(url.rsplit("/", 1)[0] + "/wrongsecret").send(text="x"), 404, "no_service"),
        (lambda: WebhookClient(slack.add_webhook("old-leads")).send(text="x"), 410, "channel_is_archived"),
    ]
    for call, status, body in cases:
        answer = call()
        assert (answer.status_code, answer.body) == (status, body)
        assert answer.headers["Content-Type"].startswith("text/plain")
    status, _, body = raw(url, body=b"not json", ctype="application/json")
    assert (status, body) == (400, "invalid_payload")
    slack.revoke_webhook(url)
    assert (hook.send(text="x").status_code, hook.send(text="x").body) == (403, "invalid_token")
    assert slack.messages == []
    assert [(e["status"], e["error"]) for e in slack.log[-2:]] == [(403, "invalid_token")] * 2


def test_webhook_faults(slack):
    hook = WebhookClient(slack.add_webhook("#sales"))
    slack.fail_next(status=503, method="webhook")
    assert client(slack).auth_test()["ok"] is True  # an API call does not take a webhook's fault
    answer = hook.send(text="x")
    assert answer.status_code == 503 and answer.body.startswith("<html>") and "503" in answer.body
    slack.fail_next(status=429, retry_after=2, method="webhook")
    answer = hook.send(text="x")
    assert (answer.status_code, answer.body, answer.headers["Retry-After"]) == (429, "rate_limited", "2")
    slack.fail_next(status=500, error="internal_error", method="webhook")
    assert (hook.send(text="x").status_code, hook.send(text="y").body) == (500, "ok")
    assert [m["text"] for m in slack.messages] == ["y"]


# --------------------------------------------------------------------------- records, latency, threads, lifecycle
def test_log_and_calls(slack):
    web = client(slack)
    web.auth_test()
    web.chat_postMessage(channel="#sales", text="hello", unfurl_links=False)
    api_error(lambda: web.users_lookupByEmail(email="nobody@forge.fr"))
    assert [(e["method"], e["status"], e["error"]) for e in slack.log] == [
        ("auth.test", 200, None), ("chat.postMessage", 200, None), ("users.lookupByEmail", 200, "users_not_found")]
    assert slack.log[1]["params"] == {"channel": "#sales", "text": "hello", "unfurl_links": False}
    assert slack.log[2]["params"] == {"email": "nobody@forge.fr"}
    assert all(isinstance(e["at"], float) for e in slack.log) and slack.log[0]["at"] <= slack.log[2]["at"]
    assert (slack.calls("auth.test"), slack.calls("chat.postMessage"), slack.calls("conversations.open")) == (1, 1, 0)
    with SlackServer(tokens=(TOKEN,), keep_log=False) as quiet:
        quiet.add_channel("sales")
        client(quiet).chat_postMessage(channel="#sales", text="x")
        assert quiet.log == [] and quiet.calls("chat.postMessage") == 1 and len(quiet.messages) == 1


def test_concurrent_posts_get_distinct_increasing_stamps(slack):
    channels = [slack.add_channel(f"team-{i}") for i in range(8)]
    errors: list[BaseException] = []

    def post(channel: str) -> None:
        try:
            web = client(slack)
            for i in range(5):
                web.chat_postMessage(channel=channel, text=str(i))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=post, args=(c,)) for c in channels]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stamps = [m["ts"] for m in slack.messages]
    assert len(stamps) == 40 and len(set(stamps)) == 40
    assert [int(s.replace(".", "")) for s in stamps] == sorted(int(s.replace(".", "")) for s in stamps)
    assert all([m["text"] for m in slack.messages_to(c)] == ["0", "1", "2", "3", "4"] for c in channels)


def test_lifecycle():
    server = SlackServer().start()
    assert server.api_url == server.url + "/api/" and server.url.startswith("http://127.0.0.1:")
    assert client(server, "xoxb-test-token").auth_test()["user_id"] == "U0BOT"
    server.stop()
    assert not server.thread.is_alive()
    server.stop()  # twice: no harm
    SlackServer().stop()  # never started: no hang
    with SlackServer(team="T0OTHER", bot_user="U0OTHER") as other:
        assert client(other, "xoxb-test-token").auth_test()["team_id"] == "T0OTHER"
        assert "/services/T0OTHER/" in other.add_webhook(other.add_channel("x"))
