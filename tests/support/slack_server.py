"""A Slack workspace on loopback for tests and benchmarks: real HTTP, the documented request and response shapes of
the Web API methods leadops uses and of incoming webhooks, per-channel pacing, revoked tokens and scripted faults.

    with SlackServer(tokens={"xoxb-1"}, post_interval=0.2) as slack:
        ana = slack.add_user("ana@forge.fr", "Ana Martin")          # "U..." id
        sales = slack.add_channel("sales-managers")                  # "C..." id, the app is a member
        slack.add_channel("random", member=False)                    # posting there: not_in_channel
        hook = slack.add_webhook("#sales-managers")                  # its full URL (.../services/T.../B.../secret)
        client = WebClient(token="xoxb-1", base_url=slack.api_url)
        client.chat_postMessage(channel=ana, text="New lead")        # to Ana's DM, answered with its D id
        WebhookClient(hook).send(text="Digest")
        slack.messages_to("ana@forge.fr"); slack.messages_to("#sales-managers"); slack.calls("chat.postMessage")
        slack.fail_next(2, 503); slack.fail_next(status=429, retry_after=3, method="chat.postMessage")
        slack.revoke("xoxb-1"); slack.revoke_webhook(hook); slack.post_interval = 0; slack.latency = 0.01
        slack.archive("#sales-managers"); slack.deactivate("ana@forge.fr"); slack.dm_of(ana)   # later changes

Web API (``POST`` or ``GET /api/<method>``; shapes as documented on docs.slack.dev for each method). Parameters are
read from the query string, an ``application/x-www-form-urlencoded`` body and an ``application/json`` body alike
(merged in that order; slack_sdk sends chat.postMessage as JSON and the other methods form-encoded, booleans as
"1"/"0"). API errors are HTTP 200 ``{"ok": false, "error": "..."}``, as Slack answers them:

* ``auth.test``: ``{ok, url, team, user, team_id, user_id, bot_id}``.
* ``users.lookupByEmail`` (``email``, matched without regard to case): ``{ok, user: {id, team_id, name, real_name,
  deleted, is_bot, tz, profile: {email, real_name, display_name}}}``. Unknown or deleted user: ``users_not_found``;
  no ``email``: ``invalid_arguments``.
* ``conversations.open`` (``users``: one user id; or ``channel``: a D id to resume): ``{ok, channel: {id}}``, the
  same D id for a user every time (``no_op`` and ``already_open`` true from the second time, as Slack). Unknown
  user: ``user_not_found``; deleted user: ``user_disabled``; neither parameter: ``users_list_not_supplied``; more
  than one user (a group DM): ``invalid_arguments`` (not modelled).
* ``chat.postMessage`` (``channel``: C id, ``#name`` or name, U id (that user's DM, answered with its D id) or D id;
  ``text``; ``blocks``: a list or its JSON text; ``metadata``: ``{event_type, event_payload}`` or its JSON text;
  ``unfurl_links``, ``unfurl_media``, ``mrkdwn`` and other options are ignored): ``{ok, channel, ts, message: {type,
  text, user, bot_id, team, ts, blocks?, metadata?}}``; ``ts`` is epoch seconds with 6 decimals, strictly increasing
  across the workspace. Errors: ``channel_not_found`` (unknown or missing channel), ``is_archived`` (an archived
  channel, or the DM of a deleted user), ``not_in_channel``, ``no_text`` (neither text nor blocks),
  ``msg_too_long`` (text over 40,000 characters), ``invalid_blocks_format`` (blocks text that is not JSON),
  ``invalid_blocks`` (not a list of objects each with a string ``type``, more than 50 blocks, a section whose
  ``text.text`` is over 3,000 characters; with ``response_metadata.messages`` saying where, as Slack),
  ``invalid_metadata_format`` (not an object) and ``invalid_metadata_schema`` (no string ``event_type`` or no object
  ``event_payload``).
* ``conversations.history`` (``channel``: a C or D id; ``oldest``, ``latest``, ``inclusive``, ``limit`` (100 by
  default, at most 999), ``include_all_metadata``): ``{ok, messages (newest first), has_more}``: the messages with
  ``oldest < ts <= latest`` (``inclusive`` true: ``oldest <= ts``), ``metadata`` only with ``include_all_metadata``
  true. No cursors: ``has_more`` is true only when ``limit`` cut the answer. Unknown channel (or a name):
  ``channel_not_found``; not a member: ``not_in_channel``; a malformed stamp: ``invalid_ts_oldest`` /
  ``invalid_ts_latest``.
* any other method: HTTP 404 ``{ok: false, error: "unknown_method"}``. A JSON body that does not parse to an
  object: ``invalid_json``.

Authentication (every method): ``Authorization: Bearer <token>``, else a ``token`` parameter (in any encoding).
None: ``not_authed``; not in ``tokens``: ``invalid_auth``; revoked (:meth:`SlackServer.revoke`): ``token_revoked``.

Incoming webhooks (:meth:`SlackServer.add_webhook`): ``POST /services/<team>/B.../<secret>`` with a JSON body
``{text, blocks?}`` (or a form ``payload=<json>``, the legacy encoding) answers 200 ``ok``; errors are text/plain
bodies as Slack documents them: unknown URL 404 ``no_service``, revoked 403 ``invalid_token``, a body that is not
a JSON object 400 ``invalid_payload``, archived channel 410 ``channel_is_archived``, neither text nor blocks 400
``no_text``, bad blocks 400 ``invalid_blocks``.

Pacing: Slack allows about one message a second per channel. Two posts (API or webhook, the same count) to one
conversation less than ``post_interval`` seconds apart: the later one gets HTTP 429 with ``Retry-After`` (the
remaining wait rounded up, at least 1 s) and ``{ok: false, error: "ratelimited"}`` (webhooks: ``rate_limited``)
and is not posted. ``post_interval = 0`` turns pacing off; it can be changed at any time.

Faults (:meth:`SlackServer.fail_next`) are served first, in order, before authentication and validation, to any
request or only to the requests of one method (``"webhook"`` for webhooks): status 429: ``Retry-After`` and the
rate-limit body; status 200: ``{ok: false, error}`` (``internal_error`` by default); another status with ``error``:
that body (JSON for the API, text for webhooks); without: an HTML page like Slack's edge sends. ``latency`` delays
every answer.

Records: ``messages`` (every message posted, in order), ``messages_to(target)``, ``log`` (every request: method,
params without the token, status, error, monotonic arrival time; not kept with ``keep_log=False``) and
``calls(method)`` (counted even without the log).
"""
from __future__ import annotations

