"""What every task needs: settings, rules and a session, built inside the task (never at import)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from leadops.config import Rules, Settings, load_rules_cached
from leadops.db.session import session_scope
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.tasks.parameters import RunSettings


def settings(run: RunSettings | None = None) -> Settings:
    """Return settings from the environment with the run's folders (flow parameters: paths, not secrets)."""
    return (run or RunSettings()).settings()


def rules(s: Settings) -> Rules:
    """Return the rule files of ``s.config_dir`` (cached while they do not change)."""
    return load_rules_cached(s.config_dir)


@contextmanager
def unit_of_work(s: Settings) -> Iterator[Session]:
    """Yield a session that commits when the block ends cleanly (tasks whose services take a Session)."""
    with session_scope(s.database_url) as session:
        yield session


def units(s: Settings) -> SqlUnitOfWork:
    """Return a unit of work on the settings' database: ``with units(s) as uow:`` commits on a clean exit."""
    return SqlUnitOfWork(s.database_url)


def current_flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    fid = flow_run.get_id()
    return str(fid) if fid else None


# --------------------------------------------------------------------------- retries
def _deterministic_errors() -> tuple[type[BaseException], ...]:
    """Return the exception types a rerun of the same task with the same input raises again."""
    import yaml
    from sqlalchemy.exc import ArgumentError, DataError, ProgrammingError

    from leadops.config import ConfigError

    return (
        ConfigError,  # a rule file or setting is wrong: a person must fix it
        ValueError, TypeError,  # bad input or arguments (pydantic's ValidationError, UnicodeError, JSON errors too)
        LookupError,  # an unknown id or name (KeyError, IndexError)
        AttributeError, NotImplementedError, AssertionError, ArithmeticError,  # bugs: same code, same failure
        yaml.YAMLError,
        # a missing or unreadable path stays missing until a person acts
        FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
        # SQL the database refuses (a missing table: migrations not run; a bad value), a bad database URL
        ProgrammingError, DataError, ArgumentError,
    )


def retry_transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Return whether Prefect should retry ``task`` after the failure in ``state``: False for an
    error a rerun cannot fix (see :func:`_deterministic_errors`), True otherwise (a lost
    connection, a locked database, a timeout, a crashed validation process).

    Given as ``retry_condition_fn`` to every leadops task that declares retries; Prefect calls it
    before each retry, and only when the task has retries left.
    """
    from sqlalchemy.exc import DBAPIError, StatementError

    exc = state.data if isinstance(getattr(state, "data", None), BaseException) else None
    if exc is None:  # a Failed state returned rather than raised: Prefect's default (retry)
        return True
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig  # SQLAlchemy wraps what failed before the database saw the statement (e.g. a bind value)
    if isinstance(exc, _deterministic_errors()):
        try:
            from prefect import get_run_logger

            get_run_logger().info("not retried: %s is an error a rerun cannot fix", type(exc).__name__)
        except Exception:  # noqa: BLE001, S110 - outside a run context the log line is all that is lost
            pass
        return False
    return True


# --------------------------------------------------------------------------- log lines
def stage_line(stage: str, counts: dict[str, Any]) -> str:
    """Return one log line for a stage: ``"score: 1,234 scored, 12 changed"`` (counts formatted for
    people, keys with spaces for underscores). Give it counts and labels only, never personal data."""
    from leadops.reporting.numbers import count

    parts = [f"{count(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v} {k.replace('_', ' ')}"
             for k, v in counts.items()]
    return f"{stage}: " + ", ".join(parts)


def log_stage(stage: str, **counts: Any) -> None:
    """Log :func:`stage_line` at INFO on the current run's logger (the task's, else the flow's)."""
    from prefect import get_run_logger

    get_run_logger().info("%s", stage_line(stage, counts))
