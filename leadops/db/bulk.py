"""Bulk inserts for intake: COPY on PostgreSQL, one DBAPI executemany on SQLite.

SQLAlchemy's Core insert processes every parameter of every row in Python, which was the
largest single cost of ingesting a big file. Here values go through each column type's own
bind processor (so what is stored is exactly what SQLAlchemy would store: UTC datetimes,
JSON text, booleans) and then straight to the driver.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.orm import Session


def dialect_insert(session: Session, model: Any):
    """Return ``insert(model)`` in the session's dialect (PostgreSQL or SQLite): the construct that has
    ``on_conflict_do_nothing`` (the idempotent inserts of outbox rows, SLA steps and clocks, locks)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts with the same keys) into ``table`` on ``conn``'s transaction; returns the row count.

    Columns missing from the rows take their scalar Python default; a missing column whose
    default is computed (a timestamp, a list) is a programming error and raises ``ValueError``.
    No ids come back: callers that need them select them by a unique key afterwards.
    """
    if not rows:
        return 0
    names = list(rows[0])
    fixed: dict[str, Any] = {}
    for col in table.columns:
        if col.name in names or col.primary_key:
            continue
        if col.default is not None and col.default.is_scalar:
            fixed[col.name] = col.default.arg
        elif col.default is not None:
            raise ValueError(f"bulk_insert into {table.name}: give {col.name!r} (its default is computed per row)")
    columns = names + list(fixed)
    dialect = conn.dialect
    processors = [table.c[name].type._cached_bind_processor(dialect) for name in columns]
    fixed_values = list(fixed.values())

    converted = [(i, p) for i, p in enumerate(processors) if p is not None]

    def values(row: dict[str, Any]) -> tuple:
        vals = [row[name] for name in names] + fixed_values
        for i, p in converted:
            if vals[i] is not None:
                vals[i] = p(vals[i])
        return tuple(vals)

    prep = dialect.identifier_preparer
    target = f"{prep.format_table(table)} ({', '.join(prep.quote(c) for c in columns)})"
    if dialect.name == "postgresql":
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(values(row))
    else:
        marks = ", ".join("?" if dialect.paramstyle == "qmark" else "%s" for _ in columns)
        conn.exec_driver_sql(f"INSERT INTO {target} VALUES ({marks})", [values(r) for r in rows])
    return len(rows)
