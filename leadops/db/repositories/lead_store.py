"""Storing admitted rows as leads: insert new ones in bulk, merge duplicates (exact email, then
fuzzy person + company within a business domain, decided by :mod:`leadops.domain.dedupe`), match
accounts. The set-based SQL behind the intake repository's ``store_leads``
(:class:`leadops.db.repositories.intake.SqlIntakeRepository`), which intake and quarantine release call.
"""
from __future__ import annotations

import typing
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (Connection, FromClause, Table, bindparam, func, insert, select,
                        update)
from sqlalchemy.orm import Session

from leadops.db import pending
from leadops.db.bulk import bulk_insert, refresh_statistics
from leadops.db.bulk_update import bound, driver_sql
from leadops.db.models import Account, Activity, Lead, LeadMerge, LeadStageChange, utcnow
from leadops.domain import dedupe

#: Fuzzy-match candidates kept between the chunks of one file. A domain's people are read from
#: the database once per file while the pool holds them: a smaller pool made a million-row file
#: re-read its domains' leads on every chunk (quadratic). ~120 bytes a person: at most ~120 MB;
#: beyond, the domains used longest ago are dropped (dropping all of them made each later chunk
#: read every one of its domains again: a 3M-row file spent a third of its time there).
POOL_LIMIT = 1_000_000
#: Account ids kept between the chunks of one file (domain or company name -> id, ~150 bytes each).
ACCOUNTS_LIMIT = 500_000


@dataclass
class FileCache:
    """What the chunks of one file share so that each is read from the database once, not per chunk.

    ``people``: fuzzy-match candidates per business email domain (stored leads and the file's
    new ones); ``accounts`` and ``account_names``: account ids found or created, by domain and
    by company key (accounts are never deleted, so a found id stays right). All are caches,
    dropped when they outgrow their limits.
    """

    people: dict[str, dedupe.DomainPeople] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)
    account_names: dict[str, int] = field(default_factory=dict)


# Fields a later row may fill on an existing lead when the lead has none.
MERGEABLE = ("first_name", "last_name", "company", "company_key", "job_title", "seniority", "department", "phone",
             "country", "language", "campaign")


#: The columns of a new lead taken from its normalized record (the record itself is the row inserted).
INSERTED = ("email", "email_domain", "source", "is_free_email", "is_competitor", "is_hand_raiser", "do_not_contact",
            "arrived_at", "source_row", "account_id", *MERGEABLE)


