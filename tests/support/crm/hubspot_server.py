"""A HubSpot portal on loopback for tests and benchmarks: real HTTP, the documented request and response shapes,
an in-memory store, rate limits, token expiry and scripted faults.

    with HubSpotServer(tokens={"pat-1"}, window_seconds=0.5, search_cap=50) as hs:
        cid = hs.add("contacts", {"email": "ana@forge.fr"}, modified_at="2026-11-20T10:00:00Z")
        call = hs.add("calls", {"hs_call_status": "COMPLETED"})
        hs.associate("calls", call, "contacts", cid)
        hs.touch("contacts", cid, firstname="Ana")        # a CRM-side edit: the stamp moves to now
        ids = hs.generate("contacts", 100_000)            # bulk, lazily materialized (benchmarks)
        hs.expire("pat-1"); hs.fail_next(2, status=503); hs.latency = 0.01
        hs.stats["SECONDLY"]["throttled"]                  # 429s answered by the search policy
        ... client = HubSpotClient("hs", hs.url, HubSpotAuth("pat-1"))

Endpoints (shapes as documented by HubSpot's CRM v3/v4 references, the search guide, the API usage guidelines and
the OAuth reference; checked against public examples of real responses):

* ``POST /crm/v3/objects/{objectType}/search``: ``filterGroups`` (OR of groups, AND within one; operators EQ,
  NEQ, GT, GTE, LT, LTE, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY; dates as epoch milliseconds or ISO 8601),
  one sort at most, ``properties``, ``limit`` (at most 200), ``after``. Answers ``{total, results, paging}``
  (no ``paging`` on the last page). A query cannot page past ``search_cap`` results (10,000 as documented):
  ``after >= search_cap`` is a 400 ``VALIDATION_ERROR``. Searches are limited by their own policy
  (``SECONDLY``: ``search_per_second``, 4 by default as documented for private apps).
* ``POST /crm/v3/objects/{objectType}/batch/read`` (100 inputs): 200 ``COMPLETE``, or 207 with ``errors``
  (``OBJECT_NOT_FOUND``, ``context.ids``) and ``numErrors`` when some ids are unknown.
* ``POST /crm/v3/objects/{objectType}/batch/update`` (100 inputs; more, or duplicate ids: 400). Unknown ids:
  207 with ``OBJECT_NOT_FOUND`` errors, the other records applied. A property the portal does not define, or a
  read-only one: with ``invalid_property="batch"`` (the default, what HubSpot does) the whole batch fails with a
  400 ``VALIDATION_ERROR`` "Property values were not valid: [...PROPERTY_DOESNT_EXIST...]" and nothing is
  applied; with ``invalid_property="record"`` only those records fail (207, per-record ``VALIDATION_ERROR``).
* ``POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read`` (1,000 inputs): ``results`` of
  ``{from: {id}, to: [{toObjectId, associationTypes}], paging?}`` (``association_page_size`` per record, then a
  ``paging.next.after`` to send back with the id); ids without associations are 207 errors.
* ``GET /crm/v3/owners?limit=&after=`` (``limit`` at most 500).
* ``POST /oauth/v1/token`` (form: ``grant_type=refresh_token``, ``client_id``, ``client_secret``,
  ``refresh_token``): ``{token_type, access_token, refresh_token, expires_in}``; a new access token is valid at
  once. Not rate-limited, no bearer token.

Authentication: ``Authorization: Bearer <token>`` against ``tokens``; an expired one (:meth:`expire`) gets 401
``EXPIRED_AUTHENTICATION``, an unknown or missing one 401 ``INVALID_AUTHENTICATION`` (the documented bodies).

Rate limits: each policy allows ``limit`` requests per ``window`` seconds to the portal, as a continuously
refilled allowance of ``limit`` requests (a token bucket: a client spacing its requests ``window / limit``
apart is never refused, whatever the network jitter; a burst of ``limit`` passes). Over it: 429 with the
documented body (``errorType: RATE_LIMIT``, ``policyName``: ``TEN_SECONDLY_ROLLING`` for general calls,
``SECONDLY`` for searches). HubSpot documents no ``Retry-After``; set ``retry_after`` to send one. General calls
carry ``X-HubSpot-RateLimit-Max`` / ``-Remaining`` / ``-Interval-Milliseconds``; searches carry none (as
HubSpot). ``stats`` counts, per policy, the requests served and refused, and when the first and last came, so a
benchmark can compute the share of the allowance it used (:meth:`used_share`).

Faults (:meth:`fail_next`) are served first, in order, whatever the request (no auth check, no allowance used);
``latency`` delays every answer. ``log`` keeps every request (method, path, query, JSON body, status) unless
``keep_log=False``.

Store: records are ``_Record`` slots (stamps in epoch milliseconds, properties as text); bulk records keep a
generator instead of a dict until written, so 100,000 contacts and 500,000 activities take seconds and little
memory. The search index (``(stamp, id)`` sorted) is built lazily and kept sorted on writes.
"""
from __future__ import annotations

import bisect
import itertools
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

__all__ = ["DEFAULT_PROPERTIES", "LEADOPS_PROPERTIES", "OBJECTS", "HubSpotServer", "iso", "modified_property"]

OBJECTS = ("contacts", "leads", "calls", "emails", "meetings", "tasks")
SINGULAR = {"contacts": "CONTACT", "leads": "LEAD", "calls": "CALL", "emails": "EMAIL", "meetings": "MEETING",
            "tasks": "TASK"}
