"""Intake's tables as a repository: ingest batches (one per file or API page, by content hash),
quarantine rows, leads (inserted or merged, see :mod:`leadops.db.repositories.lead_store`),
activities and API watermarks.

Set-based: rows come in as lists of records and go out in bulk (COPY on PostgreSQL); look-ups
take a collection of keys at once. Nothing here commits: the unit of work does.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leadops.db.bulk import bulk_insert
from leadops.db.models import Activity, IngestBatch, Lead, Quarantine, SourceWatermark, utcnow
from leadops.db.repositories.lead_store import FileCache, upsert_leads

#: bound parameters per IN list: well under SQLite's 32766
_IN_LIST = 2000


@dataclass(frozen=True)
class Batch:
    """One ingest batch as intake reads it (grain: one file or API page, by content hash)."""

    id: int
    content_hash: str
    source: str
    origin: str  # file path or API page URL
    status: str  # running | done | rejected
    flow_run_id: str | None = None
    rows_read: int = 0
    inserted: int = 0
    merged: int = 0
    quarantined: int = 0


class IntakeRepository(Protocol):
    """Where intake keeps its batches and stores what it admitted or held back."""

    def batch_by_hash(self, digest: str) -> Batch | None:
        """Return the batch of the content ``digest``, or None when that content was never ingested."""
        ...

    def batch(self, batch_id: int) -> Batch | None:
        """Return the batch ``batch_id``, or None."""
        ...

    def start_batch(self, digest: str, source: str, origin: str, flow_run_id: str | None) -> Batch:
        """Open the batch of ``digest`` as running (a new one, or the one stored before reopened); returns it."""
        ...

    def reject_batch(self, batch_id: int, problem: str) -> None:
        """Close the batch as rejected as a whole, naming the ``problem``, with every count at zero."""
        ...

    def finish_batch(self, batch_id: int, *, rows_read: int, inserted: int, merged: int, quarantined: int) -> None:
        """Close the batch as done with its counts."""
        ...

    def quarantine_reasons(self, batch_id: int) -> list[list[str]]:
        """Return the reasons of each quarantined row of the batch (grain: one quarantined row)."""
        ...

    def hold(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert ``rows`` into quarantine (the columns of the quarantine table: batch, source, origin,
        source_row, raw, reasons, status, created_at)."""
        ...

    def store_leads(self, good: list[dict[str, Any]], batch_id: int, raw_of: Callable[[int], dict[str, Any]],
                    now: datetime, fuzzy_threshold: float, origin: str,
                    cache: FileCache | None = None) -> tuple[int, int]:
        """Insert new leads and merge duplicates (see :func:`leadops.db.repositories.lead_store.upsert_leads`);
        returns (inserted, merged)."""
        ...

    def lead_ids(self, emails: Collection[str]) -> dict[str, int]:
        """Return email -> id of the stored leads among ``emails``."""
        ...

    def known_activity_keys(self, keys: Sequence[str]) -> set[str]:
        """Return the external keys among ``keys`` of activities stored already."""
        ...

    def add_activities(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert activities (the columns of the activities table) and ask for a rescore of their leads."""
        ...

    def watermark(self, source: str) -> datetime | None:
        """Return the updated-since watermark of the API ``source`` (None: read everything)."""
        ...

    def set_watermark(self, source: str, watermark: datetime | None, pages_read: int) -> None:
        """Store the watermark of a complete read of ``source`` and how many pages it read."""
        ...


def _batch(row: IngestBatch) -> Batch:
    return Batch(id=row.id, content_hash=row.content_hash, source=row.source, origin=row.origin, status=row.status,
                 flow_run_id=row.flow_run_id, rows_read=row.rows_read or 0, inserted=row.inserted or 0,
                 merged=row.merged or 0, quarantined=row.quarantined or 0)


class SqlIntakeRepository:
    """The ingest_batches, quarantine, leads, accounts, lead_merges, activities and source_watermarks tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _row(self, batch_id: int) -> IngestBatch:
        row = self.session.get(IngestBatch, batch_id)
        if row is None:
            raise LookupError(f"no ingest batch {batch_id}")
        return row

    def batch_by_hash(self, digest: str) -> Batch | None:
        row = self.session.scalar(select(IngestBatch).where(IngestBatch.content_hash == digest))
        return None if row is None else _batch(row)

    def batch(self, batch_id: int) -> Batch | None:
        row = self.session.get(IngestBatch, batch_id)
        return None if row is None else _batch(row)

    def start_batch(self, digest: str, source: str, origin: str, flow_run_id: str | None) -> Batch:
        row = self.session.scalar(select(IngestBatch).where(IngestBatch.content_hash == digest)) \
            or IngestBatch(content_hash=digest)
        row.source, row.origin, row.status, row.error = source, origin, "running", None
        row.started_at, row.flow_run_id = utcnow(), flow_run_id
        self.session.add(row)
        self.session.flush()
        return _batch(row)

    def reject_batch(self, batch_id: int, problem: str) -> None:
        row = self._row(batch_id)
        row.status, row.error, row.finished_at = "rejected", problem, utcnow()
        row.rows_read = row.inserted = row.merged = row.quarantined = 0

    def finish_batch(self, batch_id: int, *, rows_read: int, inserted: int, merged: int, quarantined: int) -> None:
        row = self._row(batch_id)
        row.rows_read, row.inserted, row.merged, row.quarantined = rows_read, inserted, merged, quarantined
        row.status, row.finished_at = "done", utcnow()

    def quarantine_reasons(self, batch_id: int) -> list[list[str]]:
        return [list(r) for r in self.session.scalars(
            select(Quarantine.reasons).where(Quarantine.ingest_batch_id == batch_id))]

    def hold(self, rows: Sequence[dict[str, Any]]) -> None:
        bulk_insert(self.session.connection(), Quarantine.__table__, rows)

    def store_leads(self, good: list[dict[str, Any]], batch_id: int, raw_of: Callable[[int], dict[str, Any]],
                    now: datetime, fuzzy_threshold: float, origin: str,
                    cache: FileCache | None = None) -> tuple[int, int]:
        return upsert_leads(self.session, good, batch_id, raw_of, now, fuzzy_threshold, origin, cache)

    def lead_ids(self, emails: Collection[str]) -> dict[str, int]:
        wanted = sorted(emails)
        found: dict[str, int] = {}
        for i in range(0, len(wanted), _IN_LIST):
            found.update(self.session.execute(
                select(Lead.email, Lead.id).where(Lead.email.in_(wanted[i:i + _IN_LIST]))).tuples().all())
        return found

    def known_activity_keys(self, keys: Sequence[str]) -> set[str]:
        seen: set[str] = set()
        for i in range(0, len(keys), _IN_LIST):
            seen.update(k for k in self.session.scalars(
                select(Activity.external_key).where(Activity.external_key.in_(keys[i:i + _IN_LIST]))) if k is not None)
        return seen

    def add_activities(self, rows: Sequence[dict[str, Any]]) -> None:
        bulk_insert(self.session.connection(), Activity.__table__, rows)
        touched = sorted({r["lead_id"] for r in rows})
        for i in range(0, len(touched), _IN_LIST):
            # an event older than the last score would not look "new" to incremental scoring: ask for a rescore
            self.session.execute(update(Lead).where(Lead.id.in_(touched[i:i + _IN_LIST])).values(scored_at=None)
                                 .execution_options(synchronize_session=False))

    def watermark(self, source: str) -> datetime | None:
        mark = self.session.get(SourceWatermark, source)
        return mark.watermark if mark else None

    def set_watermark(self, source: str, watermark: datetime | None, pages_read: int) -> None:
        mark = self.session.get(SourceWatermark, source) or SourceWatermark(source=source)
        mark.watermark, mark.pages_read, mark.updated_at = watermark, pages_read, utcnow()
        self.session.add(mark)
