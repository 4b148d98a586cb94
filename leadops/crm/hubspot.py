"""HubSpot: a thin typed client of the documented endpoints the sync uses (CRM v3 search, batch read and update,
v4 associations, owners, the OAuth token refresh).

Not ``hubspot-api-client``: every request must go through :class:`leadops.crm.http.Transport`, so the shared
rate limiters (``"default"``: 190 requests per 10 s; ``"search"``: 4 per second, HubSpot's limits for a private
app; in-process or shared by every worker through the database) gate each request, with one retry policy, the
token refresh and redaction; and a batch write must come back as one :class:`RecordResult` per record, which
HubSpot only gives in its raw 207 Multi-Status and 400 bodies.

* :meth:`HubSpotClient.search_modified` reads the records modified since a stamp, oldest first, by keyset paging:
  every page is a new query from the last stamp read (``GTE`` it, sorted by the stamp, ``limit`` the page size),
  never the search API's ``after``. With ``after``, a record the read has already passed that is edited during
  the read moves to the end of the order, every later record moves down one place and one is skipped at the next
  page boundary; its stamp is older than the watermark the read ends with, so it would be lost until it changed
  again. A query from the last stamp is not shifted by such an edit (the edited record comes again later, with
  its new stamp). That query returns the records at the last stamp again: the ids already yielded at that stamp
  (only those, so memory stays bounded) are skipped, so no id comes twice within one read unless it was edited
  during it. When a whole page is at one stamp (more records may share it than a page holds), that stamp is read
  by ``hs_object_id`` (``EQ`` stamp, ``GT`` last id) and the read goes on ``GT`` it, so it always ends; it ends at
  the first query that returns no record not yet yielded. No query is paged, so HubSpot's limit of 10,000
  results one query can page through (``after``) cannot be hit, however many records changed.
* :meth:`HubSpotClient.update` maps the outcomes back to the records: 200 and 207 ``results`` and ``errors``
  (``context.ids``); a whole-batch 400 (HubSpot rejects a batch in which one record writes a property the portal
  does not define, ``PROPERTY_DOESNT_EXIST``, or names an unknown id) fails the records it names, and the others
  are sent again without them; a 429/5xx/timeout that outlasted the retries fails every record of the batch as
  retryable; a refused token (:class:`CrmAuthError`) propagates: the run must stop.
* OAuth: with a client id, secret and refresh token, the access token is obtained from ``/oauth/v1/token`` before
  the first request, again shortly before it expires, and after a 401; each new token is registered for
  redaction. Without them, a 401 is a :class:`CrmAuthError` saying the token was refused (expired or revoked).

No message or error text carries a token (the transport redacts every secret of the connector, and the tokens
obtained since, from whatever it quotes).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests

from leadops.crm.credentials import HubSpotAuth
from leadops.crm.http import CrmAuthError, CrmError, Limiter, Transport
from leadops.crm.records import CrmRecord, RecordResult
from leadops.providers.limits import RateLimiter
from leadops.redact import register
from leadops.sources.api import RETRY_STATUS, backoff, retry_after

__all__ = ["ASSOCIATION_BATCH", "BATCH", "MAX_PAGE", "SEARCH_CAP", "HubSpotClient", "modified_property"]

#: results one search query can page through (HubSpot's documented limit; search_modified never pages a query)
SEARCH_CAP = 10_000
#: records per search page at most
MAX_PAGE = 200
#: inputs per batch read or update
BATCH = 100
#: inputs per v4 associations batch read
ASSOCIATION_BATCH = 1000
OWNERS_PAGE = 500
#: refresh an OAuth token this many seconds before HubSpot says it expires
EXPIRY_MARGIN = 60.0
_ERROR_LINE = 300
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RETRYABLE_EXC = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
T = TypeVar("T")


def modified_property(object_type: str) -> str:
    """Return the property holding ``object_type``'s modification stamp: ``lastmodifieddate`` for contacts,
    ``hs_lastmodifieddate`` for every other object."""
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


def _ms(dt: datetime) -> int:
    """Epoch milliseconds of ``dt`` (a naive datetime is taken as UTC), exactly (no float rounding)."""
    aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(milliseconds=1)


def parse_stamp(value: Any) -> datetime | None:
    """Return a HubSpot datetime (ISO 8601 with ``Z`` or an offset, or epoch milliseconds) as an aware UTC datetime;
    None when empty or unreadable."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.isdigit():
        return _EPOCH + timedelta(milliseconds=int(text))
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _text(value: Any) -> str | None:
    """A property value as text: strings as they are, other JSON values as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _validation_details(err: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Return ``(property, message, code)`` of each property problem an error body describes: the JSON list after
    "Property values were not valid: " in its message, and its ``errors`` naming a ``propertyName``."""
    found: dict[str, tuple[str, str, str]] = {}
    message = str(err.get("message") or "")
    start = message.find("[")
    if "not valid" in message and start >= 0:
        try:
            entries = json.loads(message[start:])
        except ValueError:
            entries = []
        for e in entries if isinstance(entries, list) else []:
            if isinstance(e, dict) and e.get("name"):
                found.setdefault(str(e["name"]), (str(e["name"]), str(e.get("message") or ""), str(e.get("error") or "")))
    for e in err.get("errors") or []:
        if not isinstance(e, dict):
            continue
        names = (e.get("context") or {}).get("propertyName") if isinstance(e.get("context"), dict) else None
        for name in names or []:
            found.setdefault(str(name), (str(name), str(e.get("message") or ""), str(e.get("code") or "")))
    return list(found.values())


