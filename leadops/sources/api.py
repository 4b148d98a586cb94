"""Read CRM-style REST APIs page by page (page-number or cursor pagination), politely.

What this module guarantees, so ingest can key and explain every page:

* One :class:`ApiPage` per non-empty page, in order. ``ApiPage.key`` is the SHA-256
  of the page's raw response bytes (the idempotency key of a page);
  ``ApiPage.url`` is the full request URL with its parameters (provenance).
* Rows follow :mod:`leadops.intake.reading.rows`' conventions: ``raw`` is the record as
  read (strings as-is, other JSON values as JSON text: ``42``, ``true``,
  ``{"a": 1}``), ``fields`` are canonical fields cleaned from those raw values with
  :func:`~leadops.domain.normalize.clean_text` (so a quarantined row re-derives the
  same fields from ``raw``). ``row_number`` is the 1-based index within the page.
* Requests are retried on connection errors, timeouts, 429 and 5xx with exponential
  backoff (0.5 s * 2^attempt, capped at 30 s) or the server's ``Retry-After``.
  Other 4xx fail at once. Loops (a repeated cursor, the same page served again, more
  than ``max_pages`` pages) fail instead of running forever.
* Every failure is an :class:`ApiError` naming the source, the request URL and what
  went wrong. The token travels in a header only and every encoding of it (raw, JSON-escaped,
  percent-encoded, base64) is redacted from every message (:mod:`leadops.redact`), before a
  response body is cut to an excerpt, so a cut cannot leave part of it unrecognised.

No Prefect (except the lazy Secret lookup in :func:`resolve_token`), no SQLAlchemy.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from leadops.config import ApiSource, WebhookSource
from leadops.domain.normalize import clean_text
from leadops.redact import basic_auth_secrets, redact, register
from leadops.intake.reading.headers import map_headers
from leadops.intake.reading.rows import RawRow

__all__ = ["ApiError", "ApiPage", "dig", "iter_pages", "page_rows", "resolve_token"]

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 300.0  # a server asking for longer than this is treated as asking for this
EXCERPT = 200
_RETRYABLE_EXC = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class ApiError(Exception):
    """An API read failed; the message names the source, the URL and what went wrong (never the token)."""


@dataclass(frozen=True)
class ApiPage:
    """One page of records: where it came from, its content hash (idempotency key) and its rows.

    ``number`` is the 1-based page index within this read; ``max_updated_at`` the newest
    timezone-aware ``updated_at_field`` among its records (``None`` if none parse).
    """

    source: str
    number: int
    url: str
    key: str
    rows: list[RawRow] = field(repr=False)
    max_updated_at: datetime | None = None


# --------------------------------------------------------------------------- token


def resolve_token(cfg: ApiSource) -> str | None:
    """Return the API token: ``$token_env`` when set, else the Prefect Secret block, else ``None``.

    Raises :class:`ApiError` when a token is configured but cannot be found (an unset or
    empty environment variable with no Secret block to fall back on, or a Secret block
    that does not load or is empty); never returns a silent empty token.
    """
    if cfg.token_env:
        token = os.environ.get(cfg.token_env, "").strip()
        if token:
            register(token)
            return token
        if not cfg.token_secret_block:
            raise ApiError(
                f"source {cfg.name}: set the environment variable {cfg.token_env} to the API token "
                f"(it is {'empty' if cfg.token_env in os.environ else 'not set'})"
            )
    if cfg.token_secret_block:
        from prefect.blocks.system import Secret

        try:
            # load is dispatched by Prefect (a coroutine when awaited): here, called synchronously, the block
            block: Any = Secret.load(cfg.token_secret_block)
            value = block.get()
        except Exception as exc:  # noqa: BLE001 - any lookup failure is a configuration problem
            # only the exception type: a message could quote the secret
            raise ApiError(f"source {cfg.name}: cannot load the Prefect Secret block "
                           f"{cfg.token_secret_block!r} ({type(exc).__name__}); create it with "
                           f"`prefect block create secret` or set token_env") from None
        token = str(value or "").strip()
        if not token:
            raise ApiError(f"source {cfg.name}: the Prefect Secret block {cfg.token_secret_block!r} is empty")
        register(token)
        return token
    return None


# --------------------------------------------------------------------------- records


def dig(obj: Any, path: str) -> Any:
    """Return the value at a dotted ``path`` ("data", "meta.next") of parsed JSON, or ``None``.

    ``""`` is the object itself; a missing key or a non-object on the way gives ``None``.
    """
    for part in path.split("."):
        if not part:
            continue
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _json_text(value: Any) -> str | None:
    """Strings as-is, ``None`` as ``None``, any other JSON value as its JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1:] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None and dt.utcoffset() is not None else None


