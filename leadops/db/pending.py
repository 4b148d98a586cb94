"""Statements sent to PostgreSQL without waiting for them: the server runs them while this process goes on.

A routing chunk's writes (assignments, clocks, events, announcements, owners) keep the server busy for about a
second per 10,000 leads, and deciding the next chunk keeps this process busy for a fraction of that: sent in
psycopg's pipeline mode and left pending, the two overlap on two cores instead of taking turns.

Whatever uses the connection next waits for them first (:func:`settle`): every statement SQLAlchemy executes
on it, its commit and rollback, the pool's reset, and the driver's own cursors taken through
:func:`driver_cursor`. An error in a pending statement (a unique violation, a lost connection) is raised
there, as SQLAlchemy would raise it, before anything else runs on the connection and before its commit.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError

#: where a connection's pending pipeline is kept: its DBAPI connection's info (kept across pool checkouts)
_KEY = "leadops.pending_pipeline"
_WHAT = "statements sent ahead (leadops.db.pending)"


def send(conn: Connection, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Send ``statements`` (driver SQL, bound parameters), in order, on ``conn``'s PostgreSQL connection and
    return before the server has run them; the next use of the connection waits for them (:func:`settle`).

    They must return no rows (the server would block writing them while nobody reads). An error of one of them
    is raised by this call or by the connection's next use, whichever comes after the server reported it."""
    settle(conn)
    if not conn.in_transaction():
        # the driver opens a transaction for them: SQLAlchemy must know it, or its commit would not send COMMIT
        conn.begin()
    driver: Any = conn.connection.driver_connection
    pipeline = driver.pipeline()
    pipeline.__enter__()
    conn.info[_KEY] = pipeline
    import psycopg

    try:
        with driver.cursor() as cur:
            for sql, params in statements:
                # queued and flushed to the server; no result awaited (one already there is read: an error of an
                # earlier statement of these is raised here)
                cur.execute(sql, tuple(params))
    except psycopg.Error as exc:
        _settle_info(conn.info, quietly=True)
        raise DBAPIError.instance(_WHAT, None, exc, psycopg.Error) from None
    except BaseException:
        _settle_info(conn.info, quietly=True)
        raise


def settle(conn: Connection) -> None:
    """Wait until the statements :func:`send` left pending on ``conn`` have run; raises their first error (a
    SQLAlchemy ``DBAPIError``, e.g. ``IntegrityError``). Does nothing when none is pending."""
    _settle_info(conn.info, quietly=False)


def driver_cursor(conn: Connection) -> Any:
    """Return a cursor of ``conn``'s driver connection once its pending statements have run (the driver's own
    cursors bypass SQLAlchemy's events, which settle them otherwise)."""
    settle(conn)
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def _settle_info(info: dict[Any, Any], *, quietly: bool) -> None:
    pipeline = info.pop(_KEY, None)
    if pipeline is None:
        return
    import psycopg

    try:
        pipeline.__exit__(None, None, None)  # Sync, then every result read; the first error raised
    except psycopg.Error as exc:
        if quietly:  # rolling back anyway: what failed no longer matters
            return
        raise DBAPIError.instance(_WHAT, None, exc, psycopg.Error) from None


def watch(engine: Engine) -> None:
    """Make every use of ``engine``'s connections wait for what :func:`send` left pending on them."""
    event.listen(engine, "before_cursor_execute", _before_execute)
    event.listen(engine, "commit", _before_commit)
    event.listen(engine, "rollback", _before_rollback)
    event.listen(engine, "reset", _before_reset)


def _before_execute(conn: Connection, *_args: Any) -> None:
    if _KEY in conn.info:
        settle(conn)


def _before_commit(conn: Connection) -> None:
    if _KEY in conn.info:
        settle(conn)


def _before_rollback(conn: Connection) -> None:
    if _KEY in conn.info:
        _settle_info(conn.info, quietly=True)


def _before_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
    if _KEY in connection_record.info:
        _settle_info(connection_record.info, quietly=True)
