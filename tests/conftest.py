"""Shared fixtures: rule files, settings in a temp folder, and a migrated database on SQLite and
PostgreSQL (LEADOPS_TEST_DATABASE_URL; unreachable PostgreSQL fails the tests, it never skips them).
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

import pytest
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("LEADOPS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def rules():
    from leadops.config import load_rules

    return load_rules(ROOT / "config")


@pytest.fixture(scope="session")
def pg_schema_url():
    """A private schema in the test database, migrated once per session, dropped at the end."""
    from leadops.db.migrate import upgrade
    from leadops.db.session import get_engine

    schema = f"leadops_t_{uuid.uuid4().hex[:8]}"
    admin = get_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    upgrade(url)
    yield url
    get_engine(url).dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def _truncate_pg(url: str) -> None:
    from leadops.db.models import Base
    from leadops.db.session import get_engine

    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        from leadops.db.migrate import upgrade

        url = f"sqlite:///{tmp_path / 'leadops.db'}"
        upgrade(url)
        yield url
        from leadops.db.session import get_engine

        get_engine(url).dispose()
    else:
        url = request.getfixturevalue("pg_schema_url")
        _truncate_pg(url)
        yield url


@pytest.fixture
def settings(db_url, tmp_path):
    from leadops.config import get_settings

    return get_settings(database_url=db_url, var_dir=tmp_path / "var", config_dir=ROOT / "config",
                        expectations_dir=ROOT / "expectations")


@pytest.fixture
def session(settings):
    from leadops.db.session import session_scope

    with session_scope(settings.database_url) as s:
        yield s


@pytest.fixture
def roster(session, rules):
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.roster import apply_roster

    ids = apply_roster(SqlUnitOfWork.around(session), rules.roster)
    session.commit()
    return ids
