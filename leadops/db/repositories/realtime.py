"""The real-time intake service's tables: the answers given per idempotency key (``intake_requests``) and what
became of each row of a micro-batch (inserted, merged or quarantined)."""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from leadops.db.models import IntakeRequest, Lead, LeadMerge, Quarantine


@dataclass(frozen=True)
class RowOutcome:
    """What became of one row of a batch: ``lead_id`` (inserted, or merged into it) or ``reasons`` (quarantined)."""

    row: int
    lead_id: int | None = None
    merged: bool = False
    reasons: tuple[str, ...] = ()


class RealtimeRepository(Protocol):
    def answers(self, keys: Collection[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        """Return (HTTP status, answer) of each key of ``keys`` already stored, by key."""
        ...

    def row_outcomes(self, batch_id: int) -> dict[int, RowOutcome]:
        """Return what became of each row of batch ``batch_id``, by row number."""
        ...

    def save(self, requests: Sequence[dict[str, Any]]) -> None:
        """Store answered requests (``intake_requests`` columns)."""
        ...


class SqlRealtimeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def answers(self, keys: Collection[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        if not keys:
            return {}
        rows = self.session.execute(select(IntakeRequest.idem_key, IntakeRequest.http_status, IntakeRequest.answer)
                                    .where(IntakeRequest.idem_key.in_(sorted(keys))))
        return {k: (int(status), dict(answer)) for k, status, answer in rows}

    def row_outcomes(self, batch_id: int) -> dict[int, RowOutcome]:
        out = {int(r): RowOutcome(int(r), lead_id=int(i)) for i, r in self.session.execute(
            select(Lead.id, Lead.source_row).where(Lead.ingest_batch_id == batch_id)) if r is not None}
        out.update({int(r): RowOutcome(int(r), lead_id=int(i), merged=True) for i, r in self.session.execute(
            select(LeadMerge.lead_id, LeadMerge.source_row).where(LeadMerge.ingest_batch_id == batch_id))})
        out.update({int(r): RowOutcome(int(r), reasons=tuple(str(x) for x in reasons or ())) for r, reasons in
                    self.session.execute(select(Quarantine.source_row, Quarantine.reasons)
                                         .where(Quarantine.ingest_batch_id == batch_id))})
        return out

    def save(self, requests: Sequence[dict[str, Any]]) -> None:
        if requests:
            self.session.execute(insert(IntakeRequest), list(requests))
