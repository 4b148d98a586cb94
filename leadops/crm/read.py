"""Incremental reads of a CRM into leadops: contacts/leads through intake, engagements as activities.

For each object: read every record modified since the stored watermark minus ``overlap_seconds``, page by
page (pages are fetched ahead on a thread of their own, so the CRM's rate limit, not intake, sets the pace);
each page of leads is admitted as a batch of its own, keyed by its content (a page read twice changes nothing),
through the same gate, normalization, dedupe and quarantine as a file; then each record is linked to the lead
it became (``crm_records``). The watermark moves, in a last unit, only after a complete read: a read cut short
starts again from the old watermark. Activities are stored once per CRM id (``external_key``) with the SDR who
owns them, so a call logged in the CRM stops that SDR's first-touch clock.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from leadops.config import Rules, Settings
from leadops.crm.connection import CONTACT_OF_LEAD, Connection
from leadops.crm.http import CrmError
from leadops.crm.mapping import lead_row, page_digest, seen_values
from leadops.crm.records import CrmRecord
from leadops.db.unit_of_work import UnitOfWorkFactory
from leadops.domain.normalize import normalize_email
from leadops.intake.batches import admit_chunks, open_batch
from leadops.intake.leads import LEADS
from leadops.intake.stages import Check

T = TypeVar("T")
PREFETCH = 8  # pages fetched ahead of intake
GATHER = 1000  # records admitted together at most, when pages wait for intake
#: how long an engagement about a person leadops has not read waits for that person (a contact created with its
#: first meeting between a sync's read of contacts and its read of meetings is read by the next sync)
HOLD_DAYS = 30


@dataclass
class ObjectOutcome:
    """One object's read in one sync (grain: connector and object).

    Leads: ``created`` new leads, ``merged`` into existing ones, ``quarantined`` rows. Activities: ``created`` new
    activities, ``merged`` seen before, ``skipped`` not a touch yet (open tasks), ``unmatched`` about a person
    leadops has not read (held: stored as soon as that person is read, for ``HOLD_DAYS``), ``released`` held by an
    earlier read and stored now, ``expired`` held too long and given up."""

    connector: str
    object: str
    kind: str  # leads | activities
    since: datetime | None
    watermark: datetime | None
    pages: int = 0
    read: int = 0
    created: int = 0
    merged: int = 0
    quarantined: int = 0
    skipped: int = 0
    unchanged: int = 0  # leads: a version read before (nothing to do)
    unmatched: int = 0
    released: int = 0
    expired: int = 0
    duplicate_pages: int = 0
    error: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)


class Prefetch(Iterator[T]):
    """Iterates over ``pages`` while a thread fetches up to ``depth`` pages ahead; an error of the fetch is raised
    here, in order, after the pages fetched before it. ``ready()`` says whether a page (or the end) is waiting.
    ``close()`` (or the end of the iteration) stops the thread at its next page."""

    def __init__(self, pages: Iterator[T], depth: int = PREFETCH) -> None:
        self._box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._over = False
        self._thread = threading.Thread(target=self._pump, args=(pages,), name="crm-prefetch", daemon=True)
        self._thread.start()

    def _pump(self, pages: Iterator[T]) -> None:
        try:
            for page in pages:
                while not self._stop.is_set():
                    try:
                        self._box.put(("page", page), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._box.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._box.put(("error", exc))

    def __next__(self) -> T:
        if self._over:
            raise StopIteration
        kind, value = self._box.get()
        if kind == "page":
            return cast(T, value)
        self.close()
        if kind == "error":
            raise value
        raise StopIteration

    def ready(self) -> bool:
        return not self._box.empty()

    def close(self) -> None:
        self._over = True
        self._stop.set()

    def __del__(self) -> None:
        self._stop.set()


def prefetch(pages: Iterator[T], depth: int = PREFETCH) -> Prefetch[T]:
    """Return ``pages`` fetched ahead on a thread of their own (see :class:`Prefetch`)."""
    return Prefetch(pages, depth)


def gathered(pages: Iterator[list[T]], limit: int = GATHER, depth: int = PREFETCH) -> Iterator[list[list[T]]]:
    """Yield runs of consecutive pages (fetched ahead): each run is the next page plus the pages already waiting, up
    to ``limit`` records. When the CRM sets the pace a run is one page (no added delay); when intake falls behind,
    the waiting pages are admitted together and intake's fixed cost per batch (the gate's suites) is paid once."""
    ahead = prefetch(pages, depth)
    try:
        for first in ahead:
            run = [first]
            while sum(len(p) for p in run) < limit and ahead.ready():
                nxt = next(ahead, None)
                if nxt is None:
                    break
                run.append(nxt)
            yield run
    finally:
        ahead.close()


def _since(watermark: datetime | None, overlap: float) -> datetime | None:
    return None if watermark is None else watermark - timedelta(seconds=overlap)


def read_leads(units: UnitOfWorkFactory, conn: Connection, obj: str, rules: Rules, settings: Settings, *,
               flow_run_id: str | None = None, check: Check | None = None) -> ObjectOutcome:
    """Read the records of ``obj`` modified since the watermark into leads, one batch per page; returns the outcome.
    On a CRM error the pages stored so far stay and the watermark does not move."""
    cfg = conn.cfg
    mark_key = f"{cfg.name}:{obj}"
    with units() as uow:
        watermark = uow.intake.watermark(mark_key)
    out = ObjectOutcome(cfg.name, obj, "leads", _since(watermark, cfg.overlap_seconds), watermark)
    newest = watermark
    try:
        for run in gathered(conn.records(obj, out.since)):
            out.pages += len(run)
            records = [r for page in run for r in page]
            with units() as uow:
                _admit_page(uow, conn, obj, records, out, rules, settings, flow_run_id, check)
            top = max(r.modified_at for r in records)
            newest = top if newest is None or top > newest else newest
    except CrmError as exc:
        out.error = conn.redact(str(exc))
        return out
    with units() as uow:
        uow.intake.set_watermark(mark_key, newest, out.pages)
    out.watermark = newest
    return out


def _admit_page(uow: Any, conn: Connection, obj: str, records: list[CrmRecord], out: ObjectOutcome, rules: Rules,
                settings: Settings, flow_run_id: str | None, check: Check | None) -> None:
    cfg = conn.cfg
    out.read += len(records)
    # a record edited during the read comes twice in a run of pages: its newest version only
    records = list({r.id: r for r in sorted(records, key=lambda r: r.modified_at)}.values())
    known = uow.crm.links(cfg.name, obj, [r.id for r in records])
    # a version read before (the overlap, or leadops' own write-back read again) changes nothing: not admitted again
    fresh = [r for r in records if r.id not in known or r.modified_at > known[r.id].modified_at]
    out.unchanged += len(records) - len(fresh)
    records = fresh
    if not records:
        return
    rows = [lead_row(r, cfg, i, rules.sources.default_source) for i, r in enumerate(records, start=1)]
    for r, row in zip(records, rows, strict=True):
        if r.id in known and known[r.id].lead_id is not None:
            # an edit of a record that is already a lead: merged into it (blanks filled), not a new touch
            row.raw["_refresh"] = "crm edit"
    digest = page_digest(records)
    origin = f"{conn.origin}/{obj}?modified_since={records[0].modified_at.isoformat()}"
    batch, _seen = open_batch(uow.intake, _batch_key(cfg.name, digest),
                              cfg.name, origin, flow_run_id)
    by_row: dict[int, int] = {}
    if batch is None:
        out.duplicate_pages += 1
        out.merged += len(records)  # the same content stored before: nothing changes
    else:
        columns = sorted({k for r in rows for k in r.fields} | {"email"})
        result = admit_chunks(uow, batch, [rows], columns, cfg, rules, settings, stages=LEADS, check=check)
        out.created += result.inserted
        out.merged += result.merged
        out.quarantined += result.quarantined
        for reason, n in result.reasons.items():
            out.reasons[reason] = out.reasons.get(reason, 0) + n
        if result.status == "rejected":
            raise CrmError(f"{cfg.name}: a page of {obj} failed the intake gate: {result.error}")
        by_row = uow.crm.batch_leads(batch.id)  # the lead each row became or was merged into (fuzzy matches too)
    emails = {r.id: normalize_email(r.properties.get(_email_property(cfg, obj))).email for r in records}
    by_email = uow.intake.lead_ids({e for e in emails.values() if e})
    lead_of = {r.id: by_row.get(row.row_number) or by_email.get(emails[r.id] or "") for r, row in zip(records, rows,
                                                                                                   strict=True)}
    links = [dict(object=obj, external_id=r.id, lead_id=lead_of[r.id], modified_at=r.modified_at,
                  seen=seen_values(r, cfg)) for r in records]
    # a HubSpot Leads-object record's person is its contact: engagements find the lead through it
    links += [dict(object=CONTACT_OF_LEAD, external_id=cid, lead_id=lead_of[r.id], modified_at=r.modified_at, seen={})
              for r in records for cid in r.associations.get("contacts", [])]
    uow.crm.save_links(cfg.name, links, datetime.now(UTC))


def _batch_key(connector: str, digest: str) -> str:
    import hashlib

    # the same width as a file's hash; a page's content within this connector
    return hashlib.sha256(f"crm:{connector}:{digest}".encode()).hexdigest()


def _email_property(cfg: Any, obj: str) -> str:
    from leadops.crm.mapping import columns_for

    return next((prop for prop, f in columns_for(cfg, obj).items() if f == "email"), "email")


def read_activities(units: UnitOfWorkFactory, conn: Connection, obj: str, owners: Mapping[str, int]) -> ObjectOutcome:
    """Read the engagements of ``obj`` modified since the watermark into activities; returns the outcome.

    ``owners``: CRM owner id -> SDR id. An engagement about a person no lead of this connector is linked to yet is
    held and counted ``unmatched``: stored when that person is read (``released``), given up after HOLD_DAYS."""
    cfg = conn.cfg
    mark_key = f"{cfg.name}:{obj}"
    with units() as uow:
        watermark = uow.intake.watermark(mark_key)
    out = ObjectOutcome(cfg.name, obj, "activities", _since(watermark, cfg.overlap_seconds), watermark)
    newest = watermark
    with units() as uow:
        _release_held(uow, conn, obj, out)
    try:
        for page in prefetch(conn.activities(obj, out.since)):
            out.pages += 1
            with units() as uow:
                _store_activities(uow, conn, obj, page, owners, out)
            top = max(r.modified_at for r, _ in page)
            newest = top if newest is None or top > newest else newest
    except CrmError as exc:
        out.error = conn.redact(str(exc))
        return out
    with units() as uow:
        uow.intake.set_watermark(mark_key, newest, out.pages)
    out.watermark = newest
    return out


def _store_activities(uow: Any, conn: Connection, obj: str, page: list[tuple[CrmRecord, list[str]]],
                      owners: Mapping[str, int], out: ObjectOutcome) -> None:
    cfg = conn.cfg
    out.read += len(page)
    people = {pid for _, ids in page for pid in ids}
    lead_of = uow.crm.lead_ids(cfg.name, conn.person_objects, people)
    keyed = [(rec, f"{cfg.name}:{obj}:{rec.id}") for rec, _ in page]
    known = uow.intake.known_activity_keys([k for _, k in keyed])
    known |= {f"{cfg.name}:{obj}:{i}" for i in uow.crm.links(cfg.name, obj, [r.id for r, _ in page])}  # held ones
    rows: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for (rec, ids), (_, key) in zip(page, keyed, strict=True):
        if key in known:
            out.merged += 1
            continue
        fact = conn.activity(obj, rec)
        if fact is None or not ids:  # not a touch yet, or about no person of an object leadops reads
            out.skipped += 1
            continue
        lead_id = next((lead_of[i] for i in ids if i in lead_of), None)
        row = dict(lead_id=lead_id, sdr_id=owners.get(rec.properties.get(conn.owner_property(obj)) or ""),
                   kind=fact.kind, outcome=(fact.outcome or None) and fact.outcome[:40],
                   occurred_at=fact.occurred_at, scheduled_for=fact.scheduled_for, detail=fact.detail, external_key=key)
        known.add(key)
        if lead_id is None:
            held.append(dict(external_id=rec.id, modified_at=rec.modified_at, people=list(ids), row=_portable(row)))
            continue
        rows.append(row)
    if rows:
        uow.intake.add_activities(rows)
    uow.crm.hold_activities(cfg.name, obj, held, datetime.now(UTC))
    out.created += len(rows)
    out.unmatched += len(held)


def _portable(row: dict[str, Any]) -> dict[str, Any]:
    """Return an activity row as JSON values (instants as ISO text)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _release_held(uow: Any, conn: Connection, obj: str, out: ObjectOutcome) -> None:
    """Store the held engagements of ``obj`` whose person is now linked; give up on those held past HOLD_DAYS."""
    cfg = conn.cfg
    held = [h for h in uow.crm.held_activities(cfg.name) if h.object == obj]
    if not held:
        return
    lead_of = uow.crm.lead_ids(cfg.name, conn.person_objects, {p for h in held for p in h.seen.get("people", [])})
    known = uow.intake.known_activity_keys([h.seen["held"]["external_key"] for h in held])
    cutoff = datetime.now(UTC) - timedelta(days=HOLD_DAYS)
    rows, done = [], []
    for h in held:
        lead_id = next((lead_of[p] for p in h.seen.get("people", []) if p in lead_of), None)
        row = dict(h.seen["held"])
        if lead_id is not None and row["external_key"] not in known:
            row["lead_id"] = lead_id
            for k in ("occurred_at", "scheduled_for"):
                row[k] = datetime.fromisoformat(row[k]) if row.get(k) else None
            rows.append(row)
            done.append(h.id)
        elif lead_id is not None or h.modified_at < cutoff:
            out.expired += lead_id is None
            done.append(h.id)
    if rows:
        uow.intake.add_activities(rows)
    uow.crm.release_activities(cfg.name, done)
    out.released += len(rows)
