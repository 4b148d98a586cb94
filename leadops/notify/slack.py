"""The Slack sender: the outbox's ``slack`` channel, through Slack's Web API (a bot token) or an incoming webhook.

Targets (the outbox row's ``recipient``): ``email:ana@x.com`` (a rep's direct message; the member found with
users.lookupByEmail, cached in ``slack_users``), ``user:U123`` (sdrs.yaml's ``slack_user``), ``channel:#name`` or
``channel:C123`` (managers), ``webhook`` (the incoming webhook's own channel).

What can go wrong, and what happens:

* HTTP 429: wait ``Retry-After`` (up to notify.yaml's ``max_wait_seconds``) and try again; longer, the message
  goes back to pending for the next pass. Messages to one channel are spaced ``1 / per_channel_per_second``.
* Slack's own outage (5xx, ``internal_error``, a timeout, no connection): an error, retried by the outbox on its
  next pass; once the outbox gives up, the message falls back to email.
* What a retry cannot fix falls back to email at once (:class:`~leadops.notify.senders.FallBack`): no member with
  that email, a channel the app is not in, a message Slack refuses. A revoked or invalid token, missing
  credentials or a missing scope make every Slack message of the pass fall back (``broken``), with the reason.
* Exactly once: each message carries its outbox key as Slack message metadata; a message sent again after a
  crash (its second attempt) is first looked for in the channel's history and not posted twice. Incoming webhooks
  have no history: after a crash between Slack's answer and the outbox's commit, a webhook message can repeat.

The token and the webhook URL are secrets: registered for redaction, never in an error, a log or the outbox.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadops.config import SlackRules
from leadops.db.models import utcnow
from leadops.db.repositories.enrichment import slot_reserver
from leadops.db.repositories.notices import SlackUserCache
from leadops.notify.base import FallBack, Message
from leadops.providers.limits import DatabaseRateLimiter, RateLimiter

#: errors that mean the credentials no longer work: every Slack message of the pass falls back
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                         "no_permission", "org_login_required", "team_access_not_granted", "ekm_access_denied",
                         "missing_scope", "not_allowed_token_type", "invalid_token", "no_service",
                         "action_prohibited"})
#: errors Slack documents as temporary
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout",
                              "ratelimited", "rate_limited"})
METADATA_EVENT = "leadops_notification"


@dataclass(frozen=True)
class FallbackEmail:
    """An email standing in for a Slack message Slack could not take (the outbox queues it)."""

    key: str
    kind: str
    recipient: str
    subject: str
    body: str
    lead_id: int | None
    channel: str = "email"


class SlackSender:
    """Sends ``slack`` outbox messages; ``stats`` counts what happened (posted, rate_limited, waited_seconds,
    lookups, cache_hits, already_posted) for the run's artifact."""

    def __init__(self, rules: SlackRules, *, token: str | None = None, webhook_url: str | None = None,
                 cache: SlackUserCache | None = None, problem: str | None = None, database_url: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules, self.cache, self.sleep, self.clock = rules, cache, sleep, clock
        self.database_url = database_url  # PostgreSQL: messages to a channel are paced across processes
        self.broken = problem  # why every Slack message now falls back (credentials), or None
        self.stats: Counter[str] = Counter()
        self._limiters: dict[str, RateLimiter | DatabaseRateLimiter] = {}
        self._members: dict[str, tuple[str | None, str | None]] = {}  # email -> (user id, DM channel), this pass
        self._dms: dict[str, str] = {}  # user id -> DM channel id
        self._webhook = None
        self._client = None
        if problem is None and rules.mode == "webhook" and webhook_url:
            from slack_sdk.webhook import WebhookClient

            self._webhook = WebhookClient(webhook_url, timeout=10)
        elif problem is None and token:
            from slack_sdk import WebClient

            self._client = WebClient(token=token, base_url=rules.api_url, timeout=10)
        elif problem is None:
            self.broken = "no Slack credentials" + (" (incoming webhook URL)" if rules.mode == "webhook" else "")

    # ------------------------------------------------------------------ the Sender protocol

    def send(self, msg: Message) -> None:
        if self.broken:
            raise FallBack(self.broken)
        payload = json.loads(msg.body)
        content = {"text": payload.get("text") or msg.subject, "blocks": payload.get("blocks") or None}
        if self._webhook is not None:
            self._send_webhook(content)
            return
        channel = self._channel(msg.recipient)
        if getattr(msg, "attempts", 1) > 1 and self._already_posted(channel, msg.key, getattr(msg, "created_at", None)):
            self.stats["already_posted"] += 1
            return
        self._pace(channel)
        answer = self._call("chat_postMessage", channel=channel, unfurl_links=False, unfurl_media=False,
                            metadata={"event_type": METADATA_EVENT, "event_payload": {"key": msg.key}}, **content)
        self.stats["posted"] += 1
        posted_to = answer.get("channel")
        if msg.recipient.startswith("channel:#") and posted_to and self.cache is not None:
            # a channel's id, kept so a message re-sent after a crash can be looked for in its history
            self.cache.put(msg.recipient.removeprefix("channel:"), None, posted_to, utcnow())

    def fallback(self, msg: Message) -> list[FallbackEmail]:
        """Return the emails that stand in for ``msg`` when Slack cannot deliver it (leadops.services.notices)."""
        try:
            entries = json.loads(msg.body).get("fallback") or []
        except (ValueError, AttributeError):
            return []
        return [FallbackEmail(key=e["key"], kind=msg.kind, recipient=e["to"], subject=msg.subject, body=e["body"],
                              lead_id=msg.lead_id) for e in entries if e.get("to") and e.get("key")]

    # ------------------------------------------------------------------ targets

    def _channel(self, recipient: str) -> str:
        """Return the channel id (or name) to post to for an outbox ``recipient``; raises FallBack when none."""
        kind, _, value = recipient.partition(":")
        if kind == "channel":
            if value.startswith("#") and self.cache is not None:
                known = self.cache.get(value)
                return known.dm_channel if known and known.dm_channel else value
            return value
        if kind == "user":
            return self._dm(value)
        if kind == "email":
            user_id, dm = self._member(value)
            if user_id is None:
                raise FallBack(f"no Slack member with email {value} (set slack_user in sdrs.yaml if their Slack email "
                               f"differs)")
            if dm is None:
                dm = self._dm(user_id)
                if self.cache is not None:
                    self.cache.put(value, user_id, dm, utcnow())
                self._members[value.lower()] = (user_id, dm)
            return dm
        raise FallBack(f"not a Slack target: {recipient!r}")

    def _member(self, email: str) -> tuple[str | None, str | None]:
        """Return (member id or None, DM channel or None) of ``email``: from this pass, the cache, or Slack."""
        key = email.lower()
        if key in self._members:
            return self._members[key]
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None and utcnow() - cached.looked_up_at < timedelta(hours=self.rules.user_cache_hours):
            self.stats["cache_hits"] += 1
            found = (cached.user_id, cached.dm_channel)
        else:
            self.stats["lookups"] += 1
            try:
                user = self._call("users_lookupByEmail", email=email)["user"]
                found = (None, None) if user.get("deleted") else (str(user["id"]), None)
            except FallBack as exc:
                if "users_not_found" not in str(exc):
                    raise
                found = (None, None)
            if self.cache is not None:
                self.cache.put(key, found[0], None, utcnow())
        self._members[key] = found
        return found

    def _dm(self, user_id: str) -> str:
        if user_id not in self._dms:
            self._dms[user_id] = str(self._call("conversations_open", users=user_id)["channel"]["id"])
        return self._dms[user_id]

    def _already_posted(self, channel: str, key: str, since: datetime | None) -> bool:
        """Return whether a message carrying ``key`` is already in ``channel`` (posted by an attempt that died
        before the outbox recorded it); False when the history cannot be read (a missing scope)."""
        oldest = (since or utcnow() - timedelta(days=1)) - timedelta(minutes=5)
        broken = self.broken
        try:
            answer = self._call("conversations_history", channel=channel, oldest=f"{oldest.timestamp():.6f}",
                                limit=200, include_all_metadata=True)
        except FallBack:
            self.broken = broken  # a history scope the app lacks only means the check cannot be made
            self.stats["history_unreadable"] += 1
            return False
        for m in answer.get("messages") or []:
            meta = m.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("key") == key:
                return True
        return False

    def _pace(self, channel: str) -> None:
        """Space messages to one channel ``1 / per_channel_per_second`` apart (Slack allows about 1/s): across every
        process delivering on PostgreSQL (a ``provider_rate_slots`` row per channel), else within this sender."""
        limiter = self._limiters.get(channel)
        if limiter is None:
            rate = self.rules.per_channel_per_second
            reserve = slot_reserver(self.database_url, f"slack:{channel}", rate) if self.database_url else None
            limiter = (DatabaseRateLimiter(reserve, sleep=self.sleep) if reserve is not None
                       else RateLimiter(rate, clock=self.clock, sleep=self.sleep))
            self._limiters[channel] = limiter
        waited = limiter.acquire()
        if waited > 0:
            self.stats["paced_seconds"] += round(waited, 3)  # type: ignore[assignment]

    # ------------------------------------------------------------------ calls

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """Call one Web API method; waits out 429s; returns the answer's data.

        Raises FallBack for what a retry cannot fix (and marks the sender broken on an auth error), RuntimeError
        for what the next pass may (Slack down, a Retry-After longer than max_wait_seconds)."""
        from slack_sdk.errors import SlackApiError

        assert self._client is not None  # app mode
        for _ in range(4):
            try:
                return dict(getattr(self._client, method)(**kwargs).data)
            except SlackApiError as exc:
                status, data = exc.response.status_code, exc.response.data
                error = data.get("error") if isinstance(data, dict) else None
                if status == 429 or error == "ratelimited":
                    self._wait(exc.response.headers, method)
                    continue
                if status >= 500:
                    raise RuntimeError(f"Slack {method} failed: HTTP {status}") from None
                if error in TRANSIENT_ERRORS:
                    raise RuntimeError(f"Slack {method} failed: {error}") from None
                self._refuse(method, str(error or f"HTTP {status}"), data)
            except FallBack:
                raise
            except Exception as exc:  # noqa: BLE001 - no answer (timeout, connection): the next pass retries
                raise RuntimeError(f"Slack unreachable ({type(exc).__name__})") from None
        raise RuntimeError(f"Slack {method}: still rate limited after 4 tries")

    def _send_webhook(self, content: dict[str, Any]) -> None:
        assert self._webhook is not None
        self._pace("webhook")
        for _ in range(4):
            try:
                resp = self._webhook.send(**{k: v for k, v in content.items() if v is not None})
            except Exception as exc:  # noqa: BLE001 - no answer: the next pass retries
                raise RuntimeError(f"Slack webhook unreachable ({type(exc).__name__})") from None
            if resp.status_code == 200:
                self.stats["posted"] += 1
                return
            body = (resp.body or "").strip()[:100]
            if resp.status_code == 429:
                self._wait(resp.headers or {}, "webhook")
                continue
            if resp.status_code >= 500:
                raise RuntimeError(f"Slack webhook failed: HTTP {resp.status_code}")
            self._refuse("incoming webhook", body or f"HTTP {resp.status_code}", None, status=resp.status_code)
        raise RuntimeError("Slack webhook: still rate limited after 4 tries")

    def _wait(self, headers: Any, method: str) -> None:
        """Sleep out a 429's Retry-After, or raise RuntimeError (retried next pass) when it is too long."""
        self.stats["rate_limited"] += 1
        try:
            after = float(_header(headers, "Retry-After") or 1)
        except ValueError:
            after = 1.0
        if after > self.rules.max_wait_seconds:
            raise RuntimeError(f"Slack rate limited {method}: retry after {after:.0f} s (more than max_wait_seconds)")
        self.stats["waited_seconds"] += round(after, 3)  # type: ignore[assignment]
        self.sleep(after)

    def _refuse(self, method: str, error: str, data: Any, status: int | None = None) -> None:
        """Raise FallBack for an error a retry cannot fix; an auth error (or a dead webhook) breaks the sender."""
        if error in AUTH_ERRORS or (status in (403, 404, 410) and method == "incoming webhook"):
            needed = data.get("needed") if isinstance(data, dict) else None
            self.broken = (f"Slack refused the credentials ({error}" + (f", needs scope {needed}" if needed else "")
                           + "): fix the token or webhook, then the next messages go to Slack again")
            raise FallBack(self.broken)
        if error in ("not_in_channel", "channel_not_found", "is_archived", "channel_is_archived"):
            raise FallBack(f"Slack {method}: {error} (invite the app to the channel, or fix the channel in "
                           f"notify.yaml / sdrs.yaml)")
        raise FallBack(f"Slack {method} refused the message: {error}")


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for k, v in dict(headers).items():
        if k.lower() == name.lower():
            return str(v[0] if isinstance(v, list) else v)
    return None


def load_credentials(rules: SlackRules, settings: Any) -> tuple[str | None, str | None, str | None]:
    """Return (token, webhook URL, problem): from notify.yaml's prefect-slack block, else the environment; each
    secret registered for redaction; ``problem`` says in one line why there are none."""
    from leadops.redact import redact, register, secrets_of_url

    token = url = None
    if rules.credentials_block:
        kind = "SlackWebhook" if rules.mode == "webhook" else "SlackCredentials"
        try:
            import prefect_slack  # type: ignore[import-untyped]

            block = getattr(prefect_slack, kind).load(rules.credentials_block)
        except Exception as exc:  # noqa: BLE001 - any failure to load is one line for the artifact
            return None, None, (f"Slack credentials block {rules.credentials_block!r} ({kind}) could not be loaded: "
                                f"{(redact(' '.join(str(exc).split())) or '')[:200]}")
        if rules.mode == "webhook":
            url = block.url.get_secret_value()
        else:
            token = block.token.get_secret_value()
    elif rules.mode == "webhook":
        url = settings.slack_webhook_url.get_secret_value() if settings.slack_webhook_url else None
    else:
        token = settings.slack_token.get_secret_value() if settings.slack_token else None
    if token:
        register(token)
    if url:
        register(*secrets_of_url(url), str(url).rstrip("/").rpartition("/")[2])
    if not token and not url:
        where = ("LEADOPS_SLACK_WEBHOOK_URL" if rules.mode == "webhook" else "LEADOPS_SLACK_TOKEN")
        return None, None, (f"no Slack credentials: set {where} or name a prefect-slack block in notify.yaml "
                            f"(slack.credentials_block)")
    return token, url, None


def check(rules: Any, settings: Any, cache: SlackUserCache | None = None) -> dict[str, Any]:
    """Check the Slack set-up without posting: the credentials (auth.test; a webhook by an empty post, which Slack
    answers ``no_text`` when the URL is good), then who Slack knows among the active roster (each lookup cached).

    Returns {"ok", "mode", "detail", "people": [{code, role, target, found}], "unknown": [codes]}; ``ok`` is False
    only when no Slack message could go (credentials); unknown people get emails instead."""
    slack = rules.notify.slack
    out: dict[str, Any] = {"ok": False, "enabled": slack.enabled, "mode": slack.mode, "people": [], "unknown": []}
    if not slack.enabled:
        out.update(ok=True, detail="Slack is off (notify.yaml slack.enabled): every message is an email")
        return out
    token, url, problem = load_credentials(slack, settings)
    if problem:
        out["detail"] = problem
        return out
    if url:
        import requests

        try:
            resp = requests.post(url, json={}, timeout=10)
        except requests.RequestException as exc:
            out["detail"] = f"Slack webhook unreachable ({type(exc).__name__})"
            return out
        ok = resp.status_code == 400 and "no_text" in resp.text
        out.update(ok=ok, detail="incoming webhook accepted (every message goes to its channel)" if ok else
                   f"incoming webhook refused: HTTP {resp.status_code} {resp.text.strip()[:60]}")
        return out
    sender = SlackSender(slack, token=token, cache=cache)
    try:
        who = sender._call("auth_test")
    except (FallBack, RuntimeError) as exc:
        out["detail"] = str(exc)
        return out
    out.update(ok=True, detail=f"token of {who.get('user')} in workspace {who.get('team')} ({who.get('team_id')})")
    for p in rules.roster.people:
        if not p.active:
            continue
        if p.slack_user:
            found, target = True, f"user:{p.slack_user}"
        else:
            try:
                found, target = sender._member(p.email)[0] is not None, f"email:{p.email}"
            except (FallBack, RuntimeError) as exc:
                out.update(ok=False, detail=str(exc))
                return out
        channel = p.slack_channel or (slack.managers_channel if p.role == "manager" else None)
        out["people"].append({"code": p.code, "role": p.role, "target": target, "found": found, "channel": channel})
        if not found:
            out["unknown"].append(p.code)
    return out
