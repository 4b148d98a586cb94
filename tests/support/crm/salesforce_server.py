"""A fake Salesforce org on loopback for tests and benchmarks: real HTTP, the documented request and response shapes.

    with SalesforceServer() as sf:                 # or sf = SalesforceServer().start() ... sf.stop()
        lead = sf.add("Lead", {"Email": "a@x.com", "LastName": "A"}, modstamp="2026-12-06T10:00:00.000+0000")
        sf.add_many("Task", ({"WhoId": lead, "Subject": f"Call {i}"} for i in range(500_000)))
        sf.touch("Lead", lead, Status="Working")   # a CRM-side edit: bumps SystemModstamp and LastModifiedDate
        sf.get("Lead", lead)                       # {"Id": ..., "Email": ..., "SystemModstamp": ...} or None
        sf.define_field("Lead", "Region__c")       # writes to fields not defined fail, as in an org
        sf.expire(sf.token)                        # that token now gets 401 INVALID_SESSION_ID
        sf.fail_next(2, status=503)                # the next 2 API requests: HTTP 503
        sf.lock(lead)                              # its next write fails with UNABLE_TO_LOCK_ROW (retryable)
        sf.used, sf.daily_max = 13_000, 15_000     # the org's daily API allocation (Sforce-Limit-Info)
        sf.stats["query"], sf.stats["api"]         # requests served, per endpoint and in all

``sf.url`` ("http://127.0.0.1:PORT") is both the instance URL and the login host. What is served, as Salesforce
documents it (REST API, Bulk API 2.0 and OAuth guides):

* ``GET /services/data/vXX.X/query?q=SOQL`` -> ``{totalSize, done, records: [{attributes: {type, url}, ...}],
  nextRecordsUrl}``, ``batch_size`` records per batch (2000, or ``Sforce-Query-Options: batchSize=n``); the rest of
  the snapshot taken at query time is served by ``GET nextRecordsUrl`` (``/services/data/vXX.X/query/01g...-2000``).
  The SOQL understood is ``SELECT f, ... FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
  [LIMIT n]`` where ``cond`` combines ``field op literal`` (``= != <> < <= > >=``, ``IN (...)``, ``NOT IN (...)``)
  with AND, OR, NOT and parentheses; literals are quoted strings, ``true``/``false``/``null``, numbers, dates and
  unquoted datetimes (``2026-12-06T10:00:00Z``, ``...+01:00``; no fractional seconds, as in SOQL). Anything else is
  400 ``MALFORMED_QUERY``; an unknown object ``INVALID_TYPE``; an undefined field ``INVALID_FIELD``. A field
  ``Rel.Field`` (``Account.Name``) is served nested (``"Account": {"attributes": ..., "Name": ...}``) from the
  record's flat key ``"Account.Name"``.
* ``PATCH /services/data/vXX.X/composite/sobjects`` ``{allOrNone, records: [{attributes: {type}, id, ...}]}`` (up to
  200, else 400 ``EXCEEDED_ID_LIMIT``) -> 200 ``[{id, success, errors: [{statusCode, message, fields}]}]`` in input
  order (a failed item carries no ``id``, as in the documented example). Per record: ``ENTITY_IS_DELETED``,
  ``INVALID_CROSS_REFERENCE_KEY`` (unknown id), ``MALFORMED_ID``, ``INVALID_FIELD_FOR_INSERT_UPDATE`` (read-only
  field), ``UNABLE_TO_LOCK_ROW`` (injected with ``lock``). A field the object does not define fails the whole
  request, as the body is deserialized before any record is saved: 400 ``[{"message": "No such column 'X' on sobject
  of type Lead", "errorCode": "INVALID_FIELD"}]``; so does a value that is a JSON object or list (400
  ``JSON_PARSER_ERROR``). ``allOrNone: true`` rolls every record back on the first error.
* Bulk API 2.0 ingest (``operation: "update"``, CSV, LF or CRLF): ``POST jobs/ingest`` -> job info (``state:
  "Open"``, id ``750...``); ``PUT jobs/ingest/{id}/batches`` (text/csv with a header row) -> 201; ``PATCH
  jobs/ingest/{id}`` ``{"state": "UploadComplete"}`` (or ``"Aborted"``) -> job info; processing is synchronous, or
  finishes ``bulk_delay`` seconds later (``InProgress`` until then); ``GET jobs/ingest/{id}`` -> ``{state,
  numberRecordsProcessed, numberRecordsFailed, errorMessage, ...}``; ``GET .../successfulResults/`` (``sf__Id,
  sf__Created`` + the uploaded columns) and ``.../failedResults/`` (``sf__Id, sf__Error`` + the uploaded columns;
  ``sf__Error`` is ``CODE:message:fields --``). An empty CSV value leaves the field alone, ``#N/A`` sets it to null.
  A column the object does not define fails the job (``Failed``, ``InvalidBatch : Field name not found : X``);
  ``fail_next_job(message)`` fails the next job processed.
* ``GET /services/data/vXX.X/limits`` -> ``{"DailyApiRequests": {"Max", "Remaining"}, ...}``.
* ``POST /services/oauth2/token`` (form): ``grant_type=client_credentials`` with ``client_id``/``client_secret``, or
  ``grant_type=refresh_token`` with ``refresh_token`` and ``client_id`` -> ``{access_token, signature, scope,
  instance_url, id, token_type: "Bearer", issued_at}``; a wrong client is 400 ``{"error": "invalid_client",
  "error_description": ...}``, an unknown refresh token 400 ``invalid_grant``.

Every API request needs ``Authorization: Bearer <token>`` of a live token (else 401 ``[{"message": "Session expired
or invalid", "errorCode": "INVALID_SESSION_ID"}]``), counts one call of the daily allocation and answers with
``Sforce-Limit-Info: api-usage=USED/MAX``; once ``used >= daily_max`` the answer is 403 ``[{"message": "TotalRequests
Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]``. ``echo_auth=True`` makes every error body quote the
bearer token or client secret it was sent (to prove a client redacts it).

Options for benchmarks (all off by default; Salesforce itself does not answer 429): ``latency`` seconds added to each
API request, ``max_concurrent`` requests processed at once (the others wait), ``max_per_second`` API requests per
second beyond which the answer is 429 with ``Retry-After: 1``.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from operator import itemgetter
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["SalesforceServer", "SoqlError", "id18", "parse_soql", "stamp"]

#: key prefixes of the objects served
PREFIXES = {"Lead": "00Q", "Contact": "003", "Task": "00T", "Event": "00U", "User": "005"}
_COMMON = ("Id", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp",
           "IsDeleted")
STANDARD_FIELDS: dict[str, tuple[str, ...]] = {
    "Lead": ("FirstName", "LastName", "Name", "Email", "Company", "Title", "Phone", "MobilePhone", "Country", "City",
             "State", "Status", "LeadSource", "IsConverted", "Industry", "Website", "NumberOfEmployees", "Rating",
             "Description", "ConvertedContactId"),
    "Contact": ("FirstName", "LastName", "Name", "Email", "Title", "Phone", "MobilePhone", "MailingCountry",
                "MailingCity", "AccountId", "LeadSource", "Description"),
    "Task": ("WhoId", "WhatId", "Subject", "TaskSubtype", "Type", "Status", "IsClosed", "ActivityDate",
             "CompletedDateTime", "Priority", "Description", "CallType", "CallDisposition", "CallDurationInSeconds"),
    "Event": ("WhoId", "WhatId", "Subject", "StartDateTime", "EndDateTime", "ActivityDateTime", "DurationInMinutes",
              "Type", "Description", "Location"),
    "User": ("Email", "IsActive", "Name", "FirstName", "LastName", "Username", "Title"),
}
#: the custom fields leadops writes back by default (an org set up for leadops has them)
LEADOPS_FIELDS = ("LeadOps_Score__c", "LeadOps_Grade__c", "LeadOps_Stage__c", "LeadOps_Routing_Reason__c",
                  "LeadOps_SLA_Status__c")
READ_ONLY = frozenset({"Id", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp",
                       "IsDeleted", "Name", "IsConverted", "ConvertedContactId"})

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_API = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")
_STAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
MAX_COLLECTION = 200
MAX_CURSORS = 200
DEFAULT_TOKEN = "00DFAKE0000000001!AQ4AQ.fake.session.token.0001"
DEFAULT_CLIENT_ID = "3MVG9.fake.leadops.client.id"
DEFAULT_CLIENT_SECRET = "fake-client-secret-5f0c2d"


def id18(id15: str) -> str:
    """Return the 18-character, case-insensitive form of a 15-character Salesforce id (an 18-char id as is)."""
    if len(id15) == 18:
        return id15
    suffix = []
    for start in (0, 5, 10):
        bits = 0
        for j, ch in enumerate(id15[start:start + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << j
        suffix.append(_SUFFIX[bits])
    return id15 + "".join(suffix)


def stamp(value: datetime | str) -> str:
    """Return a datetime as Salesforce writes it: ``2026-12-06T10:00:00.000+0000`` (UTC, milliseconds)."""
    if isinstance(value, str):
        if _STAMP_RE.match(value):
            return value
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _parse_stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --------------------------------------------------------------------------- SOQL


class SoqlError(Exception):
    """A query Salesforce would refuse: ``code`` is the errorCode (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<dt>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d))(?![\w.:])
  | (?P<date>\d{4}-\d\d-\d\d)(?![\w.:])
  | (?P<num>-?\d+(?:\.\d+)?)(?![\w.:])
  | (?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\", "_": "\\_",
            "%": "\\%"}
