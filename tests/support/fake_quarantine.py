"""An in-memory quarantine repository: rows by id, newest first when listed."""
from __future__ import annotations

from typing import Any

from leadops.db.models import Quarantine


class FakeQuarantineRepository:
    def __init__(self, rows: list[Quarantine] | None = None) -> None:
        self.rows: dict[int, Quarantine] = {r.id: r for r in rows or []}

    def get(self, quarantine_id: int) -> Quarantine | None:
        return self.rows.get(quarantine_id)

    def find(self, *, status: str, source: str | None, limit: int) -> list[Quarantine]:
        found = [r for r in self.rows.values() if r.status == status and (not source or r.source == source)]
        return sorted(found, key=lambda r: r.id, reverse=True)[:limit]

    def hold(self, row: Quarantine, reasons: list[str]) -> None:
        row.reasons = reasons

    def release(self, row: Quarantine, raw: dict[str, Any] | None) -> None:
        row.status = "released"
        if raw is not None:
            row.raw = raw
