"""Intake of lead batches (inbox files here, API pages through api_ingest): every input row ends
inserted, merged or quarantined.

One transaction per batch, keyed by the batch's content hash, so a rerun (or a crash mid-batch)
never duplicates anything.
"""
from __future__ import annotations

import fnmatch
import json
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from leadops.config import ApiSource, FileSource, Rules, Settings
from leadops.db.models import IngestBatch, Quarantine, utcnow
from leadops.domain import normalize as nz
from leadops.sources.files import FileRejected, RawRow, read_lead_file, sha256_file
from leadops.services.lead_store import upsert_leads
from leadops.validation import validate_batch, validate_rows

SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson")


@dataclass
class FileOutcome:
    """What happened to one file: counts per outcome, where it went, and quarantine reasons."""

    file: str
    status: str  # done | rejected | duplicate
    source: str = "default"
    batch_id: int | None = None
    rows_read: int = 0
    inserted: int = 0
    merged: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    moved_to: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def discover(inbox: Path) -> list[Path]:
    """Return the lead files waiting in ``inbox`` (not in its subfolders), oldest name first."""
    if not inbox.exists():
        return []
    return sorted(p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def source_for(path: Path, rules: Rules) -> FileSource | None:
    """Return the first configured source whose filename pattern matches ``path``."""
    return next((s for s in rules.sources.files if fnmatch.fnmatch(path.name, s.pattern)), None)


def source_named(name: str, rules: Rules) -> FileSource:
    """Return the sources.yaml entry called ``name``; raises ValueError listing the known names."""
    found = next((s for s in rules.sources.files if s.name == name), None)
    if found is None:
        known = ", ".join(s.name for s in rules.sources.files) or "(none)"
        raise ValueError(f"no source named {name!r} in sources.yaml (known: {known})")
    return found


def _parse_date(value: str | None, fmt: str | None, tz: str) -> tuple[datetime | None, str | None]:
    if not value:
        return None, None
    formats = [fmt] if fmt else []
    formats += ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%d/%m/%Y %H:%M", "%d/%m/%Y"]
    for f in formats:
        try:
            dt = datetime.strptime(value, f)
        except ValueError:
            continue
        return (dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))).astimezone(timezone.utc), None
    try:
        dt = datetime.fromisoformat(value)
        return (dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))).astimezone(timezone.utc), None
    except ValueError:
        return None, f"{value!r} is not a date ({fmt or 'ISO 8601 or dd/mm/yyyy'})"


def normalize_row(row: RawRow, src: FileSource | ApiSource | None, rules: Rules, tz: str, now: datetime) -> dict[str, Any]:
    """Return one normalized candidate lead (plus *_raw and flag columns the GX suite checks)."""
    f = row.fields
    em = nz.normalize_email(f.get("email"))
    first, last = f.get("first_name"), f.get("last_name")
    if not (first or last) and f.get("full_name"):
        parts = f["full_name"].split(" ", 1)
        first, last = parts[0], (parts[1] if len(parts) > 1 else None)
    country_raw = f.get("country")
    country = nz.normalize_country(country_raw)
    seniority, department = nz.title_to_seniority_department(f.get("job_title"))
    company = nz.clean_text(f.get("company"))
    source = nz.clean_text(f.get("source")) or (src.source if src else None) or rules.sources.default_source
    source = source.strip().lower().replace(" ", "_").replace("-", "_")
    arrived, date_error = _parse_date(f.get("created_at"), getattr(src, "date_format", None), tz)
    return {
        "row_number": row.row_number,
        "email": em.email,
        "email_raw": f.get("email"),
        "email_domain": em.domain,
        "is_free_email": em.is_free,
        "is_disposable_email": em.is_disposable,
        "is_competitor": (em.domain or "") in rules.scoring.competitor_domains,
        "first_name": nz.normalize_person_name(first),
        "last_name": nz.normalize_person_name(last),
        "company": company,
        "company_key": nz.company_key(company),
        "job_title": nz.clean_text(f.get("job_title")),
        "seniority": seniority,
        "department": department,
        "phone": nz.normalize_phone(f.get("phone"), country),
        "country": country,
        "country_unrecognized": country_raw if (country_raw and not country) else None,
        "language": nz.clean_text(f.get("language")),
        "source": source,
        "campaign": nz.clean_text(f.get("campaign")) or (src.campaign if src else None),
        "is_hand_raiser": source in rules.scoring.hand_raiser_sources,
        "arrived_at": arrived or now,
        "date_error": date_error,
        "raw_error": row.raw.get("_error"),
    }


def quarantine_reasons(records: list[dict[str, Any]], failures: dict[int, list[str]], rules: Rules) -> dict[int, list[str]]:
    """Return row index -> reasons: GX failures plus the checks that need the rule files."""
    reasons = {i: list(r) for i, r in failures.items()}
    for i, rec in enumerate(records):
        extra = []
        if rec.get("raw_error"):
            extra.append(f"unreadable record: {rec['raw_error']}")
        if rec["source"] not in rules.sources.lead_sources:
            extra.append(f"unknown lead source {rec['source']!r} (allowed: {', '.join(rules.sources.lead_sources)})")
        if extra:
            reasons.setdefault(i, []).extend(extra)
    return reasons