def upsert_leads(session: Session, good: list[dict[str, Any]], batch_id: int, raw_of: Callable[[int], dict[str, Any]],
                 now: datetime, fuzzy_threshold: float = 92.0, origin: str = "",
                 cache: FileCache | None = None) -> tuple[int, int]:
    """Insert new leads and merge duplicates; returns (inserted, merged).

    A row is a duplicate of a stored lead (or an earlier row of the batch) with the same
    normalized email, or, within one business email domain, of the same person at the same
    company by fuzzy match. A merge keeps the earliest lead, fills its blanks, records the
    merge and attaches the row as an engagement activity (so scoring sees the new touch), unless the row is a
    source re-sending a record it sent before (``raw["_refresh"]``: a CRM record edited since it was read).

    ``good`` holds normalized records (:func:`leadops.intake.leads.normalize_row`); the records
    of new leads are completed and inserted as they are. ``raw_of(row_number)`` returns a row as
    read (kept with its merge). ``cache`` carries the fuzzy-match candidates and account ids from
    one chunk of a file to the next (each domain is read from the database once per file).
    """
    if not good:
        return 0, 0
    session.flush()  # the look-ups below read through the connection: let them see the session's changes
    conn = session.connection()
    emails = sorted({r["email"] for r in good})
    known = [email for (email,) in where_in(conn, Lead.__table__, ["email"], "email", emails)]
    # usually none: a new file brings new people
    existing: dict[str, Stored] = {lead["email"]: lead for lead in _stored_leads(conn, Lead.__table__.c.email, known)}
    cache = cache or FileCache()
    if len(cache.accounts) + len(cache.account_names) > ACCOUNTS_LIMIT:
        cache.accounts.clear()  # caches, not state: bounded so memory stays flat in the file size
        cache.account_names.clear()
    pool = _fuzzy_pool(session, good, cache.people)
    new_people: list[tuple[dedupe.DomainPeople, int]] = []  # (domain list, index) of people new in this batch
    by_domain, by_name = _ensure_accounts(session, good, now, cache)
    pending: dict[str, dict[str, Any]] = {}  # email -> row of a lead new in this batch (bulk-inserted below)
    merges, touches = [], []
    # (record, target, how matched): stored targets found by the fuzzy match are loaded after the loop, all at
    # once (one query per 2,000, not one per merge: ~1.6 ms each on PostgreSQL, 5 s of a 100k-row file)
    matched: list[tuple[dict[str, Any], dict[str, Any] | int, str]] = []
    # (this loop runs once per admitted row: its lookups are kept to what each row needs)
    for rec in good:
        email, domain = rec["email"], rec["email_domain"]
        target: dict[str, Any] | int | None = existing.get(email) if existing else None
        if target is None:
            target = pending.get(email)
        matched_by = "email"
        # the name fuzzy matching compares, None when it does not (personal address, no last name); intake
        # computes match_name while normalizing (in the validation process), other callers may not
        name: str | None = None if rec["is_free_email"] else \
            rec["match_name"] if "match_name" in rec else dedupe.match_name(rec["first_name"], rec["last_name"])
        # nobody of its domain yet: no fuzzy match (most rows are new and unmatched)
        if target is None and name is not None and (people := pool.get(domain)):
            hit = people.best(domain, name, rec["company_key"], fuzzy_threshold)
            if hit is not None:
                key, score = hit
                target = pending[key[1]] if isinstance(key, tuple) else typing.cast(int, key)
                matched_by = f"fuzzy {score:.0f}"
        if target is None:
            rec["source_row"] = rec["row_number"]
            rec["account_id"] = by_domain.get(domain) or by_name.get(rec["company_key"])
            if "do_not_contact" not in rec:
                rec["do_not_contact"] = False
            pending[email] = rec
            if name is not None:
                people = pool.get(domain)
                if people is None:
                    people = pool[domain] = dedupe.DomainPeople()
                new_people.append((people, people.append(("new", email), name, rec["company_key"])))
            continue
        matched.append((rec, target, matched_by))
    loaded = {lead["id"]: lead for lead in existing.values()}
    stored = {t for _, t, _ in matched if isinstance(t, int)} - loaded.keys()
    loaded.update((lead["id"], lead) for lead in _stored_leads(conn, Lead.__table__.c.id, sorted(stored)))
    for rec, found, matched_by in matched:  # in row order, as if merged while reading
        target = loaded[found] if isinstance(found, int) else found
        filled = _merge_into(target, rec)
        raw = raw_of(rec["row_number"])
        merges.append(dict(ingest_batch_id=batch_id, source_row=rec["row_number"], fields_filled=filled,
                           matched_by=matched_by, raw=raw, merged_at=now, target=target))
        if raw.get("_refresh"):
            continue  # the source re-sent a record it sent before (a CRM edit): not a new touch
        touches.append(dict(kind="web", outcome=rec["source"], occurred_at=rec["arrived_at"], target=target,
                            detail=f"merged touch from {Path(origin).name or 'batch ' + str(batch_id)} row {rec['row_number']}",
                            external_key=f"merge:{batch_id}:{rec['row_number']}"))
    _update_stored(session, conn, loaded.values())
    # Driver-level bulk inserts on the session's connection (COPY on PostgreSQL): the ORM and
    # Core paths process every parameter in Python and dominated the time of big files.
    rows = list(pending.values())
    ids = _insert_leads(conn, rows, batch_id, now)
    for people, i in new_people:  # stored now: later chunks see them by lead id
        people.keys[i] = ids[typing.cast(tuple[str, str], people.keys[i])[1]]

    def lead_id(target: dict[str, Any]) -> int:
        return target["id"] if isinstance(target, Stored) else ids[target["email"]]

    if merges:
        bulk_insert(conn, LeadMerge.__table__, [{**_without(m, "target"), "lead_id": lead_id(m["target"])} for m in merges])
    if touches:
        bulk_insert(conn, Activity.__table__, [{**_without(t, "target"), "lead_id": lead_id(t["target"])} for t in touches])
    if conn.dialect.name == "postgresql" and len(rows) >= 1000:
        # the columns intake looks leads up by (half the time of all ~40)
        refresh_statistics(conn, len(rows), Lead.__table__, ["id", "email", "email_domain", "ingest_batch_id"])
    _record_arrivals(conn, ids.values(), batch_id, now)  # last: on PostgreSQL, not waited for
    inserted, merged = len(rows), len(merges)
    return inserted, merged


