"""Set-based updates: load new values by column into a temporary table, then one ``UPDATE ... FROM``.

Executing one UPDATE per row (an executemany) costs SQLAlchemy's parameter handling per row on
both databases and a server round trip per row on PostgreSQL; the scoring and routing passes of
a large batch spent most of their time there. Here the values of each column go through the
column type's bind processor once per column (what is stored is what SQLAlchemy would store),
are loaded into a temporary table (COPY on PostgreSQL, one DBAPI executemany on SQLite), and a
single ``UPDATE target SET ... FROM temp WHERE target.key = temp.key`` applies them (SQLite 3.33+
has ``UPDATE ... FROM``).
"""
from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, Text

from leadops.db.bulk import write_rows

_names = itertools.count()
#: rows from which a temporary table and one statement beat a plain executemany (a table's DDL costs
#: about a millisecond; a routing chunk writes thousands of rows, a single reassignment one)
SET_BASED_FROM = 200


def load_columns(conn: Connection, table: Table, columns: Mapping[str, Sequence[Any]]) -> int:
    """Insert the rows given by column (``columns``: name -> values, all of one length) into ``table``;
    returns the row count. Values go through each column type's bind processor, then to the driver."""
    names = list(columns)
    if not names:
        return 0
    n = len(columns[names[0]])
    if n == 0:
        return 0
    dialect = conn.dialect
    converted = []
    for name in names:
        values = columns[name]
        if len(values) != n:
            raise ValueError(f"load_columns into {table.name}: column {name!r} has {len(values)} values, not {n}")
        process = table.c[name].type._cached_bind_processor(dialect)
        converted.append(list(values) if process is None else [None if v is None else process(v) for v in values])
    write_rows(conn, table, names, zip(*converted, strict=True))
    return n


def _temporary(conn: Connection, name: str, columns: Sequence[Column[Any]]) -> Table:
    """Create and return the temporary table ``name`` (made unique here) of ``columns``; the caller drops it."""
    temp = Table(f"{name}_{next(_names)}", MetaData(), *columns, prefixes=["TEMPORARY"])
    temp.create(conn)
    return temp


def _bound(conn: Connection, table: Table, column: str, value: Any) -> Any:
    """Return ``value`` as the driver receives it for ``table.c[column]`` (its type's bind processing)."""
    process = table.c[column].type._cached_bind_processor(conn.dialect)
    return value if value is None or process is None else process(value)


def _integers(values: Sequence[Any]) -> bool:
    """Return whether every value is an int (not a bool): keys a range can bound."""
    return all(type(v) is int for v in values)


def by_key(conn: Connection, match: str, temp_name: str, temp_key: str, keys: Sequence[Any]) -> tuple[str, list[Any]]:
    """Return ``(" AND <condition>", its parameters)`` that makes each database read the rows an ``UPDATE target ...
    FROM temp WHERE match = temp.key`` changes by key; ``keys``: the temporary table's keys (or their bounds).

    Both planners otherwise join the chunk to every row of the target: SQLite scans the whole table per
    statement (routing or scoring a million leads in chunks was quadratic), PostgreSQL hashes the chunk and scans
    the table for it (80 scans of a million-row table in a routing pass). The IN list makes SQLite look the rows
    up by key; the chunk's key range lets PostgreSQL read them by the primary key's index when they lie close
    together (integer keys only; otherwise nothing is added)."""
    if conn.dialect.name == "sqlite":
        return f" AND {match} IN (SELECT {temp_key} FROM {temp_name})", []  # noqa: S608 - identifiers
    if keys and _integers(keys):
        return f" AND {match} BETWEEN ? AND ?", [min(keys), max(keys)]
    return "", []


def driver_sql(conn: Connection, sql: str) -> str:
    """Return ``sql``, written with ``?`` marks, in the driver's own parameter style (psycopg: ``%s``, its percent
    signs escaped)."""
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("%", "%%").replace("?", "%s")