import itertools
import json
import math
import secrets
import string
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["BOT_ID", "MAX_BLOCKS", "MAX_SECTION_TEXT", "MAX_TEXT", "SlackServer"]

BOT_ID = "B0BOT"
MAX_TEXT = 40_000  # characters of a message's text
MAX_BLOCKS = 50  # blocks in a message
MAX_SECTION_TEXT = 3_000  # characters of a section block's text
HISTORY_LIMIT, HISTORY_MAX_LIMIT = 100, 999
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
_ALNUM = string.ascii_letters + string.digits

#: an answer: HTTP status, body (a JSON object or text), content type, extra headers
Answer = tuple[int, dict[str, Any] | str, str, dict[str, str]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops concurrent connects, and a dropped SYN costs the client a second


class _Fault:
    __slots__ = ("error", "method", "retry_after", "status")

    def __init__(self, status: int, error: str | None, retry_after: float | None, method: str | None) -> None:
        self.status, self.error, self.retry_after, self.method = status, error, retry_after, method


class SlackServer:
    """A Slack workspace on ``127.0.0.1`` (see the module docstring). ``url`` is its base URL, ``api_url`` what
    ``WebClient(base_url=...)`` takes.

    ``tokens``: the valid bot tokens. ``team`` / ``bot_user``: the workspace id and the app's bot user id.
    ``post_interval``: the least seconds between two posts to one conversation. ``keep_log``: keep ``log``.
    """

    def __init__(self, tokens: Iterable[str] = ("xoxb-test-token",), *, team: str = "T0LEADOPS",
                 bot_user: str = "U0BOT", post_interval: float = 1.0, keep_log: bool = True) -> None:
        self.tokens: set[str] = set(tokens)
        self.revoked: set[str] = set()
        self.team, self.bot_user, self.bot_id = team, bot_user, BOT_ID
        self.post_interval = post_interval
        self.latency = 0.0
        self.keep_log = keep_log
        self.messages: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self._counts: Counter[str] = Counter()
        self._faults: list[_Fault] = []
        self._users: dict[str, dict[str, Any]] = {}  # user id -> {email, name, real_name, deleted}
        self._emails: dict[str, str] = {}  # lower-case email -> user id
        self._channels: dict[str, dict[str, Any]] = {}  # channel id -> {name, member, archived}
        self._names: dict[str, str] = {}  # channel name -> channel id
        self._dms: dict[str, str] = {}  # user id -> D id
        self._dm_users: dict[str, str] = {}  # D id -> user id
        self._history: dict[str, list[dict[str, Any]]] = {}  # conversation id -> its messages, oldest first
        self._hooks: dict[str, dict[str, Any]] = {}  # webhook path -> {channel, user, revoked}
        self._last_post: dict[str, float] = {}  # conversation id -> monotonic time of its last post
        self._last_us = 0  # the last ts handed out, in microseconds
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._methods: dict[str, Callable[[dict[str, Any], str], tuple[int, dict[str, Any], dict[str, str]]]] = {
            "auth.test": self._auth_test, "users.lookupByEmail": self._lookup_by_email,
            "conversations.open": self._open, "chat.postMessage": self._post_message,
            "conversations.history": self._conversation_history,
        }
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url = self.url + "/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       name="slack-server", daemon=True)

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> SlackServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and join its thread (safe to call twice, or without :meth:`start`)."""
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join()
        self.server.server_close()

    def __enter__(self) -> SlackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- workspace
    def add_user(self, email: str, name: str = "", *, user_id: str | None = None, deleted: bool = False) -> str:
        """Add a member (``name``: the real name; default the email's local part); returns its ``U...`` id."""
        with self._lock:
            if email.lower() in self._emails:
                raise ValueError(f"a user with email {email!r} exists")
            uid = user_id or self._new_id("U")
            if uid in self._users:
                raise ValueError(f"user {uid} exists")
            handle = email.partition("@")[0].lower()
            self._users[uid] = {"email": email, "name": handle, "real_name": name or handle, "deleted": deleted}
            self._emails[email.lower()] = uid
            return uid

    def add_channel(self, name: str, *, member: bool = True, channel_id: str | None = None,
                    archived: bool = False) -> str:
        """Add a channel (``member=False``: the app is not in it); returns its ``C...`` id."""
        name = name.removeprefix("#")
        with self._lock:
            if name in self._names:
                raise ValueError(f"channel #{name} exists")
            cid = channel_id or self._new_id("C")
            if cid in self._channels:
                raise ValueError(f"channel {cid} exists")
            self._channels[cid] = {"name": name, "member": member, "archived": archived}
            self._names[name] = cid
            return cid

    def archive(self, channel: str) -> None:
        """Archive a channel (by id or name): posts to it get ``is_archived`` (webhooks: 410)."""
        with self._lock:
            cid, _ = self._resolve(channel)
            if cid is None or cid not in self._channels:
                raise KeyError(f"no channel {channel!r}")
            self._channels[cid]["archived"] = True

    def deactivate(self, user: str) -> None:
        """Deactivate a member (by id or email): it is no longer found by email and its DM is archived."""
        with self._lock:
            uid = user if user in self._users else self._emails.get(user.lower())
            if uid is None:
                raise KeyError(f"no user {user!r}")
            self._users[uid]["deleted"] = True

    def revoke(self, token: str) -> None:
        """Revoke ``token``: later calls with it get ``token_revoked``."""
        with self._lock:
            self.revoked.add(token)

    def add_webhook(self, channel: str) -> str:
        """Add an incoming webhook posting to ``channel`` (a channel id or name, or a user id or email: its DM);
        returns its full URL."""
        with self._lock:
            cid, uid = self._resolve(channel, open_dm=True)
            if cid is None:
                raise KeyError(f"no channel or user {channel!r}")
            secret = "".join(secrets.choice(_ALNUM) for _ in range(24))
            path = f"/services/{self.team}/{self._new_id('B')}/{secret}"
            self._hooks[path] = {"channel": cid, "user": uid, "revoked": False}
            return self.url + path

    def revoke_webhook(self, url: str) -> None:
        """Revoke an incoming webhook: it answers 403 ``invalid_token`` from now on."""
        with self._lock:
            hook = self._hooks.get(urlparse(url).path)
            if hook is None:
                raise KeyError(f"no webhook {url!r}")
            hook["revoked"] = True

    def fail_next(self, n: int = 1, status: int = 500, *, error: str | None = None, retry_after: float | None = None,
                  method: str | None = None) -> None:
        """Answer the next ``n`` requests (to ``method`` only when given: an API method name or ``"webhook"``) with
        a fault (see the module docstring). ``retry_after`` (429; default 1) is sent as given: whole seconds read as
        Slack's; a fraction keeps a test fast, but slack_sdk's RateLimitErrorRetryHandler reads integers only."""
        with self._lock:
            self._faults.extend(_Fault(status, error, retry_after, method) for _ in range(n))

    # ----------------------------------------------------------------- records
    def messages_to(self, target: str) -> list[dict[str, Any]]:
        """Return the messages posted to ``target``: a channel id or name (with or without ``#``), a D id, or a user
        id or email (that user's DM)."""
        with self._lock:
            cid, _ = self._resolve(target)
            return list(self._history.get(cid, [])) if cid is not None else []

    def calls(self, method: str) -> int:
        """Return the number of requests to ``method`` (an API method name, or ``"webhook"``)."""
        with self._lock:
            return self._counts[method]

    def dm_of(self, user: str) -> str | None:
        """Return the D id of a user's DM (by user id or email), or None when it was never opened."""
        with self._lock:
            uid = user if user in self._users else self._emails.get(user.lower())
            return self._dms.get(uid) if uid is not None else None

    # ----------------------------------------------------------------- internals
    def _new_id(self, prefix: str) -> str:
        taken = (self._users, self._channels, self._dm_users)
        while True:
            candidate = f"{prefix}0{next(self._ids):08X}"
            if not any(candidate in ids for ids in taken):
                return candidate

    def _open_dm(self, uid: str) -> str:
        did = self._dms.get(uid)
        if did is None:
            did = self._dms[uid] = self._new_id("D")
            self._dm_users[did] = uid
        return did

    def _resolve(self, target: str, *, open_dm: bool = False, emails: bool = True) -> tuple[str | None, str | None]:
        """Return ``(conversation id, DM user id)`` for a channel id or name, a D id, a user id or (``emails``) an
        email; ``(None, uid)`` for a user whose DM is not open (``open_dm``: open it), ``(None, None)`` if unknown."""
        if target in self._channels:
            return target, None
        if target in self._dm_users:
            return target, self._dm_users[target]
        uid = target if target in self._users else None
        if uid is None and emails and "@" in target:
            uid = self._emails.get(target.lower())
        if uid is not None:
            return (self._open_dm(uid) if open_dm else self._dms.get(uid)), uid
        return self._names.get(target.removeprefix("#")), None

    def _take_fault(self, method: str) -> _Fault | None:
        for i, fault in enumerate(self._faults):
            if fault.method is None or fault.method == method:
                return self._faults.pop(i)
        return None

    def _post(self, cid: str, uid: str | None, text: str, blocks: list[dict[str, Any]] | None,
              metadata: dict[str, Any] | None, via: str, token: str | None) -> tuple[dict[str, Any] | None, float]:
        """Post a message unless the conversation's pacing refuses it: ``(message, 0)`` or ``(None, seconds to
        wait)``."""
        with self._lock:
            now = time.monotonic()
            last, interval = self._last_post.get(cid), self.post_interval
            if interval > 0 and last is not None and now - last < interval:
                return None, interval - (now - last)
            self._last_post[cid] = now
            us = max(time.time_ns() // 1000, self._last_us + 1)
            self._last_us = us
            message = {"channel": cid, "ts": f"{us // 1_000_000}.{us % 1_000_000:06d}", "text": text, "blocks": blocks,
                       "metadata": metadata, "via": via, "user": uid, "token": token}
            self.messages.append(message)
            self._history.setdefault(cid, []).append(message)
            return message, 0.0

    def _public(self, message: dict[str, Any], *, metadata: bool) -> dict[str, Any]:
        """A message as chat.postMessage and conversations.history show it."""
        out: dict[str, Any] = {"type": "message", "text": message["text"]}
        if message["via"] == "api":
            out["user"] = self.bot_user
        out.update(bot_id=self.bot_id, team=self.team, ts=message["ts"])
        if message["blocks"] is not None:
            out["blocks"] = message["blocks"]
        if metadata and message["metadata"] is not None:
            out["metadata"] = message["metadata"]
        return out

    # ----------------------------------------------------------------- Web API methods
    def _auth_test(self, params: dict[str, Any], token: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        return 200, {"ok": True, "url": "https://leadops-test.slack.com/", "team": "leadops-test", "user": "leadops",
                     "team_id": self.team, "user_id": self.bot_user, "bot_id": self.bot_id}, {}

    def _lookup_by_email(self, params: dict[str, Any], token: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        email = _text(params.get("email"))
        if not email:
            return _failed("invalid_arguments", "[ERROR] missing required field: email")
        with self._lock:
            uid = self._emails.get(email.lower())
            user = self._users.get(uid) if uid is not None else None
            if uid is None or user is None or user["deleted"]:
                return _failed("users_not_found")
            return 200, {"ok": True, "user": {
                "id": uid, "team_id": self.team, "name": user["name"], "real_name": user["real_name"], "deleted": False,
                "is_bot": False, "tz": "Europe/Paris",
                "profile": {"email": user["email"], "real_name": user["real_name"], "display_name": user["real_name"]},
            }}, {}

    def _open(self, params: dict[str, Any], token: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        users = params.get("users")
        if isinstance(users, list):
            users = ",".join(str(u) for u in users)
        ids = [u.strip() for u in (_text(users) or "").split(",") if u.strip()]
        with self._lock:
            if not ids:
                channel = _text(params.get("channel"))
                if not channel:
                    return _failed("users_list_not_supplied")
                if channel not in self._dm_users:
                    return _failed("channel_not_found")
                return 200, {"ok": True, "no_op": True, "already_open": True, "channel": {"id": channel}}, {}
            if len(ids) > 1:
                return _failed("invalid_arguments", "[ERROR] this loopback workspace opens one-to-one DMs only")
            user = self._users.get(ids[0])
            if user is None:
                return _failed("user_not_found")
            if user["deleted"]:
                return _failed("user_disabled")
            if ids[0] in self._dms:
                return 200, {"ok": True, "no_op": True, "already_open": True, "channel": {"id": self._dms[ids[0]]}}, {}
            return 200, {"ok": True, "channel": {"id": self._open_dm(ids[0])}}, {}

    def _post_message(self, params: dict[str, Any], token: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        target = _text(params.get("channel"))
        with self._lock:
            cid, uid = self._resolve(target, open_dm=True, emails=False) if target else (None, None)
            if cid is None:
                return _failed("channel_not_found")
            if uid is not None:
                if self._users[uid]["deleted"]:
                    return _failed("is_archived")
            elif self._channels[cid]["archived"]:
                return _failed("is_archived")
            elif not self._channels[cid]["member"]:
                return _failed("not_in_channel")
        text = _text(params.get("text")) or ""
        blocks, error, where = _blocks(params.get("blocks"))
        if error is not None:
            return _failed(error, where)
        if not text and not blocks:
            return _failed("no_text")
        if len(text) > MAX_TEXT:
            return _failed("msg_too_long")
        metadata, error = _metadata(params.get("metadata"))
        if error is not None:
            return _failed(error)
        message, wait = self._post(cid, uid, text, blocks, metadata, "api", token)
        if message is None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(max(1, math.ceil(wait)))}
        return 200, {"ok": True, "channel": cid, "ts": message["ts"],
                     "message": self._public(message, metadata=True)}, {}

    def _conversation_history(self, params: dict[str, Any], token: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = _text(params.get("channel")) or ""
        oldest, latest = _stamp(params.get("oldest")), _stamp(params.get("latest"))
        if oldest is False:
            return _failed("invalid_ts_oldest")
        if latest is False:
            return _failed("invalid_ts_latest")
        try:
            limit = int(params.get("limit") or HISTORY_LIMIT)
        except (TypeError, ValueError):
            return _failed("invalid_limit")
        limit = min(limit if limit > 0 else HISTORY_LIMIT, HISTORY_MAX_LIMIT)
        inclusive, with_metadata = _true(params.get("inclusive")), _true(params.get("include_all_metadata"))
        with self._lock:
            if channel in self._channels:
                if not self._channels[channel]["member"]:
                    return _failed("not_in_channel")
            elif channel not in self._dm_users:
                return _failed("channel_not_found")
            low = oldest or 0
            found = []
            for message in reversed(self._history.get(channel, [])):
                us = int(message["ts"].replace(".", ""))
                if (us > low or (inclusive and us == low)) and (latest is None or us <= latest):
                    found.append(self._public(message, metadata=with_metadata))
        return 200, {"ok": True, "messages": found[:limit], "has_more": len(found) > limit}, {}

    # ----------------------------------------------------------------- HTTP
    def _dispatch(self, verb: str, path: str, query: str, raw: bytes, ctype: str, authorization: str) -> Answer:
        at = time.monotonic()
        answer: Answer
        if path.startswith("/api/"):
            method, params, answer = self._api(path[len("/api/"):].strip("/"), query, raw, ctype, authorization)
        elif path.startswith("/services/"):
            body = _hook_body(raw, ctype)
            method, params, answer = "webhook", body or {}, self._webhook(path, verb, body)
        else:
            method, params, answer = path, {}, (404, "not_found", TEXT_TYPE, {})
        status, payload = answer[0], answer[1]
        error = (payload.get("error") if not payload.get("ok") else None) if isinstance(payload, dict) else (
            None if payload == "ok" or payload.startswith("<html>") else payload)
        if self.keep_log:
            with self._lock:
                self.log.append({"method": method, "params": params, "status": status, "error": error, "at": at})
        return answer

    def _api(self, method: str, query: str, raw: bytes, ctype: str,
             authorization: str) -> tuple[str, dict[str, Any], Answer]:
        params: dict[str, Any] = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        parsed = True
        if raw:
            text = raw.decode("utf-8", "replace")
            if ctype == "application/json":
                try:
                    body = json.loads(text)
                except ValueError:
                    body = None
                if isinstance(body, dict):
                    params.update(body)
                else:
                    parsed = False
            else:
                params.update({k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()})
        scheme, _, bearer = authorization.strip().partition(" ")
        param_token = params.pop("token", None)
        token = bearer.strip() if scheme.lower() == "bearer" and bearer.strip() else _text(param_token) or None
        with self._lock:
            self._counts[method] += 1
            fault = self._take_fault(method)
        if fault is not None:
            return method, params, _api_fault(fault)
        handler = self._methods.get(method)
        if handler is None:
            return method, params, (404, {"ok": False, "error": "unknown_method", "req_method": method}, JSON_TYPE, {})
        if not parsed:
            return method, params, (200, {"ok": False, "error": "invalid_json"}, JSON_TYPE, {})
        with self._lock:
            refused = ("not_authed" if token is None else "token_revoked" if token in self.revoked else
                       "invalid_auth" if token not in self.tokens else None)
        if refused is not None:
            return method, params, (200, {"ok": False, "error": refused}, JSON_TYPE, {})
        assert token is not None
        status, payload, headers = handler(params, token)
        return method, params, (status, payload, JSON_TYPE, headers)

    def _webhook(self, path: str, verb: str, body: dict[str, Any] | None) -> Answer:
        with self._lock:
            self._counts["webhook"] += 1
            fault = self._take_fault("webhook")
            hook = self._hooks.get(path)
        if fault is not None:
            return _hook_fault(fault)
        if hook is None:
            return 404, "no_service", TEXT_TYPE, {}
        if hook["revoked"]:
            return 403, "invalid_token", TEXT_TYPE, {}
        if verb != "POST" or body is None:
            return 400, "invalid_payload", TEXT_TYPE, {}
        with self._lock:
            cid, uid = hook["channel"], hook["user"]
            archived = self._users[uid]["deleted"] if uid is not None else self._channels[cid]["archived"]
        if archived:
            return 410, "channel_is_archived", TEXT_TYPE, {}
        text = _text(body.get("text")) or ""
        blocks, error, _ = _blocks(body.get("blocks"))
        if error is not None:
            return 400, "invalid_blocks", TEXT_TYPE, {}
        if not text and not blocks:
            return 400, "no_text", TEXT_TYPE, {}
        if len(text) > MAX_TEXT:
            return 400, "msg_too_long", TEXT_TYPE, {}
        message, wait = self._post(cid, uid, text, blocks, None, "webhook", None)
        if message is None:
            return 429, "rate_limited", TEXT_TYPE, {"Retry-After": str(max(1, math.ceil(wait)))}
        return 200, "ok", TEXT_TYPE, {}

    def _handler(ss) -> type[BaseHTTPRequestHandler]:  # noqa: N805 - ss is the SlackServer
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive for clients that reuse connections
            disable_nagle_algorithm = True  # headers and body go out in two writes: no delayed-ACK stall

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, verb: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                status, payload, content_type, headers = ss._dispatch(verb, url.path, url.query, raw, ctype,
                                                                      self.headers.get("Authorization") or "")
                if ss.latency:
                    time.sleep(ss.latency)
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("X-Slack-Req-Id", uuid.uuid4().hex)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.close_connection = True

        return Handler


# --------------------------------------------------------------------------- helpers
def _failed(error: str, *messages: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """An API error: HTTP 200 ``{ok: false, error}`` (with ``response_metadata.messages`` when given)."""
    payload: dict[str, Any] = {"ok": False, "error": error}
    notes = [m for m in messages if m]
    if notes:
        payload["response_metadata"] = {"messages": notes}
    return 200, payload, {}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)


def _true(value: Any) -> bool:
    return value is True or (isinstance(value, str | int) and str(value).strip().lower() in ("1", "true"))


def _stamp(value: Any) -> int | bool | None:
    """A ``ts`` parameter in microseconds; None when absent, False when malformed."""
    if value is None or value == "":
        return None
    try:
        return int(Decimal(str(value)) * 1_000_000)
    except (InvalidOperation, ValueError, OverflowError):
        return False


def _blocks(value: Any) -> tuple[list[dict[str, Any]] | None, str | None, str | None]:
    """Validate ``blocks``: ``(blocks or None, error or None, where)``."""
    if value is None or value == "":
        return None, None, None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None, "invalid_blocks_format", "[ERROR] blocks is not valid JSON [json-pointer:/blocks]"
    if not isinstance(value, list):
        return None, "invalid_blocks", "[ERROR] expected an array of blocks [json-pointer:/blocks]"
    if len(value) > MAX_BLOCKS:
        return None, "invalid_blocks", f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
    for i, block in enumerate(value):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return None, "invalid_blocks", f"[ERROR] missing required field: type [json-pointer:/blocks/{i}]"
        text = block.get("text")
        if (block["type"] == "section" and isinstance(text, dict) and isinstance(text.get("text"), str)
                and len(text["text"]) > MAX_SECTION_TEXT):
            return None, "invalid_blocks", (f"[ERROR] must be less than {MAX_SECTION_TEXT + 1} characters "
                                            f"[json-pointer:/blocks/{i}/text/text]")
    return value or None, None, None


def _metadata(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Validate ``metadata``: ``(metadata or None, error or None)``."""
    if value is None or value == "":
        return None, None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None, "invalid_metadata_format"
    if not isinstance(value, dict):
        return None, "invalid_metadata_format"
    event_type, payload = value.get("event_type"), value.get("event_payload")
    if not isinstance(event_type, str) or not event_type or not isinstance(payload, dict):
        return None, "invalid_metadata_schema"
    return {"event_type": event_type, "event_payload": payload}, None


def _hook_body(raw: bytes, ctype: str) -> dict[str, Any] | None:
    """A webhook's payload: the JSON body, or the ``payload`` field of a form; None when it is not a JSON object."""
    text = raw.decode("utf-8", "replace")
    if ctype == "application/x-www-form-urlencoded":
        text = (parse_qs(text).get("payload") or [""])[0]
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _edge_page(status: int) -> str:
    """An HTML error page like the one Slack's edge sends when the API is down."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return (f"<html>\n<head><title>{status} {phrase}</title></head>\n<body>\n<center><h1>{status} {phrase}</h1>"
            f"</center>\n<hr><center>envoy</center>\n</body>\n</html>\n")


def _retry_after(fault: _Fault) -> dict[str, str]:
    return {"Retry-After": f"{fault.retry_after if fault.retry_after is not None else 1:g}"}


def _api_fault(fault: _Fault) -> Answer:
    if fault.status == 429:
        return 429, {"ok": False, "error": "ratelimited"}, JSON_TYPE, _retry_after(fault)
    if fault.status == 200 or fault.error is not None:
        return fault.status, {"ok": False, "error": fault.error or "internal_error"}, JSON_TYPE, {}
    return fault.status, _edge_page(fault.status), HTML_TYPE, {}


def _hook_fault(fault: _Fault) -> Answer:
    if fault.status == 429:
        return 429, "rate_limited", TEXT_TYPE, _retry_after(fault)
    if fault.status == 200 or fault.error is not None:
        return fault.status, fault.error or "internal_error", TEXT_TYPE, {}
    return fault.status, _edge_page(fault.status), HTML_TYPE, {}
