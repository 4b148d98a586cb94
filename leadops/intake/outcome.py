"""What happened to one file (or one API page): the outcome intake reports and stores in sidecars."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FileOutcome:
    """What happened to one file: counts per outcome, where it went, and quarantine reasons."""

    file: str
    status: str  # done | rejected | duplicate | taken (another run claimed the file first: not ours to report)
    source: str = "default"
    batch_id: int | None = None
    rows_read: int = 0
    inserted: int = 0
    merged: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    moved_to: str | None = None
    # the batch-level gate's result per expectation (of the last chunk, or of the failing one)
    validation: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "leads"  # leads | activities (then inserted = new events, merged = events seen before)

    def as_dict(self) -> dict[str, Any]:
        """Return the outcome as plain values (a task's result, a sidecar's content)."""
        return asdict(self)


def failure_line(exc: BaseException) -> str:
    """Return one line saying why ingesting a file failed, without the file's values.

    A database error says its first line only (PostgreSQL's DETAIL and CONTEXT lines, and
    SQLAlchemy's echo of the statement and its parameters, quote the row's values); any other
    error its type and first line, cut at 200 characters.
    """
    from sqlalchemy.exc import StatementError

    if isinstance(exc, StatementError) and exc.orig is not None:
        exc = exc.orig
    text = (str(exc).strip().splitlines() or [""])[0]
    text = text if len(text) <= 200 else text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
