"""CRM sync benchmark (issue 21): a first sync of a loopback CRM into leadops (contacts or Leads into leads,
engagements into activities) and a write-back of owners, against the CRM's rate limits, with a bare loop of the
same requests (``requests`` and the same limiter, nothing stored) measured in the same run as the baseline.

    .venv/bin/python bench/crm_sync.py [--crm hubspot|salesforce] [--contacts 100000 --activities 500000
        --write-back 100000] [--quick] [--scale S] [--page-size 200] [--database-url URL] [--baseline-share F]
        [--no-baseline] [--in-process] [--profile PREFIX] [--json]

Per phase (read of the people, read of each engagement object, write-back) it reports:
- requests used per limiter (leadops' ``Transport.requests``) against the minimum (records / batch size), 429s;
- the share of the CRM's allowance used, requests / (allowed rate x elapsed), for the policy that bounds the phase
  (HubSpot: searches, 4/s, for the reads; the general 190 per 10 s for the write-back. Salesforce: the connector's
  20 requests/s, which the loopback org enforces with 429s);
- records/s, and the same for the bare loop: their ratio is what leadops' intake (or delivery) costs on top of the
  CRM's pace (1.00: none);
- where the time went: the seconds the fetching thread waited for a limiter slot (the CRM is the bottleneck when it
  waits most of the time) and the seconds leadops spent inside its units of work (leadops is the bottleneck when
  they fill the phase).

The CRM runs in a process of its own (multiprocessing, spawn: the server and the client in one interpreter share
the GIL and distort both; ``--in-process`` runs it on threads of this process, to see by how much). ``--scale S``
multiplies the CRM's allowance and leadops' configured rates by S: below 1 the CRM is slower (0.25: one HubSpot
search a second) and surely the bottleneck; above 1 leadops' own speed shows. Owners are assigned directly in the
database (``leads.owner_sdr_id``, stage ``sal``, round-robin over the roster's SDRs), not by routing, and the
write-back writes the owner only (``write_back.fields: {owner: ...}``), so that phase measures the write-back.

Order: leadops read, bare read (the same, unchanged data), leadops write-back, bare write-back (the same requests
for the same records: it writes the same owners again and does not act on the stamps it reads).
"""
from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from results import Reporter, add_arguments  # noqa: E402 - bench/ is the script's folder

HS_TOKEN = "pat-na1-bench-crm-sync-0000"  # noqa: S105 - the loopback portal's token, not a secret
SF_TOKEN = "00DBENCH000000001!AQ4AQ.bench.session"  # noqa: S105 - the loopback org's token
SEARCH_RATE, GENERAL_LIMIT, GENERAL_WINDOW = 4.0, 190, 10.0  # HubSpot's limits for a private app
SF_RATE = 20.0  # the Salesforce connector's default requests_per_second
SF_ORG_MARGIN = 1.1  # the loopback org's per-second window over SF_RATE
SF_BULK_ABOVE = 2000  # the connector's default bulk_above
SF_VERSION = "62.0"
SEARCH_CAP = 10_000  # results one HubSpot search query can page through
HS_BATCH, SF_COLLECTION, SF_QUERY_BATCH = 100, 200, 2000
ASSOCIATION_BATCH = 1000
SPAN = timedelta(days=30)  # every record was modified over the last 30 days
HS_SPLIT = {"calls": 0.40, "emails": 0.35, "meetings": 0.10, "tasks": 0.15}
SF_SPLIT = {"Task": 0.85, "Event": 0.15}

FIRST = ["Jean", "Élodie", "Hans", "Zoé", "Łukasz", "Søren", "Ana", "Priya", "Tom", "Chloé", "Marco", "Ines", "Kasia",
         "Oliver", "Nadia", "Pieter"]
LAST = ["Dupont", "Müller", "Núñez", "Fontaine", "O'Brien", "Berg", "Lefèvre", "Smith", "Rossi", "Novak", "Jansen",
        "Kowalski", "García", "Andersen", "Moreau", "Weber"]
COUNTRIES = ["France", "France", "France", "Germany", "Germany", "United Kingdom", "United Kingdom", "Spain",
             "United States", "United States", "Netherlands", "Italy", "Poland", "Belgium", "Canada", "Switzerland"]
LANGUAGES = {"France": "fr", "Germany": "de", "Spain": "es", "Italy": "it", "Netherlands": "nl", "Poland": "pl",
             "Belgium": "fr", "Switzerland": "de"}
TITLES = ["CTO", "Head of Marketing", "VP Sales", "IT Manager", "Software Engineer", "Directeur commercial",
          "Geschäftsführer", "Data Analyst", "Head of Operations", "CFO", "Procurement Manager", "Founder"]
