"""Quarantine rows as a repository: list what intake held back, and record a release or a new hold."""
from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadops.db.models import Quarantine


class QuarantineRepository(Protocol):
    """Where the quarantine service reads and settles held rows (one row per input row held back)."""

    def get(self, quarantine_id: int) -> Quarantine | None:
        """Return the quarantined row with this id, or None."""
        ...

    def find(self, *, status: str, source: str | None, limit: int) -> list[Quarantine]:
        """Return rows of ``status`` (and ``source``), newest first, at most ``limit``."""
        ...

    def hold(self, row: Quarantine, reasons: list[str]) -> None:
        """Keep ``row`` quarantined with these (new) reasons."""
        ...

    def release(self, row: Quarantine, raw: dict[str, Any] | None) -> None:
        """Mark ``row`` released (and record the corrected raw values, when given)."""
        ...


class SqlQuarantineRepository:
    """The quarantine table."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, quarantine_id: int) -> Quarantine | None:
        return self.session.get(Quarantine, quarantine_id)

    def find(self, *, status: str, source: str | None, limit: int) -> list[Quarantine]:
        q = select(Quarantine).where(Quarantine.status == status).order_by(Quarantine.id.desc()).limit(limit)
        if source:
            q = q.where(Quarantine.source == source)
        return list(self.session.scalars(q))

    def hold(self, row: Quarantine, reasons: list[str]) -> None:
        row.reasons = reasons
        self.session.flush()

    def release(self, row: Quarantine, raw: dict[str, Any] | None) -> None:
        row.status = "released"
        if raw is not None:
            row.raw = raw
        self.session.flush()
