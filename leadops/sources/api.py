"""Read CRM-style REST APIs page by page (page-number or cursor pagination), politely.

The token travels in a header and never appears in messages, logs or reprs.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from leadops.config import ApiSource
from leadops.domain.normalize import clean_text
from leadops.sources.files import RawRow, map_headers

RETRY_STATUS = {429, 500, 502, 503, 504}


class ApiError(Exception):
    """An API read failed; the message names the source, the URL and what went wrong (never the token)."""


@dataclass(frozen=True)
class ApiPage:
    """One page of records: its request URL, content hash (idempotency key) and rows."""

    source: str
    number: int
    url: str
    key: str
    rows: list[RawRow] = field(repr=False)
    max_updated_at: datetime | None = None


def resolve_token(cfg: ApiSource) -> str | None:
    """Return the API token from the environment variable or Prefect Secret block the source names."""
    if cfg.token_env:
        token = os.environ.get(cfg.token_env, "").strip()
        if not token:
            raise ApiError(f"source {cfg.name}: set the environment variable {cfg.token_env} to the API token")
        return token
    if cfg.token_secret_block:
        from prefect.blocks.system import Secret

        try:
            return Secret.load(cfg.token_secret_block).get()
        except Exception as exc:  # noqa: BLE001 - any lookup failure is a configuration problem
            raise ApiError(f"source {cfg.name}: cannot load Prefect Secret block {cfg.token_secret_block!r}: "
                           f"{type(exc).__name__}") from None
    return None


def dig(obj: Any, path: str) -> Any:
    """Return the value at a dotted ``path`` ("data", "meta.next") of parsed JSON; "" is the object itself."""
    for part in [p for p in path.split(".") if p]:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)


def _parse_time(value: Any) -> datetime | None:
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else None


def page_rows(records: list[Any], cfg: ApiSource) -> tuple[list[RawRow], datetime | None]:
    """Return the page's records as rows (canonical fields + raw record) and their newest update time."""
    rows, newest = [], None
    for i, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            rows.append(RawRow(i, {}, {"_line": _text(rec), "_error": "record is not a JSON object"}))
            continue
        raw = {k: _text(v) for k, v in rec.items()}
        mapping, _ = map_headers(list(raw), cfg.columns)
        rows.append(RawRow(i, {f: clean_text(raw[h]) for h, f in mapping.items()}, raw))
        at = _parse_time(rec.get(cfg.updated_at_field))
        if at and (newest is None or at > newest):
            newest = at
    return rows, newest


def _get(http: requests.Session, cfg: ApiSource, params: dict[str, Any], headers: dict[str, str],
         sleep: Callable[[float], None]) -> tuple[str, bytes, Any]:
    """GET one page with retries on connection errors, timeouts, 429 and 5xx; returns (url, body, json)."""
    where = f"source {cfg.name}: GET {cfg.url}"
    for attempt in range(cfg.max_retries + 1):
        last = attempt == cfg.max_retries
        try:
            resp = http.get(cfg.url, params=params, headers=headers, timeout=cfg.timeout_seconds)
        except (requests.ConnectionError, requests.Timeout) as exc:
            if last:
                raise ApiError(f"{where}: {type(exc).__name__} after {attempt + 1} attempts") from None
            sleep(min(0.5 * 2 ** attempt, 30))
            continue
        if resp.status_code in RETRY_STATUS and not last:
            retry_after = resp.headers.get("Retry-After", "")
            sleep(min(float(retry_after), 300) if retry_after.isdigit() else min(0.5 * 2 ** attempt, 30))
            continue
        if resp.status_code in (401, 403):
            raise ApiError(f"{where}: HTTP {resp.status_code}: the API refused the credentials (check the token)")
        if resp.status_code >= 400:
            raise ApiError(f"{where}: HTTP {resp.status_code}: {resp.text[:200]!r}")
        try:
            return resp.url, resp.content, resp.json()
        except ValueError:
            raise ApiError(f"{where}: response is not JSON ({resp.headers.get('Content-Type', '?')}): "
                           f"{resp.text[:120]!r}") from None
    raise ApiError(f"{where}: gave up after {cfg.max_retries + 1} attempts")  # pragma: no cover


def iter_pages(cfg: ApiSource, since: datetime | None, *, token: str | None, http: requests.Session | None = None,
               sleep: Callable[[float], None] = time.sleep, max_pages: int = 10000) -> Iterator[ApiPage]:
    """Yield the pages of records updated after ``since``, in order, until the last page."""
    http = http or requests.Session()
    headers = {cfg.auth_header: cfg.auth_prefix + token} if token else {}
    base: dict[str, Any] = {cfg.page_size_param: cfg.page_size}
    if since is not None:
        base[cfg.updated_since_param] = since.isoformat()
    cursor, seen_cursors = None, set()
    for number in range(1, max_pages + 1):
        params = dict(base)
        if cfg.pagination == "page":
            params[cfg.page_param] = number
        elif cursor is not None:
            params[cfg.cursor_param] = cursor
        url, body, data = _get(http, cfg, params, headers, sleep)
        records = dig(data, cfg.records_path)
        if not isinstance(records, list):
            raise ApiError(f"source {cfg.name}: GET {url}: no list of records at {cfg.records_path!r}")
        rows, newest = page_rows(records, cfg)
        if records:
            yield ApiPage(cfg.name, number, url, hashlib.sha256(body).hexdigest(), rows, newest)
        if cfg.pagination == "page":
            if len(records) < cfg.page_size:
                return
            continue
        cursor = dig(data, cfg.next_cursor_path)
        if not cursor:
            return
        if cursor in seen_cursors:
            raise ApiError(f"source {cfg.name}: the API returned cursor {cursor!r} twice; stopping to avoid a loop")
        seen_cursors.add(cursor)
    raise ApiError(f"source {cfg.name}: more than {max_pages} pages; stopping")
