"""Salesforce: a thin typed client of the documented REST endpoints leadops needs, on the shared request loop.

* Reads: SOQL through ``GET /services/data/vXX.X/query`` and each ``nextRecordsUrl`` (batches of up to 2,000
  records from the cursor opened by the query): records modified since a watermark
  (:meth:`SalesforceClient.query_modified`), the modification stamps of given records
  (:meth:`~SalesforceClient.read_modified_at`), the active users' emails (:meth:`~SalesforceClient.users`).
* Writes: up to ``bulk_above`` records through sObject Collections (``PATCH composite/sobjects``, 200 a call,
  ``allOrNone: false``, one SaveResult per record in input order); above it, one Bulk API 2.0 update job (CSV upload,
  ``UploadComplete``, poll, then the successful and failed results files). Either way the caller gets one
  :class:`~leadops.crm.records.RecordResult` per record, in input order.
* The org's daily API allocation: every response's ``Sforce-Limit-Info: api-usage=USED/MAX`` is read
  (:attr:`SalesforceClient.api_usage`); once ``USED`` reaches ``MAX * (1 - daily_reserve)`` the client refuses to send
  more (a retryable :class:`~leadops.crm.http.CrmError`: the run stops cleanly, the next one continues) so other
  integrations of the org keep their share. A 403 ``REQUEST_LIMIT_EXCEEDED`` is the same error at once, never retried.
* Auth: a bearer access token; when there is none, or Salesforce answers 401 ``INVALID_SESSION_ID``, a connected app's
  client id and secret get a new one from ``{instance_url}/services/oauth2/token`` (the refresh-token grant when a
  refresh token is configured, else client credentials). Every token is registered with :mod:`leadops.redact`; no
  message quotes a token or the client secret.

Why not simple-salesforce: it owns its session and request loop, so the connector's shared rate limiter (one per org,
across threads and workers) could not gate each request, its retries and Retry-After handling would differ from the
HubSpot connector's, it returns the raw SaveResult lists and Bulk API 2.0 CSVs rather than per-record outcomes the
write-back can act on, and it offers no hook to read Sforce-Limit-Info on every response. What is used of Salesforce
here is small enough to write against the documented shapes directly.

Values the client puts into SOQL are formatted by it: ids are checked against Salesforce's id shape (15 or 18 letters
and digits) and quoted, datetimes are written as UTC literals; object and field names must be plain API names. The
``where`` condition of :meth:`~SalesforceClient.query_modified` comes from sources.yaml (trusted configuration) and is
inserted as written, in parentheses.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests

from leadops.crm.credentials import SalesforceAuth
from leadops.crm.http import CrmAuthError, CrmError, Limiter, Transport
from leadops.crm.records import CrmRecord, RecordResult
from leadops.redact import register

__all__ = ["RETRYABLE_CODES", "SalesforceClient", "soql_datetime", "soql_string"]

#: record-level status codes a later attempt may get past (a lock held by another transaction, a timeout)
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG", "SERVER_UNAVAILABLE", "QUERY_TIMEOUT"})
COLLECTION_SIZE = 200  # sObject Collections takes up to 200 records a call
IN_CHUNK = 200  # ids per ``Id IN (...)`` query
POLL_FIRST, POLL_CAP = 0.5, 10.0  # seconds between polls of a bulk job: 0.5, 1, 2, ... 10
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")
_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")
_NO_SUCH_COLUMN = re.compile(r"No such column '([^']+)'")
_FIELD_NOT_FOUND = re.compile(r"Field name not found\s*:\s*([A-Za-z0-9_.]+)")
_BULK_ERROR = re.compile(r"^([A-Z][A-Z0-9_]*):(.*?)(?::[^:]*--)?\s*$", re.DOTALL)
_DONE_STATES = ("JobComplete", "Failed", "Aborted")
_MISSING = object()


def soql_string(value: str) -> str:
    """Return ``value`` as a SOQL string literal (quoted, backslashes, quotes and line breaks escaped)."""
    escaped = (value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
               .replace("\t", "\\t"))
    return f"'{escaped}'"


def soql_datetime(value: datetime) -> str:
    """Return a timezone-aware datetime as a SOQL dateTime literal in UTC, cut to the second (``2026-12-06T10:00:00Z``;
    SOQL has no fractional seconds, and cutting keeps a ``>=`` condition inclusive)."""
    if value.tzinfo is None:
        raise ValueError(f"a SOQL datetime must be timezone-aware, got {value!r}")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    """A field's value as CrmRecord carries it: text as is, numbers and booleans as their JSON text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "attributes"}
    return json.dumps(value)