_KEYWORDS = frozenset({"select", "from", "where", "and", "or", "not", "in", "order", "by", "asc", "desc", "nulls",
                       "first", "last", "limit", "true", "false", "null"})


@dataclass
class Soql:
    """A parsed query: fields, object, condition tree, ORDER BY ``[(field, descending, nulls_last)]``, LIMIT."""

    fields: list[str]
    sobject: str
    where: Any = None
    order: list[tuple[str, bool, bool]] = field(default_factory=list)
    limit: int | None = None


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1]
            if nxt not in _ESCAPES:
                raise SoqlError("MALFORMED_QUERY", f"Invalid string literal '{text}'. Illegal character sequence "
                                                   f"'\\{nxt}' in string literal.")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _tokens(q: str) -> list[tuple[str, Any, int]]:
    out: list[tuple[str, Any, int]] = []
    pos = 0
    while pos < len(q):
        m = _TOKEN.match(q, pos)
        if m is None:
            raise SoqlError("MALFORMED_QUERY", f"ERROR at Row:1:Column:{pos + 1}\nunexpected token: '{q[pos:pos + 12]}'")
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "str":
            out.append(("str", _unescape(text[1:-1]), pos))
        elif kind == "dt":
            out.append(("dt", stamp(text.replace("Z", "+00:00")), pos))
        elif kind == "date":
            out.append(("date", text, pos))
        elif kind == "num":
            out.append(("num", float(text), pos))
        elif kind == "op":
            out.append(("op", "!=" if text == "<>" else text, pos))
        elif kind == "word":
            low = text.lower()
            out.append(("kw", low, pos) if low in _KEYWORDS else ("word", text, pos))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, q: str) -> None:
        self.q, self.toks, self.i = q, _tokens(q), 0

    def peek(self) -> tuple[str, Any, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def fail(self) -> SoqlError:
        tok = self.peek()
        if tok is None:
            return SoqlError("MALFORMED_QUERY", "ERROR at Row:1:Column:1\nunexpected end of query")
        return SoqlError("MALFORMED_QUERY", f"ERROR at Row:1:Column:{tok[2] + 1}\nunexpected token: '{tok[1]}'")

    def take(self, kind: str, value: Any = None) -> Any:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            raise self.fail()
        self.i += 1
        return tok[1]

    def at(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == kind and (value is None or tok[1] == value)

    def parse(self) -> Soql:
        self.take("kw", "select")
        fields = [self.take("word")]
        while self.at("op", ","):
            self.i += 1
            fields.append(self.take("word"))
        self.take("kw", "from")
        query = Soql(fields, self.take("word"))
        if self.at("kw", "where"):
            self.i += 1
            query.where = self.or_expr()
        if self.at("kw", "order"):
            self.i += 1
            self.take("kw", "by")
            while True:
                name = self.take("word")
                desc = False
                if self.at("kw", "asc") or self.at("kw", "desc"):
                    desc = self.take("kw") == "desc"
                nulls_last = desc
                if self.at("kw", "nulls"):
                    self.i += 1
                    nulls_last = self.take("kw") == "last"
                query.order.append((name, desc, nulls_last))
                if not self.at("op", ","):
                    break
                self.i += 1
        if self.at("kw", "limit"):
            self.i += 1
            n = self.take("num")
            if n != int(n) or n < 0:
                raise self.fail()
            query.limit = int(n)
        if self.peek() is not None:
            raise self.fail()
        return query

    def or_expr(self) -> Any:
        parts = [self.and_expr()]
        while self.at("kw", "or"):
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def and_expr(self) -> Any:
        parts = [self.unary()]
        while self.at("kw", "and"):
            self.i += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def unary(self) -> Any:
        if self.at("kw", "not"):
            self.i += 1
            return ("not", self.unary())
        if self.at("op", "("):
            self.i += 1
            inner = self.or_expr()
            self.take("op", ")")
            return inner
        name = self.take("word")
        negate = False
        if self.at("kw", "not"):
            self.i += 1
            negate = True
            if not self.at("kw", "in"):
                raise self.fail()
        if self.at("kw", "in"):
            self.i += 1
            self.take("op", "(")
            values = [self.literal()]
            while self.at("op", ","):
                self.i += 1
                values.append(self.literal())
            self.take("op", ")")
            return ("in", name, values, negate)
        tok = self.peek()
        if tok is None or tok[0] != "op" or tok[1] not in ("=", "!=", "<", "<=", ">", ">="):
            raise self.fail()
        self.i += 1
        return ("cmp", name, tok[1], self.literal())

    def literal(self) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None:
            raise self.fail()
        kind, value, _ = tok
        if kind in ("str", "dt", "date", "num"):
            self.i += 1
            return (kind, value)
        if kind == "kw" and value in ("true", "false"):
            self.i += 1
            return ("bool", value == "true")
        if kind == "kw" and value == "null":
            self.i += 1
            return ("null", None)
        raise self.fail()


def parse_soql(q: str) -> Soql:
    """Parse the SOQL subset of this server (see the module docstring); raises SoqlError."""
    return _Parser(q).parse()


def _is_id_field(name: str) -> bool:
    return name == "Id" or name.endswith("Id")


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _compare(value: Any, op: str, kind: str, lit: Any, id_field: bool) -> bool:
    if kind == "null":
        return (value is None) if op == "=" else (value is not None) if op == "!=" else False
    if value is None:
        return op == "!="
    if kind == "bool":
        got = value if isinstance(value, bool) else str(value).lower() == "true"
        return (got == lit) if op == "=" else (got != lit) if op == "!=" else False
    if kind == "num":
        num = _as_float(value)
        if num is None:
            return op == "!="
        a, b = num, lit
    elif kind == "dt":
        try:
            a, b = stamp(value if isinstance(value, str) else str(value)), lit
        except ValueError:
            return op == "!="
    elif kind == "date":
        a, b = str(value)[:10], lit
    elif id_field:
        a, b = str(value), id18(lit) if len(lit) == 15 and lit.isalnum() else lit
    else:
        a, b = str(value).casefold(), lit.casefold()
        if op in ("<", "<=", ">", ">="):
            a, b = str(value), lit
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _compile(node: Any, canon: Callable[[str], str]) -> Callable[[dict[str, Any]], bool]:
    """Return a predicate over a record's fields for a parsed WHERE tree (field names resolved by ``canon``)."""
    tag = node[0]
    if tag in ("and", "or"):
        parts = [_compile(p, canon) for p in node[1]]
        if tag == "and":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if tag == "not":
        inner = _compile(node[1], canon)
        return lambda r: not inner(r)
    if tag == "in":
        name = canon(node[1])
        id_field = _is_id_field(name)
        values = node[2]
        negate = node[3]
        if all(kind == "str" for kind, _ in values):
            wanted = ({id18(v) if len(v) == 15 and v.isalnum() else v for _, v in values} if id_field
                      else {v.casefold() for _, v in values})

            def member(r: dict[str, Any]) -> bool:
                value = r.get(name)
                if value is None:
                    return False
                return (str(value) if id_field else str(value).casefold()) in wanted
        else:
            def member(r: dict[str, Any]) -> bool:
                return any(_compare(r.get(name), "=", kind, lit, id_field) for kind, lit in values)
        return (lambda r: not member(r)) if negate else member
    _, raw, op, (kind, lit) = node
    name = canon(raw)
    id_field = _is_id_field(name)
    if kind == "dt":
        # the hot path of an incremental read: canonical stamps compare as text
        def dt_cmp(r: dict[str, Any]) -> bool:
            value = r.get(name)
            if isinstance(value, str) and len(value) == 28 and value.endswith("+0000"):
                if op == ">=":
                    return value >= lit
                if op == ">":
                    return value > lit
            return _compare(value, op, kind, lit, id_field)
        return dt_cmp
    return lambda r: _compare(r.get(name), op, kind, lit, id_field)


def _text_of(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: str(r[name])


def _fields_in(node: Any) -> list[str]:
    if node is None:
        return []
    tag = node[0]
    if tag in ("and", "or"):
        return [f for p in node[1] for f in _fields_in(p)]
    if tag == "not":
        return _fields_in(node[1])
    return [node[1]]


# --------------------------------------------------------------------------- the org


@dataclass
class _Job:
    id: str
    object: str
    operation: str
    line_ending: str
    created: str
    api_version: str
    state: str = "Open"
    data: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successes: list[list[str]] = field(default_factory=list)
    failures: list[list[str]] = field(default_factory=list)
    processed: int = 0
    failed: int = 0
    error: str | None = None
    ready_at: float | None = None
    modstamp: str = ""


@dataclass
class _Cursor:
    sobject: str
    fields: list[str]
    rows: list[dict[str, Any]]
    size: int


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    org: SalesforceServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSalesforce/1.0"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle's algorithm and the client's delayed ACK add
        # 40 ms to every keep-alive request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.org._serve(self.command, self.path, self.headers, body)
        if answer is None:  # a dropped connection
            self.close_connection = True
            return
        status, headers, payload = answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()


Answer = tuple[int, dict[str, str], bytes]


def _json(status: int, data: Any, headers: Mapping[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}, json.dumps(data).encode()


def _error(status: int, code: str, message: str, fields: list[str] | None = None) -> Answer:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields:
        item["fields"] = fields
    return _json(status, [item])


class SalesforceServer:
    """An in-memory org of Lead, Contact, Task, Event and User records behind a loopback HTTP server."""

    def __init__(self, token: str | None = DEFAULT_TOKEN, *, client_id: str = DEFAULT_CLIENT_ID,
                 client_secret: str = DEFAULT_CLIENT_SECRET, refresh_token: str | None = None,
                 daily_max: int = 15_000, used: int = 0, batch_size: int = 2000, bulk_delay: float = 0.0,
                 latency: float = 0.0, max_concurrent: int | None = None, max_per_second: float | None = None,
                 custom_fields: Mapping[str, Iterable[str]] | None = None, echo_auth: bool = False,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.token = token
        self.tokens: set[str] = {token} if token else set()
        self.client_id, self.client_secret = client_id, client_secret
        self.refresh_tokens: set[str] = {refresh_token} if refresh_token else set()
        self.daily_max, self.used = daily_max, used
        self.batch_size, self.bulk_delay, self.latency = batch_size, bulk_delay, latency
        self.max_per_second = max_per_second
        self.echo_auth = echo_auth
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stats: Counter[str] = Counter()
        self.log: deque[tuple[str, str]] = deque(maxlen=10_000)
        self._gate = threading.BoundedSemaphore(max_concurrent) if max_concurrent else None
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in PREFIXES}
        self._deleted: dict[str, str] = {}  # id -> object
        self._fields: dict[str, dict[str, str]] = {}  # object -> lowercased name -> API name
        for name in PREFIXES:
            self._fields[name] = {f.lower(): f for f in (*_COMMON, *STANDARD_FIELDS[name])}
        extra = custom_fields if custom_fields is not None else {"Lead": LEADOPS_FIELDS, "Contact": LEADOPS_FIELDS}
        for obj, names in extra.items():
            for name in names:
                self.define_field(obj, name)
        self._counter = itertools.count(1)
        self._last_stamp = ""
        self._locks: Counter[str] = Counter()
        self._faults: deque[tuple[int | None, Any, dict[str, str]]] = deque()
        self._fault_after = 0
        self._job_failures: deque[str] = deque()
        self._cursors: dict[str, _Cursor] = {}
        self._jobs: dict[str, _Job] = {}
        self._window: deque[float] = deque()
        self._http = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._http.org = self
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SalesforceServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), name="fake-salesforce",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._http.server_close()

    def __enter__(self) -> SalesforceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def instance_url(self) -> str:
        return self.url

    # ------------------------------------------------------------------ data helpers

    def _object(self, sobject: str) -> str:
        for name in PREFIXES:
            if name.lower() == sobject.lower():
                return name
        raise KeyError(f"the fake org has no object {sobject!r} (it has {', '.join(PREFIXES)})")

    def define_field(self, sobject: str, name: str) -> None:
        """Define a (custom) field on ``sobject``: from now on it can be written and queried."""
        obj = self._object(sobject)
        with self._lock:
            self._fields[obj].setdefault(name.lower(), name)

    def fields(self, sobject: str) -> set[str]:
        """Return the API names of the fields ``sobject`` defines."""
        return set(self._fields[self._object(sobject)].values())

    def new_id(self, sobject_or_prefix: str) -> str:
        """Return a new 18-character id of an object (``"Lead"``) or key prefix (``"750"``)."""
        prefix = PREFIXES.get(sobject_or_prefix, sobject_or_prefix)
        return id18(f"{prefix}Fk0{next(self._counter):09d}")

    def _next_stamp(self, minimum: str = "") -> str:
        """A write's stamp: the clock, but always after the last stamp issued and after ``minimum``."""
        now = stamp(self.clock())
        floor = max(self._last_stamp, minimum)
        if now <= floor:
            now = stamp(_parse_stamp(floor) + timedelta(milliseconds=1))
        self._last_stamp = now
        return now

    def _canon_keys(self, obj: str, keys: Iterable[str]) -> list[str]:
        known = self._fields[obj]
        out = []
        for key in keys:
            name = known.get(key.lower())
            if name is None:
                name = known[key.lower()] = key
            out.append(name)
        return out

    def add(self, sobject: str, fields: Mapping[str, Any] | None = None, modstamp: datetime | str | None = None) -> str:
        """Store a record and return its new id; its fields become defined fields of the object. ``modstamp`` (or a
        ``SystemModstamp`` among the fields) sets SystemModstamp and LastModifiedDate, else the clock does."""
        return self.add_many(sobject, [fields or {}], modstamp=modstamp)[0]

    def add_many(self, sobject: str, rows: Iterable[Mapping[str, Any]], modstamp: datetime | str | None = None) -> list[str]:
        """Store many records fast (100,000 leads, 500,000 tasks); returns their ids in order."""
        obj = self._object(sobject)
        prefix = PREFIXES[obj]
        # the record number is written in digits (valid base-62 characters), so the case-safe suffix of every id of
        # an object is the same: computed once, not per record (100,000s of records)
        suffix = id18(f"{prefix}Fk0000000000")[15:]
        store = self._records[obj]
        ids: list[str] = []
        keys_cache: dict[tuple[str, ...], list[str]] = {}
        with self._lock:
            # one stamp for the whole call (a bulk import), unless a row brings its own
            fixed = stamp(modstamp) if modstamp is not None else self._next_stamp()
            for row in rows:
                keys = tuple(row)
                names = keys_cache.get(keys)
                if names is None:
                    names = keys_cache[keys] = self._canon_keys(obj, keys)
                record = dict(zip(names, row.values(), strict=True))
                record_id = f"{prefix}Fk0{next(self._counter):09d}{suffix}"
                record["Id"] = record_id
                mod = record.get("SystemModstamp")
                mod = stamp(mod) if mod is not None else fixed
                record["SystemModstamp"] = mod
                record["LastModifiedDate"] = stamp(record["LastModifiedDate"]) if record.get("LastModifiedDate") else mod
                record.setdefault("CreatedDate", mod)
                store[record_id] = record
                ids.append(record_id)
        return ids

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """Return a copy of a record's fields (``None`` when unknown or deleted)."""
        record = self._records[self._object(sobject)].get(id18(record_id))
        return dict(record) if record is not None else None

    def count(self, sobject: str) -> int:
        return len(self._records[self._object(sobject)])

    def touch(self, sobject: str, record_id: str, **fields: Any) -> str:
        """Edit a record as a user in the CRM would: set ``fields`` and bump SystemModstamp; returns the new stamp."""
        obj = self._object(sobject)
        with self._lock:
            store = self._records[obj]
            rid = id18(record_id)
            old = store[rid]
            names = self._canon_keys(obj, fields)
            new = {**old, **dict(zip(names, fields.values(), strict=True))}
            new["SystemModstamp"] = new["LastModifiedDate"] = self._next_stamp(old["SystemModstamp"])
            store[rid] = new  # copy on write: a query cursor keeps the version it read
            return str(new["SystemModstamp"])

    def delete(self, sobject: str, record_id: str) -> None:
        """Delete a record: queries no longer see it and writes to it fail with ENTITY_IS_DELETED."""
        obj = self._object(sobject)
        with self._lock:
            rid = id18(record_id)
            del self._records[obj][rid]
            self._deleted[rid] = obj

    def lock(self, *record_ids: str, times: int = 1) -> None:
        """Make the next ``times`` writes of each record fail with UNABLE_TO_LOCK_ROW."""
        with self._lock:
            for rid in record_ids:
                self._locks[id18(rid)] += times

    # ------------------------------------------------------------------ auth and faults

    def issue_token(self) -> str:
        """Return a new live access token."""
        token = f"00DFAKE0000000001!AQ{secrets.token_urlsafe(24)}"
        with self._lock:
            self.tokens.add(token)
        return token

    def expire(self, token: str | None = None) -> None:
        """End a session (every session when ``token`` is None): its requests get 401 INVALID_SESSION_ID."""
        with self._lock:
            if token is None:
                self.tokens.clear()
            else:
                self.tokens.discard(token)

    def fail_next(self, n: int = 1, status: int | None = 503, *, body: Any = None,
                  headers: Mapping[str, str] | None = None, after: int = 0) -> None:
        """Answer ``n`` API requests with ``status`` (``None``: drop the connection without an answer), starting after
        the next ``after`` requests. ``body`` defaults to Salesforce's error list for the status; ``headers`` are
        added (``Retry-After``)."""
        with self._lock:
            self._fault_after = after
            for _ in range(n):
                self._faults.append((status, body, dict(headers or {})))

    def fail_next_job(self, message: str = "InternalServerError : the job failed to process") -> None:
        """Make the next bulk job processed end in state Failed with ``message`` as its errorMessage."""
        with self._lock:
            self._job_failures.append(message)

    # ------------------------------------------------------------------ HTTP

    def _serve(self, method: str, target: str, headers: Any, body: bytes) -> Answer | None:
        parts = urlsplit(target)
        path = parts.path
        with self._lock:
            self.stats["requests"] += 1
            self.log.append((method, target))
        if path.rstrip("/") == "/services/oauth2/token":
            with self._lock:
                self.stats["token"] += 1
            return self._token(method, body)
        api = _API.match(path)
        if api is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        version, rest = api.group(1), (api.group(2) or "/").rstrip("/") or "/"
        auth = headers.get("Authorization") or ""
        token = auth.split(" ", 1)[1].strip() if auth.lower().startswith(("bearer ", "oauth ")) else ""
        fault = self._take_fault()
        if fault is not None:
            return self._fault(fault, token)
        if token not in self.tokens:
            with self._lock:
                self.stats["unauthorized"] += 1
            message = "Session expired or invalid" + (f": {token}" if self.echo_auth and token else "")
            return _error(401, "INVALID_SESSION_ID", message)
        if self.latency:
            time.sleep(self.latency)
        if self.max_per_second is not None and not self._admit():
            with self._lock:
                self.stats["throttled"] += 1
            return _json(429, [{"message": "Too many requests", "errorCode": "TOO_MANY_REQUESTS"}], {"Retry-After": "1"})
        with self._lock:
            if self.used >= self.daily_max:
                self.stats["limit_exceeded"] += 1
                status, hdrs, payload = _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
                                               + (f" ({token})" if self.echo_auth else ""))
                return status, {**hdrs, "Sforce-Limit-Info": f"api-usage={self.used}/{self.daily_max}"}, payload
            self.used += 1
            self.stats["api"] += 1
            usage = f"api-usage={self.used}/{self.daily_max}"
        if self._gate is not None:
            with self._gate:
                status, hdrs, payload = self._route(method, version, rest, parts.query, headers, body)
        else:
            status, hdrs, payload = self._route(method, version, rest, parts.query, headers, body)
        if self.echo_auth and status >= 400 and payload.startswith(b"["):
            data = json.loads(payload)
            for item in data:
                item["message"] = f"{item.get('message', '')} (session {token})"
            payload = json.dumps(data).encode()
        return status, {**hdrs, "Sforce-Limit-Info": usage}, payload

    def _take_fault(self) -> tuple[int | None, Any, dict[str, str]] | None:
        with self._lock:
            if not self._faults:
                return None
            if self._fault_after > 0:
                self._fault_after -= 1
                return None
            self.stats["faults"] += 1
            return self._faults.popleft()

    def _fault(self, fault: tuple[int | None, Any, dict[str, str]], token: str) -> Answer | None:
        status, body, headers = fault
        if status is None:
            return None
        if body is None:
            code = {503: "SERVER_UNAVAILABLE", 500: "UNKNOWN_EXCEPTION"}.get(status, "UNKNOWN_EXCEPTION")
            body = [{"message": "Server temporarily unavailable" + (f" ({token})" if self.echo_auth else ""),
                     "errorCode": code}]
        if isinstance(body, bytes | str):
            payload = body.encode() if isinstance(body, str) else body
            return status, {"Content-Type": headers.pop("Content-Type", "text/plain"), **headers}, payload
        return _json(status, body, headers)

    def _admit(self) -> bool:
        assert self.max_per_second is not None
        now = time.monotonic()
        with self._lock:
            while self._window and now - self._window[0] >= 1.0:
                self._window.popleft()
            if len(self._window) >= self.max_per_second:
                return False
            self._window.append(now)
            return True

    def _route(self, method: str, version: str, rest: str, query: str, headers: Any, body: bytes) -> Answer:
        seg = rest.strip("/").split("/")
        try:
            if seg == ["query"] and method == "GET":
                return self._query(version, parse_qs(query).get("q", [""])[0], headers)
            if len(seg) == 2 and seg[0] == "query" and method == "GET":
                return self._query_more(version, seg[1])
            if seg == ["composite", "sobjects"]:
                if method != "PATCH":
                    return _error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are PATCH")
                return self._collection_update(body)
            if seg[:2] == ["jobs", "ingest"]:
                return self._ingest(method, version, seg[2:], headers, body)
            if seg == ["limits"] and method == "GET":
                with self._lock:
                    self.stats["limits"] += 1
                    return _json(200, {"DailyApiRequests": {"Max": self.daily_max,
                                                            "Remaining": max(self.daily_max - self.used, 0)},
                                       "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000}})
        except SoqlError as exc:
            return _error(400, exc.code, exc.message)
        return _error(404, "NOT_FOUND", "The requested resource does not exist")

    # ------------------------------------------------------------------ query

    def _resolve(self, obj: str, name: str) -> str:
        if "." in name:
            return name
        found = self._fields[obj].get(name.lower())
        if found is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{obj}'. If you are attempting to use a "
                                             "custom field, be sure to append the '__c' after the custom field name. "
                                             "Please reference your WSDL or the describe call for the appropriate names.")
        return found

    def _query(self, version: str, q: str, headers: Any) -> Answer:
        with self._lock:
            self.stats["query"] += 1
        soql = parse_soql(q)
        try:
            obj = self._object(soql.sobject)
        except KeyError:
            raise SoqlError("INVALID_TYPE", f"sObject type '{soql.sobject}' is not supported. If you are attempting to "
                                            "use a custom object, be sure to append the '__c' after the entity name.") from None
        fields = [self._resolve(obj, f) for f in soql.fields]
        for name in _fields_in(soql.where):
            self._resolve(obj, name)
        order = [(self._resolve(obj, f), desc, nulls_last) for f, desc, nulls_last in soql.order]
        match = _compile(soql.where, lambda n: self._resolve(obj, n)) if soql.where is not None else None
        with self._lock:
            records = list(self._records[obj].values())
        rows = [r for r in records if match(r)] if match is not None else records
        for name, desc, nulls_last in reversed(order):
            present = [r for r in rows if r.get(name) is not None]
            absent = [r for r in rows if r.get(name) is None]
            try:
                present.sort(key=itemgetter(name), reverse=desc)
            except TypeError:
                present.sort(key=_text_of(name), reverse=desc)
            rows = present + absent if nulls_last else absent + present
        if soql.limit is not None:
            rows = rows[:soql.limit]
        size = self.batch_size
        options = headers.get("Sforce-Query-Options") or ""
        m = re.search(r"batchSize=(\d+)", options)
        if m:
            size = max(200, min(int(m.group(1)), 2000))
        cursor = _Cursor(obj, fields, rows, size)
        locator = self.new_id("01g")
        with self._lock:
            self._cursors[locator] = cursor
            while len(self._cursors) > MAX_CURSORS:
                self._cursors.pop(next(iter(self._cursors)))
        return self._batch(version, locator, cursor, 0)

    def _query_more(self, version: str, ref: str) -> Answer:
        with self._lock:
            self.stats["query_more"] += 1
            locator, _, offset = ref.rpartition("-")
            cursor = self._cursors.get(locator)
        if cursor is None or not offset.isdigit():
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._batch(version, locator, cursor, int(offset))

    def _batch(self, version: str, locator: str, cursor: _Cursor, offset: int) -> Answer:
        size = cursor.size
        chunk = cursor.rows[offset:offset + size]
        obj, fields = cursor.sobject, cursor.fields
        base = f"/services/data/v{version}/sobjects/{obj}/"
        records = []
        plain = all("." not in name for name in fields)
        for r in chunk:
            if plain:  # the common case, kept cheap for 500,000-record reads
                get = r.get
                records.append({"attributes": {"type": obj, "url": base + r["Id"]}, **{n: get(n) for n in fields}})
                continue
            out: dict[str, Any] = {"attributes": {"type": obj, "url": base + r["Id"]}}
            for name in fields:
                if "." in name:
                    rel, sub = name.split(".", 1)
                    value = r.get(name)
                    if value is None:
                        out.setdefault(rel, None)
                        continue
                    nested = out.get(rel) or {"attributes": {"type": rel, "url": f"/services/data/v{version}/sobjects/{rel}"}}
                    nested[sub] = value
                    out[rel] = nested
                else:
                    out[name] = r.get(name)
            records.append(out)
        done = offset + size >= len(cursor.rows)
        page: dict[str, Any] = {"totalSize": len(cursor.rows), "done": done, "records": records}
        if not done:
            page["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{offset + size}"
        else:
            with self._lock:
                self._cursors.pop(locator, None)
        return _json(200, page)

    # ------------------------------------------------------------------ writes

    def _write_error(self, obj: str, raw_id: Any, values: Mapping[str, Any]) -> tuple[str, str, list[str]] | None:
        """Return (statusCode, message, fields) when writing ``values`` to record ``raw_id`` of ``obj`` fails."""
        rid = str(raw_id or "")
        if not _ID.match(rid):
            return ("MALFORMED_ID", f"{obj} ID: id value of incorrect type: {rid}", ["Id"])
        rid = id18(rid)
        if not rid.startswith(PREFIXES[obj]):
            return ("MALFORMED_ID", f"{obj} ID: id value of incorrect type: {rid}", ["Id"])
        if rid in self._deleted:
            return ("ENTITY_IS_DELETED", "entity is deleted", [])
        if rid not in self._records[obj]:
            return ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        read_only = [name for name in values if name in READ_ONLY]
        if read_only:
            message = (f"Unable to create/update fields: {', '.join(read_only)}. Please check the security settings of "
                       "this field and verify that it is read/write for your profile or permission set.")
            return ("INVALID_FIELD_FOR_INSERT_UPDATE", message, read_only)
        if self._locks.get(rid):
            self._locks[rid] -= 1
            return ("UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record or 1 records: {rid}", [])
        return None

    def _apply(self, obj: str, rid: str, values: Mapping[str, Any]) -> None:
        store = self._records[obj]
        old = store[rid]
        new = {**old, **values}
        new["SystemModstamp"] = new["LastModifiedDate"] = self._next_stamp(old["SystemModstamp"])
        store[rid] = new
        self.stats["records_updated"] += 1

    def _collection_update(self, body: bytes) -> Answer:
        with self._lock:
            self.stats["composite_update"] += 1
        try:
            data = json.loads(body or b"null")
        except ValueError as exc:
            return _error(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}")
        if not isinstance(data, dict) or not isinstance(data.get("records"), list):
            return _error(400, "JSON_PARSER_ERROR", "The request body must be an object with a records list")
        records = data["records"]
        if len(records) > MAX_COLLECTION:
            return _error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into "
                                                    "this call")
        all_or_none = bool(data.get("allOrNone"))
        parsed: list[tuple[str, Any, dict[str, Any]]] = []
        with self._lock:
            # the body is deserialized as a whole before any record is saved: an unknown field fails the request
            for item in records:
                if not isinstance(item, dict):
                    return _error(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
                kind = (item.get("attributes") or {}).get("type")
                try:
                    obj = self._object(str(kind))
                except KeyError:
                    return _error(400, "INVALID_TYPE", f"sObject type '{kind}' is not supported.")
                values: dict[str, Any] = {}
                raw_id = None
                for key, value in item.items():
                    if key == "attributes":
                        continue
                    if key.lower() == "id":
                        raw_id = value
                        continue
                    name = self._fields[obj].get(key.lower())
                    if name is None:
                        return _error(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj}")
                    if isinstance(value, dict | list):
                        return _error(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {name} from "
                                                                f"{'START_OBJECT' if isinstance(value, dict) else 'START_ARRAY'}"
                                                                " value")
                    values[name] = value
                parsed.append((obj, raw_id, values))
            results: list[dict[str, Any]] = []
            applied: list[tuple[str, str, dict[str, Any]]] = []
            for obj, raw_id, values in parsed:
                problem = self._write_error(obj, raw_id, values)
                if problem is not None:
                    code, message, fields = problem
                    results.append({"success": False, "errors": [{"statusCode": code, "message": message,
                                                                  "fields": fields}]})
                    if all_or_none:
                        break
                    continue
                rid = id18(str(raw_id))
                applied.append((obj, rid, dict(self._records[obj][rid])))
                self._apply(obj, rid, values)
                results.append({"id": rid, "success": True, "errors": []})
            if all_or_none and any(not r["success"] for r in results):
                for obj, rid, before in applied:
                    self._records[obj][rid] = before
                rolled = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                          "message": "Record rolled back because not all records were valid and the request was "
                                     "using AllOrNone header", "fields": []}
                out = []
                for i in range(len(parsed)):
                    failed = i < len(results) and not results[i]["success"]
                    out.append(results[i] if failed else {"success": False, "errors": [rolled]})
                results = out
        return _json(200, results)

    # ------------------------------------------------------------------ Bulk API 2.0

    def _job_info(self, job: _Job) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id, "operation": job.operation, "object": job.object, "createdById": "005Fk0000000001AAA",
            "createdDate": job.created, "systemModstamp": job.modstamp or job.created, "state": job.state,
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(job.api_version),
            "jobType": "V2Ingest", "contentUrl": f"services/data/v{job.api_version}/jobs/ingest/{job.id}/batches",
            "lineEnding": job.line_ending, "columnDelimiter": "COMMA", "numberRecordsProcessed": job.processed,
            "numberRecordsFailed": job.failed, "retries": 0, "totalProcessingTime": 0, "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }
        if job.error:
            info["errorMessage"] = job.error
        return info

    def _ingest(self, method: str, version: str, seg: list[str], headers: Any, body: bytes) -> Answer:
        if not seg:
            if method != "POST":
                return _error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are POST")
            return self._create_job(version, body)
        with self._lock:
            job = self._jobs.get(seg[0])
        if job is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        if len(seg) == 1 and method == "GET":
            with self._lock:
                self.stats["bulk_info"] += 1
                if job.state == "InProgress" and job.ready_at is not None and time.monotonic() >= job.ready_at:
                    self._process(job)
                return _json(200, self._job_info(job))
        if len(seg) == 1 and method == "PATCH":
            return self._close_job(job, body)
        if len(seg) == 2 and seg[1] == "batches" and method == "PUT":
            with self._lock:
                self.stats["bulk_upload"] += 1
                if job.state != "Open":
                    return _error(409, "INVALIDJOBSTATE", f"InvalidJobState : the job is {job.state}, not Open")
                job.data.append(body.decode("utf-8"))
            return 201, {}, b""
        if len(seg) == 2 and method == "GET" and seg[1] in ("successfulResults", "failedResults", "unprocessedrecords"):
            with self._lock:
                self.stats["bulk_results"] += 1
                if job.state not in ("JobComplete", "Failed", "Aborted"):
                    return _error(409, "INVALIDJOBSTATE", f"InvalidJobState : the job is {job.state}")
                return self._results(job, seg[1])
        return _error(404, "NOT_FOUND", "The requested resource does not exist")

    def _create_job(self, version: str, body: bytes) -> Answer:
        with self._lock:
            self.stats["bulk_create"] += 1
        try:
            spec = json.loads(body or b"null")
        except ValueError:
            return _error(400, "JSON_PARSER_ERROR", "The request body is not JSON")
        if not isinstance(spec, dict):
            return _error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        try:
            obj = self._object(str(spec.get("object")))
        except KeyError:
            return _error(400, "INVALIDJOB", f"InvalidJob : Invalid object: {spec.get('object')}")
        if spec.get("operation") != "update":
            return _error(400, "INVALIDJOB", f"InvalidJob : operation {spec.get('operation')!r} is not supported "
                                             "by the fake org (update only)")
        if spec.get("contentType", "CSV") != "CSV" or spec.get("columnDelimiter", "COMMA") != "COMMA":
            return _error(400, "INVALIDJOB", "InvalidJob : only CSV with COMMA delimiters is supported")
        ending = spec.get("lineEnding", "LF")
        if ending not in ("LF", "CRLF"):
            return _error(400, "INVALIDJOB", f"InvalidJob : invalid lineEnding {ending}")
        with self._lock:
            now = self._next_stamp()
            job = _Job(self.new_id("750"), obj, "update", ending, now, version)
            self._jobs[job.id] = job
            return _json(200, self._job_info(job))

    def _close_job(self, job: _Job, body: bytes) -> Answer:
        with self._lock:
            self.stats["bulk_state"] += 1
            try:
                state = (json.loads(body or b"null") or {}).get("state")
            except (ValueError, AttributeError):
                return _error(400, "JSON_PARSER_ERROR", "The request body must be {\"state\": ...}")
            if state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
                job.state = "Aborted"
                return _json(200, self._job_info(job))
            if state != "UploadComplete" or job.state != "Open":
                return _error(409, "INVALIDJOBSTATE", f"InvalidJobState : cannot move a {job.state} job to {state}")
            job.state = "UploadComplete"
            info = self._job_info(job)
            if self.bulk_delay > 0:
                job.state = "InProgress"
                job.ready_at = time.monotonic() + self.bulk_delay
            else:
                self._process(job)
            return _json(200, info)

    def _process(self, job: _Job) -> None:
        """Apply a job's CSV (under the lock): per-row results, or the whole job Failed."""
        job.modstamp = self._next_stamp()
        if self._job_failures:
            job.state, job.error = "Failed", self._job_failures.popleft()
            return
        known = self._fields[job.object]
        header: list[str] = []
        rows: list[list[str]] = []
        for chunk in job.data:
            reader = csv.reader(io.StringIO(chunk, newline=""))
            try:
                head = next(reader)
            except StopIteration:
                continue
            except csv.Error as exc:
                job.state, job.error = "Failed", f"InvalidBatch : {exc}"
                return
            for name in head:
                if name.lower() != "id" and name.lower() not in known:
                    job.state, job.error = "Failed", f"InvalidBatch : Field name not found : {name}"
                    return
            if not any(name.lower() == "id" for name in head):
                job.state, job.error = "Failed", "InvalidBatch : the Id column is required for an update"
                return
            if header and head != header:
                job.state, job.error = "Failed", "InvalidBatch : the batches' header rows differ"
                return
            header = head
            rows.extend(reader)
        id_at = next((i for i, name in enumerate(header) if name.lower() == "id"), 0)
        names = [known.get(name.lower(), name) for name in header]
        job.header = header
        for row in rows:
            if not row:
                continue
            if len(row) != len(header):
                job.failures.append(["", "INVALID_FIELD:the row has a different number of values than the header:--",
                                     *row])
                job.failed += 1
                job.processed += 1
                continue
            values: dict[str, Any] = {}
            for i, (name, value) in enumerate(zip(names, row, strict=True)):
                if i == id_at or value == "":
                    continue
                values[name] = None if value == "#N/A" else value
            raw_id = row[id_at]
            problem = self._write_error(job.object, raw_id, values)
            job.processed += 1
            if problem is not None:
                code, message, fields = problem
                where = f"{' '.join(fields)} --" if fields else "--"
                job.failures.append([raw_id, f"{code}:{message}:{where}", *row])
                job.failed += 1
                continue
            rid = id18(raw_id)
            self._apply(job.object, rid, values)
            job.successes.append([rid, "false", *row])
        job.state = "JobComplete"

    def _results(self, job: _Job, kind: str) -> Answer:
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        if kind == "successfulResults":
            writer.writerow(["sf__Id", "sf__Created", *job.header])
            writer.writerows(job.successes)
        elif kind == "failedResults":
            writer.writerow(["sf__Id", "sf__Error", *job.header])
            writer.writerows(job.failures)
        else:
            writer.writerow(job.header)
        return 200, {"Content-Type": "text/csv"}, out.getvalue().encode("utf-8")

    # ------------------------------------------------------------------ OAuth

    def _token(self, method: str, body: bytes) -> Answer:
        if method != "POST":
            return _json(405, {"error": "invalid_request", "error_description": "must use HTTP POST"})
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        grant = form.get("grant_type")
        secret = form.get("client_secret", "")
        if grant not in ("client_credentials", "refresh_token"):
            return _json(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        if form.get("client_id") != self.client_id or (grant == "client_credentials" and secret != self.client_secret) \
                or (secret and secret != self.client_secret):
            description = "invalid client credentials" + (f": {secret}" if self.echo_auth else "")
            return _json(400, {"error": "invalid_client", "error_description": description})
        if grant == "refresh_token" and form.get("refresh_token") not in self.refresh_tokens:
            description = "expired access/refresh token" + (f": {form.get('refresh_token')}" if self.echo_auth else "")
            return _json(400, {"error": "invalid_grant", "error_description": description})
        token = self.issue_token()
        with self._lock:
            self.stats["tokens_issued"] += 1
        return _json(200, {"access_token": token, "signature": secrets.token_urlsafe(32), "scope": "api",
                           "instance_url": self.url, "id": f"{self.url}/id/00DFk0000000001EAA/005Fk0000000001AAA",
                           "token_type": "Bearer", "issued_at": str(int(time.time() * 1000))})