def page_rows(records: list[Any], cfg: ApiSource | WebhookSource) -> tuple[list[RawRow], datetime | None]:
    """Return a page's records as rows (canonical fields + raw record) and their newest update time.

    A record that is not a JSON object becomes a row with empty ``fields`` and
    ``raw = {"_line": <its JSON>, "_error": ...}`` so it can be quarantined with a reason.
    """
    rows: list[RawRow] = []
    newest: datetime | None = None
    mappings: dict[tuple[str, ...], dict[str, str]] = {}
    for index, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            rows.append(RawRow(index, {}, {"_line": json.dumps(rec, ensure_ascii=False),
                                           "_error": f"record is not a JSON object (got {type(rec).__name__})"}))
            continue
        raw = {str(k): _json_text(v) for k, v in rec.items()}
        keys = tuple(raw)
        if keys not in mappings:
            mappings[keys] = map_headers(list(keys), cfg.columns)[0]
        rows.append(RawRow(index, {f: clean_text(raw[h]) for h, f in mappings[keys].items()}, raw))
        at = _parse_time(rec.get(cfg.updated_at_field))
        if at is not None and (newest is None or at > newest):
            newest = at
    return rows, newest


# --------------------------------------------------------------------------- HTTP


def token_secrets(token: str | None, auth_prefix: str = "") -> list[str]:
    """Return the secrets a request carrying ``token`` exposes: the token, the header value
    (``Bearer <token>``) and, for a ``Basic`` token, the password and ``user:password`` inside it."""
    if not token:
        return []
    out = [token, auth_prefix + token]
    if auth_prefix.strip().lower() == "basic":
        import base64
        import binascii

        try:
            user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if sep:
            out += basic_auth_secrets(user, password)
    return out