def _dig(record: Mapping[str, Any], name: str) -> Any:
    """A field of a query record: ``Email``, or ``Account.Name`` from the nested relationship (API names are matched
    without regard to case, as SOQL does)."""
    value: Any = record
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        if part in value:
            value = value[part]
            continue
        low = part.lower()
        value = next((v for k, v in value.items() if k.lower() == low), None)
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"a datetime written to Salesforce must be timezone-aware, got {value!r}")
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _csv_value(value: Any) -> str:
    """A value in a Bulk API 2.0 CSV: ``#N/A`` sets a field to null (an empty value would leave it unchanged); the
    value is data for Salesforce, not a spreadsheet, so a leading ``=``/``+``/``-``/``@`` stays as written."""
    if value is None or value == "":
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    value = _json_value(value)
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)


def _first_error(body: Any) -> tuple[str, str]:
    """The errorCode and message of a Salesforce error body (``[{"errorCode", "message"}]``)."""
    item = body[0] if isinstance(body, list) and body else body
    if isinstance(item, dict):
        return str(item.get("errorCode") or item.get("statusCode") or item.get("error") or ""), \
            str(item.get("message") or item.get("error_description") or "")
    return "", ""


def _split_bulk_error(text: str) -> tuple[str, str]:
    """``CODE:message:fields --`` (a Bulk API results file's sf__Error) -> (CODE, message)."""
    m = _BULK_ERROR.match(text.strip())
    if m is None:
        return "", text.strip()
    return m.group(1), m.group(2).strip()


class _TokenRefused(CrmAuthError):
    """The token endpoint refused the connected app (raised by the refresh, passed through as is)."""


def _has_field(fields: Mapping[str, object], name: str) -> bool:
    low = name.lower()
    return any(k.lower() == low for k in fields)


