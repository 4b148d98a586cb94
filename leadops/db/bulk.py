"""Bulk inserts for intake: COPY on PostgreSQL, one DBAPI executemany on SQLite.

SQLAlchemy's Core insert processes every parameter of every row in Python, which was the
largest single cost of ingesting a big file. Here values go through each column type's own
bind processor (so what is stored is exactly what SQLAlchemy would store: UTC datetimes,
JSON text, booleans) and then straight to the driver.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, FromClause, Table
from sqlalchemy.orm import Session

from leadops.db import pending


def table_of(model: Any) -> Table:
    """Return the Core table of a mapped class (typed a FromClause on the class; a Table for every model)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


def dialect_insert(session: Session, model: Any) -> Any:
    """Return ``insert(model)`` in the session's dialect (PostgreSQL or SQLite): the construct that has
    ``on_conflict_do_nothing`` (the idempotent inserts of outbox rows, SLA steps and clocks, locks)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert
        return postgresql_insert(model)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert(model)


def bulk_insert(conn: Connection, table: FromClause, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None,
                fixed: dict[str, Any] | None = None) -> int:
    """Insert ``rows`` into ``table`` on ``conn``'s transaction; returns the row count.

    ``columns``: the keys of each row to store (default: all keys of the first row; rows may
    carry others). ``fixed``: values shared by every row (given once, not per row). Other
    columns take their scalar Python default; a missing column whose default is computed (a
    timestamp, a list) is a programming error and raises ``ValueError``.
    No ids come back: callers that need them select them by a unique key afterwards.
    """
    if not rows:
        return 0
    names = list(columns if columns is not None else rows[0])
    fixed = dict(fixed or {})
    for col in table.columns:
        if col.name in names or col.name in fixed or col.primary_key:
            continue
        default: Any = col.default  # a scalar default has .arg
        if default is not None and default.is_scalar:
            fixed[col.name] = default.arg
        elif default is not None:
            raise ValueError(f"bulk_insert into {cast(Table, table).name}: give {col.name!r} (its default is computed per row)")
    dialect = conn.dialect
    processor: dict[str, Any] = {name: table.c[name].type._cached_bind_processor(dialect) for name in [*names, *fixed]}
    # Values needing no conversion (most: strings, numbers) are picked by one C-level itemgetter
    # per row; the others are converted by column (one pass of each type's processor), and the
    # shared values once. The statement lists the columns in that order.
    plain = [n for n in names if processor[n] is None]
    converted = [n for n in names if processor[n] is not None]
    constant = tuple(v if v is None or processor[n] is None else processor[n](v) for n, v in fixed.items())
    columns = plain + converted + list(fixed)
    heads = map(_picker(plain), rows)
    converted_columns = [_converted(list(map(itemgetter(name), rows)), processor[name]) for name in converted]
    if converted_columns:
        tuples = [head + tail + constant for head, tail in zip(heads, zip(*converted_columns, strict=True), strict=True)]
    else:
        tuples = [head + constant for head in heads] if constant else list(heads)
    write_rows(conn, cast(Table, table), columns, tuples)
    return len(rows)


def write_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """Send ``rows`` (driver values of ``columns``, in that order) into ``table``: COPY on PostgreSQL, one DBAPI
    executemany elsewhere."""
    dialect = conn.dialect
    prep = dialect.identifier_preparer
    target = f"{prep.format_table(table)} ({', '.join(prep.quote(c) for c in columns)})"
    if dialect.name == "postgresql":
        with pending.driver_cursor(conn) as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
            for values in rows:
                copy.write_row(values)
    else:
        marks = ", ".join("?" if dialect.paramstyle == "qmark" else "%s" for _ in columns)
        conn.exec_driver_sql(f"INSERT INTO {target} VALUES ({marks})", list(rows))  # noqa: S608 - quoted identifiers, bound values


def _converted(values: list[Any], process: Callable[[Any], Any]) -> list[Any]:
    """Return ``values`` through ``process`` (None stays None; grain: one column of the rows inserted).

    A column of one type whose values repeat (booleans, the batch's instants) is converted once per
    distinct value: calling a type's processor per row was a tenth of a large insert's time. Values
    of mixed types (``True`` and ``1`` are one dict key) or unhashable ones (JSON documents) are
    converted one by one.
    """
    try:
        distinct = dict.fromkeys(values)
    except TypeError:
        distinct = None
    if distinct is None or len(distinct) * 2 > len(values) or len(set(map(type, values)) - {type(None)}) > 1:
        return [v if v is None else process(v) for v in values]
    once = {v: None if v is None else process(v) for v in distinct}
    return list(map(once.__getitem__, values))


def _picker(names: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """Return a function giving a row's values of ``names`` as a tuple (itemgetter gives a bare value for one name)."""
    if len(names) > 1:
        return itemgetter(*names)

    def one(row: dict[str, Any], name: str = names[0] if names else "") -> tuple[Any, ...]:
        return (row[name],)

    return one if names else lambda row: ()


def refresh_statistics(conn: Connection, inserted: int, table: FromClause, columns: Sequence[str] | None = None) -> None:
    """ANALYZE ``table`` (PostgreSQL) when this insert is large against what the planner believes it holds.

    Planner statistics lag a bulk load inside one transaction: without this, intake's next
    chunk looked leads up by email and domain with sequential scans (3x slower overall), and
    enrichment's deletes of a domain's earlier answers scanned its growing tables.
    ``columns``: only those get statistics (the row count is refreshed whatever the columns).
    """
    prep = conn.dialect.identifier_preparer
    name = prep.format_table(cast(Table, table))
    believed = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (name,)).scalar()
    if believed is None or believed < 0 or inserted > 0.5 * believed:
        which = f" ({', '.join(prep.quote(c) for c in columns)})" if columns else ""
        conn.exec_driver_sql(f"ANALYZE {name}{which}")
