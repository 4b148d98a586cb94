"""Intake of engagement-activity files (marketing automation exports: webinar attended, pricing
page visit, email click, reply...) for leads already known, which scoring then reads.

Same guarantees as lead intake: streamed in chunks inside one savepoint, a batch-level gate
(expectations/activities_raw.json), row-level validation (expectations/activities.json) with
failing rows quarantined with every reason, and idempotency (file content hash; an event id
seen before counts as a duplicate, reported under ``merged``). rows_read = inserted + merged
+ quarantined. The rules of a row are :func:`leadops.domain.intake.activity_record` and
:func:`leadops.domain.intake.activity_reasons`.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leadops.config import FileSource, Rules, Settings
from leadops.db.bulk import bulk_insert
from leadops.db.models import Activity, IngestBatch, Lead, Quarantine
from leadops.domain.intake import activity_reasons, activity_record
from leadops.intake import validation_process
from leadops.intake.batches import admit_chunks, quarantine, reject
from leadops.intake.gate import ValidationOutcome
from leadops.intake.leads import column_limits
from leadops.intake.outcome import FileOutcome
from leadops.intake.reading.headers import build_aliases
from leadops.intake.reading.registry import open_lead_file
from leadops.intake.reading.rows import FileRejected, RawRow
from leadops.intake.stages import Prepared, Stages

ACTIVITY_FIELDS: tuple[str, ...] = ("email", "event", "occurred_at", "detail", "event_id")
REQUIRED = ("email", "event", "occurred_at")
ACTIVITY_ALIASES = build_aliases({
    "email": ("Email", "E-mail", "Email Address", "Courriel", "Adresse e-mail", "Adresse email", "Mail", "Contact email"),
    "event": ("Event", "Event type", "Event name", "Activity", "Activity type", "Type", "Action", "Événement",
              "Type d'événement", "Activité"),
    "occurred_at": ("Occurred at", "Date", "Timestamp", "Time", "Event date", "Event time", "Date de l'événement",
                    "Horodatage", "Created at"),
    "detail": ("Detail", "Details", "Description", "Page", "URL", "Campaign", "Campagne", "Asset"),
    "event_id": ("Id", "Event id", "Activity id", "Identifiant", "External id"),
})
#: The activities table's text limits (the model is the one source of truth, see leads.LEAD_LIMITS).
ACTIVITY_LIMITS = column_limits(Activity.__table__)


def normalize_activity_row(row: RawRow, src: FileSource, known: set[str], tz: str, now: datetime) -> dict[str, Any]:
    """Return one candidate activity with the flag columns the activities suite checks (grain: input row)."""
    # the event id is stored as "<source>:<id>" (external_key)
    return activity_record(row.row_number, row.fields, row.raw.get("_error"), known=known,
                           date_format=src.date_format, tz=tz,
                           event_id_limit=ACTIVITY_LIMITS["external_key"] - len(src.name) - 1, now=now)


def ingest_activity_file(session: Session, batch: IngestBatch, path: Path, src: FileSource, rules: Rules,
                         settings: Settings) -> FileOutcome:
    """Ingest one activity file into ``batch`` (already opened); returns its outcome (the caller commits)."""
    try:
        stream = open_lead_file(path, columns=src.columns, required=REQUIRED, aliases=ACTIVITY_ALIASES,
                                fields=ACTIVITY_FIELDS)
    except FileRejected as exc:
        return reject(batch, exc.problem, str(exc))
    columns = list(dict.fromkeys(stream.mapping.values()))
    return admit_chunks(session, batch, stream.chunks(settings.intake_chunk_rows), columns, src, rules, settings,
                        raw_suite="activities_raw.json", stages=ACTIVITIES)


def _check(session: Session, records: list[dict[str, Any]],
           outcome: ValidationOutcome) -> tuple[dict[int, list[str]], dict[str, int]]:
    """Return (row index -> reasons, email -> lead id): the activities suite's ``outcome`` plus the known-lead check."""
    emails = sorted({r["email"] for r in records if r["email"]})
    lead_ids: dict[str, int] = {}
    for i in range(0, len(emails), 2000):
        lead_ids.update(session.execute(select(Lead.email, Lead.id).where(Lead.email.in_(emails[i:i + 2000]))).tuples().all())
    return activity_reasons(records, outcome.failures, lead_ids), lead_ids