class SalesforceClient:
    """One Salesforce org for one connector; thread-safe like its :class:`~leadops.crm.http.Transport`.

    ``limiters`` gate every request (the name is ``"default"``); ``daily_reserve`` is the share of the org's daily API
    allocation left to other integrations; ``bulk_timeout`` the seconds a bulk job is waited for before the write is
    reported retryable (the job may still complete: its records are read again and decided on the next run).
    """

    def __init__(self, name: str, auth: SalesforceAuth, *, api_version: str = "62.0",
                 limiters: Mapping[str, Limiter] | None = None, daily_reserve: float = 0.1, timeout: float = 30.0,
                 max_retries: int = 5, sleep: Callable[[float], None] = time.sleep, bulk_timeout: float = 1800.0) -> None:
        if not re.fullmatch(r"\d+\.\d", api_version):
            raise ValueError(f"Salesforce API version must look like 62.0, got {api_version!r}")
        self.name, self.auth, self.api_version = name, auth, api_version
        self.daily_reserve, self.bulk_timeout = daily_reserve, bulk_timeout
        self._sleep = sleep
        self._token = auth.access_token
        self._old_tokens: list[str] = []
        self._token_lock = threading.Lock()
        self._accept = threading.local()
        #: (used, max) of the org's daily API requests, from the last Sforce-Limit-Info header seen
        self.api_usage: tuple[int, int] | None = None
        self.transport = Transport(name, auth.instance_url, headers=self._headers, secrets=self._secrets,
                                   limiters=limiters, refresh=self._refresh if auth.can_refresh else None,
                                   on_response=self._on_response, timeout=timeout, max_retries=max_retries, sleep=sleep)
        # the token endpoint: no bearer header, no 401 refresh loop, not part of the API allocation
        self._oauth = Transport(name, auth.instance_url, headers=dict, secrets=self._secrets, timeout=timeout,
                                max_retries=max_retries, sleep=sleep)

    @property
    def _base(self) -> str:
        return f"/services/data/v{self.api_version}"

    # ------------------------------------------------------------------ auth, allocation, requests

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        accept = getattr(self._accept, "value", None)
        if accept:
            headers["Accept"] = accept
        return headers

    def _secrets(self) -> list[str]:
        return [*self.auth.secrets(), *([self._token] if self._token else []), *self._old_tokens]

    @contextlib.contextmanager
    def _accepting(self, media_type: str) -> Iterator[None]:
        self._accept.value = media_type
        try:
            yield
        finally:
            self._accept.value = None

    def _on_response(self, resp: requests.Response) -> None:
        m = _USAGE.search(resp.headers.get("Sforce-Limit-Info") or "")
        if m:
            self.api_usage = (int(m.group(1)), int(m.group(2)))

    def _refresh(self) -> None:
        """Get a new access token from the org's token endpoint (refresh-token grant, else client credentials)."""
        auth = self.auth
        if not (auth.client_id and auth.client_secret):
            raise _TokenRefused(f"{self.name}: no access token, and no connected app client id and secret to get one")
        if auth.refresh_token:
            grant = "refresh_token"
            form = {"grant_type": grant, "refresh_token": auth.refresh_token, "client_id": auth.client_id,
                    "client_secret": auth.client_secret}
        else:
            grant = "client_credentials"
            form = {"grant_type": grant, "client_id": auth.client_id, "client_secret": auth.client_secret}
        with self._token_lock:
            try:
                resp = self._oauth.request("POST", "/services/oauth2/token", data=urlencode(form),
                                           content_type="application/x-www-form-urlencoded",
                                           what=f"get an access token ({grant.replace('_', ' ')} grant)")
            except CrmError as exc:
                if exc.status is not None and 400 <= exc.status < 500:
                    code, _ = _first_error(exc.body)
                    raise _TokenRefused(f"{exc}: the connected app could not get an access token ({code or 'refused'}); "
                                        "check its client id, secret and refresh token", status=exc.status,
                                        body=exc.body) from None
                raise
            data = self._oauth.json(resp, "token response")
            token = data.get("access_token") if isinstance(data, dict) else None
            if not isinstance(token, str) or not token:
                raise _TokenRefused(f"{self.name}: the token endpoint answered without an access_token")
            register(token)
            if self._token:
                self._old_tokens.append(self._token)
            self._token = token
            instance = data.get("instance_url")
            if isinstance(instance, str) and instance.startswith(("https://", "http://")):
                self.transport.base_url = instance.rstrip("/")

    def _check_allocation(self, what: str) -> None:
        usage = self.api_usage
        if usage is None:
            return
        used, cap = usage
        if cap > 0 and used >= cap * (1 - self.daily_reserve):
            raise CrmError(f"{self.name}: {what}: the org's daily API allocation is nearly used ({used} of {cap} "
                           f"requests); stopping to keep {self.daily_reserve:.0%} of it for other integrations; the "
                           "next run continues", retryable=True)

    def _request(self, method: str, path: str, *, what: str, json: Any = None, params: Mapping[str, Any] | None = None,
                 data: bytes | str | None = None, content_type: str | None = None,
                 reserve: bool = True) -> requests.Response:
        """Send one API request: the allocation check first (unless ``reserve`` is False: the calls that finish a
        bulk job already started), a token when there is none, then the transport's loop; Salesforce's refusals
        become errors that say what happened."""
        if reserve:
            self._check_allocation(what)
        if self._token is None:
            self._refresh()
        try:
            return self.transport.request(method, path, json=json, params=params, data=data, content_type=content_type,
                                          what=what)
        except _TokenRefused:
            raise
        except CrmAuthError as exc:
            hint = ("the connected app's new token was refused too" if self.auth.can_refresh else
                    "set a new access token, or give the connector a connected app's client id and secret so it can "
                    "get one itself")
            raise CrmAuthError(self.transport.redact(f"{exc}: the Salesforce session expired or is invalid; {hint}"),
                               status=exc.status, body=exc.body) from None
        except CrmError as exc:
            if exc.status == 403 and _first_error(exc.body)[0] == "REQUEST_LIMIT_EXCEEDED":
                usage = f" ({self.api_usage[0]} of {self.api_usage[1]} requests)" if self.api_usage else ""
                raise CrmError(f"{self.name}: {method} {path.split('?', 1)[0]} ({what}): HTTP 403 REQUEST_LIMIT_EXCEEDED: "
                               f"the org's daily API allocation is used up{usage}; the next run continues",
                               status=403, retryable=True, body=exc.body) from None
            raise

    def _json(self, resp: requests.Response, what: str) -> Any:
        return self.transport.json(resp, what)

    # ------------------------------------------------------------------ reads

    def _query(self, soql: str, what: str) -> Iterator[list[dict[str, Any]]]:
        """Run a query and follow its nextRecordsUrl; yields each batch's records (possibly empty)."""
        resp = self._request("GET", f"{self._base}/query", params={"q": soql}, what=what)
        seen: set[str] = set()
        while True:
            data = self._json(resp, what)
            records = data.get("records") if isinstance(data, dict) else None
            if not isinstance(records, list):
                raise CrmError(f"{self.name}: {what}: the query answer has no records list")
            yield [r for r in records if isinstance(r, dict)]
            nxt = data.get("nextRecordsUrl")
            if data.get("done", True) or not nxt:
                return
            if not isinstance(nxt, str) or not nxt.startswith("/services/data/") or nxt in seen:
                raise CrmError(f"{self.name}: {what}: unexpected nextRecordsUrl {str(nxt)[:80]!r}")
            seen.add(nxt)
            resp = self._request("GET", nxt, what=f"{what}, next batch")

    def query_modified(self, sobject: str, fields: Sequence[str], since: datetime | None, *,
                       where: str | None = None) -> Iterator[list[CrmRecord]]:
        """Yield the records of ``sobject`` whose SystemModstamp is at or after ``since`` (all when None), oldest
        first (``ORDER BY SystemModstamp, Id``), one non-empty page per batch Salesforce serves.

        ``properties`` holds ``fields`` as text or None (``Account.Name`` is read from the nested relationship);
        ``where`` is an extra SOQL condition from the connector's configuration, ANDed in parentheses.
        """
        obj = self._object_name(sobject)
        wanted = list(dict.fromkeys(fields))
        for name in wanted:
            if not _FIELD.match(name):
                raise CrmError(f"{self.name}: {name!r} is not a Salesforce field name")
        select = ["Id", "SystemModstamp"]
        select += [f for f in wanted if f.lower() not in {s.lower() for s in select}]
        conditions = []
        if since is not None:
            conditions.append(f"SystemModstamp >= {soql_datetime(since)}")
        if where and where.strip():
            conditions.append(f"({where.strip()})")
        # names checked above, the datetime formatted here, ``where`` is trusted configuration
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        soql = f"SELECT {', '.join(select)} FROM {obj}{clause} ORDER BY SystemModstamp, Id"  # noqa: S608 - see above
        what = f"read {obj} modified since {soql_datetime(since) if since else 'the beginning'}"
        for batch in self._query(soql, what):
            page = [self._record(sobject, r, wanted, what) for r in batch]
            if page:
                yield page

    def _record(self, sobject: str, raw: Mapping[str, Any], fields: Sequence[str], what: str) -> CrmRecord:
        record_id, modified = raw.get("Id"), _parse_time(raw.get("SystemModstamp"))
        if not isinstance(record_id, str) or modified is None:
            raise CrmError(f"{self.name}: {what}: a record without Id or SystemModstamp")
        properties: dict[str, str | None] = {}
        for name in fields:  # the hot loop of a large read: the plain lookup first
            value = raw.get(name, _MISSING)
            if value is _MISSING:
                value = _dig(raw, name)
            properties[name] = value if value is None or type(value) is str else _text(value)
        return CrmRecord(object=sobject, id=record_id, modified_at=modified, properties=properties)

    def read_modified_at(self, sobject: str, ids: Sequence[str]) -> dict[str, datetime]:
        """Return record id -> SystemModstamp for those of ``ids`` that exist (keyed by the id as given, 15 or 18
        characters); a deleted or unknown record is absent. Raises CrmError for a value that is not a Salesforce id."""
        obj = self._object_name(sobject)
        unique = list(dict.fromkeys(self._checked_id(i) for i in ids))
        out: dict[str, datetime] = {}
        for start in range(0, len(unique), IN_CHUNK):
            chunk = unique[start:start + IN_CHUNK]
            given = {i[:15]: i for i in chunk}
            quoted = ", ".join(soql_string(i) for i in chunk)  # ids checked against the id shape, then quoted
            soql = f"SELECT Id, SystemModstamp FROM {obj} WHERE Id IN ({quoted})"  # noqa: S608 - checked and quoted
            what = f"read the modification stamps of {len(chunk)} {obj} records"
            for batch in self._query(soql, what):
                for raw in batch:
                    rid, modified = raw.get("Id"), _parse_time(raw.get("SystemModstamp"))
                    if isinstance(rid, str) and modified is not None:
                        out[given.get(rid[:15], rid)] = modified
        return out

    def users(self) -> dict[str, str]:
        """Return user id -> lowercased email of the org's active users (the owners an SDR can be matched to)."""
        out: dict[str, str] = {}
        for batch in self._query("SELECT Id, Email FROM User WHERE IsActive = true", "read the active users"):
            for raw in batch:
                rid, email = raw.get("Id"), raw.get("Email")
                if isinstance(rid, str) and isinstance(email, str) and email.strip():
                    out[rid] = email.strip().lower()
        return out

    def _object_name(self, sobject: str) -> str:
        if not _NAME.match(sobject):
            raise CrmError(f"{self.name}: {sobject!r} is not a Salesforce object name")
        return sobject

    def _checked_id(self, value: str) -> str:
        if not isinstance(value, str) or not _ID.match(value):
            raise CrmError(f"{self.name}: {str(value)[:40]!r} is not a Salesforce record id (15 or 18 letters and digits)")
        return value

    # ------------------------------------------------------------------ writes

    def update(self, sobject: str, updates: Mapping[str, Mapping[str, object]], *,
               bulk_above: int = 2000) -> list[RecordResult]:
        """Write ``updates`` (record id -> field -> value) and return one result per record, in input order.

        Up to ``bulk_above`` records go through sObject Collections (200 a call), more through one Bulk API 2.0 job.
        A record Salesforce refuses is a failed result (``"STATUS_CODE: message"``; ``retryable`` for a record lock
        and other transient codes); a field the object does not have fails the records that write it, not the others.
        A failure of the whole exchange (an outage that outlasted the retries, the daily allocation, the credentials)
        raises CrmError; the results of the records decided before it are on the error's ``results`` attribute.
        """
        obj = self._object_name(sobject)
        out: dict[str, RecordResult] = {}
        valid: dict[str, Mapping[str, object]] = {}
        for rid, fields in updates.items():
            if not isinstance(rid, str) or not _ID.match(rid):
                out[rid] = RecordResult(str(rid), False, "MALFORMED_ID: not a Salesforce record id", False)
                continue
            bad = next((f for f in fields if not _NAME.match(f)), None)
            if bad is not None:
                out[rid] = RecordResult(rid, False, f"INVALID_FIELD: {bad[:60]!r} is not a Salesforce field name", False)
                continue
            valid[rid] = fields
        try:
            self._write(obj, valid, out, bulk_above)
        except CrmError as exc:
            exc.results = [out[r] for r in updates if r in out]  # type: ignore[attr-defined]
            raise
        return [out[rid] for rid in updates]

    def _write(self, obj: str, items: Mapping[str, Mapping[str, object]], out: dict[str, RecordResult],
               bulk_above: int) -> None:
        if not items:
            return
        if len(items) > bulk_above:
            self._bulk_update(obj, items, out, bulk_above)
            return
        pending = list(items.items())
        for start in range(0, len(pending), COLLECTION_SIZE):
            self._collection_update(obj, pending[start:start + COLLECTION_SIZE], out)

    def _collection_update(self, obj: str, batch: list[tuple[str, Mapping[str, object]]],
                           out: dict[str, RecordResult]) -> None:
        """Send one sObject Collections update. Salesforce reads the body whole before saving anything, so a field
        the object lacks, or a value it cannot read, refuses the request as a whole (400): the records writing that
        field fail and the others are sent again; for any other refusal the batch is halved until the record that
        causes it is alone, and that record fails."""
        if not batch:
            return
        body = {"allOrNone": False,
                "records": [{"attributes": {"type": obj}, "id": rid, **{k: _json_value(v) for k, v in fields.items()}}
                            for rid, fields in batch]}
        what = f"update {len(batch)} {obj} records"
        try:
            resp = self._request("PATCH", f"{self._base}/composite/sobjects", json=body, what=what)
        except CrmAuthError:
            raise
        except CrmError as exc:
            if exc.status != 400:
                raise
            code, message = _first_error(exc.body)
            m = _NO_SUCH_COLUMN.search(message) if code == "INVALID_FIELD" else None
            if m is not None and any(_has_field(f, m.group(1)) for _, f in batch):
                rest = []
                for rid, fields in batch:
                    if _has_field(fields, m.group(1)):
                        out[rid] = RecordResult(rid, False, f"INVALID_FIELD: {message}", False)
                    else:
                        rest.append((rid, fields))
                self._collection_update(obj, rest, out)
            elif len(batch) > 1:
                half = len(batch) // 2
                self._collection_update(obj, batch[:half], out)
                self._collection_update(obj, batch[half:], out)
            else:
                rid = batch[0][0]
                out[rid] = RecordResult(rid, False, f"{code}: {message}" if code else str(exc), False)
            return
        data = self._json(resp, what)
        if not isinstance(data, list) or len(data) != len(batch):
            raise CrmError(f"{self.name}: {what}: expected {len(batch)} save results, got "
                           f"{len(data) if isinstance(data, list) else type(data).__name__}", retryable=True)
        for (rid, _), item in zip(batch, data, strict=True):
            out[rid] = self._save_result(rid, item)

    def _save_result(self, rid: str, item: Any) -> RecordResult:
        if isinstance(item, dict) and item.get("success"):
            return RecordResult(rid, True)
        errors = [e for e in (item.get("errors") if isinstance(item, dict) else None) or [] if isinstance(e, dict)]
        if not errors:
            return RecordResult(rid, False, "UNKNOWN: Salesforce did not save the record and gave no reason", True)
        text = "; ".join(f"{e.get('statusCode') or 'UNKNOWN'}: {e.get('message') or ''}".rstrip(": ") for e in errors)
        retryable = all(e.get("statusCode") in RETRYABLE_CODES for e in errors)
        return RecordResult(rid, False, self.transport.redact(text), retryable)

    def _bulk_update(self, obj: str, items: Mapping[str, Mapping[str, object]], out: dict[str, RecordResult],
                     bulk_above: int) -> None:
        columns: dict[str, str] = {}  # lowercased -> as first written
        for fields in items.values():
            for name in fields:
                columns.setdefault(name.lower(), name)
        header = ["Id", *(name for low, name in columns.items() if low != "id")]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")  # quotes what needs quoting; values are never altered
        writer.writerow(header)
        for rid, fields in items.items():
            lowered = {k.lower(): v for k, v in fields.items()}
            writer.writerow([rid, *(_csv_value(lowered[n.lower()]) if n.lower() in lowered else "" for n in header[1:])])
        what = f"bulk update of {len(items)} {obj} records"
        resp = self._request("POST", f"{self._base}/jobs/ingest", what=f"{what}: create the job",
                             json={"object": obj, "operation": "update", "contentType": "CSV", "lineEnding": "LF",
                                   "columnDelimiter": "COMMA"})
        job = self._json(resp, what)
        job_id = job.get("id") if isinstance(job, dict) else None
        if not isinstance(job_id, str) or not _ID.match(job_id):
            raise CrmError(f"{self.name}: {what}: the job creation answered without a job id")
        what = f"{what} (job {job_id})"
        path = f"{self._base}/jobs/ingest/{job_id}"
        # from here the job exists: finishing it is not stopped by the daily reserve (a handful of calls)
        self._request("PUT", f"{path}/batches", data=buf.getvalue().encode("utf-8"), content_type="text/csv",
                      what=f"{what}: upload", reserve=False)
        self._request("PATCH", path, json={"state": "UploadComplete"}, what=f"{what}: close", reserve=False)
        info = self._poll(path, what)
        state = str(info.get("state"))
        if state != "JobComplete":
            message = self.transport.redact(str(info.get("errorMessage") or f"the job ended {state}"))
            m = _FIELD_NOT_FOUND.search(message)
            if m is not None and any(_has_field(f, m.group(1)) for f in items.values()):
                rest = {}
                for rid, fields in items.items():
                    if _has_field(fields, m.group(1)):
                        out[rid] = RecordResult(rid, False, f"INVALID_FIELD: {message}", False)
                    else:
                        rest[rid] = fields
                self._write(obj, rest, out, bulk_above)
                return
            for rid in items:
                out[rid] = RecordResult(rid, False, f"bulk job {state}: {message}", True)
            return
        for row in self._results(f"{path}/successfulResults/", f"{what}: successful results"):
            rid = row.get("Id") or ""
            if rid in items:
                out[rid] = RecordResult(rid, True)
        for row in self._results(f"{path}/failedResults/", f"{what}: failed results"):
            rid = row.get("Id") or ""
            if rid in items:
                code, message = _split_bulk_error(row.get("sf__Error") or "")
                text = self.transport.redact(f"{code}: {message}" if code else message or "the record failed")
                out[rid] = RecordResult(rid, False, text, code in RETRYABLE_CODES)
        for rid in items:
            if rid not in out:
                out[rid] = RecordResult(rid, False, "not processed by the bulk job", True)

    def _poll(self, path: str, what: str) -> dict[str, Any]:
        waited, attempt = 0.0, 0
        while True:
            info = self._json(self._request("GET", path, what=f"{what}: status", reserve=False), what)
            if not isinstance(info, dict):
                raise CrmError(f"{self.name}: {what}: the job status is not a JSON object")
            state = info.get("state")
            if state in _DONE_STATES:
                return info
            if waited >= self.bulk_timeout:
                raise CrmError(f"{self.name}: {what}: still {state} after {waited:.0f} s; the job may yet complete, "
                               "its records are checked again on the next run", retryable=True)
            delay = min(POLL_FIRST * 2 ** attempt, POLL_CAP)
            self._sleep(delay)
            waited += delay
            attempt += 1

    def _results(self, path: str, what: str) -> list[dict[str, str]]:
        with self._accepting("text/csv"):
            resp = self._request("GET", path, what=what, reserve=False)
        return list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"), newline="")))
