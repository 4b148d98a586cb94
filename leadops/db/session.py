"""Engine and session factory for SQLite (default) and PostgreSQL."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from leadops.db import pending

T = TypeVar("T")


def normalize_url(url: str) -> str:
    """Return the URL with the psycopg 3 driver for bare postgresql:// URLs."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
    dbapi_conn.isolation_level = None  # no implicit BEGIN: see get_engine
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside one writer; busy_timeout makes concurrent writers wait, not fail.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    # SQLite's default page cache is 2 MB: a file of a million leads updates seven indexes of a
    # table that outgrows it, and every insert then reads index pages back from the WAL (storage
    # took 2.6x longer per row at 1M rows than at 100k). 64 MB is allocated only as pages are used.
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


#: the SQLite library leadops needs: UPDATE ... FROM (3.33) and INSERT ... RETURNING (3.35) in its set-based writes
SQLITE_AT_LEAST = (3, 35)


def check_sqlite_version(found: tuple[int, ...] | None = None) -> None:
    """Raise RuntimeError in one line when Python's SQLite library is older than SQLITE_AT_LEAST."""
    import sqlite3

    found = found or sqlite3.sqlite_version_info
    if tuple(found) < SQLITE_AT_LEAST:
        need = ".".join(map(str, SQLITE_AT_LEAST))
        raise RuntimeError(f"SQLite {'.'.join(map(str, found))} is too old for leadops (it needs {need} or later, "
                           f"for UPDATE ... FROM and RETURNING): use a Python built with a newer SQLite, or PostgreSQL")


@lru_cache(maxsize=16)
def get_engine(url: str) -> Engine:
    """Return one pooled engine per database URL (created on first use, never at import)."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        check_sqlite_version()
        db = make_url(url).database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite opens transactions lazily and its own way, which breaks SAVEPOINT (intake
        # admits a file inside one); let SQLAlchemy emit BEGIN itself (SQLAlchemy's documented recipe).
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    pending.watch(engine)  # statements a routing chunk sent ahead are waited for before anything else
    return engine


def session_factory(url: str) -> sessionmaker[Session]:
    """Return the session factory of ``url``'s engine (one per engine: :func:`get_engine`)."""
    return _factory_of(get_engine(url))


@lru_cache(maxsize=16)
def _factory_of(engine: Engine) -> sessionmaker[Session]:
    # one sessionmaker per engine, not one per session: each new sessionmaker is a new Session subclass,
    # whose event dispatch SQLAlchemy builds again on its first session (~0.3 ms; a delivery pass opens a
    # unit per message)
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error."""
    with session_factory(url)() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def when_unlocked(work: Callable[[], T], seconds: float = 10.0) -> T:
    """Return ``work()``, run again while the database answers "locked" (SQLite takes one writer at a time, and a
    transaction that read before writing cannot wait for the other: it fails at once), for up to ``seconds``;
    ``work`` must be a whole transaction. Any other error, or the last "locked" one, is raised."""
    import time

    from sqlalchemy.exc import OperationalError

    deadline, pause = time.monotonic() + seconds, 0.01
    while True:
        try:
            return work()
        except OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