def excerpt(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Return a short, one-line quote of a response body for an error message, secrets redacted first.

    Redaction runs on the whole body: cut first, a secret at the cut would no longer be recognised.
    """
    text = " ".join((redact(text, secrets) or "").split())
    return repr(text[:EXCERPT] + ("..." if len(text) > EXCERPT else ""))


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt + 1``: 0.5, 1, 2, 4... capped at 30."""
    return min(BACKOFF_BASE * 2 ** attempt, BACKOFF_CAP)


class RetriesExhausted(Exception):
    """Every attempt failed to get a response (``cause``: the last connection error or timeout)."""

    def __init__(self, cause: Exception, attempts: int) -> None:
        super().__init__(f"{type(cause).__name__} after {attempts} attempts")
        self.cause, self.attempts = cause, attempts


def get_with_retries(send: Callable[[], requests.Response], attempts: int, sleep: Callable[[float], None],
                     backoff: Callable[[int], float] = backoff) -> requests.Response:
    """Return the first response worth looking at: ``send()`` is retried on connection errors,
    timeouts, 429 and 5xx (waiting ``Retry-After`` when the server says, else ``backoff(attempt)``),
    up to ``attempts`` calls; the last response is returned whatever its status.

    Raises :class:`RetriesExhausted` when the last attempt got no response; other
    ``requests`` errors (an invalid URL, too many redirects) propagate at once.
    """
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            resp = send()
        except _RETRYABLE_EXC as exc:
            if last:
                raise RetriesExhausted(exc, attempts) from None
            sleep(backoff(attempt))
            continue
        if resp.status_code in RETRY_STATUS and not last:
            wait = retry_after(resp.headers.get("Retry-After"))
            sleep(wait if wait is not None else backoff(attempt))
            continue
        return resp
    raise AssertionError("unreachable")  # pragma: no cover


def _get(http: requests.Session, cfg: ApiSource, params: dict[str, Any], headers: dict[str, str],
         sleep: Callable[[float], None], secrets: list[str]) -> tuple[str, bytes, Any]:
    """GET one page with retries; returns ``(url, body bytes, parsed JSON)`` or raises ApiError.

    Every text quoted from the response (body, Content-Type, the final URL) is redacted of ``secrets``.
    """
    url = requests.Request("GET", cfg.url, params=params).prepare().url or cfg.url
    where = f"source {cfg.name}: GET {url}"
    attempts = cfg.max_retries + 1
    try:
        resp = get_with_retries(lambda: http.get(cfg.url, params=params, headers=headers, timeout=cfg.timeout_seconds),
                                attempts, sleep)
    except RetriesExhausted as exc:
        what = "timed out" if isinstance(exc.cause, requests.Timeout) else "connection failed"
        raise ApiError(f"{where}: {what} ({type(exc.cause).__name__}) after {attempts} attempts "
                       f"(timeout {cfg.timeout_seconds:g} s)") from None
    except requests.RequestException as exc:  # invalid URL, too many redirects...
        raise ApiError(f"{where}: {type(exc).__name__}") from None
    status = resp.status_code
    if status in (401, 403):
        raise ApiError(f"{where}: HTTP {status}: the API refused the credentials (check the token"
                       f"{' in ' + cfg.auth_header if cfg.auth_header else ''}): {excerpt(resp.text, secrets)}")
    if status >= 400:
        tried = f" after {attempts} attempts" if status in RETRY_STATUS and attempts > 1 else ""
        raise ApiError(f"{where}: HTTP {status}{tried}: {excerpt(resp.text, secrets)}")
    try:
        data = resp.json()
    except ValueError:
        kind = redact(resp.headers.get("Content-Type"), secrets) or "no Content-Type"
        raise ApiError(f"{where}: HTTP {status} response is not JSON ({kind}): {excerpt(resp.text, secrets)}") from None
    # a redirect may have put anything in the final URL; it is stored as the page's provenance
    return redact(resp.url, secrets) or url, resp.content, data


def iter_pages(cfg: ApiSource, since: datetime | None, *, token: str | None,
               http: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
               max_pages: int = 10000) -> Iterator[ApiPage]:
    """Yield the non-empty pages of records updated after ``since``, in order, until the last page.

    Page pagination stops at a page with fewer than ``page_size`` records; cursor pagination
    when ``next_cursor_path`` is null, missing or empty. Raises :class:`ApiError` (token redacted)
    on any failure, a repeated cursor, the same page served twice, or more than ``max_pages`` pages.
    """
    try:
        yield from _iter_pages(cfg, since, token, http, sleep, max_pages)
        return
    except ApiError as exc:
        failure = exc
    # a fresh error raised outside the except block keeps no link to the original or its context
    # (a JSONDecodeError holds the whole response body in ``doc``)
    raise ApiError(redact(str(failure), token_secrets(token, cfg.auth_prefix)))


def _iter_pages(cfg: ApiSource, since: datetime | None, token: str | None, http: requests.Session | None,
                sleep: Callable[[float], None], max_pages: int) -> Iterator[ApiPage]:
    try:
        map_headers([], cfg.columns)
    except ValueError as exc:
        raise ApiError(f"source {cfg.name}: {exc}") from None
    own = http is None
    session = http if http is not None else requests.Session()
    headers = {cfg.auth_header: cfg.auth_prefix + token} if token else {}
    secrets = token_secrets(token, cfg.auth_prefix)
    base: dict[str, Any] = {cfg.page_size_param: cfg.page_size}
    if since is not None:
        base[cfg.updated_since_param] = since.isoformat()
    cursor: str | None = None
    seen_cursors: set[str] = set()
    previous_key = None
    try:
        for number in range(1, max_pages + 1):
            params = dict(base)
            if cfg.pagination == "page":
                params[cfg.page_param] = number
            elif cursor is not None:
                params[cfg.cursor_param] = cursor
            url, body, data = _get(session, cfg, params, headers, sleep, secrets)
            records = dig(data, cfg.records_path)
            if not isinstance(records, list):
                found = "nothing" if records is None else f"a {type(records).__name__}"
                where = f"at {cfg.records_path!r}" if cfg.records_path else "as the response body"
                raise ApiError(f"source {cfg.name}: GET {url}: expected a list of records {where}, "
                               f"found {found} (check records_path)")
            key = hashlib.sha256(body).hexdigest()
            if records and key == previous_key:
                raise ApiError(f"source {cfg.name}: GET {url}: page {number} is identical to page {number - 1}; "
                               f"stopping to avoid a loop (does the API ignore {cfg.page_param!r}?)")
            previous_key = key
            if records:
                rows, newest = page_rows(records, cfg)
                yield ApiPage(cfg.name, number, url, key, rows, newest)
            if cfg.pagination == "page":
                if len(records) < cfg.page_size:
                    return
                continue
            nxt = dig(data, cfg.next_cursor_path)
            if nxt is None or nxt == "" or nxt is False:
                return
            cursor = nxt if isinstance(nxt, str) else json.dumps(nxt)
            if cursor in seen_cursors:
                raise ApiError(f"source {cfg.name}: GET {url}: the API returned cursor {cursor!r} a second time; "
                               "stopping to avoid a loop")
            seen_cursors.add(cursor)
        raise ApiError(f"source {cfg.name}: GET {cfg.url}: more than {max_pages} pages; stopping "
                       "(raise max_pages if the source really is that large)")
    finally:
        if own:
            session.close()
