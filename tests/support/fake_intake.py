"""An in-memory intake repository: batches, quarantine rows, leads, merges, activities and watermarks as
plain lists and dicts.

It keeps the stored repository's contract where intake's orchestration depends on it: one batch per
content hash (a rejected one reopened by ``start_batch``), a reject zeroes the counts, leads are keyed
by their normalized email (a second row of the same email, in the batch or later, is merged into the
first and fills its blanks). Fuzzy matching and accounts are the SQL repository's (integration tests).
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from leadops.db.repositories.intake import Batch
from leadops.db.repositories.lead_store import MERGEABLE, FileCache


@dataclass
class FakeIntakeRepository:
    batches: dict[int, Batch] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)  # batch id -> why it was rejected
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    leads: dict[str, dict[str, Any]] = field(default_factory=dict)  # email -> stored record (with its "id")
    merges: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    rescore: set[int] = field(default_factory=set)  # lead ids asked to be rescored
    watermarks: dict[str, tuple[datetime | None, int]] = field(default_factory=dict)

    def batch_by_hash(self, digest: str) -> Batch | None:
        return next((b for b in self.batches.values() if b.content_hash == digest), None)

    def batch(self, batch_id: int) -> Batch | None:
        return self.batches.get(batch_id)

    def start_batch(self, digest: str, source: str, origin: str, flow_run_id: str | None) -> Batch:
        seen = self.batch_by_hash(digest)
        batch_id = seen.id if seen is not None else len(self.batches) + 1
        batch = self.batches[batch_id] = Batch(batch_id, digest, source, origin, "running", flow_run_id)
        self.errors.pop(batch_id, None)
        return batch

    def reject_batch(self, batch_id: int, problem: str) -> None:
        self.batches[batch_id] = replace(self.batches[batch_id], status="rejected", rows_read=0, inserted=0, merged=0,
                                         quarantined=0)
        self.errors[batch_id] = problem

    def finish_batch(self, batch_id: int, *, rows_read: int, inserted: int, merged: int, quarantined: int) -> None:
        self.batches[batch_id] = replace(self.batches[batch_id], status="done", rows_read=rows_read, inserted=inserted,
                                         merged=merged, quarantined=quarantined)

    def quarantine_reasons(self, batch_id: int) -> list[list[str]]:
        return [list(q["reasons"]) for q in self.quarantined if q["ingest_batch_id"] == batch_id]

    def hold(self, rows: Sequence[dict[str, Any]]) -> None:
        self.quarantined.extend(dict(r) for r in rows)

    def store_leads(self, good: list[dict[str, Any]], batch_id: int, raw_of: Callable[[int], dict[str, Any]],
                    now: datetime, fuzzy_threshold: float, origin: str,
                    cache: FileCache | None = None) -> tuple[int, int]:
        inserted = merged = 0
        for rec in good:
            lead = self.leads.get(rec["email"])
            if lead is None:
                self.leads[rec["email"]] = {**rec, "id": len(self.leads) + 1, "ingest_batch_id": batch_id}
                inserted += 1
                continue
            filled = [k for k in MERGEABLE if rec.get(k) and not lead.get(k)]
            lead.update({k: rec[k] for k in filled})
            self.merges.append(dict(lead_id=lead["id"], ingest_batch_id=batch_id, source_row=rec["row_number"],
                                    fields_filled=filled, matched_by="email", raw=raw_of(rec["row_number"])))
            merged += 1
        return inserted, merged

    def lead_ids(self, emails: Collection[str]) -> dict[str, int]:
        return {e: self.leads[e]["id"] for e in emails if e in self.leads}

    def known_activity_keys(self, keys: Sequence[str]) -> set[str]:
        stored = {a["external_key"] for a in self.activities}
        return {k for k in keys if k in stored}

    def add_activities(self, rows: Sequence[dict[str, Any]]) -> None:
        self.activities.extend(dict(r) for r in rows)
        self.rescore.update(r["lead_id"] for r in rows)

    def watermark(self, source: str) -> datetime | None:
        return self.watermarks.get(source, (None, 0))[0]

    def set_watermark(self, source: str, watermark: datetime | None, pages_read: int) -> None:
        self.watermarks[source] = (watermark, pages_read)