class HubSpotClient:
    """One HubSpot portal for one connector (see the module docstring).

    ``limiters``: ``"default"`` and ``"search"`` (None: in-process limiters at HubSpot's rates for a private app,
    19 and 4 requests per second; ``{}``: none). ``search_cap``: results one search query can page through (it only
    bounds the page size: every page is a new query).
    """

    def __init__(self, name: str, base_url: str, auth: HubSpotAuth, *, limiters: Mapping[str, Limiter] | None = None,
                 timeout: float = 30.0, max_retries: int = 5, sleep: Callable[[float], None] = time.sleep,
                 search_cap: int = SEARCH_CAP) -> None:
        self.name, self.auth, self.search_cap = name, auth, search_cap
        self._token = auth.access_token
        self._refresh_token = auth.refresh_token
        self._obtained: list[str] = []  # tokens obtained by refresh: secrets too
        self._expires_at: float | None = None
        self._auth_lock = threading.Lock()
        self._sleep = sleep
        if limiters is None:
            limiters = {"default": RateLimiter(19.0), "search": RateLimiter(4.0)}
        self.transport = Transport(name, base_url, headers=self._headers, secrets=self._secrets, limiters=limiters,
                                   refresh=self._refresh if auth.can_refresh else None, timeout=timeout,
                                   max_retries=max_retries, sleep=sleep)

    # ----------------------------------------------------------------- authentication
    def _secrets(self) -> list[str]:
        return [*self.auth.secrets(), *self._obtained]

    def _stale(self) -> bool:
        return self._token is None or (self._expires_at is not None and time.monotonic() >= self._expires_at)

    def _headers(self) -> dict[str, str]:
        if self.auth.can_refresh and self._stale():
            with self._auth_lock:
                if self._stale():
                    self._obtain_token()
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _refresh(self) -> None:
        """The transport's hook after a 401: obtain a new access token."""
        with self._auth_lock:
            self._obtain_token()

    def _obtain_token(self) -> None:
        """Exchange the refresh token for a new access token (``POST /oauth/v1/token``, form-encoded)."""
        url = self.transport.url("/oauth/v1/token")
        where = f"{self.name}: POST {url} (OAuth token refresh)"
        form = {"grant_type": "refresh_token", "client_id": self.auth.client_id or "",
                "client_secret": self.auth.client_secret or "", "refresh_token": self._refresh_token or ""}
        attempt = 0
        while True:
            try:
                resp = requests.post(url, data=form, headers={"Accept": "application/json"}, timeout=self.transport.timeout)
            except _RETRYABLE_EXC as exc:
                if attempt >= self.transport.max_retries:
                    raise CrmError(f"{where}: {type(exc).__name__} after {attempt + 1} attempts", retryable=True) from None
                self._sleep(backoff(attempt))
                attempt += 1
                continue
            except requests.RequestException as exc:
                raise CrmError(f"{where}: {type(exc).__name__}") from None
            status = resp.status_code
            if status in RETRY_STATUS:
                if attempt < self.transport.max_retries:
                    wait = retry_after(resp.headers.get("Retry-After"))
                    self._sleep(wait if wait is not None else backoff(attempt))
                    attempt += 1
                    continue
                raise CrmError(f"{where}: HTTP {status} after {attempt + 1} attempts: {self.transport.quote(resp)}",
                               status=status, retryable=True, body=self.transport.body(resp))
            if status >= 400:
                raise CrmAuthError(f"{where}: HTTP {status}: HubSpot refused the refresh token or the app's client "
                                   f"credentials (expired or revoked): {self.transport.quote(resp)}",
                                   status=status, body=self.transport.body(resp))
            data = self.transport.json(resp, "OAuth token refresh")
            token = data.get("access_token") if isinstance(data, dict) else None
            if not isinstance(token, str) or not token:
                raise CrmAuthError(f"{where}: HTTP {status}: the answer holds no access_token")
            register(token)
            self._obtained.append(token)
            rotated = data.get("refresh_token")
            if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
                register(rotated)
                self._obtained.append(rotated)
                self._refresh_token = rotated
            self._token = token
            lifetime = data.get("expires_in")
            self._expires_at = (time.monotonic() + max(0.0, float(lifetime) - EXPIRY_MARGIN)
                                if isinstance(lifetime, int | float) else None)
            return

    # ----------------------------------------------------------------- requests
    def _call(self, method: str, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None,
              limiter: str = "default", what: str) -> Any:
        """Send one request through the transport; returns its JSON body (any status < 400, 207 included)."""
        try:
            resp = self.transport.request(method, path, json=json_body, params=params, limiter=limiter, what=what)
        except CrmAuthError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            category = body.get("category") or "HTTP 401"
            hint = ("a new token obtained with the refresh token was refused too" if self.auth.can_refresh else
                    "give the connector a new private app access token, or OAuth client credentials and a refresh token")
            raise CrmAuthError(f"{exc} -- HubSpot refused the access token ({category}: expired or revoked); {hint}",
                               status=exc.status, body=exc.body) from None
        return self.transport.json(resp, f"{method} {path} ({what})")

    def _to_record(self, object_type: str, raw: Mapping[str, Any], mod: str) -> CrmRecord:
        rid = str(raw.get("id"))
        props = {str(k): _text(v) for k, v in (raw.get("properties") or {}).items()}
        stamp = parse_stamp(props.get(mod)) or parse_stamp(raw.get("updatedAt"))
        if stamp is None:
            raise CrmError(f"{self.name}: {object_type} {rid} came back without a readable {mod} or updatedAt")
        return CrmRecord(object_type, rid, stamp, props)

    # ----------------------------------------------------------------- reads
    def search_modified(self, object_type: str, properties: Sequence[str], since: datetime | None, *,
                        page_size: int = 100) -> Iterator[list[CrmRecord]]:
        """Yield pages (never empty) of the ``object_type`` records modified at or after ``since`` (all when None),
        oldest first by the modification property, which every record's properties include. Each page is a new
        query from the last stamp read (keyset paging, see the module docstring); no id comes twice within one read
        but a record edited during the read, which comes again with its new stamp."""
        mod = modified_property(object_type)
        props = list(dict.fromkeys([*properties, mod]))
        size = max(1, min(int(page_size), MAX_PAGE, self.search_cap))
        path, what = f"/crm/v3/objects/{object_type}/search", f"search {object_type}"
        low = None if since is None else _ms(since)  # the window's lower bound: `since`, then the last stamp read
        strict = False  # GT low (after a stamp read whole by id) instead of GTE
        seen: set[str] = set()  # the ids yielded at stamp `low`, which the next GTE query returns again
        stamp: int | None = None  # stamp mode: the records of one stamp (== low), by id
        last_id: int | None = None
        while True:
            state = (low, strict, stamp, last_id, len(seen))
            if stamp is None:
                filters = [] if low is None else [{"propertyName": mod, "operator": "GT" if strict else "GTE",
                                                   "value": str(low)}]
                sort = {"propertyName": mod, "direction": "ASCENDING"}
            else:
                filters = [{"propertyName": mod, "operator": "EQ", "value": str(stamp)}]
                if last_id is not None:
                    filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)})
                sort = {"propertyName": "hs_object_id", "direction": "ASCENDING"}
            body: dict[str, Any] = {"filterGroups": [{"filters": filters}] if filters else [], "sorts": [sort],
                                    "properties": props, "limit": size}
            data = self._call("POST", path, json_body=body, limiter="search", what=what)
            records = [self._to_record(object_type, r, mod) for r in data.get("results") or []]
            full = len(records) >= size
            # records outside the window asked for (a server ignoring the filters) are neither yielded nor progress
            if stamp is not None:
                inside = [r for r in records
                          if _ms(r.modified_at) == stamp and (last_id is None or int(r.id) > last_id)]
                fresh = [r for r in inside if r.id not in seen]
                if fresh:
                    yield fresh
                if not full:  # that stamp is read whole: go on after it
                    low, strict, seen, stamp, last_id = stamp, True, set(), None, None
                elif inside:
                    last_id = max(int(r.id) for r in inside)
            else:
                inside = [r for r in records if low is None
                          or (_ms(r.modified_at) > low if strict else _ms(r.modified_at) >= low)]
                fresh = [r for r in inside if strict or _ms(r.modified_at) != low or r.id not in seen]
                if fresh:
                    yield fresh
                    top = max(_ms(r.modified_at) for r in fresh)
                    at_top = {r.id for r in fresh if _ms(r.modified_at) == top}
                    if top == low and not strict:
                        seen |= at_top
                    else:
                        low, strict, seen = top, False, at_top
                stamps = {_ms(r.modified_at) for r in inside}
                if full and len(inside) == len(records) and len(stamps) == 1:
                    # a whole page at one stamp: more records may share it than a page holds, and a query sorted by
                    # the stamp alone may return the same ones again; read that stamp by id (skipping `seen`)
                    stamp, last_id = stamps.pop(), None
                elif not fresh and not full:
                    return  # no record that was not already yielded: the read is complete
                # a full page of nothing new at several stamps: only a server ignoring the window (the guard below)
            if (low, strict, stamp, last_id, len(seen)) == state:  # a server ignoring the filters: stop, not loop
                raise CrmError(f"{self.name}: POST {self.transport.url(path)} ({what}): the search returned the same "
                               "window again; stopping instead of looping")

    def associations(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """Return from-id -> ids of the associated ``to_type`` records (every id asked for; [] when none), read by
        the v4 batch API, 1,000 ids a request, following each record's paging."""
        wanted = list(dict.fromkeys(str(i) for i in ids))
        out: dict[str, list[str]] = {i: [] for i in wanted}
        path = f"/crm/v4/associations/{from_type}/{to_type}/batch/read"
        what = f"read {from_type} -> {to_type} associations"
        for chunk in _chunks(wanted, ASSOCIATION_BATCH):
            pending: list[dict[str, str]] = [{"id": i} for i in chunk]
            seen: set[tuple[str, str]] = set()
            while pending:
                data = self._call("POST", path, json_body={"inputs": pending}, what=what)
                pending = []
                for result in data.get("results") or []:
                    fid = str((result.get("from") or {}).get("id"))
                    linked = out.setdefault(fid, [])
                    for to in result.get("to") or []:
                        tid = str(to.get("toObjectId"))
                        if tid not in linked:
                            linked.append(tid)
                    nxt = (((result.get("paging") or {}).get("next")) or {}).get("after")
                    if nxt:
                        if (fid, str(nxt)) in seen:
                            raise CrmError(f"{self.name}: POST {path} ({what}): the same page of {from_type} {fid} "
                                           "came back twice")
                        seen.add((fid, str(nxt)))
                        pending.append({"id": fid, "after": str(nxt)})
        return out

    def read_records(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> dict[str, CrmRecord]:
        """Return id -> record with ``properties``, read by batch/read 100 ids a request (ids the portal no longer
        has are absent): the contacts of a page of Leads-object records."""
        mod = modified_property(object_type)
        wanted = list(dict.fromkeys(str(i) for i in ids))
        asked = set(wanted)
        props = list(dict.fromkeys([*properties, mod]))
        out: dict[str, CrmRecord] = {}
        path, what = f"/crm/v3/objects/{object_type}/batch/read", f"batch read {object_type}"
        for chunk in _chunks(wanted, BATCH):
            data = self._call("POST", path, json_body={"properties": props, "inputs": [{"id": i} for i in chunk]},
                              what=what)
            for raw in data.get("results") or []:
                if str(raw.get("id")) in asked:
                    out[str(raw.get("id"))] = self._to_record(object_type, raw, mod)
        return out

    def read_modified_at(self, object_type: str, ids: Sequence[str]) -> dict[str, datetime]:
        """Return id -> current modification stamp, read by batch/read 100 ids a request; ids the portal no longer
        has (deleted, or merged into another record) are absent."""
        mod = modified_property(object_type)
        wanted = list(dict.fromkeys(str(i) for i in ids))
        asked = set(wanted)
        out: dict[str, datetime] = {}
        path, what = f"/crm/v3/objects/{object_type}/batch/read", f"batch read {object_type}"
        for chunk in _chunks(wanted, BATCH):
            data = self._call("POST", path, json_body={"properties": [mod], "inputs": [{"id": i} for i in chunk]},
                              what=what)
            for raw in data.get("results") or []:
                rid = str(raw.get("id"))
                stamp = parse_stamp((raw.get("properties") or {}).get(mod)) or parse_stamp(raw.get("updatedAt"))
                if rid in asked and stamp is not None:
                    out[rid] = stamp
        return out

    def owners(self) -> dict[str, str]:
        """Return owner id -> lowercased email of the portal's active owners (users)."""
        out: dict[str, str] = {}
        after: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"limit": OWNERS_PAGE, "archived": "false"}
            if after:
                params["after"] = after
            data = self._call("GET", "/crm/v3/owners", params=params, what="list owners")
            for owner in data.get("results") or []:
                email = str(owner.get("email") or "").strip().lower()
                if owner.get("id") is not None and email:
                    out[str(owner["id"])] = email
            nxt = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not nxt:
                return out
            if str(nxt) in seen:
                raise CrmError(f"{self.name}: GET /crm/v3/owners (list owners): the cursor {nxt!r} came back twice")
            seen.add(str(nxt))
            after = str(nxt)

    # ----------------------------------------------------------------- writes
    def update(self, object_type: str, updates: Mapping[str, Mapping[str, str | None]]) -> list[RecordResult]:
        """Write ``updates`` (id -> property -> text; None clears the property) by batch/update, 100 records a
        request; returns one :class:`RecordResult` per id, in input order. Raises CrmAuthError (the run must stop)."""
        items = [(str(rid), {str(k): "" if v is None else str(v) for k, v in props.items()})
                 for rid, props in updates.items()]
        done: dict[str, RecordResult] = {}
        for chunk in _chunks(items, BATCH):
            done.update(self._update_batch(object_type, list(chunk)))
        return [done[rid] for rid, _ in items]

    def _describe(self, err: Mapping[str, Any]) -> str:
        """One line "CATEGORY: message" of an error body, the property problems spelled out, redacted."""
        category = str(err.get("category") or err.get("errorType") or err.get("status") or "ERROR")
        details = _validation_details(err)
        message = ("; ".join(f"{m} ({c})" if c else m for _, m, c in details) if details
                   else str(err.get("message") or "no message"))
        line = " ".join(self.transport.redact(f"{category}: {message}").split())
        return line if len(line) <= _ERROR_LINE else line[:_ERROR_LINE - 3] + "..."

    def _update_batch(self, object_type: str, chunk: list[tuple[str, dict[str, str]]]) -> dict[str, RecordResult]:
        path, what = f"/crm/v3/objects/{object_type}/batch/update", f"batch update {object_type}"
        mod = modified_property(object_type)
        asked = {rid for rid, _ in chunk}
        try:
            data = self._call("POST", path, json_body={"inputs": [{"id": rid, "properties": p} for rid, p in chunk]},
                              what=what)
        except CrmAuthError:
            raise
        except CrmError as exc:
            if exc.retryable:
                body = exc.body if isinstance(exc.body, dict) else None
                line = (f"HTTP {exc.status}: {self._describe(body)}" if body and exc.status
                        else " ".join(self.transport.redact(str(exc)).split()))
                return {rid: RecordResult(rid, False, line[:_ERROR_LINE], retryable=True) for rid, _ in chunk}
            return self._rejected(object_type, chunk, exc)
        out: dict[str, RecordResult] = {}
        for raw in data.get("results") or []:
            rid = str(raw.get("id"))
            if rid in asked:
                stamp = parse_stamp(raw.get("updatedAt")) or parse_stamp((raw.get("properties") or {}).get(mod))
                out[rid] = RecordResult(rid, True, modified_at=stamp)
        unattributed = None
        for err in data.get("errors") or []:
            line = self._describe(err)
            ids = [str(i) for i in ((err.get("context") or {}).get("ids") or [])]
            if not ids:
                unattributed = line
            for rid in ids:
                if rid in asked and rid not in out:
                    out[rid] = RecordResult(rid, False, line, retryable=False)
        for rid, _ in chunk:
            if rid not in out:  # neither applied nor refused by name: sending it again is safe (values are set)
                out[rid] = RecordResult(rid, False, unattributed or "HubSpot returned no outcome for this record",
                                        retryable=True)
        return out

    def _rejected(self, object_type: str, chunk: list[tuple[str, dict[str, str]]], exc: CrmError) -> dict[str, RecordResult]:
        """A batch refused whole (4xx): fail the records the error names (unknown ids, properties the portal does not
        define) and send the others again without them; when it names none, every record fails with it."""
        body = exc.body if isinstance(exc.body, dict) else {}
        line = self._describe(body) if body else " ".join(self.transport.redact(str(exc)).split())[:_ERROR_LINE]
        category = str(body.get("category") or f"HTTP {exc.status}")
        culprits: dict[str, str] = {}
        asked = {rid for rid, _ in chunk}
        for rid in (body.get("context") or {}).get("ids") or []:
            if str(rid) in asked:
                culprits[str(rid)] = line
        problems = {name: (message, code) for name, message, code in _validation_details(body)}
        if problems:
            for rid, props in chunk:
                bad = [name for name in props if name in problems]
                if bad:
                    culprits[rid] = self._describe({"category": category, "message": "; ".join(
                        f"{problems[n][0]} ({problems[n][1]})" if problems[n][1] else problems[n][0] for n in bad)})
        if exc.status == 400 and culprits and len(culprits) < len(chunk):
            out = self._update_batch(object_type, [(rid, p) for rid, p in chunk if rid not in culprits])
            out.update({rid: RecordResult(rid, False, text, retryable=False) for rid, text in culprits.items()})
            return out
        return {rid: RecordResult(rid, False, culprits.get(rid, line), retryable=False) for rid, _ in chunk}