def move_with_sidecar(path: Path, folder: Path, sidecar: dict[str, Any]) -> Path:
    """Move ``path`` into ``folder`` with a ``.result.json`` sidecar; returns the new path (never overwrites)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():  # the same name arrived again with other content: keep both
        target = folder / f"{path.stem}.{sidecar.get('batch_id') or utcnow().strftime('%Y%m%d%H%M%S')}{path.suffix}"
    shutil.move(str(path), target)
    target.with_name(target.name + ".result.json").write_text(json.dumps(sidecar, indent=2, default=str), encoding="utf-8")
    return target


def ingest_file(session: Session, path: Path, rules: Rules, settings: Settings, *,
                flow_run_id: str | None = None, move: bool = True, source: FileSource | None = None) -> FileOutcome:
    """Ingest one file in one transaction; returns its outcome (the caller commits).

    ``source`` forces a sources.yaml entry; by default the first whose pattern matches the name.
    """
    digest = sha256_file(path)
    src = source if source is not None else source_for(path, rules)

    def finish(out: FileOutcome) -> FileOutcome:
        if move:
            folder = "failed" if out.status == "rejected" else "processed"
            out.moved_to = str(move_with_sidecar(path, settings.var_dir / folder, out.as_dict()))
        return out

    batch, seen = open_batch(session, digest, src.name if src else "default", str(path), flow_run_id)
    if batch is None:
        return finish(FileOutcome(str(path), "duplicate", seen.source, seen.id,
                                  error=f"same content as batch {seen.id} ({seen.origin})"))
    try:
        read = read_lead_file(path, columns=src.columns if src else None)
    except FileRejected as exc:
        return finish(reject(batch, exc.problem, str(exc)))
    return finish(admit_rows(session, batch, read.rows, list(dict.fromkeys(read.mapping.values())), src, rules, settings))


def open_batch(session: Session, digest: str, source: str, origin: str, flow_run_id: str | None) -> tuple[IngestBatch | None, IngestBatch | None]:
    """Return (batch to fill, None), or (None, earlier batch) when this content was ingested before.

    A batch rejected before is reopened, so a file can be retried once ops fixed its mapping.
    """
    seen = session.scalar(select(IngestBatch).where(IngestBatch.content_hash == digest))
    if seen is not None and seen.status != "rejected":
        return None, seen
    batch = seen or IngestBatch(content_hash=digest)
    batch.source, batch.origin, batch.status, batch.error = source, origin, "running", None
    batch.started_at, batch.flow_run_id = utcnow(), flow_run_id
    session.add(batch)
    session.flush()
    return batch, None


def reject(batch: IngestBatch, problem: str, message: str) -> FileOutcome:
    """Mark ``batch`` rejected as a whole; returns the outcome naming the problem."""
    batch.status, batch.error, batch.finished_at = "rejected", problem, utcnow()
    return FileOutcome(batch.origin, "rejected", batch.source, batch.id, error=message)


def admit_rows(session: Session, batch: IngestBatch, rows: list[RawRow], columns: list[str],
               src: FileSource | ApiSource | None, rules: Rules, settings: Settings) -> FileOutcome:
    """Gate, normalize, validate and store one batch of rows (a file or an API page); returns its outcome.

    Every row ends inserted, merged or quarantined; a batch-level failure rejects the whole batch.
    """
    now = utcnow()
    # unreadable records are quarantined one by one; the batch gate measures the readable ones
    readable = [r.fields for r in rows if "_error" not in r.raw]
    gate = validate_batch(pd.DataFrame(readable, columns=columns), settings.expectations_dir / "leads_raw.json",
                          thresholds={"min_email_fill_rate": getattr(src, "min_email_fill_rate", None)})
    if gate.batch_failures:
        problem = "; ".join(gate.batch_failures)
        return reject(batch, problem, f"{batch.origin}: {problem}")

    # Records stay Python dicts (pandas would turn None into a truthy NaN); the frame is for GX only.
    records = [normalize_row(r, src, rules, settings.company_time_zone, now) for r in rows]
    outcome = validate_rows(pd.DataFrame(records), settings.expectations_dir / "leads_intake.json")
    reasons = quarantine_reasons(records, outcome.failures, rules)
    out = FileOutcome(batch.origin, "done", batch.source, batch.id, rows_read=len(rows))
    raw_by_row = {r.row_number: r.raw for r in rows}
    counter: Counter[str] = Counter()

    quarantine_rows, good = [], []
    for i, rec in enumerate(records):
        if i in reasons:
            counter.update(reasons[i])
            quarantine_rows.append(dict(ingest_batch_id=batch.id, source=batch.source, origin=batch.origin,
                                        source_row=rec["row_number"], raw=raw_by_row[rec["row_number"]],
                                        reasons=reasons[i], status="open", created_at=now))
        else:
            good.append(rec)
    if quarantine_rows:
        session.connection().execute(insert(Quarantine.__table__), quarantine_rows)
    out.quarantined = len(quarantine_rows)

    inserted, merged = upsert_leads(session, good, batch.id, raw_by_row, now,
                                    rules.sources.fuzzy_match_threshold, batch.origin)
    out.inserted, out.merged = inserted, merged
    out.reasons = dict(counter.most_common())
    batch.rows_read, batch.inserted, batch.merged, batch.quarantined = out.rows_read, inserted, merged, out.quarantined
    batch.status, batch.finished_at = "done", utcnow()
    session.flush()
    return out
