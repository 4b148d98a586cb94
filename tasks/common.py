"""What every task needs: settings, rules and a session, built inside the task (never at import)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from leadops.config import Rules, Settings, get_settings, load_rules_cached
from leadops.db.session import session_scope


def settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Return settings from the environment plus flow-parameter overrides (paths, not secrets)."""
    return get_settings(**{k: v for k, v in (overrides or {}).items() if v is not None})


def rules(s: Settings) -> Rules:
    return load_rules_cached(s.config_dir)


@contextmanager
def unit_of_work(s: Settings) -> Iterator[Session]:
    with session_scope(s.database_url) as session:
        yield session


def current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    fid = flow_run.get_id()
    return str(fid) if fid else None
