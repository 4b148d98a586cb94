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
from typing import TYPE_CHECKING, Any

from leadops.config import FileSource, Rules, Settings
from leadops.db.models import Activity
from leadops.db.repositories.intake import Batch, IntakeRepository
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.intake import activity_reasons, activity_record
from leadops.intake import validation_process
from leadops.intake.batches import admit_chunks, quarantine, reject
from leadops.intake.gate import ValidationOutcome
from leadops.intake.leads import column_limits
from leadops.intake.outcome import FileOutcome
from leadops.intake.reading.headers import build_aliases
from leadops.intake.reading.registry import open_lead_file
from leadops.intake.reading.rows import FileRejected, RawRow
from leadops.intake.stages import Check, Prepared, Stages

if TYPE_CHECKING:
    from leadops.db.models import Quarantine

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


def ingest_activity_file(uow: UnitOfWork, batch: Batch, path: Path, src: FileSource, rules: Rules,
                         settings: Settings, *, check: Check | None = None) -> FileOutcome:
    """Ingest one activity file into ``batch`` (already opened); returns its outcome (the caller commits).

    ``check``: see :func:`leadops.intake.batches.admit_chunks`."""
    try:
        stream = open_lead_file(path, columns=src.columns, required=REQUIRED, aliases=ACTIVITY_ALIASES,
                                fields=ACTIVITY_FIELDS)
    except FileRejected as exc:
        return reject(uow.intake, batch, exc.problem, str(exc))
    columns = list(dict.fromkeys(stream.mapping.values()))
    return admit_chunks(uow, batch, stream.chunks(settings.intake_chunk_rows), columns, src, rules, settings,
                        raw_suite="activities_raw.json", stages=ACTIVITIES, check=check)


def _check(intake: IntakeRepository, records: list[dict[str, Any]],
           outcome: ValidationOutcome) -> tuple[dict[int, list[str]], dict[str, int]]:
    """Return (row index -> reasons, email -> lead id): the activities suite's ``outcome`` plus the known-lead check."""
    lead_ids = intake.lead_ids({r["email"] for r in records if r["email"]})
    return activity_reasons(records, outcome.failures, lead_ids), lead_ids


def _store(intake: IntakeRepository, good: list[dict[str, Any]], lead_ids: dict[str, int], src_name: str, digest: str,
           origin: str) -> tuple[int, int]:
    """Insert the activities not stored before; returns (inserted, duplicates)."""
    keyed = [(rec, f"{src_name}:{rec['event_id']}" if rec["event_id"] else f"file:{digest[:16]}:{rec['row_number']}")
             for rec in good]
    seen = intake.known_activity_keys([k for _, k in keyed])
    new_rows: list[dict[str, Any]] = []
    duplicates = 0
    for rec, key in keyed:
        if key in seen:
            duplicates += 1  # the same event exported again: nothing to add
            continue
        seen.add(key)
        kind, outcome = ("email", "replied") if rec["event"] == "reply" else ("web", rec["event"])
        new_rows.append(dict(lead_id=lead_ids[rec["email"]], sdr_id=None, kind=kind, outcome=outcome,
                             occurred_at=rec["occurred_at"], scheduled_for=None, external_key=key,
                             detail=f"{rec['detail'] or rec['event']} ({Path(origin).name} row {rec['row_number']})"[:500]))
    intake.add_activities(new_rows)  # their leads are rescored: an older event would not look "new" to scoring
    return len(new_rows), duplicates


def _normalize(rows: list[RawRow], src: FileSource, rules: Rules, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Return the normalized record of each activity row (grain: input row)."""
    known = set(rules.scoring.engagement.points)
    return [normalize_activity_row(r, src, known, settings.company_time_zone, now) for r in rows]


def _keep_all(rows: list[RawRow], records: list[dict[str, Any]], checked: ValidationOutcome, rules: Rules) -> Prepared:
    """Return the chunk with every record: storing decides the quarantine (it needs the known leads)."""
    return Prepared(rows, records, checked)


def _store_chunk(intake: IntakeRepository, batch: Batch, p: Prepared, src: FileSource, rules: Rules,
                 settings: Settings, now: datetime, out: FileOutcome, counter: Counter[str], _cache: Any) -> None:
    """Quarantine the failing rows of one chunk of activities and store the others; adds their counts to ``out``."""
    records = p.every_record()  # see _keep_all
    reasons, lead_ids = _check(intake, records, p.checked)
    quarantined = quarantine(intake, batch, p.rows, reasons, now, counter)
    good = [rec for i, rec in enumerate(records) if i not in reasons]
    inserted, duplicates = _store(intake, good, lead_ids, src.name, batch.content_hash, batch.origin)
    out.rows_read += len(p.rows)
    out.quarantined += quarantined
    out.inserted += inserted
    out.merged += duplicates


def release_activity(intake: IntakeRepository, q: Quarantine, row: RawRow, src: FileSource, rules: Rules,
                     settings: Settings, now: datetime) -> tuple[list[str], str | None]:
    """Re-admit one quarantined activity row through ``intake``; returns (reasons it is still held for, or [],
    and inserted|merged)."""
    rec = normalize_activity_row(row, src, set(rules.scoring.engagement.points), settings.company_time_zone, now)
    checked = validation_process.submit_rows([rec], settings.expectations_dir / "activities.json",
                                             in_process=not settings.validation_process)
    reasons, lead_ids = _check(intake, [rec], validation_process.result(checked, f"quarantine row {q.id}"))
    if reasons:
        return reasons[0], None
    batch = intake.batch(q.ingest_batch_id)
    inserted, _ = _store(intake, [rec], lead_ids, src.name, batch.content_hash if batch else "", q.origin)
    return [], "inserted" if inserted else "merged"


ACTIVITIES = Stages(_normalize, "activities.json", _keep_all, _store_chunk)