#: properties every portal defines (writable ones; the stamps and ids are read-only)
DEFAULT_PROPERTIES: dict[str, set[str]] = {
    "contacts": {"email", "firstname", "lastname", "company", "jobtitle", "phone", "mobilephone", "country", "city",
                 "hs_language", "hubspot_owner_id", "lifecyclestage", "hs_lead_status", "leadsource", "website"},
    "leads": {"hs_lead_name", "hs_lead_type", "hs_lead_label", "hs_pipeline", "hs_pipeline_stage", "hubspot_owner_id",
              "email", "firstname", "lastname", "company"},
    "calls": {"hs_timestamp", "hubspot_owner_id", "hs_call_title", "hs_call_body", "hs_call_disposition",
              "hs_call_status", "hs_call_direction", "hs_call_duration"},
    "emails": {"hs_timestamp", "hubspot_owner_id", "hs_email_subject", "hs_email_text", "hs_email_direction",
               "hs_email_status"},
    "meetings": {"hs_timestamp", "hubspot_owner_id", "hs_meeting_title", "hs_meeting_body", "hs_meeting_start_time",
                 "hs_meeting_end_time", "hs_meeting_outcome"},
    "tasks": {"hs_timestamp", "hubspot_owner_id", "hs_task_subject", "hs_task_body", "hs_task_type", "hs_task_status",
              "hs_task_priority", "hs_task_completion_date"},
}
#: the custom properties leadops writes back by default (sources.yaml write_back), defined on contacts and leads
#: unless ``leadops_properties=False`` (a portal whose admin has not created them yet)
LEADOPS_PROPERTIES = ("leadops_score", "leadops_grade", "leadops_stage", "leadops_routing_reason",
                      "leadops_sla_status")
READ_ONLY = frozenset({"hs_object_id", "createdate", "hs_createdate", "lastmodifieddate", "hs_lastmodifieddate"})
DATE_PROPERTIES = frozenset({"createdate", "hs_createdate", "lastmodifieddate", "hs_lastmodifieddate", "hs_timestamp",
                             "hs_meeting_start_time", "hs_meeting_end_time", "hs_task_completion_date"})
#: HubSpot-defined association type ids (from -> to), the ones leadops reads
ASSOCIATION_TYPES = {("calls", "contacts"): 194, ("emails", "contacts"): 198, ("meetings", "contacts"): 200,
                     ("tasks", "contacts"): 204, ("contacts", "calls"): 193, ("contacts", "emails"): 197,
                     ("contacts", "meetings"): 199, ("contacts", "tasks"): 203, ("leads", "contacts"): 578,
                     ("contacts", "leads"): 579}