SECTORS = ["Logistics", "Analytics", "Robotics", "Foods", "Energy", "Systems", "Labs", "Retail", "Health", "Finance"]
PREFIXES = ["Nord", "Azur", "Alto", "Blue", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Helix", "Iris", "Juniper"]
TLDS = [".fr", ".de", ".co.uk", ".es", ".com", ".nl", ".it", ".pl"]


# --------------------------------------------------------------------------- generated data


def slug(text: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", text.replace("Ł", "L").replace("ø", "o")).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def person(i: int) -> dict[str, str]:
    """Person ``i``: at a company of its own (one business domain each: the fuzzy dedupe compares people within a
    domain, so no two of them merge), with a country, a language and a title."""
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    firm = f"{PREFIXES[i % len(PREFIXES)]} {SECTORS[(i // 7) % len(SECTORS)]}"
    country = COUNTRIES[(i * 7) % len(COUNTRIES)]
    return {"email": f"{slug(first)}.{slug(last)}@{slug(firm)}{i}{TLDS[i % len(TLDS)]}", "first": first, "last": last,
            "company": f"{firm} {i}", "title": TITLES[(i * 5) % len(TITLES)], "phone": f"+33 1 42 {i % 100:02d} {i % 97:02d} 00",
            "country": country, "language": LANGUAGES.get(country, "en")}


def split(total: int, shares: dict[str, float]) -> dict[str, int]:
    counts = {obj: int(total * share) for obj, share in shares.items()}
    first = next(iter(counts))
    counts[first] += total - sum(counts.values())
    return counts


def hs_contact(i: int) -> dict[str, Any]:
    p = person(i)
    return {"email": p["email"], "firstname": p["first"], "lastname": p["last"], "company": p["company"],
            "jobtitle": p["title"], "phone": p["phone"], "country": p["country"], "hs_language": p["language"],
            "lifecyclestage": "lead", "leadsource": "ORGANIC_SEARCH" if i % 3 else "PAID_SOCIAL"}


def hs_engagement(obj: str, owners: list[str], first_ms: int, step_ms: int) -> Callable[[int], dict[str, Any]]:
    """Engagement ``i`` of ``obj``: owned round-robin by the roster's SDRs; every tenth task still open."""
    from tests.support.crm.hubspot_server import iso

    def props(i: int) -> dict[str, Any]:
        at = iso(first_ms + i * step_ms)
        base = {"hs_timestamp": at, "hubspot_owner_id": owners[i % len(owners)]}
        if obj == "calls":
            return {**base, "hs_call_title": "Discovery call", "hs_call_status": "COMPLETED",
                    "hs_call_direction": "OUTBOUND", "hs_call_duration": str(60_000 + i % 600_000)}
        if obj == "emails":
            return {**base, "hs_email_subject": "Following up on your request",
                    "hs_email_direction": "INCOMING_EMAIL" if i % 5 == 0 else "EMAIL", "hs_email_status": "SENT"}
        if obj == "meetings":
            return {**base, "hs_meeting_title": "Demo", "hs_meeting_start_time": at,
                    "hs_meeting_outcome": "COMPLETED" if i % 4 else "SCHEDULED"}
        done = i % 10 != 0
        return {**base, "hs_task_subject": "Call back", "hs_task_type": "CALL" if i % 2 else "EMAIL",
                "hs_task_status": "COMPLETED" if done else "NOT_STARTED", "hs_task_completion_date": at if done else None}
    return props


# --------------------------------------------------------------------------- the loopback CRMs (built in their process)


def build_hubspot(spec: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Return a started HubSpotServer holding the generated portal, and what the client needs to know of it."""
    from tests.support.crm.hubspot_server import SEARCH, HubSpotServer

    scale = spec["scale"]
    hs = HubSpotServer(tokens=[HS_TOKEN], window_limit=GENERAL_LIMIT, window_seconds=GENERAL_WINDOW / scale,
                       keep_log=False)
    # SEARCH_RATE x S a second whatever S (the constructor rounds a rate of 1/s and more to a whole number)
    hs.policies[SEARCH] = type(hs.policies[SEARCH])(int(SEARCH_RATE), 1.0 / scale)
    owners = [hs.add_owner(email, name.split()[0], name.split()[-1]) for email, name in spec["owners"]]
    now = int(time.time() * 1000)
    span = int(SPAN.total_seconds() * 1000)
    n = spec["contacts"]
    contacts = hs.generate("contacts", n, first_modified=now - span, step_ms=max(1, span // max(1, n)),
                           properties=hs_contact)
    for obj, k in split(spec["activities"], HS_SPLIT).items():
        if k:
            step = max(1, span // k)
            hs.generate(obj, k, first_modified=now - span, step_ms=step, associate_with=("contacts", contacts),
                        properties=hs_engagement(obj, owners, now - span, step))
    for obj in ("contacts", *HS_SPLIT):
        hs.ids(obj)  # build the search index now, not in the first search
    return hs.start(), {"url": hs.url, "owners": owners, "people": contacts}


def build_salesforce(spec: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Return a started SalesforceServer holding the generated org (it answers 429 above SF_RATE x S requests a
    second), and what the client needs to know of it."""
    from tests.support.crm.salesforce_server import SalesforceServer, stamp

    # Salesforce enforces no per-second limit (a daily allocation and concurrency); the loopback org's sliding window
    # sits 10% above the connector's pace, which a client spacing its requests exactly at a window's limit would
    # cross now and then by network jitter alone (a 429 and a one-second Retry-After each)
    sf = SalesforceServer(SF_TOKEN, daily_max=10**9, batch_size=SF_QUERY_BATCH,
                          max_per_second=SF_ORG_MARGIN * SF_RATE * spec["scale"])
    users = [sf.add("User", {"Email": email, "IsActive": True, "Name": name, "FirstName": name.split()[0],
                             "LastName": name.split()[-1]}) for email, name in spec["owners"]]
    start = datetime.now(UTC) - SPAN
    n = spec["contacts"]
    step = SPAN / max(1, n)

    def leads() -> Iterator[dict[str, Any]]:
        for i in range(n):
            p = person(i)
            yield {"Email": p["email"], "FirstName": p["first"], "LastName": p["last"], "Company": p["company"],
                   "Title": p["title"], "Phone": p["phone"], "Country": p["country"], "Status": "Open - Not Contacted",
                   "LeadSource": "Web" if i % 3 else "Advertisement", "IsConverted": False,
                   "SystemModstamp": stamp(start + i * step)}
    lead_ids = sf.add_many("Lead", leads())
    counts = split(spec["activities"], SF_SPLIT)

    def tasks(k: int) -> Iterator[dict[str, Any]]:
        astep = SPAN / max(1, k)
        for i in range(k):
            at = start + i * astep
            kind = ("Call", "Email", "Task")[i % 3]
            done = kind != "Task" or i % 10 != 2
            yield {"WhoId": lead_ids[i % len(lead_ids)], "OwnerId": users[i % len(users)], "Subject": f"{kind} {i}",
                   "TaskSubtype": kind, "Type": kind if kind != "Task" else "Other",
                   "Status": "Completed" if done else "Not Started", "IsClosed": done,
                   "ActivityDate": at.date().isoformat(), "CompletedDateTime": stamp(at) if done else None,
                   "CreatedDate": stamp(at), "SystemModstamp": stamp(at)}

    def events(k: int) -> Iterator[dict[str, Any]]:
        astep = SPAN / max(1, k)
        for i in range(k):
            at = start + i * astep
            yield {"WhoId": lead_ids[i % len(lead_ids)], "OwnerId": users[i % len(users)], "Subject": "Demo",
                   "StartDateTime": stamp(at), "EndDateTime": stamp(at + timedelta(minutes=30)), "Type": "Meeting",
                   "CreatedDate": stamp(at), "SystemModstamp": stamp(at)}
    if n:
        if counts["Task"]:
            sf.add_many("Task", tasks(counts["Task"]))
        if counts["Event"]:
            sf.add_many("Event", events(counts["Event"]))
    return sf.start(), {"url": sf.url, "owners": users, "people": lead_ids}


def crm_stats(crm: str, server: Any) -> dict[str, Any]:
    if crm == "hubspot":
        from tests.support.crm.hubspot_server import GENERAL, SEARCH

        stats = server.stats
        return {name: {"served": stats[p]["served"], "throttled": stats[p]["throttled"], "used_share": server.used_share(p)}
                for name, p in (("search", SEARCH), ("default", GENERAL))}
    return {"default": {"served": server.stats["api"], "throttled": server.stats["throttled"], "used_share": math.nan}}


def crm_reset(crm: str, server: Any) -> None:
    if crm == "hubspot":
        server.reset_stats()
    else:
        server.stats.clear()


def serve(pipe: Any, crm: str, spec: dict[str, Any]) -> None:
    """The CRM's process: build it, send its address, then answer ``stats``, ``reset`` and ``stop``."""
    t = time.perf_counter()
    server, info = (build_hubspot if crm == "hubspot" else build_salesforce)(spec)
    pipe.send({**info, "setup_seconds": time.perf_counter() - t})
    while True:
        cmd = pipe.recv()
        if cmd == "stats":
            pipe.send(crm_stats(crm, server))
        elif cmd == "reset":
            crm_reset(crm, server)
            pipe.send(True)
        else:
            server.stop()
            pipe.send(True)
            return


class Portal:
    """The loopback CRM seen from the benchmark: in a process of its own (default) or on threads of this one."""

    def __init__(self, crm: str, spec: dict[str, Any], in_process: bool) -> None:
        self.crm, self.in_process = crm, in_process
        if in_process:
            t = time.perf_counter()
            self.server, info = (build_hubspot if crm == "hubspot" else build_salesforce)(spec)
            self.info = {**info, "setup_seconds": time.perf_counter() - t}
            return
        ctx = mp.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, crm, spec), name=f"{crm}-loopback", daemon=True)
        self.proc.start()
        self.info = self.pipe.recv()

    def _ask(self, cmd: str) -> Any:
        self.pipe.send(cmd)
        return self.pipe.recv()

    def stats(self) -> dict[str, Any]:
        return crm_stats(self.crm, self.server) if self.in_process else self._ask("stats")

    def reset(self) -> None:
        if self.in_process:
            crm_reset(self.crm, self.server)
        else:
            self._ask("reset")

    def stop(self) -> None:
        if self.in_process:
            self.server.stop()
            return
        self._ask("stop")
        self.proc.join(10)


# --------------------------------------------------------------------------- what each CRM is, for the benchmark


class HubSpot:
    name, people, person_word = "hubspot", "contacts", "contacts"
    objects = tuple(HS_SPLIT)
    read_limiter, write_limiter = "search", "default"
    owner_property = "hubspot_owner_id"

    def __init__(self, scale: float, page_size: int) -> None:
        self.scale, self.page_size = scale, page_size
        self.rates = {"search": SEARCH_RATE * scale, "default": GENERAL_LIMIT / GENERAL_WINDOW * scale}

    def allowance(self) -> str:
        return (f"search {self.rates['search']:g}/s, general {GENERAL_LIMIT * self.scale:g} per 10 s "
                f"({self.rates['default']:g}/s); search page size {self.page_size}")

    def connector(self, url: str, **over: Any) -> Any:
        from leadops.crm.config import HubSpotConnector

        os.environ["HUBSPOT_ACCESS_TOKEN"] = HS_TOKEN
        return HubSpotConnector(name="hubspot", kind="hubspot", base_url=url, source="web_form", page_size=self.page_size,
                                requests_per_10s=GENERAL_LIMIT * self.scale, search_per_second=SEARCH_RATE * self.scale,
                                **over)

    def minimum_read(self, obj: str, n: int) -> dict[str, int]:
        out = {"search": math.ceil(n / self.page_size)}
        if obj != self.people:
            out["default"] = math.ceil(n / ASSOCIATION_BATCH)
        return out

    def minimum_write(self, n: int) -> tuple[dict[str, int], str]:
        return {"default": 2 * math.ceil(n / HS_BATCH)}, f"a stamp check and an update per {HS_BATCH} records"

    def bare(self, url: str, limiters: dict[str, Any]) -> BareHubSpot:
        return BareHubSpot(url, limiters, self)


class Salesforce:
    name, people, person_word = "salesforce", "Lead", "Leads"
    objects = tuple(SF_SPLIT)
    read_limiter = write_limiter = "default"
    owner_property = "OwnerId"

    def __init__(self, scale: float, page_size: int) -> None:
        self.scale, self.page_size = scale, page_size
        self.rates = {"default": SF_RATE * scale}

    def allowance(self) -> str:
        return (f"{self.rates['default']:g} requests/s (the connector's requests_per_second; the loopback org answers "
                f"429 above {self.rates['default'] * SF_ORG_MARGIN:g}/s); SOQL batches of {SF_QUERY_BATCH}")

    def connector(self, url: str, **over: Any) -> Any:
        from leadops.crm.config import SalesforceConnector

        os.environ["SALESFORCE_ACCESS_TOKEN"] = SF_TOKEN
        return SalesforceConnector(name="salesforce", kind="salesforce", instance_url=url, source="web_form",
                                   api_version=SF_VERSION, requests_per_second=SF_RATE * self.scale, **over)

    def minimum_read(self, obj: str, n: int) -> dict[str, int]:
        return {"default": max(1, math.ceil(n / SF_QUERY_BATCH))}

    def minimum_write(self, n: int) -> tuple[dict[str, int], str]:
        from leadops.crm.connection import BULK_JOB

        stamps = math.ceil(n / SF_COLLECTION)
        if n > SF_BULK_ABOVE:  # one Bulk API 2.0 job per BULK_JOB records: create, upload, close, status, 2 results
            return ({"default": stamps + 6 * math.ceil(n / BULK_JOB)},
                    f"a stamp query per {SF_COLLECTION} records and a Bulk API 2.0 job of 6 requests per {BULK_JOB:,}")
        return ({"default": 2 * stamps}, f"a stamp query and a Collections update per {SF_COLLECTION} records")

    def bare(self, url: str, limiters: dict[str, Any]) -> BareSalesforce:
        return BareSalesforce(url, limiters, self)


# --------------------------------------------------------------------------- instruments (no leadops change)


class WaitCounter:
    """A limiter wrapper adding up the seconds its callers waited for a slot."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.waited = inner, 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        waited = float(self.inner.acquire())
        with self._lock:
            self.waited += waited
        return waited


class TimedUnits:
    """A unit-of-work factory adding up the seconds the calling (main) thread spends inside units of work."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory, self.seconds, self.units = factory, 0.0, 0
        self.main = threading.get_ident()

    def __call__(self) -> Any:
        return _TimedUnit(self, self.factory())


class _TimedUnit:
    def __init__(self, owner: TimedUnits, uow: Any) -> None:
        self.owner, self.uow, self.t = owner, uow, 0.0

    def __enter__(self) -> Any:
        self.t = time.perf_counter()
        return self.uow.__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            self.uow.__exit__(*exc)
        finally:
            if threading.get_ident() == self.owner.main:  # the outbox heartbeat's renewals are not the phase's work
                self.owner.seconds += time.perf_counter() - self.t
                self.owner.units += 1


class Observed:
    """A leadops Connection seen through: per object read, when it started, when its fetching ended, and the
    instruments' readings then; the seconds the write-back spent in CRM calls."""

    def __init__(self, conn: Any, units: TimedUnits, waits: dict[str, WaitCounter]) -> None:
        self._conn, self._units, self._waits = conn, units, waits
        self.marks: list[tuple[str, dict[str, Any]]] = []
        self.fetched: dict[str, float] = {}
        self.crm_seconds = 0.0
        self.first_write: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def reading(self) -> dict[str, Any]:
        return {"t": time.perf_counter(), "requests": dict(self._conn.usage()["requests"]), "units": self._units.seconds,
                "waited": {n: w.waited for n, w in self._waits.items()}}

    def _watch(self, obj: str, pages: Iterator[Any]) -> Iterator[Any]:
        yield from pages
        self.fetched[obj] = time.perf_counter()

    def records(self, obj: str, since: datetime | None) -> Iterator[Any]:
        self.marks.append((obj, self.reading()))
        return self._watch(obj, self._conn.records(obj, since))

    def activities(self, obj: str, since: datetime | None) -> Iterator[Any]:
        self.marks.append((obj, self.reading()))
        return self._watch(obj, self._conn.activities(obj, since))

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        t = time.perf_counter()
        self.first_write = self.first_write or t
        try:
            return fn(*args)
        finally:
            self.crm_seconds += time.perf_counter() - t

    def read_modified_at(self, obj: str, ids: Any) -> Any:
        return self._timed(self._conn.read_modified_at, obj, ids)

    def update(self, obj: str, updates: Any) -> Any:
        return self._timed(self._conn.update, obj, updates)


def _profiler(prefix: str | None) -> Any:
    if not prefix:
        return None
    import cProfile

    p = cProfile.Profile()
    p.enable()
    return p


def _dump(profiler: Any, prefix: str | None, phase: str) -> None:
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{prefix}-{phase}.prof")


# --------------------------------------------------------------------------- database


def private_database(url: str | None, tmp: Path) -> tuple[str, Callable[[], None]]:
    """Return the run's database URL and how to drop it: a SQLite file in ``tmp``, or a schema of its own in the
    PostgreSQL database of ``url`` (as bench/common.py does for the other benchmarks)."""
    if not url or url.startswith("sqlite"):
        return url or f"sqlite:///{tmp / 'crm.db'}", lambda: None
    from sqlalchemy import create_engine, text

    schema = f"bench_crm_{os.getpid()}"
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"'))

    private = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"

    def drop() -> None:
        from leadops.db.session import get_engine

        get_engine(private).dispose()
        with engine.begin() as c:
            c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
    return private, drop


def prepare(url: str, tmp: Path) -> tuple[Any, Any]:
    """Migrate, load the roster; returns (rules, settings)."""
    from leadops.config import get_settings, load_rules
    from leadops.db.migrate import upgrade
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.roster import apply_roster

    upgrade(url)
    rules = load_rules(ROOT / "config")
    with SqlUnitOfWork(url) as uow:
        apply_roster(uow, rules.roster)
    settings = get_settings(database_url=url, var_dir=tmp / "var", config_dir=ROOT / "config",
                            expectations_dir=ROOT / "expectations")
    return rules, settings


def assign_owners(url: str, n: int) -> int:
    """Give the first ``n`` leads (by id: the oldest records read) an owner, round-robin over the active SDRs, and
    stage ``sal``, directly in the database; returns how many."""
    from sqlalchemy import select, update

    from leadops.db.models import Lead, Sdr
    from leadops.db.session import session_scope

    with session_scope(url) as s:
        sdrs = list(s.scalars(select(Sdr.id).where(Sdr.role == "sdr", Sdr.active.is_(True)).order_by(Sdr.id)))
        ids = list(s.scalars(select(Lead.id).order_by(Lead.id).limit(n)))
        rows = [{"id": i, "owner_sdr_id": sdrs[k % len(sdrs)], "lifecycle_stage": "sal"} for k, i in enumerate(ids)]
        for start in range(0, len(rows), 5000):
            s.execute(update(Lead), rows[start:start + 5000])
    return len(ids)


def owned_records(url: str, connector: str) -> list[str]:
    """Return the CRM ids of the leads given an owner, in lead order (what the bare loop writes)."""
    from sqlalchemy import select

    from leadops.db.models import CrmLink, Lead
    from leadops.db.session import session_scope

    with session_scope(url) as s:
        return list(s.scalars(select(CrmLink.external_id).join(Lead, Lead.id == CrmLink.lead_id)
                              .where(CrmLink.connector == connector, Lead.owner_sdr_id.is_not(None)).order_by(Lead.id)))


def table_counts(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from leadops.db.models import Activity, CrmLink, Lead
    from leadops.db.session import session_scope

    with session_scope(url) as s:
        return {name: int(s.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in (("leads", Lead), ("activities", Activity), ("crm_records", CrmLink))}


# --------------------------------------------------------------------------- leadops


def instrumented(crm: Any, base_url: str, url: str, **over: Any) -> tuple[Observed, TimedUnits, dict[str, WaitCounter]]:
    """Return leadops' connection to the CRM (``connect``: its own limiters) seen through the instruments."""
    from leadops.crm.connection import connect
    from leadops.db.unit_of_work import sql_units

    conn = connect(crm.connector(base_url, **over), url)
    transport = conn.client.transport  # type: ignore[attr-defined]
    waits = {name: WaitCounter(limiter) for name, limiter in transport.limiters.items()}
    transport.limiters = dict(waits)
    units = TimedUnits(sql_units(url))
    return Observed(conn, units, waits), units, waits


def leadops_read(crm: Any, base_url: str, url: str, a: argparse.Namespace, rules: Any, settings: Any) -> dict[str, Any]:
    """Run ``leadops.crm.sync.read`` once (the first sync); returns per-object figures."""
    from leadops.crm import sync

    conn, units, _ = instrumented(crm, base_url, url)
    profiler = _profiler(a.profile)
    t0 = time.perf_counter()
    out = sync.read(units, conn, rules, settings)
    end = conn.reading()
    _dump(profiler, a.profile, "read")
    if out.error:
        sys.exit(f"leadops read failed: {out.error}")
    objects = {}
    for k, (obj, start) in enumerate(conn.marks):
        stop = conn.marks[k + 1][1] if k + 1 < len(conn.marks) else end
        o = next(x for x in out.objects if x.object == obj)
        seconds = stop["t"] - start["t"]
        objects[obj] = {"seconds": seconds, "read": o.read, "pages": o.pages, "created": o.created,
                        "other": o.merged + o.quarantined + o.skipped + o.unmatched,
                        "requests": {n: stop["requests"].get(n, 0) - start["requests"].get(n, 0) for n in stop["requests"]},
                        "units": stop["units"] - start["units"],
                        "waited": {n: stop["waited"][n] - start["waited"][n] for n in stop["waited"]},
                        "lag": stop["t"] - conn.fetched.get(obj, stop["t"])}
    return {"seconds": end["t"] - t0, "objects": objects, "usage": out.usage, "owners_mapped": out.owners_mapped,
            "before_first": conn.marks[0][1]["t"] - t0 if conn.marks else 0.0}


def leadops_write_back(crm: Any, base_url: str, url: str, a: argparse.Namespace, rules: Any) -> dict[str, Any]:
    """Run ``leadops.crm.sync.write_back`` once; returns its outcome, its plan and delivery times and instruments."""
    from leadops.crm import sync

    conn, units, waits = instrumented(crm, base_url, url, write_back={"fields": {"owner": crm.owner_property}})
    before = conn.reading()
    profiler = _profiler(a.profile)
    t0 = time.perf_counter()
    out = sync.write_back(units, conn, rules)
    t1 = time.perf_counter()
    after = conn.reading()
    _dump(profiler, a.profile, "writeback")
    if out.error:
        sys.exit(f"leadops write-back failed: {out.error}")
    start = conn.first_write or t1
    d = out.delivery
    throttled = conn.usage()["throttled"]
    return {"seconds": t1 - t0, "plan_seconds": start - t0, "delivery_seconds": t1 - start,
            "queued": out.plan.queued if out.plan else 0, "written": d.written if d else 0,
            "conflicts": d.conflicts if d else 0, "failed": d.failed if d else 0, "retry": d.retry if d else 0,
            "crm_seconds": conn.crm_seconds, "units": units.seconds,
            "requests": {n: after["requests"].get(n, 0) - before["requests"].get(n, 0) for n in after["requests"]},
            "throttled": sum(throttled.values()), "waited": {n: w.waited for n, w in waits.items()}}


# --------------------------------------------------------------------------- the bare loops (no leadops)


class Free:
    def acquire(self) -> float:
        return 0.0


class BareBase:
    """Requests through ``requests`` and the given limiters; a 429 is retried after the Retry-After or a second (and
    counted), any other error stops the benchmark."""

    token = ""

    def __init__(self, base_url: str, limiters: dict[str, Any], crm: Any) -> None:
        import requests

        self.base, self.limiters, self.crm = base_url.rstrip("/"), limiters, crm
        self.http = requests.Session()
        self.headers = {"Accept": "application/json", "Authorization": f"Bearer {self.token}"}
        self.requests = dict.fromkeys(limiters, 0)
        self.throttled = dict.fromkeys(limiters, 0)

    def send(self, method: str, path: str, limiter: str = "default", *, raw: bool = False,
             headers_extra: dict[str, str] | None = None, **kw: Any) -> Any:
        url = path if path.startswith("http") else self.base + path
        while True:
            self.limiters[limiter].acquire()
            self.requests[limiter] += 1
            resp = self.http.request(method, url, headers={**self.headers, **(headers_extra or {})}, timeout=120, **kw)
            if resp.status_code == 429:
                self.throttled[limiter] += 1
                time.sleep(float(resp.headers.get("Retry-After") or 1))
                continue
            if resp.status_code >= 400:
                raise SystemExit(f"bare loop: {method} {path[:80]}: HTTP {resp.status_code}: {resp.text[:300]}")
            return resp.text if raw else resp.json()


class BareHubSpot(BareBase):
    """The requests leadops' HubSpot client sends for a first read and a write-back of owners."""

    token = HS_TOKEN

    def search(self, obj: str, props: list[str], page: int, limit: int | None) -> Iterator[list[dict[str, Any]]]:
        """Page through the records of ``obj`` oldest first, moving the window before the 10,000-result cap (GTE the
        last stamp: the records at it are read again); stops after ``limit`` records."""
        mod = "lastmodifieddate" if obj == "contacts" else "hs_lastmodifieddate"
        seen: set[str] = set()
        floor: int | None = None
        while True:
            body: dict[str, Any] = {"filterGroups": [] if floor is None else [{"filters": [
                {"propertyName": mod, "operator": "GTE", "value": str(floor)}]}],
                "sorts": [{"propertyName": mod, "direction": "ASCENDING"}], "properties": [*props, mod], "limit": page}
            after, last = 0, floor
            while True:
                if after:
                    body["after"] = str(after)
                data = self.send("POST", f"/crm/v3/objects/{obj}/search", "search", json=body)
                results = data.get("results") or []
                seen.update(r["id"] for r in results)
                if results:
                    last = _epoch_ms(results[-1]["properties"][mod])
                    yield results
                if limit is not None and len(seen) >= limit:
                    return
                nxt = ((data.get("paging") or {}).get("next") or {}).get("after")
                if not results or not nxt:
                    return
                after = int(nxt)
                if after + page > SEARCH_CAP:
                    break
            if last == floor:
                raise SystemExit(f"bare loop: search {obj}: a window of one stamp; not handled here")
            floor = last

    def owners(self) -> None:
        self.send("GET", "/crm/v3/owners", params={"limit": 500, "archived": "false"})

    def read(self, obj: str, limit: int | None) -> int:
        """Read ``obj`` (and, for engagements, each page's contacts by the v4 batch read, one request a page as
        leadops sends them); returns the records read."""
        from leadops.crm.mapping import HUBSPOT_ACTIVITY_PROPERTIES, read_properties

        props = read_properties(self.crm.connector(self.base), obj) if obj == "contacts" \
            else list(HUBSPOT_ACTIVITY_PROPERTIES[obj])
        ids: set[str] = set()
        for results in self.search(obj, props, self.crm.page_size, limit):
            ids.update(r["id"] for r in results)
            if obj != "contacts":
                self.send("POST", f"/crm/v4/associations/{obj}/contacts/batch/read",
                          json={"inputs": [{"id": r["id"]} for r in results]})
        return len(ids)

    def write(self, ids: list[str], owners: list[str]) -> int:
        """For each 100 records: read their stamps, then write their owners (round-robin); returns records written."""
        written = 0
        for start in range(0, len(ids), HS_BATCH):
            chunk = ids[start:start + HS_BATCH]
            self.send("POST", "/crm/v3/objects/contacts/batch/read",
                      json={"properties": ["lastmodifieddate"], "inputs": [{"id": i} for i in chunk]})
            data = self.send("POST", "/crm/v3/objects/contacts/batch/update", json={"inputs": [
                {"id": i, "properties": {"hubspot_owner_id": owners[(start + k) % len(owners)]}}
                for k, i in enumerate(chunk)]})
            written += len(data.get("results") or [])
        return written


class BareSalesforce(BareBase):
    """The requests leadops' Salesforce client sends for a first read and a write-back of owners."""

    token = SF_TOKEN

    def query(self, soql: str, limit: int | None = None) -> Iterator[list[dict[str, Any]]]:
        data = self.send("GET", f"/services/data/v{SF_VERSION}/query", params={"q": soql})
        read = 0
        while True:
            records = data.get("records") or []
            read += len(records)
            yield records
            if data.get("done", True) or not data.get("nextRecordsUrl") or (limit is not None and read >= limit):
                return
            data = self.send("GET", data["nextRecordsUrl"])

    def owners(self) -> None:
        for _ in self.query("SELECT Id, Email FROM User WHERE IsActive = true"):
            pass

    def read(self, obj: str, limit: int | None) -> int:
        from leadops.crm.mapping import SALESFORCE_ACTIVITY_FIELDS, read_properties

        cfg = self.crm.connector(self.base)
        fields = read_properties(cfg, obj) if obj == "Lead" else list(SALESFORCE_ACTIVITY_FIELDS[obj])
        where = cfg.where.get(obj) if obj == "Lead" else "WhoId != null"
        select = ["Id", "SystemModstamp", *[f for f in dict.fromkeys(fields) if f not in ("Id", "SystemModstamp")]]
        soql = f"SELECT {', '.join(select)} FROM {obj} WHERE ({where}) ORDER BY SystemModstamp, Id"  # noqa: S608
        return sum(len(batch) for batch in self.query(soql, limit))

    def stamps(self, ids: list[str]) -> None:
        """Read the records' SystemModstamp, 200 ids a query (the client's IN lists)."""
        for start in range(0, len(ids), SF_COLLECTION):
            quoted = ", ".join(f"'{i}'" for i in ids[start:start + SF_COLLECTION])
            for _ in self.query(f"SELECT Id, SystemModstamp FROM Lead WHERE Id IN ({quoted})"):  # noqa: S608
                pass

    def bulk(self, chunk: list[str], owners: list[str], first: int) -> int:
        """One Bulk API 2.0 update job: create, upload the CSV, close, poll, read both results files."""
        base = f"/services/data/v{SF_VERSION}/jobs/ingest"
        job = self.send("POST", base, json={"object": "Lead", "operation": "update", "contentType": "CSV",
                                            "lineEnding": "LF", "columnDelimiter": "COMMA"})
        csv_text = "Id,OwnerId\n" + "".join(f"{i},{owners[(first + k) % len(owners)]}\n" for k, i in enumerate(chunk))
        self.send("PUT", f"{base}/{job['id']}/batches", data=csv_text.encode(), raw=True,
                  headers_extra={"Content-Type": "text/csv"})
        self.send("PATCH", f"{base}/{job['id']}", json={"state": "UploadComplete"})
        delay = 0.5
        while self.send("GET", f"{base}/{job['id']}").get("state") not in ("JobComplete", "Failed", "Aborted"):
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
        done = self.send("GET", f"{base}/{job['id']}/successfulResults/", raw=True)
        self.send("GET", f"{base}/{job['id']}/failedResults/", raw=True)
        return max(0, len(done.splitlines()) - 1)

    def write(self, ids: list[str], owners: list[str]) -> int:
        """As leadops' delivery does: above bulk_above (2,000) records, per 10,000: the stamps (200 ids a query), one
        Bulk API 2.0 job, the new stamps; else per 200: the stamps, one sObject Collections update, the new stamps
        (neither returns them); returns records written."""
        from leadops.crm.connection import BULK_JOB

        written = 0
        size = BULK_JOB if len(ids) > SF_BULK_ABOVE else SF_COLLECTION
        for start in range(0, len(ids), size):
            chunk = ids[start:start + size]
            self.stamps(chunk)
            if len(chunk) > SF_BULK_ABOVE:
                written += self.bulk(chunk, owners, start)
            else:
                data = self.send("PATCH", f"/services/data/v{SF_VERSION}/composite/sobjects", json={
                    "allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "id": i,
                                                     "OwnerId": owners[(start + k) % len(owners)]}
                                                    for k, i in enumerate(chunk)]})
                written += sum(1 for r in data if r.get("success"))
            self.stamps(chunk)
        return written


def _epoch_ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def bare_limiters(crm: Any, url: str) -> dict[str, WaitCounter]:
    """Fresh limiters of the kind leadops uses on ``url`` (database slots on PostgreSQL, in-process otherwise)."""
    from leadops.db.repositories.enrichment import slot_reserver
    from leadops.providers.limits import DatabaseRateLimiter, RateLimiter

    out = {}
    for name, rate in crm.rates.items():
        reserve = slot_reserver(url, f"bench:bare:{crm.name}:{name}", rate)
        out[name] = WaitCounter(DatabaseRateLimiter(reserve) if reserve is not None else RateLimiter(rate))
    return out


def bare_read(crm: Any, base_url: str, url: str, a: argparse.Namespace, counts: dict[str, int]) -> dict[str, Any]:
    bare = crm.bare(base_url, bare_limiters(crm, url))
    objects = {}
    t0 = time.perf_counter()
    bare.owners()
    for obj, n in counts.items():
        limit = None if a.baseline_share >= 1 else max(1, int(n * a.baseline_share))
        before, waited = dict(bare.requests), {k: w.waited for k, w in bare.limiters.items()}
        t = time.perf_counter()
        read = bare.read(obj, limit)
        seconds = time.perf_counter() - t
        objects[obj] = {"seconds": seconds, "read": read, "requests": {k: bare.requests[k] - before[k] for k in before},
                        "waited": {k: w.waited - waited[k] for k, w in bare.limiters.items()}}
    return {"seconds": time.perf_counter() - t0, "objects": objects, "requests": dict(bare.requests),
            "throttled": sum(bare.throttled.values())}


def bare_write(crm: Any, base_url: str, url: str, a: argparse.Namespace, ids: list[str], owners: list[str]) -> dict[str, Any]:
    bare = crm.bare(base_url, bare_limiters(crm, url))
    ids = ids if a.baseline_share >= 1 else ids[:max(1, int(len(ids) * a.baseline_share))]
    t = time.perf_counter()
    written = bare.write(ids, owners)
    return {"seconds": time.perf_counter() - t, "written": written, "requests": dict(bare.requests),
            "throttled": sum(bare.throttled.values())}


# --------------------------------------------------------------------------- report


def share(requests: float, rate: float, seconds: float) -> float:
    return requests / (rate * seconds) if seconds > 0 else math.nan


def per_s(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else math.nan


def code_state() -> str:
    """The commit leadops was measured at, and whether leadops/ had uncommitted changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout
        except OSError:
            return ""
    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "leadops").splitlines() if len(line) > 3]
    return f"leadops at {head}" + (f" + uncommitted changes to {', '.join(dirty)}" if dirty else " (clean)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crm", choices=["hubspot", "salesforce"], default="hubspot")
    ap.add_argument("--contacts", type=int, default=None, help="people in the CRM: HubSpot contacts or Salesforce Leads "
                                                               "(100000; --quick: 5000)")
    ap.add_argument("--activities", type=int, default=None, help="engagements (500000; --quick: 25000): HubSpot calls, "
                                                                 "emails, meetings, tasks 40/35/10/15; Salesforce Task/Event 85/15")
    ap.add_argument("--write-back", type=int, default=None, help="leads given an owner and written back (100000; "
                                                                 "--quick: 5000)")
    ap.add_argument("--quick", action="store_true", help="5k people, 25k engagements, 5k owners written back")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply the CRM's allowance and leadops' configured rates by S (0.25: 1 HubSpot search/s)")
    ap.add_argument("--page-size", type=int, default=200, help="HubSpot connector page_size (1-200; the connector's "
                                                               "default is 100, HubSpot's maximum 200)")
    ap.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder; a PostgreSQL "
                                                         "URL gets a schema of its own, dropped at the end")
    ap.add_argument("--baseline-share", type=float, default=1.0,
                    help="the bare loop reads and writes this share of each phase's records (rates are compared)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--in-process", action="store_true", help="run the CRM on threads of this process")
    ap.add_argument("--profile", metavar="PREFIX", help="cProfile leadops' phases (main thread) into PREFIX-*.prof")
    add_arguments(ap)
    a = ap.parse_args()
    sizes = {"contacts": 5_000, "activities": 25_000, "write_back": 5_000} if a.quick else \
        {"contacts": 100_000, "activities": 500_000, "write_back": 100_000}
    for key, value in sizes.items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    if not 1 <= a.page_size <= 200 or a.scale <= 0 or not 0 < a.baseline_share <= 1 or a.contacts < 1:
        ap.error("--page-size is 1-200, --scale above 0, --baseline-share in (0, 1], --contacts at least 1")
    rep = Reporter.from_args(a, "crm_sync")
    crm = (HubSpot if a.crm == "hubspot" else Salesforce)(a.scale, a.page_size)

    from leadops.config import load_rules

    roster = load_rules(ROOT / "config").roster
    sdrs = [(str(p.email), p.name) for p in roster.people if p.role == "sdr"]
    counts = {crm.people: a.contacts, **split(a.activities, HS_SPLIT if a.crm == "hubspot" else SF_SPLIT)}
    spec = {"contacts": a.contacts, "activities": a.activities, "scale": a.scale, "owners": sdrs}
    portal = Portal(a.crm, spec, a.in_process)
    where = "threads of this process" if a.in_process else "a process of its own"
    rep.line(f"CRM sync, loopback {a.crm} ({where}): {a.contacts} {crm.person_word}, {a.activities} engagements "
             f"({', '.join(f'{o} {n}' for o, n in counts.items() if o != crm.people)}), {len(sdrs)} SDR owners; "
             f"generated in {portal.info['setup_seconds']:.1f} s")
    rep.line(f"  allowance x{a.scale:g}: {crm.allowance()}; leadops configured at the same rates")
    rep.line(f"  {code_state()}; load average {os.getloadavg()[0]:.2f} at the start, {os.cpu_count()} CPUs")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-crm-") as d:
            url, drop = private_database(a.database_url, Path(d))
            try:
                run(a, rep, crm, portal, url, Path(d), {o: n for o, n in counts.items() if n})
            finally:
                drop()
    finally:
        portal.stop()
    rep.line(f"load average {os.getloadavg()[0]:.2f} at the end")
    rep.finish()


def run(a: argparse.Namespace, rep: Reporter, crm: Any, portal: Portal, url: str, tmp: Path,
        counts: dict[str, int]) -> None:
    base_url = portal.info["url"]
    db = "postgresql" if url.startswith("postgresql") else "sqlite"
    rules, settings = prepare(url, tmp)
    rep.line(f"  database: {db}")

    portal.reset()
    lo = leadops_read(crm, base_url, url, a, rules, settings)
    srv_read = portal.stats()
    got = table_counts(url)
    bare_r = None
    if not a.no_baseline:
        portal.reset()
        bare_r = bare_read(crm, base_url, url, a, counts)

    n_assigned = assign_owners(url, a.write_back)
    portal.reset()
    wb = leadops_write_back(crm, base_url, url, a, rules)
    srv_wb = portal.stats()
    bare_w = None
    if not a.no_baseline:
        portal.reset()
        bare_w = bare_write(crm, base_url, url, a, owned_records(url, crm.name), portal.info["owners"])

    # ---- the read
    bound, rate = crm.read_limiter, crm.rates[crm.read_limiter]
    rep.line("")
    rep.line(f"first read (leadops.crm.sync.read): {lo['seconds']:.1f} s; stored: leads {got['leads']}, activities "
             f"{got['activities']}, crm_records {got['crm_records']}; owners mapped {lo['owners_mapped']}")
    rep.line(f"  {'object':<9}{'read':>7}{'stored':>8}{'other':>7}{'s':>7}{'rec/s':>7}{'req':>6}{'min':>6}{'x min':>7}"
             f"{'share':>7}{'waited':>7}{'busy':>6}{'bare/s':>8}{'ratio':>7}")
    ratios: dict[str, float] = {}
    for obj, v in lo["objects"].items():
        used, minimum = v["requests"].get(bound, 0), crm.minimum_read(obj, counts.get(obj, 0))[bound]
        rps = per_s(v["read"], v["seconds"])
        brps, ratio = math.nan, math.nan
        if bare_r and obj in bare_r["objects"]:
            b = bare_r["objects"][obj]
            brps = per_s(b["read"], b["seconds"])
            ratio = ratios[obj] = brps / rps if rps else math.nan
        rep.line(f"  {obj:<9}{v['read']:>7}{v['created']:>8}{v['other']:>7}{v['seconds']:>7.1f}{rps:>7.0f}{used:>6}"
                 f"{minimum:>6}{used / max(1, minimum):>7.3f}{share(used, rate, v['seconds']):>7.0%}"
                 f"{v['waited'].get(bound, 0.0) / v['seconds']:>7.0%}{v['units'] / v['seconds']:>6.0%}{brps:>8.0f}"
                 f"{ratio:>7.2f}")
    rep.line(f"  (req: {bound} requests; min: records / batch size; share: of the {bound} allowance ({rate:g}/s) over the "
             f"object's time; waited: the fetching thread waiting for a {bound} slot; busy: leadops inside its units "
             f"of work (intake, links, activities); other: merged, quarantined, skipped (open tasks), held; ratio: the "
             f"bare loop's records/s over leadops', i.e. leadops' time over the bare loop's for the same records)")
    people = lo["objects"][crm.people]
    acts = [v for o, v in lo["objects"].items() if o != crm.people]
    act_s, act_n = sum(v["seconds"] for v in acts), sum(v["read"] for v in acts)
    req, thr = lo["usage"]["requests"], lo["usage"]["throttled"]
    rep.line(f"  leads/s {per_s(people['read'], people['seconds']):,.0f}; activities/s {per_s(act_n, act_s):,.0f}; "
             f"{lo['before_first']:.1f} s before the first object (owners)")
    total_min = {n: sum(crm.minimum_read(o, c).get(n, 0) for o, c in counts.items()) for n in crm.rates}
    rep.line("  requests: " + ", ".join(f"{n} {req.get(n, 0)} (minimum {total_min[n]}, {req.get(n, 0) / max(1, total_min[n]):.3f}x)"
                                        for n in crm.rates)
             + f"; 429s {sum(thr.values())} (CRM: " + ", ".join(f"{n} {s['throttled']}" for n, s in srv_read.items()) + ")")
    if a.crm == "hubspot":
        rep.line(f"  (general: the owners list, then one v4 association read per search page of engagements; at "
                 f"{ASSOCIATION_BATCH:,} ids a request {total_min['default']} would do)")
    rep.line(f"  {bound} allowance used over the whole read: {share(req.get(bound, 0), rate, lo['seconds']):.1%}"
             + (f" (the portal's used_share {srv_read[bound]['used_share']:.1%})" if a.crm == "hubspot" else ""))
    for obj, v in lo["objects"].items():
        used_share = share(v["requests"].get(bound, 0), rate, v["seconds"])
        if used_share >= 0.9:
            verdict = f"the CRM ({used_share:.0%} of its {bound} allowance used)"
        elif v["units"] / v["seconds"] > 0.8:
            verdict = "leadops (its units of work fill the time; the fetching thread waits on the prefetch queue)"
        else:
            verdict = "neither: one request at a time, its latency and the hand-offs between threads"
        rep.line(f"  bottleneck, {obj}: {verdict}; intake ended {v['lag']:.1f} s after the last page arrived")
    if bare_r:
        rep.line(f"  bare loop: {bare_r['seconds']:.1f} s, requests " + ", ".join(f"{n} {c}" for n, c in bare_r["requests"].items())
                 + f", 429s {bare_r['throttled']}; {bound} allowance used "
                 f"{share(bare_r['requests'][bound], rate, bare_r['seconds']):.1%}"
                 + (f" (it read {a.baseline_share:.0%} of each object: rates are compared)" if a.baseline_share < 1 else ""))

    # ---- the write-back
    wbound, wrate = crm.write_limiter, crm.rates[crm.write_limiter]
    minimum, how = crm.minimum_write(wb["queued"])
    used = wb["requests"].get(wbound, 0)
    wrps = per_s(wb["written"], wb["delivery_seconds"])
    rep.line("")
    rep.line(f"write-back of owners (leadops.crm.sync.write_back): {n_assigned} leads given an owner directly in the "
             f"database (round-robin over the SDRs, stage sal; no routing)")
    rep.line(f"  planned {wb['queued']} in {wb['plan_seconds']:.1f} s; delivered: {wb['written']} written, "
             f"{wb['conflicts']} conflicts, {wb['failed']} failed, {wb['retry']} to retry, in {wb['delivery_seconds']:.1f} s "
             f"= {wrps:,.0f} records/s ({per_s(wb['written'], wb['seconds']):,.0f} with the plan)")
    rep.line(f"  requests: {wbound} {used} (minimum {minimum[wbound]}: {how}; {used / max(1, minimum[wbound]):.3f}x; "
             f"the owners list included), 429s {wb['throttled']} (CRM: {srv_wb[wbound]['throttled']})")
    wshare = share(used, wrate, wb["delivery_seconds"])
    rep.line(f"  {wbound} allowance used during the delivery: {wshare:.1%} of {wrate:g}/s"
             + (f" (the portal's used_share {srv_wb[wbound]['used_share']:.1%})" if a.crm == "hubspot" else ""))
    rep.line(f"  where the delivery's time went: CRM calls (limiter + HTTP) {wb['crm_seconds'] / wb['delivery_seconds']:.0%}, "
             f"of which waiting for the limiter {wb['waited'].get(wbound, 0.0) / wb['delivery_seconds']:.0%}; leadops' "
             f"units of work {wb['units'] / wb['seconds']:.0%} of the whole write-back (plan included)")
    wratio = math.nan
    if bare_w:
        brps = per_s(bare_w["written"], bare_w["seconds"])
        wratio = brps / wrps if wrps else math.nan
        rep.line(f"  bare loop: {bare_w['written']} written in {bare_w['seconds']:.1f} s = {brps:,.0f} records/s, "
                 f"{wbound} {bare_w['requests'][wbound]}, 429s {bare_w['throttled']}; allowance used "
                 f"{share(bare_w['requests'][wbound], wrate, bare_w['seconds']):.1%}; ratio {wratio:.2f} (bare records/s "
                 f"over leadops' delivery)")

    # ---- summary
    rep.line("")
    rep.line(f"summary ({a.crm}, {db}, allowance x{a.scale:g})")
    rep.line(f"  {'phase':<14}{'leadops rec/s':>14}{'bare rec/s':>12}{'ratio':>7}{'requests / minimum':>20}"
             f"{'allowance used':>16}")
    rows = [(crm.person_word, people, ratios.get(crm.people, math.nan))]
    rows.append(("activities", {"read": act_n, "seconds": act_s, "requests": {
        bound: sum(v["requests"].get(bound, 0) for v in acts)}}, math.nan))
    if bare_r:
        b_acts = [v for o, v in bare_r["objects"].items() if o != crm.people]
        b_rate = per_s(sum(v["read"] for v in b_acts), sum(v["seconds"] for v in b_acts))
        rows[1] = (rows[1][0], rows[1][1], b_rate / per_s(act_n, act_s) if act_n else math.nan)
    for label, v, ratio in rows:
        rps = per_s(v["read"], v["seconds"])
        used_n = v["requests"].get(bound, 0)
        minimum_n = sum(crm.minimum_read(o, c)[bound] for o, c in counts.items()
                        if (o == crm.people) == (label == crm.person_word))
        rep.line(f"  {label:<14}{rps:>14,.0f}{rps * ratio:>12,.0f}{ratio:>7.2f}{used_n / max(1, minimum_n):>19.3f}x"
                 f"{share(used_n, rate, v['seconds']):>16.0%}")
    rep.line(f"  {'write-back':<14}{wrps:>14,.0f}{wrps * wratio:>12,.0f}{wratio:>7.2f}"
             f"{used / max(1, minimum[wbound]):>19.3f}x{wshare:>16.0%}")
    rep.line(f"  (allowance used: {bound} for the reads, {wbound} for the write-back, over each phase's time; ratio: leadops' "
             f"time over the bare loop's for the same records)")

    key = f"crm_sync/{a.crm}/{db}/x{a.scale:g}"
    rep.add(f"{key}/read_share", share(people["requests"].get(bound, 0), rate, people["seconds"]), better="higher",
            leads_per_s=round(per_s(people["read"], people["seconds"])), activities_per_s=round(per_s(act_n, act_s)))
    rep.add(f"{key}/writeback_share", wshare, better="higher", records_per_s=round(wrps))
    if bare_r:
        rep.add(f"{key}/read_ratio", ratios.get(crm.people, math.nan), better="lower")
    if bare_w:
        rep.add(f"{key}/writeback_ratio", wratio, better="lower")
    if a.profile:
        rep.line(f"(leadops' phases ran under cProfile, {a.profile}-*.prof: their times are inflated)")


if __name__ == "__main__":
    main()