def _insert_leads(conn: Connection, rows: list[dict[str, Any]], batch_id: int, now: datetime) -> dict[str, int]:
    """Insert ``rows`` (records of new leads of batch ``batch_id``: the :data:`INSERTED` keys); returns email -> new
    lead id (their arrivals in the lifecycle history: :func:`_record_arrivals`).

    Ids are read back as the batch's leads above the highest id before the insert: ids only
    grow (a sequence, SQLite's rowid), so that range holds this insert's rows and, filtered by
    batch, nobody else's. One range scan instead of IN lists of 20k emails per chunk.
    """
    if not rows:
        return {}
    before = conn.execute(select(func.coalesce(func.max(Lead.id), 0))).scalar_one()
    bulk_insert(conn, Lead.__table__, rows, INSERTED, dict(ingest_batch_id=batch_id, lifecycle_stage="new",
                                                         stage_changed_at=now, created_at=now, updated_at=now))
    # the driver's own cursor: plain tuples into a dict in C (SQLAlchemy built a Row per lead: ~3 us each)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cur = pending.driver_cursor(conn)
    try:
        cur.execute(f"SELECT email, id FROM leads WHERE id > {mark} AND ingest_batch_id = {mark}",  # noqa: S608 - bound values
                    (before, batch_id))
        return dict(cur.fetchall())
    finally:
        cur.close()


_ARRIVALS = ("INSERT INTO lead_stage_history (lead_id, from_stage, to_stage, changed_at, cause) "
             "SELECT id, NULL, 'new', ?, 'arrived from ' || source || ? || CAST(source_row AS VARCHAR) || ')' "
             "FROM leads WHERE id BETWEEN ? AND ? AND ingest_batch_id = ?")


def _record_arrivals(conn: Connection, ids: Collection[int], batch_id: int, now: datetime) -> None:
    """Write the arrival in the lifecycle history of each lead of ``ids`` (just inserted by batch ``batch_id``),
    from their rows, in the database (no row per lead built and sent from here).

    On PostgreSQL the statement is sent ahead (:mod:`leadops.db.pending`): the server writes the ~20k arrivals
    of a chunk while intake reads the next one; the next statement on the connection waits for it."""
    if not ids:
        return
    history = typing.cast(Table, LeadStageChange.__table__)
    params = (bound(conn, history, "changed_at", now), f" (batch {batch_id}, row ", min(ids), max(ids), batch_id)
    if conn.dialect.name == "postgresql":
        pending.send(conn, [(driver_sql(conn, _ARRIVALS), params)])
    else:
        conn.exec_driver_sql(_ARRIVALS, params)


