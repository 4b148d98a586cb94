"""A routing chunk's assignments written from one temporary table: loaded once, then a chain of statements inside
the database (assignments, their first-touch SLA clocks, the clocks' "started" events, the SDRs' email
announcements in the outbox, the leads' owners).

On PostgreSQL the ids of the assignments and their clocks are drawn from their sequences first and loaded with
the chunk, so no statement reads back what another wrote: the chain is sent ahead (:mod:`leadops.db.pending`)
and the server writes one chunk while the routing pass decides the next. On SQLite (one process, nothing to
overlap) the later statements find the rows the earlier ones wrote by joins (an active assignment by its lead, a
first-touch clock by its assignment). Either way an announcement's key is built in SQL from its assignment's id.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Column, Connection, Integer, Table, Text
from sqlalchemy.exc import DBAPIError

from leadops.db import pending
from leadops.db.bulk_update import bound, by_key, driver_sql, load_columns, temporary
from leadops.db.models import Assignment, Lead, Notification, SlaClock, SlaEvent

ASSIGNMENTS, CLOCKS, EVENTS, LEADS, OUTBOX = (cast(Table, m.__table__)
                                             for m in (Assignment, SlaClock, SlaEvent, Lead, Notification))

#: the temporary table's columns taken from assignments and from sla_clocks (their types, their bind processing)
_FROM_ASSIGNMENTS = ("lead_id", "sdr_id", "ae_id", "previous_sdr_id", "kind", "rule", "reason")
_FROM_CLOCKS = ("policy", "target_seconds", "due_at")
#: where a connection keeps the names of the assignments' and clocks' id sequences
_SEQUENCES = "leadops.routing_id_sequences"
#: the columns of an assignment's email announcement taken from the chunk (from notification_outbox)
EMAIL = ("recipient", "subject", "body")


def write_chunk(conn: Connection, columns: dict[str, Sequence[Any]], now: datetime, flow_run_id: str | None,
                started: Callable[[str, datetime], str], candidates_json: Callable[[Any], str]) -> list[int]:
    """Write one chunk of assignments given by column (``columns``: ``_FROM_ASSIGNMENTS``, ``candidates`` as
    the domain gives them, ``_FROM_CLOCKS``, and optionally ``EMAIL``; one value per assignment, in order), each
    with its open first-touch clock and its "started" event (``started(policy, due_at)``: its detail), and make
    their SDRs the leads' owners; returns the assignments' ids in the order given (grain: one per assignment).

    With ``EMAIL`` columns, each assignment is also announced: one pending email in the outbox, keyed
    ``assignment:<its id>`` (a key already there is skipped), kind ``assignment``, about its lead.

    Ids are allocated in the order given. On PostgreSQL the statements are sent ahead and this returns
    before the server has run them (:mod:`leadops.db.pending`: the connection's next use waits for them)."""
    n = len(columns["lead_id"])
    emails = EMAIL[0] in columns
    pg = conn.dialect.name == "postgresql"
    ids = _allocate(conn, n) if pg else None
    values = {"seq": list(range(n)), **{c: columns[c] for c in (*_FROM_ASSIGNMENTS, *_FROM_CLOCKS)},
              "candidates": [candidates_json(c) for c in columns["candidates"]],
              "detail": [started(p, d) for p, d in zip(columns["policy"], columns["due_at"], strict=True)],
              **({c: columns[c] for c in EMAIL} if emails else {}),
              **({"assignment_id": ids[0], "clock_id": ids[1]} if ids else {})}
    temp = temporary(conn, "_route_chunk", [
        Column("seq", Integer(), primary_key=True, autoincrement=False),
        *(Column(c, ASSIGNMENTS.c[c].type) for c in _FROM_ASSIGNMENTS), Column("candidates", Text()),
        *(Column(c, CLOCKS.c[c].type) for c in _FROM_CLOCKS), Column("detail", Text()),
        *((Column(c, OUTBOX.c[c].type) for c in EMAIL) if emails else ()),
        *((Column("assignment_id", Integer()), Column("clock_id", Integer())) if ids else ())])
    if ids:
        load_columns(conn, temp, values)
        pending.send(conn, _sent_ahead(conn, temp, values["lead_id"], now, flow_run_id, emails))
        return ids[0]
    try:
        load_columns(conn, temp, values)
        return _chain(conn, temp, values["lead_id"], now, flow_run_id, emails)
    finally:
        temp.drop(conn)


def _allocate(conn: Connection, n: int) -> tuple[list[int], list[int]]:
    """Return ``n`` new ids of assignments and ``n`` of sla_clocks, each ascending (PostgreSQL: drawn from the
    tables' sequences, as their INSERTs would draw them, in one round trip)."""
    sequences = conn.info.get(_SEQUENCES)
    with pending.driver_cursor(conn) as cur:
        if sequences is None:  # named once per connection (schema-qualified: the search path decides)
            cur.execute("SELECT pg_get_serial_sequence('assignments', 'id'), pg_get_serial_sequence('sla_clocks', 'id')")
            sequences = conn.info[_SEQUENCES] = tuple(cur.fetchone())
        # the names bound (not looked up per row: ten times slower)
        cur.execute("SELECT nextval(CAST(%s AS regclass)), nextval(CAST(%s AS regclass)) FROM generate_series(1, %s)",
                    (*sequences, n))
        rows = cur.fetchall()
    return sorted(int(r[0]) for r in rows), sorted(int(r[1]) for r in rows)


def _sent_ahead(conn: Connection, temp: Table, lead_ids: Sequence[int], now: datetime, flow_run_id: str | None,
                emails: bool) -> list[tuple[str, list[Any]]]:
    """Return the chunk's statements from ``temp`` (loaded, ids included: nothing to read back) as (driver SQL,
    parameters), the temporary table's drop last: PostgreSQL's chain, sent without waiting (see ``write_chunk``)."""
    q = conn.dialect.identifier_preparer.quote
    t = conn.dialect.identifier_preparer.format_table(temp)
    # the owners' join planned on the chunk's real row count; the key's statistics only (every column's, the
    # reasons' and candidates' text among them, took ten times as long)
    out: list[tuple[str, list[Any]]] = [(f"ANALYZE {t} (lead_id)", [])]

    def insert(table: Table, named: dict[str, str], fixed: dict[str, Any], tail: str = "") -> None:
        cols = ", ".join(q(c) for c in (*named, *fixed))
        picks = ", ".join([*named.values(), *("?" * len(fixed))])
        out.append((driver_sql(conn, f"INSERT INTO {table.name} ({cols}) SELECT {picks} FROM {t} AS t "  # noqa: S608
                                     f"ORDER BY t.seq{tail}"), [bound(conn, table, c, v) for c, v in fixed.items()]))

    candidates = f"CAST(t.candidates AS {ASSIGNMENTS.c.candidates.type.compile(conn.dialect)})"
    insert(ASSIGNMENTS, {"id": "t.assignment_id", **{c: f"t.{q(c)}" for c in _FROM_ASSIGNMENTS},
                         "candidates": candidates},
           {"status": "assigned", "active": True, "assigned_at": now, "ended_at": None, "flow_run_id": flow_run_id})
    insert(CLOCKS, {"id": "t.clock_id", "lead_id": "t.lead_id", "sdr_id": "t.sdr_id", "assignment_id": "t.assignment_id",
                    **{c: f"t.{q(c)}" for c in _FROM_CLOCKS}},
           {"kind": "first_touch", "started_at": now, "status": "open", "elapsed_seconds": 0, "met_at": None,
            "evaluated_at": None, "touches_required": 1})
    insert(EVENTS, {"clock_id": "t.clock_id", "detail": "t.detail"}, {"step": "started", "at": now, "elapsed_seconds": 0})
    if emails:
        insert(OUTBOX, {"key": "'assignment:' || CAST(t.assignment_id AS VARCHAR)", **{c: f"t.{q(c)}" for c in EMAIL},
                        "lead_id": "t.lead_id"},
               {"kind": "assignment", "channel": "email", "status": "pending", "attempts": 0, "created_at": now},
               f" ON CONFLICT ({q('key')}) DO NOTHING")
    owner = [bound(conn, LEADS, "routing_status", "assigned"), bound(conn, LEADS, "updated_at", now)]
    keyed, bounds = by_key(conn, "leads.id", t, "lead_id", lead_ids)
    out.append((driver_sql(conn, f"UPDATE leads SET owner_sdr_id = t.sdr_id, routing_status = ?, updated_at = ? "  # noqa: S608
                                 f"FROM {t} AS t WHERE leads.id = t.lead_id{keyed}"), [*owner, *bounds]))
    out.append((f"DROP TABLE {t}", []))
    return out


def _chain(conn: Connection, temp: Table, lead_ids: Sequence[int], now: datetime, flow_run_id: str | None,
           emails: bool) -> list[int]:
    """Run the chunk's statements from ``temp`` (loaded; with ``EMAIL`` columns when ``emails``) on SQLite;
    returns the assignments' ids in ``lead_ids`` order."""
    dialect = conn.dialect
    q = dialect.identifier_preparer.quote
    t = dialect.identifier_preparer.format_table(temp)

    def run(sql: str, params: Sequence[Any], fetch: bool = False) -> list[tuple[Any, ...]]:
        # the driver's own cursor: rows come back as plain tuples (SQLAlchemy's rows cost ~3 µs each to build)
        cur = pending.driver_cursor(conn)
        try:
            cur.execute(driver_sql(conn, sql), tuple(params))
            return [tuple(r) for r in cur.fetchall()] if fetch else []
        except dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy raises it (IntegrityError, OperationalError...)
            raise DBAPIError.instance(sql, params, exc, dialect.loaded_dbapi.Error) from None
        finally:
            cur.close()

    fixed = {"status": "assigned", "active": True, "assigned_at": now, "ended_at": None, "flow_run_id": flow_run_id}
    cols = ", ".join(q(c) for c in (*_FROM_ASSIGNMENTS, "candidates", *fixed))
    picks = ", ".join([*(f"t.{q(c)}" for c in _FROM_ASSIGNMENTS), "t.candidates", *("?" * len(fixed))])
    rows = run(f"INSERT INTO assignments ({cols}) SELECT {picks} FROM {t} AS t ORDER BY t.seq "  # noqa: S608 - identifiers
               f"RETURNING lead_id, id", [bound(conn, ASSIGNMENTS, c, v) for c, v in fixed.items()], fetch=True)
    id_of = dict(rows)
    ids = [int(id_of[lead]) for lead in lead_ids]

    # the chunk's leads had no active assignment before it (the partial unique index says so): the active one
    # of each is the one just written. The ids' range bounds both joins to the chunk's rows
    span = [min(ids), max(ids)]
    active = "JOIN assignments AS a ON a.lead_id = t.lead_id AND a.active AND a.id BETWEEN ? AND ?"
    clock = {"kind": "first_touch", "started_at": now, "status": "open", "elapsed_seconds": 0, "met_at": None,
             "evaluated_at": None, "touches_required": 1}
    cols = ", ".join(q(c) for c in ("lead_id", "sdr_id", "assignment_id", *_FROM_CLOCKS, *clock))
    picks = ", ".join(["t.lead_id", "t.sdr_id", "a.id", *(f"t.{q(c)}" for c in _FROM_CLOCKS), *("?" * len(clock))])
    run(f"INSERT INTO sla_clocks ({cols}) SELECT {picks} FROM {t} AS t {active} ORDER BY t.seq",  # noqa: S608
        [*(bound(conn, CLOCKS, c, v) for c, v in clock.items()), *span])

    event = {"step": "started", "at": now, "elapsed_seconds": 0}
    cols = ", ".join(q(c) for c in ("clock_id", "detail", *event))
    run(f"INSERT INTO sla_events ({cols}) SELECT c.id, t.detail, ?, ?, ? FROM {t} AS t {active} "  # noqa: S608
        f"JOIN sla_clocks AS c ON c.assignment_id = a.id AND c.kind = ? AND c.assignment_id BETWEEN ? AND ? "
        f"ORDER BY t.seq", [*(bound(conn, EVENTS, c, v) for c, v in event.items()), *span, "first_touch", *span])

    if emails:
        # the key as the service wrote it in Python (f"assignment:{id}"); ORDER BY: ids in the chunk's order, as
        # before; WHERE true: SQLite's parser needs it to read ON CONFLICT after a SELECT
        note = {"kind": "assignment", "channel": "email", "status": "pending", "attempts": 0, "created_at": now}
        cols = ", ".join(q(c) for c in ("key", *EMAIL, "lead_id", *note))
        picks = ", ".join(["'assignment:' || CAST(a.id AS VARCHAR)", *(f"t.{q(c)}" for c in EMAIL), "t.lead_id",
                           *("?" * len(note))])
        run(f"INSERT INTO notification_outbox ({cols}) SELECT {picks} FROM {t} AS t {active} "  # noqa: S608
            f"WHERE true ORDER BY t.seq ON CONFLICT ({q('key')}) DO NOTHING",
            [*(bound(conn, OUTBOX, c, v) for c, v in note.items()), *span])

    owner = [bound(conn, LEADS, "routing_status", "assigned"), bound(conn, LEADS, "updated_at", now)]
    keyed, bounds = by_key(conn, "leads.id", t, "lead_id", lead_ids)
    run(f"UPDATE leads SET owner_sdr_id = t.sdr_id, routing_status = ?, updated_at = ? FROM {t} AS t "  # noqa: S608
        f"WHERE leads.id = t.lead_id{keyed}", [*owner, *bounds])
    return ids
