"""What the benchmarks share: a fresh, empty database of either kind."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

PG = os.environ.get("LEADOPS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def fresh_url(kind: str, tag: str, tmp: Path | None = None) -> str:
    """Return the URL of an empty database: a new SQLite file (in ``tmp`` or a new temp folder), or a
    new PostgreSQL schema named after ``tag`` and this process (dropped and recreated)."""
    if kind == "sqlite":
        return f"sqlite:///{Path(tmp or tempfile.mkdtemp()) / f'{tag}.db'}"
    from sqlalchemy import create_engine, text

    schema = f"bench_{tag}_{os.getpid()}"
    with create_engine(PG).begin() as c:
        c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"'))
    return f"{PG}?options=-csearch_path%3D{schema}"