def where_in(conn: Connection, table: FromClause, columns: list[str], key: str, values: Sequence[Any]) -> Iterator[Any]:
    """Yield ``columns`` of the rows of ``table`` whose ``key`` is in ``values`` (bound parameters).

    Driver SQL, ``= ANY(array)`` on PostgreSQL and IN lists of at most 2,000 on SQLite:
    SQLAlchemy's expansion of IN lists cost more than the lookups themselves.
    """
    prep = conn.dialect.identifier_preparer
    head = (f"SELECT {', '.join(prep.quote(c) for c in columns)} FROM {prep.format_table(table)} "  # noqa: S608 - quoted names
            f"WHERE {prep.quote(key)}")
    if conn.dialect.name == "postgresql":
        for chunk in _chunks(values, 20_000):
            yield from conn.exec_driver_sql(f"{head} = ANY(%s)", (list(chunk),))
    else:
        for chunk in _chunks(values):
            yield from conn.exec_driver_sql(f"{head} IN ({', '.join(['?'] * len(chunk))})", tuple(chunk))


class Stored(dict[str, Any]):
    """A stored lead that rows of this chunk merge into: its :data:`MERGED` columns as read (``id`` among
    them), changed in place by the merges, and what they were (``read``) to write only what changed."""

    __slots__ = ("read",)

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.read = values


#: The columns of a stored lead that a merge reads or may change (:func:`_merge_into`)
MERGED = ("id", "email", *MERGEABLE, "is_hand_raiser", "do_not_contact", "arrived_at", "scored_at")


def _stored_leads(conn: Connection, key: Any, values: Sequence[Any]) -> Iterator[Stored]:
    """Yield the stored leads whose ``key`` column is in ``values`` (grain: lead), as :class:`Stored` rows.

    Core rows, not ORM objects: loading and flushing a Lead per merge cost ~12 us a column; the
    values are the ORM's (the same column types convert them).
    """
    columns = [Lead.__table__.c[c] for c in MERGED]
    for chunk in _chunks(values):
        for row in conn.execute(select(*columns).where(key.in_(chunk))):
            yield Stored(dict(zip(MERGED, row, strict=True)))


def _update_stored(session: Session, conn: Connection, leads: Iterable[Stored]) -> None:
    """Write the columns the merges changed of each stored lead in ``leads`` (and ``updated_at``), as the ORM's
    flush of a Lead object did: leads nothing changed are not written; one executemany per set of columns."""
    changes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for lead in leads:
        lead["scored_at"] = None  # a new touch: the next scoring pass rescores this lead
        changed = tuple(c for c in MERGED if lead[c] != lead.read[c])
        if changed:
            changes.setdefault(changed, []).append({"_id": lead["id"], **{f"_{c}": lead[c] for c in changed}})
    table = typing.cast(Table, Lead.__table__)
    for changed, rows in changes.items():
        stamp = utcnow()  # the column's onupdate, as the ORM's flush sets it
        conn.execute(update(table).where(table.c.id == bindparam("_id"))
                     .values({**{c: bindparam(f"_{c}") for c in changed}, "updated_at": stamp}), rows)
    if changes:  # a Lead this session loaded earlier would show what it read before this update
        ids = {row["_id"] for rows in changes.values() for row in rows}
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Lead) and obj.id in ids:
                session.expire(obj)


def _merge_into(target: dict[str, Any], rec: dict[str, Any]) -> list[str]:
    """Fill the lead's blanks from ``rec`` (a :class:`Stored` lead or a row not inserted yet); returns the fields
    filled."""
    get = target.get
    filled = [k for k in MERGEABLE if rec.get(k) and not get(k)]
    for k in filled:
        target[k] = rec[k]
    if rec["is_hand_raiser"] and not get("is_hand_raiser"):
        target["is_hand_raiser"] = True  # a known lead asking for a demo is now a hand-raiser
        filled.append("is_hand_raiser")
    if rec.get("do_not_contact") and not get("do_not_contact"):
        target["do_not_contact"] = True  # an opt-out in any later touch holds
        filled.append("do_not_contact")
    if rec["arrived_at"] < get("arrived_at"):
        target["arrived_at"] = rec["arrived_at"]  # the lead is as old as its earliest touch
    return filled


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


def _chunks(values: Sequence[Any], size: int = 2000) -> Iterator[Sequence[Any]]:
    """Return ``values`` in slices of at most ``size`` (bound parameters per IN list: well under SQLite's 32766)."""
    return (values[i:i + size] for i in range(0, len(values), size))