def update_from(conn: Connection, table: Table, key: str, columns: Mapping[str, Sequence[Any]], *,
                set_sql: Mapping[str, str] | None = None, fixed: Mapping[str, Any] | None = None,
                extra_types: Mapping[str, Any] | None = None, where: str | None = None) -> int:
    """Update the rows of ``table`` whose ``key`` is in ``columns[key]`` with the other columns' values, in one
    statement; returns the number of rows given.

    - ``columns``: name -> values by row (the key's among them). A column of ``table`` is set to the
      new value unless ``set_sql`` says otherwise; names in ``extra_types`` (name -> type) are loaded
      but set nothing themselves (flags that ``set_sql`` expressions read).
    - ``set_sql``: column -> SQL expression over ``t`` (the loaded values) and the table's own name,
      for values that depend on the row (``CASE WHEN t.stage IS NULL THEN leads.stage_changed_at ...``).
      Written by callers from constants, never from input.
    - ``fixed``: column -> one value for every row, bound once as a parameter.
    - ``where``: an extra SQL condition (constant text) on the rows updated.
    """
    n = len(columns[key])
    if n == 0:
        return 0
    extra = dict(extra_types or {})
    names = [c for c in columns if c != key and c not in extra]
    temp = _temporary(conn, f"_set_{table.name}", [
        Column(key, table.c[key].type, primary_key=True), *(Column(c, table.c[c].type) for c in names),
        *(Column(c, t) for c, t in extra.items())])
    try:
        load_columns(conn, temp, columns)
        prep = conn.dialect.identifier_preparer
        tname, temp_name = prep.format_table(table), prep.format_table(temp)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {temp_name}")  # a plan for the join from the real row count
        sets = {c: f"t.{prep.quote(c)}" for c in names}
        sets.update(set_sql or {})
        for c in fixed or {}:
            sets[c] = "?"  # a bound value, in the order the SET list names them
        values = [_bound(conn, table, c, fixed[c]) for c in sets if fixed and c in fixed]
        assignments = ", ".join(f"{prep.quote(c)} = {expr}" for c, expr in sets.items())
        match = f"{tname}.{prep.quote(key)}"
        keyed, bounds = by_key(conn, match, temp_name, prep.quote(key), columns[key])
        sql = (f"UPDATE {tname} SET {assignments} FROM {temp_name} AS t "  # noqa: S608 - identifiers and constant SQL
               f"WHERE {match} = t.{prep.quote(key)}{keyed}" + (f" AND ({where})" if where else ""))
        conn.exec_driver_sql(driver_sql(conn, sql), (*values, *bounds))
    finally:
        temp.drop(conn)
    return n


def insert_from(conn: Connection, table: Table, columns: Mapping[str, Sequence[Any]], *,
                skip_conflicts_on: str | None = None, json_text: Collection[str] = (),
                fixed: Mapping[str, Any] | None = None, returning: Sequence[str] = ()) -> list[tuple[Any, ...]]:
    """Insert the rows given by column (name -> values) into ``table`` through a temporary table and one
    ``INSERT ... SELECT``; returns the ``returning`` columns of the rows inserted (in no particular order; empty
    when none are asked for).

    - ``skip_conflicts_on``: a unique column whose existing values are skipped (``ON CONFLICT (...) DO
      NOTHING``: idempotent keyed inserts).
    - ``json_text``: JSON columns given as JSON text already (stored as that JSON, not as a string).
    - ``fixed``: column -> one value for every row, bound once.
    """
    names = list(columns)
    if not names or not len(columns[names[0]]):
        return []
    temp = _temporary(conn, f"_ins_{table.name}",
                      [Column(c, Text() if c in json_text else table.c[c].type) for c in names])
    try:
        load_columns(conn, temp, columns)
        prep = conn.dialect.identifier_preparer
        pg = conn.dialect.name == "postgresql"
        picks = [f"CAST({prep.quote(c)} AS {table.c[c].type.compile(conn.dialect)})" if c in json_text and pg
                 else prep.quote(c) for c in names]
        values = [_bound(conn, table, c, v) for c, v in (fixed or {}).items()]
        picks += ["?" if conn.dialect.paramstyle == "qmark" else "%s"] * len(values)
        cols = ", ".join(prep.quote(c) for c in [*names, *(fixed or {})])
        # WHERE true: SQLite's parser needs it to read ON CONFLICT after a SELECT
        conflict = f" WHERE true ON CONFLICT ({prep.quote(skip_conflicts_on)}) DO NOTHING" if skip_conflicts_on else ""
        back = f" RETURNING {', '.join(prep.quote(c) for c in returning)}" if returning else ""
        result = conn.exec_driver_sql(f"INSERT INTO {prep.format_table(table)} ({cols}) "  # noqa: S608 - identifiers
                                      f"SELECT {', '.join(picks)} FROM {prep.format_table(temp)}{conflict}{back}",
                                      tuple(values))
        return [tuple(r) for r in result.fetchall()] if returning else []
    finally:
        temp.drop(conn)


def temporary(conn: Connection, name: str, columns: Sequence[Column[Any]]) -> Table:
    """Create and return a temporary table of ``columns`` named after ``name`` (made unique); the caller drops it
    (for a writer that loads a chunk once and runs several statements from it)."""
    return _temporary(conn, name, columns)


def bound(conn: Connection, table: Table, column: str, value: Any) -> Any:
    """Return ``value`` as the driver receives it for ``table.c[column]`` (a value bound once for a whole statement)."""
    return _bound(conn, table, column, value)