OPERATORS = frozenset({"EQ", "NEQ", "GT", "GTE", "LT", "LTE", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"})
GENERAL, SEARCH = "TEN_SECONDLY_ROLLING", "SECONDLY"
_BIG = 1 << 62  # larger than any id


def modified_property(object_type: str) -> str:
    """Return the modification-stamp property of ``object_type`` (``lastmodifieddate`` for contacts only)."""
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


def iso(ms: int) -> str:
    """Return epoch milliseconds as HubSpot writes a datetime: ISO 8601, milliseconds, ``Z``."""
    seconds, rest = divmod(int(ms), 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest:03d}Z"


def to_ms(value: Any) -> int | None:
    """Return a stamp (epoch ms as int or digits, ISO 8601 text, aware datetime) as epoch milliseconds, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return math.floor(dt.timestamp() * 1000)
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return to_ms(dt)


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Record:
    """One record: stamps in epoch ms; ``props`` (text values) or, for bulk records not yet written, ``gen``."""

    __slots__ = ("created", "gen", "props", "updated")

    def __init__(self, created: int, updated: int, props: dict[str, str | None] | None,
                 gen: Callable[[int, int], dict[str, str | None]] | None = None) -> None:
        self.created, self.updated, self.props, self.gen = created, updated, props, gen


class _Allowance:
    """``limit`` requests per ``window`` seconds, refilled continuously (a token bucket of ``burst`` requests)."""

    def __init__(self, limit: int, window: float, burst: int | None = None) -> None:
        self.limit, self.window = limit, window
        self.burst = burst if burst is not None else limit
        self.tokens = float(self.burst)
        self.at = time.monotonic()
        self.served = self.throttled = 0
        self.first: float | None = None
        self.last: float | None = None

    def take(self) -> tuple[bool, float]:
        """Use one request of the allowance: ``(allowed, seconds until the next one is free)``."""
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.limit / self.window)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.served += 1
            self.first = now if self.first is None else self.first
            self.last = now
            return True, 0.0
        self.throttled += 1
        return False, (1.0 - self.tokens) * self.window / self.limit


class HubSpotServer:
    """A HubSpot portal on ``127.0.0.1`` (see the module docstring); ``url`` is its base URL.

    ``tokens``: the valid access tokens. ``client_id`` / ``client_secret`` / ``refresh_tokens``: the OAuth app whose
    refresh tokens ``/oauth/v1/token`` accepts. ``search_cap``: results a search can page through (10,000).
    ``window_limit`` per ``window_seconds`` (190 per 10 s) and ``search_per_second`` (4): the rate limits, with
    ``search_burst`` (default: one second's worth) the searches allowed at once. ``retry_after``: seconds to send
    in a ``Retry-After`` header with 429s (None: no header, as HubSpot). ``invalid_property``: "batch" or
    "record" (see the module docstring). ``known_properties``: object -> the writable properties it defines
    (replaces :data:`DEFAULT_PROPERTIES` for that object). ``association_page_size``: associations per record per
    answer (500).
    """

    def __init__(self, tokens: Iterable[str] = ("pat-na1-test-token",), *, client_id: str = "client-id",
                 client_secret: str = "client-secret", refresh_tokens: Iterable[str] = ("refresh-token",),
                 token_lifetime: int = 1800, search_cap: int = 10_000, window_limit: int = 190,
                 window_seconds: float = 10.0, search_per_second: float = 4.0, search_burst: int | None = None,
                 retry_after: float | None = None, latency: float = 0.0, invalid_property: str = "batch",
                 known_properties: Mapping[str, Iterable[str]] | None = None, leadops_properties: bool = True,
                 association_page_size: int = 500, keep_log: bool = True) -> None:
        if invalid_property not in ("batch", "record"):
            raise ValueError("invalid_property is 'batch' or 'record'")
        self.tokens: set[str] = set(tokens)
        self.expired: set[str] = set()
        self.client_id, self.client_secret = client_id, client_secret
        self.refresh_tokens: set[str] = set(refresh_tokens)
        self.token_lifetime = token_lifetime
        self.issued: list[str] = []  # access tokens issued by /oauth/v1/token
        self.search_cap, self.retry_after, self.latency = search_cap, retry_after, latency
        self.invalid_property, self.association_page_size, self.keep_log = invalid_property, association_page_size, keep_log
        self.properties: dict[str, set[str]] = {obj: set(DEFAULT_PROPERTIES[obj]) for obj in OBJECTS}
        for obj, names in (known_properties or {}).items():
            self.properties[obj] = set(names)
        if leadops_properties:
            for obj in ("contacts", "leads"):
                if obj not in (known_properties or {}):
                    self.properties[obj].update(LEADOPS_PROPERTIES)
        self.policies = {GENERAL: _Allowance(window_limit, window_seconds),
                         SEARCH: _Allowance(max(1, round(search_per_second)), 1.0, search_burst)}
        if search_per_second < 1:  # fewer than one a second: one per 1/rate seconds
            self.policies[SEARCH] = _Allowance(1, 1.0 / search_per_second, search_burst)
        self.faults: list[tuple[int, dict[str, str], str | None, bool]] = []
        self.log: list[dict[str, Any]] = []
        self.oauth_requests = 0
        self._records: dict[str, dict[int, _Record]] = {obj: {} for obj in OBJECTS}
        self._index: dict[str, list[tuple[int, int]] | None] = dict.fromkeys(OBJECTS)
        self._links: dict[tuple[str, str], dict[int, list[int]]] = {}
        # bulk associations as rules, not lists: (from, to) -> [(first id, count, target ids)], record first + i
        # linked to targets[i % len(targets)] (500,000 activities take no memory)
        self._rules: dict[tuple[str, str], list[tuple[int, int, tuple[int, ...]]]] = {}
        self._owners: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1001)
        self._lock = threading.RLock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       name="hubspot-server", daemon=True)

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> HubSpotServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> HubSpotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- data helpers
    def add(self, object_type: str, properties: Mapping[str, Any] | None = None, modified_at: Any = None,
            created_at: Any = None) -> str:
        """Create one record (``modified_at``: datetime, ISO text or epoch ms; default now); returns its id."""
        self._object(object_type)
        updated = to_ms(modified_at) if modified_at is not None else _now_ms()
        created = to_ms(created_at) if created_at is not None else updated
        props = {k: None if v is None else str(v) for k, v in (properties or {}).items()}
        with self._lock:
            rid = next(self._ids)
            self._records[object_type][rid] = _Record(created or 0, updated or 0, props)
            self._index_add(object_type, updated or 0, rid)
        return str(rid)

    def generate(self, object_type: str, n: int, *, first_modified: Any = None, step_ms: int = 1000,
                 properties: Callable[[int], Mapping[str, Any]] | None = None,
                 associate_with: tuple[str, Sequence[str]] | None = None) -> list[str]:
        """Create ``n`` records fast (benchmarks); returns their ids in order.

        Record ``i`` is stamped ``first_modified + i * step_ms`` (``step_ms=0``: all at one stamp; default start:
        ``n * step_ms`` before now). ``properties(i)`` gives its properties (default: a unique lead for contacts and
        leads, a completed touch owned round-robin by the owners for activities); they are computed when read and
        stored only when the record is written. ``associate_with=("contacts", ids)`` links record ``i`` to
        ``ids[i % len(ids)]`` (both directions; kept as a rule, not a list per record).
        """
        self._object(object_type)
        start = to_ms(first_modified) if first_modified is not None else _now_ms() - n * step_ms
        assert start is not None
        owners = [str(o) for o in sorted(self._owners)]
        with self._lock:
            first = next(self._ids)
            self._ids = itertools.count(first + n)
        if properties is not None:
            user = properties

            def gen(rid: int, created: int) -> dict[str, str | None]:
                return {k: None if v is None else str(v) for k, v in user(rid - first).items()}
        else:
            gen = self._default_generator(object_type, owners)
        records = self._records[object_type]
        with self._lock:
            for i in range(n):
                stamp = start + i * step_ms
                records[first + i] = _Record(stamp, stamp, None, gen)
            self._index[object_type] = None  # rebuilt at the next search
            if associate_with is not None and associate_with[1]:
                to_type, targets = associate_with
                self._rules.setdefault((object_type, to_type), []).append((first, n, tuple(int(t) for t in targets)))
        return [str(first + i) for i in range(n)]

    def touch(self, object_type: str, record_id: str, **properties: Any) -> str:
        """Edit a record as a CRM user would: set ``properties`` (None clears) and move its stamp to now (always
        later than its previous one); returns the new stamp (ISO)."""
        with self._lock:
            rec = self._record(object_type, record_id)
            if rec is None:
                raise KeyError(f"{object_type} {record_id} does not exist")
            self._write(object_type, int(record_id), rec, properties)
            return iso(rec.updated)

    def remove(self, object_type: str, record_id: str) -> None:
        """Archive (delete) a record: searches and batch reads no longer return it."""
        with self._lock:
            rec = self._records[object_type].pop(int(record_id), None)
            if rec is not None:
                self._index_remove(object_type, rec.updated, int(record_id))

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """Associate two records (in both directions, as HubSpot does)."""
        with self._lock:
            for (a, ai), (b, bi) in (((from_type, int(from_id)), (to_type, int(to_id))),
                                     ((to_type, int(to_id)), (from_type, int(from_id)))):
                linked = self._links.setdefault((a, b), {}).setdefault(ai, [])
                if bi not in linked:
                    linked.append(bi)

    def add_owner(self, email: str, first_name: str = "", last_name: str = "", *, archived: bool = False) -> str:
        """Add a CRM owner (a user); returns its owner id."""
        with self._lock:
            oid = next(self._ids)
            self._owners[oid] = {"id": str(oid), "email": email, "type": "PERSON", "firstName": first_name,
                                 "lastName": last_name, "userId": oid + 5_000_000,
                                 "userIdIncludingInactive": oid + 5_000_000, "createdAt": iso(_now_ms()),
                                 "updatedAt": iso(_now_ms()), "archived": archived}
        return str(oid)

    def linked(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        """Return the ids of the ``to_type`` records associated with ``from_id``."""
        with self._lock:
            return [str(i) for i in self._linked(from_type, int(from_id), to_type)]

    def get(self, object_type: str, record_id: str) -> dict[str, Any] | None:
        """Return a record as the API shows it, every property included; None when it does not exist."""
        with self._lock:
            rec = self._record(object_type, record_id)
            if rec is None:
                return None
            return self._public(object_type, int(record_id), rec, None)

    def ids(self, object_type: str) -> list[str]:
        """Return every record id of ``object_type`` in (stamp, id) order."""
        with self._lock:
            return [str(rid) for _, rid in self._sorted(object_type)]

    def define_property(self, object_type: str, name: str) -> None:
        """Define a (custom) property on ``object_type``: batch updates may write it from now on."""
        with self._lock:
            self.properties[self._object(object_type)].add(name)

    # ----------------------------------------------------------------- auth, faults, numbers
    def expire(self, token: str) -> None:
        """Make ``token`` expired: requests with it get 401 ``EXPIRED_AUTHENTICATION``."""
        self.expired.add(token)

    def fail_next(self, n: int = 1, status: int = 500, *, body: str | None = None, headers: Mapping[str, str] | None = None,
                  echo: bool = False) -> None:
        """Answer the next ``n`` requests (any endpoint) with ``status``: ``body`` when given, else the documented
        body of that status (429: the rate-limit body of the request's policy). ``echo``: the body and headers
        repeat the request's Authorization header in every encoding (tests.support.echo)."""
        with self._lock:
            self.faults.extend([(status, dict(headers or {}), body, echo)] * n)

    @property
    def stats(self) -> dict[str, Any]:
        """Per policy: ``served`` and ``throttled`` (429) requests, ``limit`` per ``window_seconds``, and the
        monotonic times of the ``first`` and ``last`` request served; ``faults`` served; ``oauth`` token calls."""
        with self._lock:
            out: dict[str, Any] = {name: {"served": p.served, "throttled": p.throttled, "limit": p.limit,
                                          "window_seconds": p.window, "burst": p.burst, "first": p.first, "last": p.last}
                                   for name, p in self.policies.items()}
            out["oauth"] = self.oauth_requests
            out["requests"] = len(self.log)
            return out

    def used_share(self, policy: str = GENERAL) -> float:
        """Return the requests served by ``policy`` over the most it could have served between its first and last
        request (its burst plus the allowance refilled meanwhile): 1.0 is the whole allowance."""
        p = self.policies[policy]
        if not p.served or p.first is None or p.last is None:
            return 0.0
        return p.served / (p.burst + (p.last - p.first) * p.limit / p.window)

    def reset_stats(self) -> None:
        with self._lock:
            for p in self.policies.values():
                p.served = p.throttled = 0
                p.first = p.last = None
            self.log.clear()
            self.oauth_requests = 0

    # ----------------------------------------------------------------- store internals
    def _object(self, object_type: str) -> str:
        if object_type not in self._records:
            raise KeyError(f"unknown object type {object_type!r} (one of {', '.join(OBJECTS)})")
        return object_type

    def _record(self, object_type: str, record_id: Any) -> _Record | None:
        try:
            return self._records[object_type].get(int(str(record_id)))
        except ValueError:
            return None

    def _default_generator(self, object_type: str, owners: list[str]) -> Callable[[int, int], dict[str, str | None]]:
        def owner(rid: int) -> str | None:
            return owners[rid % len(owners)] if owners else None

        if object_type in ("contacts", "leads"):
            def person(rid: int, created: int) -> dict[str, str | None]:
                # one domain per record: fuzzy dedupe compares people within a domain only
                return {"email": f"lead{rid}@forge{rid}.fr", "firstname": f"Lead{rid}", "lastname": "Martin",
                        "company": f"Forge {rid} SAS", "country": "France", "jobtitle": "Head of Sales",
                        "hubspot_owner_id": owner(rid)}
            return person
        kinds = {"calls": {"hs_call_title": "Discovery call", "hs_call_status": "COMPLETED",
                           "hs_call_direction": "OUTBOUND"},
                 "emails": {"hs_email_subject": "Following up", "hs_email_direction": "EMAIL", "hs_email_status": "SENT"},
                 "meetings": {"hs_meeting_title": "Demo", "hs_meeting_outcome": "COMPLETED"},
                 "tasks": {"hs_task_subject": "Call back", "hs_task_type": "CALL", "hs_task_status": "COMPLETED"}}
        fixed = kinds[object_type]

        def activity(rid: int, created: int) -> dict[str, str | None]:
            props: dict[str, str | None] = {"hs_timestamp": iso(created), "hubspot_owner_id": owner(rid), **fixed}
            if object_type == "meetings":
                props["hs_meeting_start_time"] = iso(created)
            if object_type == "tasks":
                props["hs_task_completion_date"] = iso(created)
            return props
        return activity

    def _linked(self, from_type: str, rid: int, to_type: str) -> list[int]:
        """Associated ids: the explicit ones, then those of the bulk rules (both directions)."""
        out = list(self._links.get((from_type, to_type), {}).get(rid, []))
        for first, n, targets in self._rules.get((from_type, to_type), []):
            if first <= rid < first + n:
                out.append(targets[(rid - first) % len(targets)])
        for first, n, targets in self._rules.get((to_type, from_type), []):
            out.extend(first + i for j, t in enumerate(targets) if t == rid for i in range(j, n, len(targets)))
        return out

    def _props(self, rid: int, rec: _Record) -> dict[str, str | None]:
        if rec.props is not None:
            return rec.props
        return rec.gen(rid, rec.created) if rec.gen is not None else {}

    def _write(self, object_type: str, rid: int, rec: _Record, properties: Mapping[str, Any]) -> None:
        """Apply ``properties`` ("" or None clears) and move the stamp to now, strictly later than before."""
        if rec.props is None:
            rec.props, rec.gen = dict(self._props(rid, rec)), None
        for k, v in properties.items():
            rec.props[k] = None if v is None or v == "" else str(v)
        old = rec.updated
        rec.updated = max(_now_ms(), old + 1)
        self._index_remove(object_type, old, rid)
        self._index_add(object_type, rec.updated, rid)

    def _sorted(self, object_type: str) -> list[tuple[int, int]]:
        index = self._index[object_type]
        if index is None:
            index = sorted((rec.updated, rid) for rid, rec in self._records[object_type].items())
            self._index[object_type] = index
        return index

    def _index_add(self, object_type: str, stamp: int, rid: int) -> None:
        index = self._index[object_type]
        if index is not None:
            bisect.insort(index, (stamp, rid))

    def _index_remove(self, object_type: str, stamp: int, rid: int) -> None:
        index = self._index[object_type]
        if index is not None:
            at = bisect.bisect_left(index, (stamp, rid))
            if at < len(index) and index[at] == (stamp, rid):
                del index[at]

    def _public(self, object_type: str, rid: int, rec: _Record, wanted: Sequence[str] | None) -> dict[str, Any]:
        props = self._props(rid, rec)
        if wanted is None:  # everything
            out: dict[str, Any] = dict(props)
        else:
            out = {name: props.get(name) for name in wanted}
        out["hs_object_id"] = str(rid)
        out["createdate"] = iso(rec.created)
        out[modified_property(object_type)] = iso(rec.updated)
        return {"id": str(rid), "properties": out, "createdAt": iso(rec.created), "updatedAt": iso(rec.updated),
                "archived": False}

    # ----------------------------------------------------------------- search
    def _value(self, object_type: str, rid: int, rec: _Record, prop: str) -> Any:
        """A property's value for comparisons: epoch ms for dates, int for the id, text otherwise (None: unset)."""
        if prop == "hs_object_id":
            return rid
        if prop == modified_property(object_type):
            return rec.updated
        if prop in ("createdate", "hs_createdate"):
            return rec.created
        raw = self._props(rid, rec).get(prop)
        if raw is None:
            return None
        return to_ms(raw) if prop in DATE_PROPERTIES else raw

    @staticmethod
    def _operand(prop: str, value: Any, object_type: str) -> Any:
        if prop == "hs_object_id":
            return int(str(value))
        if prop in DATE_PROPERTIES or prop == modified_property(object_type):
            ms = to_ms(value)
            if ms is None:
                raise ValueError(f"{value!r} is not a date (epoch milliseconds or ISO 8601)")
            return ms
        return str(value)

    @staticmethod
    def _compare(left: Any, op: str, right: Any) -> bool:
        if isinstance(left, str) and isinstance(right, str):
            try:
                left, right = float(left), float(right)
            except ValueError:
                left, right = left.lower(), right.lower()
        if op == "EQ":
            return bool(left == right)
        if op == "NEQ":
            return bool(left != right)
        if op == "GT":
            return bool(left > right)
        if op == "GTE":
            return bool(left >= right)
        if op == "LT":
            return bool(left < right)
        return bool(left <= right)  # LTE

    def _matches(self, object_type: str, rid: int, rec: _Record, filters: list[dict[str, Any]]) -> bool:
        for f in filters:
            prop, op = f["propertyName"], f["operator"]
            value = self._value(object_type, rid, rec, prop)
            if op == "HAS_PROPERTY":
                ok = value is not None
            elif op == "NOT_HAS_PROPERTY":
                ok = value is None
            elif value is None:
                ok = op in ("NEQ", "NOT_IN")
            elif op in ("IN", "NOT_IN"):
                values = [self._operand(prop, v, object_type) for v in f.get("values") or []]
                hit = any(self._compare(value, "EQ", v) for v in values)
                ok = hit if op == "IN" else not hit
            else:
                ok = self._compare(value, op, self._operand(prop, f.get("value"), object_type))
            if not ok:
                return False
        return True

    def _select(self, object_type: str, groups: list[dict[str, Any]], sort: tuple[str, bool] | None, after: int,
                limit: int) -> tuple[int, list[int]]:
        """Return ``(total, ids of the page)`` of a search: the sorted index sliced when the query is on the stamp
        and the id only (what an incremental sync sends), a scan of every record otherwise."""
        mod = modified_property(object_type)
        filters = list(groups[0].get("filters") or []) if len(groups) == 1 else []
        simple = len(groups) <= 1 and all(f["propertyName"] in (mod, "hs_object_id")
                                          and f["operator"] in ("EQ", "GT", "GTE", "LT", "LTE") for f in filters)
        if simple and (sort is None or sort[0] in (mod, "hs_object_id")):
            index = self._sorted(object_type)
            lo, hi, fixed = 0, len(index), None
            ids: list[tuple[str, int]] = []
            for f in filters:
                if f["propertyName"] == "hs_object_id":
                    ids.append((f["operator"], int(str(f.get("value")))))
                    continue
                v = self._operand(mod, f.get("value"), object_type)
                op = f["operator"]
                if op in ("EQ", "GTE"):
                    lo = max(lo, bisect.bisect_left(index, (v, -1)))
                if op == "GT":
                    lo = max(lo, bisect.bisect_left(index, (v, _BIG)))
                if op in ("EQ", "LTE"):
                    hi = min(hi, bisect.bisect_right(index, (v, _BIG)))
                if op == "LT":
                    hi = min(hi, bisect.bisect_left(index, (v, -1)))
                if op == "EQ":
                    fixed = v
            if ids and fixed is not None:  # one stamp: the ids are in order, bisect them too
                for op, x in ids:
                    if op in ("EQ", "GTE"):
                        lo = max(lo, bisect.bisect_left(index, (fixed, x)))
                    if op == "GT":
                        lo = max(lo, bisect.bisect_right(index, (fixed, x)))
                    if op in ("EQ", "LTE"):
                        hi = min(hi, bisect.bisect_right(index, (fixed, x)))
                    if op == "LT":
                        hi = min(hi, bisect.bisect_left(index, (fixed, x)))
                ids = []
            by_id = sort is not None and sort[0] == "hs_object_id" and fixed is None
            descending = sort is not None and not sort[1]
            if not ids and not by_id:
                total = max(0, hi - lo)
                if descending:
                    top = hi - after
                    return total, [rid for _, rid in reversed(index[max(lo, top - limit):max(lo, top)])]
                return total, [rid for _, rid in index[lo + after:min(hi, lo + after + limit)]]
            chosen = [rid for _, rid in index[lo:hi] if all(self._compare(rid, op, x) for op, x in ids)]
            if by_id:
                chosen.sort(reverse=descending)
            elif descending:
                chosen.reverse()
            return len(chosen), chosen[after:after + limit]
        records = self._records[object_type]
        chosen = [rid for rid, rec in records.items()
                  if not groups or any(self._matches(object_type, rid, rec, g.get("filters") or []) for g in groups)]
        if sort is not None:
            prop, ascending = sort

            def key(rid: int) -> tuple[int, Any, int]:
                value = self._value(object_type, rid, records[rid], prop)
                return (1, value, rid) if value is not None else (0, 0, rid)
            chosen.sort(key=key, reverse=not ascending)
        else:
            chosen.sort()
        return len(chosen), chosen[after:after + limit]

    def search(self, object_type: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer a search request body: ``(status, JSON body)``."""
        groups = list(body.get("filterGroups") or [])
        sorts = list(body.get("sorts") or [])
        wanted = list(body.get("properties") or [])
        if not wanted:
            wanted = ["firstname", "lastname", "email"] if object_type == "contacts" else []
        try:
            limit = int(body.get("limit", 10))
            after = int(str(body.get("after") or 0))
        except ValueError:
            return 400, _error("VALIDATION_ERROR", "limit and after must be whole numbers")
        if not 0 < limit <= 200:
            return 400, _error("VALIDATION_ERROR", f"limit must be between 1 and 200 (got {limit})")
        if len(sorts) > 1:
            return 400, _error("VALIDATION_ERROR", "Only one sort is supported per search request")
        if len(groups) > 5 or sum(len(g.get("filters") or []) for g in groups) > 25:
            return 400, _error("VALIDATION_ERROR", "At most 5 filterGroups and 25 filters are allowed")
        if after >= self.search_cap:
            return 400, _error("VALIDATION_ERROR",
                               f"The search endpoints are limited to {self.search_cap:,} total results for any given "
                               f"query: cannot page beyond {self.search_cap:,} (after={after}); narrow the query "
                               "with filters instead")
        sort = None
        if sorts:
            s = sorts[0]
            if isinstance(s, str):
                sort = (s.lstrip("-"), not s.startswith("-"))
            else:
                sort = (s.get("propertyName", ""), str(s.get("direction", "ASCENDING")).upper() != "DESCENDING")
        for g in groups:
            for f in g.get("filters") or []:
                if f.get("operator") not in OPERATORS or not f.get("propertyName"):
                    return 400, _error("VALIDATION_ERROR", f"Invalid filter {json.dumps(f)}: unknown operator "
                                                           "or no propertyName")
        try:
            with self._lock:
                # nothing past the cap, whatever the page size: position `search_cap` and later are never served
                total, page = self._select(object_type, groups, sort, after, min(limit, self.search_cap - after))
                records = self._records[object_type]
                results = [self._public(object_type, rid, records[rid], wanted) for rid in page if rid in records]
        except (ValueError, TypeError) as exc:
            return 400, _error("VALIDATION_ERROR", f"Invalid search request: {exc}")
        out: dict[str, Any] = {"total": total, "results": results}
        if after + limit < total:
            out["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
        return 200, out

    # ----------------------------------------------------------------- batches
    def batch_read(self, object_type: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        inputs = list(body.get("inputs") or [])
        if len(inputs) > 100:
            return 400, _error("VALIDATION_ERROR", f"Batch size {len(inputs)} is over the limit of 100 inputs")
        wanted = list(body.get("properties") or [])
        started = iso(_now_ms())
        results, missing = [], []
        with self._lock:
            for item in inputs:
                rid = str(item.get("id", ""))
                rec = self._record(object_type, rid)
                if rec is None:
                    missing.append(rid)
                else:
                    results.append(self._public(object_type, int(rid), rec, wanted))
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": iso(_now_ms())}
        if not missing:
            return 200, out
        out["numErrors"] = 1
        out["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                          "message": f"Could not get some {SINGULAR[object_type]} objects, they may be deleted or not "
                                     "exist. Check that ids are valid.",
                          "context": {"ids": missing}}]
        return 207, out

    def batch_update(self, object_type: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        inputs = list(body.get("inputs") or [])
        if len(inputs) > 100:
            return 400, _error("VALIDATION_ERROR", f"Batch size {len(inputs)} is over the limit of 100 inputs")
        ids = [str(item.get("id", "")) for item in inputs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            return 400, _error("VALIDATION_ERROR", f"Duplicate IDs found in batch input: {dupes}")
        defined = self.properties[object_type]
        invalid: dict[str, list[dict[str, Any]]] = {}
        for rid, item in zip(ids, inputs, strict=True):
            for name in (item.get("properties") or {}):
                if name in READ_ONLY:
                    invalid.setdefault(rid, []).append(_validation(name, "READ_ONLY_VALUE",
                                                                   f'Property "{name}" is read only'))
                elif name not in defined:
                    invalid.setdefault(rid, []).append(_validation(name, "PROPERTY_DOESNT_EXIST",
                                                                   f'Property "{name}" does not exist'))
        if invalid and self.invalid_property == "batch":
            seen: dict[str, dict[str, Any]] = {}
            for problems in invalid.values():
                for p in problems:
                    seen.setdefault(p["name"], p)
            return 400, _error("VALIDATION_ERROR", "Property values were not valid: " + json.dumps(list(seen.values())),
                               errors=[{"message": p["message"], "code": p["error"],
                                        "context": {"propertyName": [p["name"]]}} for p in seen.values()])
        started = iso(_now_ms())
        results, missing, errors = [], [], []
        with self._lock:
            for rid, item in zip(ids, inputs, strict=True):
                if rid in invalid:
                    problems = invalid[rid]
                    errors.append({"status": "error", "category": "VALIDATION_ERROR",
                                   "message": "Property values were not valid: " + json.dumps(problems),
                                   "context": {"ids": [rid], "propertyName": [p["name"] for p in problems]},
                                   "errors": [{"message": p["message"], "code": p["error"]} for p in problems]})
                    continue
                rec = self._record(object_type, rid)
                if rec is None:
                    missing.append(rid)
                    continue
                props = item.get("properties") or {}
                self._write(object_type, int(rid), rec, props)
                public = self._public(object_type, int(rid), rec, list(props))
                results.append(public)
        if missing:
            errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                           "message": f"Could not get some {SINGULAR[object_type]} objects, they may be deleted or not "
                                      "exist. Check that ids are valid.",
                           "context": {"ids": missing}})
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": iso(_now_ms())}
        if not errors:
            return 200, out
        out["numErrors"] = len(errors)
        out["errors"] = errors
        return 207, out

    def associations_read(self, from_type: str, to_type: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        inputs = list(body.get("inputs") or [])
        if len(inputs) > 1000:
            return 400, _error("VALIDATION_ERROR", f"Batch size {len(inputs)} is over the limit of 1000 inputs")
        type_id = ASSOCIATION_TYPES.get((from_type, to_type), 1)
        started = iso(_now_ms())
        results, errors = [], []
        with self._lock:
            for item in inputs:
                rid = str(item.get("id", ""))
                try:
                    targets = self._linked(from_type, int(rid), to_type)
                    start = int(str(item.get("after") or 0))
                except ValueError:
                    targets, start = [], 0
                if not targets:
                    errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                                   "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                                   "message": f"No {to_type} is associated with {from_type} {rid}.",
                                   "context": {"fromObjectId": [rid], "toObjectType": [to_type]}})
                    continue
                chunk = targets[start:start + self.association_page_size]
                result: dict[str, Any] = {"from": {"id": rid}, "to": [
                    {"toObjectId": tid, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id,
                                                              "label": None}]} for tid in chunk]}
                if start + self.association_page_size < len(targets):
                    nxt = str(start + self.association_page_size)
                    result["paging"] = {"next": {"after": nxt, "link": None}}
                results.append(result)
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started,
                               "completedAt": iso(_now_ms())}
        if not errors:
            return 200, out
        out["numErrors"], out["errors"] = len(errors), errors
        return 207, out

    def owners_page(self, query: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            limit = int(query.get("limit", 100))
            after = int(query.get("after") or 0)
        except ValueError:
            return 400, _error("VALIDATION_ERROR", "limit and after must be whole numbers")
        if not 0 < limit <= 500:
            return 400, _error("VALIDATION_ERROR", f"limit must be between 1 and 500 (got {limit})")
        archived = query.get("archived", "false").lower() == "true"
        with self._lock:
            owners = [o for _, o in sorted(self._owners.items()) if o["archived"] == archived]
            if query.get("email"):
                owners = [o for o in owners if o["email"].lower() == query["email"].lower()]
        out: dict[str, Any] = {"results": [dict(o) for o in owners[after:after + limit]]}
        if after + limit < len(owners):
            out["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
        return 200, out

    def token(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer ``POST /oauth/v1/token`` (refresh_token grant)."""
        cid = uuid.uuid4().hex
        if form.get("grant_type") != "refresh_token":
            return 400, {"status": "BAD_GRANT_TYPE", "message": "grant_type must be refresh_token", "correlationId": cid}
        if form.get("client_id") != self.client_id:
            return 400, {"status": "BAD_CLIENT_ID", "message": "missing or unknown client id", "correlationId": cid}
        if form.get("client_secret") != self.client_secret:
            return 400, {"status": "BAD_CLIENT_SECRET", "message": "missing or invalid client secret",
                         "correlationId": cid}
        refresh = form.get("refresh_token", "")
        if refresh not in self.refresh_tokens:
            return 400, {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token",
                         "correlationId": cid}
        with self._lock:
            access = f"oauth-access-{len(self.issued) + 1}-{uuid.uuid4().hex[:12]}"
            self.issued.append(access)
            self.tokens.add(access)
        return 200, {"token_type": "bearer", "refresh_token": refresh, "access_token": access,
                     "expires_in": self.token_lifetime}

    # ----------------------------------------------------------------- HTTP
    def _authorize(self, header: str) -> tuple[int, dict[str, Any]] | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token in self.expired:
            return 401, _error("EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired 0 second(s) ago.",
                               context={"expire time": [iso(_now_ms())]})
        if scheme.lower() != "bearer" or token not in self.tokens:
            return 401, _error("INVALID_AUTHENTICATION",
                               "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
                               "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
        return None

    def _route(self, method: str, path: str, query: Mapping[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        parts = [p for p in path.split("/") if p]
        if method == "POST" and len(parts) >= 5 and parts[:3] == ["crm", "v3", "objects"] and parts[3] in self._records:
            obj, rest = parts[3], parts[4:]
            if rest == ["search"]:
                return self.search(obj, body)
            if rest == ["batch", "read"]:
                return self.batch_read(obj, body)
            if rest == ["batch", "update"]:
                return self.batch_update(obj, body)
        if (method == "POST" and len(parts) == 7 and parts[:3] == ["crm", "v4", "associations"]
                and parts[5:] == ["batch", "read"]):
            return self.associations_read(parts[3], parts[4], body)
        if method == "GET" and parts == ["crm", "v3", "owners"]:
            return self.owners_page(query)
        return 404, _error("OBJECT_NOT_FOUND", f"No route for {method} {path}")

    def _handler(hs) -> type[BaseHTTPRequestHandler]:  # noqa: N805 - hs is the HubSpotServer
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: a benchmark sends thousands of requests
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if hs.latency:
                    time.sleep(hs.latency)
                auth = self.headers.get("Authorization", "")
                search = url.path.endswith("/search")
                with hs._lock:
                    fault = hs.faults.pop(0) if hs.faults else None
                if fault is not None:
                    return self._fault(method, url.path, query, raw, auth, search, fault)
                if url.path == "/oauth/v1/token" and method == "POST":
                    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                    with hs._lock:
                        hs.oauth_requests += 1
                    status, payload = hs.token(form)
                    return self._send(method, url.path, query, None, status, payload)
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    return self._send(method, url.path, query, None, 400,
                                      _error("VALIDATION_ERROR", "Invalid input JSON on line 1"))
                refused = hs._authorize(auth)
                if refused is not None:
                    return self._send(method, url.path, query, body, *refused)
                policy = SEARCH if search else GENERAL
                with hs._lock:
                    allowed, _wait = hs.policies[policy].take()
                    remaining = int(hs.policies[policy].tokens)
                if not allowed:
                    headers = {"Retry-After": f"{hs.retry_after:g}"} if hs.retry_after is not None else {}
                    return self._send(method, url.path, query, body, 429, _rate_limited(policy), headers)
                status, payload = hs._route(method, url.path, query, body)
                headers = {} if search else {"X-HubSpot-RateLimit-Max": str(hs.policies[GENERAL].limit),
                                             "X-HubSpot-RateLimit-Remaining": str(remaining),
                                             "X-HubSpot-RateLimit-Interval-Milliseconds":
                                                 str(int(hs.policies[GENERAL].window * 1000))}
                return self._send(method, url.path, query, body, status, payload, headers)

            def _fault(self, method: str, path: str, query: dict[str, str], raw: bytes, auth: str, search: bool,
                       fault: tuple[int, dict[str, str], str | None, bool]) -> None:
                status, headers, text, echo = fault
                if echo:
                    from tests.support.echo import echo_body, echo_headers

                    secret = auth.partition(" ")[2] or auth
                    text, headers = echo_body(auth, secret), {**echo_headers(auth, secret), **headers}
                if text is None:
                    payload = (_rate_limited(SEARCH if search else GENERAL) if status == 429 else
                               _error("INVALID_AUTHENTICATION", "Authentication credentials not found.")
                               if status == 401 else _error("INTERNAL_ERROR", f"HTTP {status} (scripted fault)"))
                    text = json.dumps(payload)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                self._send(method, path, query, body, status, text, headers)

            def _send(self, method: str, path: str, query: dict[str, str], body: Any, status: int,
                      payload: dict[str, Any] | str, headers: Mapping[str, str] | None = None) -> None:
                if hs.keep_log:
                    with hs._lock:
                        hs.log.append({"method": method, "path": path, "query": query, "body": body, "status": status})
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json;charset=utf-8")
                    self.send_header("X-HubSpot-Correlation-Id", str(uuid.uuid4()))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.close_connection = True

        return Handler


def _error(category: str, message: str, **extra: Any) -> dict[str, Any]:
    """HubSpot's standard error body."""
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}


def _validation(name: str, error: str, message: str) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": error, "name": name, "localizedErrorMessage": message}


def _rate_limited(policy: str) -> dict[str, Any]:
    """The documented 429 body of ``policy`` (API usage guidelines, "Error responses")."""
    what = "ten_secondly_rolling" if policy == GENERAL else "secondly"
    return {"status": "error", "message": f"You have reached your {what} limit.", "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()), "policyName": policy, "requestId": uuid.uuid4().hex}