def _fuzzy_pool(session: Session, good: list[dict[str, Any]],
                pool: dict[str, dedupe.DomainPeople]) -> dict[str, dedupe.DomainPeople]:
    """Return ``pool`` completed with the stored people of the batch's business email domains (grain: lead).

    ``pool`` is kept in order of use; past :data:`POOL_LIMIT` people the
    domains used longest ago are dropped (and read again if they come back), never the batch's.
    """
    wanted = {r["email_domain"] for r in good if r["email_domain"] and not r["is_free_email"]}
    for d in wanted & pool.keys():
        pool[d] = pool.pop(d)  # most recently used last
    excess = sum(map(len, pool.values())) - POOL_LIMIT
    while excess > 0:
        oldest = next(iter(pool))
        if oldest in wanted:
            break  # only this batch's domains are left
        excess -= len(pool.pop(oldest))
    domains = sorted(wanted - pool.keys())
    for d in domains:
        pool[d] = dedupe.DomainPeople()
    rows = where_in(session.connection(), Lead.__table__, ["id", "email_domain", "first_name", "last_name", "company_key"],
                    "email_domain", domains)
    for lead_id, domain, first, last, ckey in rows:
        p = dedupe.person(lead_id, domain, first, last, ckey)
        if p is not None:
            pool[domain].add(p)
    return pool


def _ensure_accounts(session: Session, good: list[dict[str, Any]], now: datetime,
                     cache: FileCache) -> tuple[dict[str, int], dict[str, int]]:
    """Match rows to accounts by email domain, then by normalized company name; create missing ones.

    Returns (domain -> account id, company key -> account id), the file's ``cache`` of them
    completed with every business domain and company key of ``good`` (a name match is how
    personal-email leads find their company's account). Ids found before in the file are not
    looked up again.
    """
    by_domain, by_name = cache.accounts, cache.account_names
    names: dict[str, tuple[str | None, str | None]] = {}
    keys: set[str] = set()
    for rec in good:
        key, d = rec["company_key"], rec["email_domain"]
        if key:
            keys.add(key)
        if d and not rec["is_free_email"] and d not in names:
            names[d] = (rec["company"], key)
    conn = session.connection()
    by_domain.update(where_in(conn, Account.__table__, ["domain", "id"], "domain", sorted(names.keys() - by_domain.keys())))
    # the oldest account of a name wins: by id, whatever order the lookups come back in
    for key, acc_id in sorted(where_in(conn, Account.__table__, ["name_key", "id"], "name_key", sorted(keys - by_name.keys())),
                              key=lambda kv: kv[1]):
        by_name.setdefault(key, acc_id)
    new: dict[str, dict[str, Any]] = {}  # domain -> account row to create
    aliases: dict[str, str] = {}  # domain -> domain of a new account of the same company
    first_domain_of: dict[str, str] = {}
    for d in sorted(names.keys() - by_domain.keys()):
        name, key = names[d]
        if key and key in by_name:
            by_domain[d] = by_name[key]  # same company under another domain (acme.com / acme.fr)
        elif key and key in first_domain_of:
            aliases[d] = first_domain_of[key]
        else:
            new[d] = dict(domain=d, name=name, name_key=key, created_at=now)
            if key:
                first_domain_of[key] = d
    if new:
        # Core bulk insert: one ORM flush per account cost a round trip each
        accounts_t = typing.cast(Table, Account.__table__)
        for chunk in _chunks(list(new.values()), 1000):
            for acc_id, domain in conn.execute(insert(accounts_t).returning(accounts_t.c.id, accounts_t.c.domain), chunk):
                by_domain[domain] = acc_id
        for d, row in new.items():
            if row["name_key"]:
                by_name.setdefault(row["name_key"], by_domain[d])
        by_domain.update({d: by_domain[first] for d, first in aliases.items()})
    return by_domain, by_name
