"""Statements sent ahead on PostgreSQL (leadops.db.pending): the server runs them while the caller goes on, and
whatever uses the connection next (a statement, a commit, a rollback, the driver's cursor, the pool) waits for
them first; their errors surface there, as SQLAlchemy's, and nothing of a failed transaction commits."""
from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, ProgrammingError

from leadops.db import pending
from leadops.db.session import get_engine
from tests.conftest import PG_URL


@pytest.fixture
def table():
    """A table of one unique integer column in the test database, dropped after the test; yields its name."""
    name = f"pending_t_{uuid.uuid4().hex[:8]}"
    engine = get_engine(PG_URL)
    with engine.begin() as c:
        c.execute(text(f"CREATE TABLE {name} (n INTEGER UNIQUE)"))
    yield name
    with engine.begin() as c:
        c.execute(text(f"DROP TABLE {name}"))


def _count(name: str) -> int:
    with get_engine(PG_URL).connect() as c:
        return int(c.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())


def test_the_next_statement_sees_what_was_sent(table):
    with get_engine(PG_URL).connect() as c:
        pending.send(c, [(f"INSERT INTO {table} VALUES (%s)", [1]), (f"INSERT INTO {table} VALUES (%s)", [2])])
        assert c.execute(text(f"SELECT array_agg(n ORDER BY n) FROM {table}")).scalar_one() == [1, 2]
        c.commit()
    assert _count(table) == 2


def test_commit_waits_for_what_was_sent(table):
    with get_engine(PG_URL).connect() as c:
        c.execute(text("SELECT 1"))
        pending.send(c, [(f"INSERT INTO {table} SELECT g FROM generate_series(1, %s) AS g", [500])])
        c.commit()
    assert _count(table) == 500


def test_send_returns_while_the_server_still_runs_them(table):
    """Sent behind a lock another session holds: ``send`` returns while the server waits on it, and only the
    next use of the connection waits (here until the lock is released)."""
    engine = get_engine(PG_URL)
    key = uuid.uuid4().int % 2**31
    with engine.connect() as holder, engine.connect() as c:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        # a send that waited for the server would fail here after 20 s instead of hanging the suite
        c.execute(text("SET statement_timeout = '20s'"))
        pid = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
        pending.send(c, [("SELECT pg_advisory_xact_lock(%s)", [key]), (f"INSERT INTO {table} VALUES (%s)", [7])])
        deadline = time.monotonic() + 15
        while True:  # the server runs the first statement: it waits for the lock
            waiting = holder.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"),
                                     {"p": pid}).scalar_one()
            if waiting == "Lock" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert waiting == "Lock"
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        holder.commit()
        assert c.execute(text(f"SELECT array_agg(n) FROM {table}")).scalar_one() == [7]
        c.commit()


def test_an_error_surfaces_by_the_next_statement_and_nothing_commits(table):
    """Raised by the next statement, or by ``send`` itself when the server reported it while the later
    statements were still being sent: SQLAlchemy's error either way."""
    with get_engine(PG_URL).connect() as c:

        def send_then_use() -> None:
            pending.send(c, [(f"INSERT INTO {table} VALUES (%s)", [1]), (f"INSERT INTO {table} VALUES (%s)", [1]),
                             *((f"INSERT INTO {table} VALUES (%s)", [n]) for n in range(2, 200))])
            c.execute(text("SELECT 1"))

        with pytest.raises(IntegrityError, match="unique"):
            send_then_use()
        c.rollback()
        assert c.execute(text("SELECT 1")).scalar_one() == 1  # the connection is usable again
    assert _count(table) == 0


def test_an_error_surfaces_at_commit_and_nothing_commits(table):
    with get_engine(PG_URL).connect() as c:
        c.execute(text(f"INSERT INTO {table} VALUES (5)"))
        pending.send(c, [(f"INSERT INTO {table} VALUES (%s)", [5])])
        with pytest.raises(IntegrityError):
            c.commit()
        c.rollback()
    assert _count(table) == 0


def test_a_bad_statement_is_the_error_raised(table):
    with get_engine(PG_URL).connect() as c:
        pending.send(c, [(f"INSERT INTO {table}_missing VALUES (%s)", [1])])
        with pytest.raises(ProgrammingError, match="does not exist"):
            pending.settle(c)
        c.rollback()


def test_rollback_discards_them_quietly(table):
    with get_engine(PG_URL).connect() as c:
        pending.send(c, [(f"INSERT INTO {table} VALUES (%s)", [1]), (f"INSERT INTO {table} VALUES (%s)", [1])])
        c.rollback()  # the duplicate does not matter any more: no error
        c.execute(text(f"INSERT INTO {table} VALUES (3)"))
        c.commit()
    assert _count(table) == 1


def test_the_driver_cursor_waits_for_them(table):
    with get_engine(PG_URL).connect() as c:
        pending.send(c, [(f"INSERT INTO {table} VALUES (%s)", [4])])
        with pending.driver_cursor(c) as cur:
            cur.execute(f"SELECT n FROM {table}")
            assert cur.fetchall() == [(4,)]
        c.rollback()


def test_a_connection_closed_with_statements_pending_goes_back_to_the_pool_clean(table):
    engine = get_engine(PG_URL)
    with engine.connect() as c:
        pending.send(c, [(f"INSERT INTO {table} VALUES (%s)", [9])])
        driver = c.connection.dbapi_connection
    # closed without commit: the pool rolled it back, the pending insert with it, and left pipeline mode
    assert driver._pipeline is None and driver.info.transaction_status.name == "IDLE"
    assert _count(table) == 0


def test_statements_sent_first_on_a_fresh_connection_commit_with_it(table):
    """Sent before SQLAlchemy began a transaction: it begins one, so its commit commits them."""
    with get_engine(PG_URL).connect() as c:
        pending.send(c, [(f"INSERT INTO {table} VALUES (%s)", [6])])
        c.commit()
    assert _count(table) == 1