def _store(session: Session, good: list[dict[str, Any]], lead_ids: dict[str, int], src_name: str, digest: str,
           origin: str) -> tuple[int, int]:
    """Insert the activities not stored before; returns (inserted, duplicates)."""
    keyed = [(rec, f"{src_name}:{rec['event_id']}" if rec["event_id"] else f"file:{digest[:16]}:{rec['row_number']}")
             for rec in good]
    keys = [k for _, k in keyed]
    seen: set[str] = set()
    for i in range(0, len(keys), 2000):
        seen.update(session.scalars(select(Activity.external_key).where(Activity.external_key.in_(keys[i:i + 2000]))))
    new_rows, duplicates = [], 0
    for rec, key in keyed:
        if key in seen:
            duplicates += 1  # the same event exported again: nothing to add
            continue
        seen.add(key)
        kind, outcome = ("email", "replied") if rec["event"] == "reply" else ("web", rec["event"])
        new_rows.append(dict(lead_id=lead_ids[rec["email"]], sdr_id=None, kind=kind, outcome=outcome,
                             occurred_at=rec["occurred_at"], scheduled_for=None, external_key=key,
                             detail=f"{rec['detail'] or rec['event']} ({Path(origin).name} row {rec['row_number']})"[:500]))
    bulk_insert(session.connection(), Activity.__table__, new_rows)
    touched = sorted({r["lead_id"] for r in new_rows})
    for i in range(0, len(touched), 2000):
        # an event older than the last score would not look "new" to incremental scoring: ask for a rescore
        session.execute(update(Lead).where(Lead.id.in_(touched[i:i + 2000])).values(scored_at=None)
                        .execution_options(synchronize_session=False))
    return len(new_rows), duplicates


def _normalize(rows: list[RawRow], src: FileSource, rules: Rules, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Return the normalized record of each activity row (grain: input row)."""
    known = set(rules.scoring.engagement.points)
    return [normalize_activity_row(r, src, known, settings.company_time_zone, now) for r in rows]


def _keep_all(rows: list[RawRow], records: list[dict[str, Any]], checked: ValidationOutcome, rules: Rules) -> Prepared:
    """Return the chunk with every record: storing decides the quarantine (it needs the known leads)."""
    return Prepared(rows, records, checked)


def _store_chunk(session: Session, batch: IngestBatch, p: Prepared, src: FileSource, rules: Rules,
                 settings: Settings, now: datetime, out: FileOutcome, counter: Counter[str], _cache: Any) -> None:
    """Quarantine the failing rows of one chunk of activities and store the others; adds their counts to ``out``."""
    reasons, lead_ids = _check(session, p.records, p.checked)  # every record: see _keep_all
    quarantined = quarantine(session, batch, p.rows, reasons, now, counter)
    good = [rec for i, rec in enumerate(p.records) if i not in reasons]
    inserted, duplicates = _store(session, good, lead_ids, src.name, batch.content_hash or "", batch.origin)
    out.rows_read += len(p.rows)
    out.quarantined += quarantined
    out.inserted += inserted
    out.merged += duplicates


def release_activity(session: Session, q: Quarantine, row: RawRow, src: FileSource, rules: Rules,
                     settings: Settings, now: datetime) -> tuple[list[str], str | None]:
    """Re-admit one quarantined activity row; returns (reasons it is still held for, or [], and inserted|merged)."""
    rec = normalize_activity_row(row, src, set(rules.scoring.engagement.points), settings.company_time_zone, now)
    checked = validation_process.submit_rows([rec], settings.expectations_dir / "activities.json",
                                             in_process=not settings.validation_process)
    reasons, lead_ids = _check(session, [rec], validation_process.result(checked, f"quarantine row {q.id}"))
    if reasons:
        return reasons[0], None
    batch = session.get(IngestBatch, q.ingest_batch_id)
    inserted, _ = _store(session, [rec], lead_ids, src.name, batch.content_hash if batch else "", q.origin)
    return [], "inserted" if inserted else "merged"


ACTIVITIES = Stages(_normalize, "activities.json", _keep_all, _store_chunk)
