"""Ingest lead files from the inbox: every input row ends accepted, merged or quarantined.

One transaction per file, keyed by the file's content hash, so a rerun (or a crash mid-file)
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

from leadops.config import FileSource, Rules, Settings
from leadops.db.models import Account, IngestBatch, Lead, LeadMerge, LeadStageChange, Quarantine, utcnow
from leadops.domain import normalize as nz
from leadops.sources.files import FileRejected, RawRow, read_lead_file, sha256_file
from leadops.validation import validate_rows

SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson")
# Fields a later row may fill on an existing lead when the lead has none.
MERGEABLE = ("first_name", "last_name", "company", "company_key", "job_title", "seniority", "department", "phone",
             "country", "language", "campaign")


@dataclass
class FileOutcome:
    """What happened to one file: counts per outcome, where it went, and quarantine reasons."""

    file: str
    status: str  # done | rejected | duplicate
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


def normalize_row(row: RawRow, src: FileSource | None, rules: Rules, tz: str, now: datetime) -> dict[str, Any]:
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
    arrived, date_error = _parse_date(f.get("created_at"), src.date_format if src else None, tz)
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
    now = utcnow()
    digest = sha256_file(path)
    seen = session.scalar(select(IngestBatch).where(IngestBatch.content_hash == digest))
    if seen is not None and seen.status != "rejected":
        out = FileOutcome(str(path), "duplicate", seen.id, error=f"same content as batch {seen.id} ({seen.origin})")
        if move:
            out.moved_to = str(move_with_sidecar(path, settings.var_dir / "processed", out.as_dict()))
        return out
    src = source if source is not None else source_for(path, rules)
    # A file rejected before may be retried (e.g. after ops fixed its column mapping): reuse its batch.
    batch = seen or IngestBatch(content_hash=digest)
    batch.source, batch.origin, batch.status, batch.error = (src.name if src else "default"), str(path), "running", None
    batch.started_at, batch.flow_run_id = now, flow_run_id
    session.add(batch)
    session.flush()
    try:
        read = read_lead_file(path, columns=src.columns if src else None)
    except FileRejected as exc:
        batch.status, batch.error, batch.finished_at = "rejected", exc.problem, utcnow()
        out = FileOutcome(str(path), "rejected", batch.id, error=str(exc))
        if move:
            out.moved_to = str(move_with_sidecar(path, settings.var_dir / "failed", out.as_dict()))
        return out

    # Records stay Python dicts (pandas would turn None into a truthy NaN); the frame is for GX only.
    records = [normalize_row(r, src, rules, settings.company_time_zone, now) for r in read.rows]
    outcome = validate_rows(pd.DataFrame(records), settings.expectations_dir / "leads_intake.json") if records else None
    reasons = quarantine_reasons(records, outcome.failures if outcome else {}, rules)
    out = FileOutcome(str(path), "done", batch.id, rows_read=len(read.rows))
    raw_by_row = {r.row_number: r.raw for r in read.rows}
    counter: Counter[str] = Counter()

    quarantine_rows, good = [], []
    for i, rec in enumerate(records):
        if i in reasons:
            counter.update(reasons[i])
            quarantine_rows.append(dict(ingest_batch_id=batch.id, source=batch.source, origin=str(path),
                                        source_row=rec["row_number"], raw=raw_by_row[rec["row_number"]],
                                        reasons=reasons[i], status="open", created_at=now))
        else:
            good.append(rec)
    if quarantine_rows:
        session.execute(insert(Quarantine), quarantine_rows)
    out.quarantined = len(quarantine_rows)

    inserted, merged = upsert_leads(session, good, batch.id, raw_by_row, now)
    out.inserted, out.merged = inserted, merged
    out.reasons = dict(counter.most_common())
    batch.rows_read, batch.inserted, batch.merged, batch.quarantined = out.rows_read, inserted, merged, out.quarantined
    batch.status, batch.finished_at = "done", utcnow()
    session.flush()
    if move:
        out.moved_to = str(move_with_sidecar(path, settings.var_dir / "processed", out.as_dict()))
    return out


def upsert_leads(session: Session, good: list[dict], batch_id: int, raw_by_row: dict[int, dict], now: datetime) -> tuple[int, int]:
    """Insert new leads and merge duplicates (within the file and with stored leads); returns (inserted, merged)."""
    if not good:
        return 0, 0
    emails = sorted({r["email"] for r in good})
    existing: dict[str, Lead] = {}
    for chunk in (emails[i:i + 500] for i in range(0, len(emails), 500)):
        existing.update({lead.email: lead for lead in session.scalars(select(Lead).where(Lead.email.in_(chunk)))})
    accounts = _ensure_accounts(session, good, now)
    inserted = merged = 0
    new_leads: list[Lead] = []
    merges = []
    for rec in good:
        lead = existing.get(rec["email"])
        if lead is None:
            lead = Lead(
                email=rec["email"], email_domain=rec["email_domain"], source=rec["source"],
                is_free_email=rec["is_free_email"], is_competitor=rec["is_competitor"],
                is_hand_raiser=rec["is_hand_raiser"], arrived_at=rec["arrived_at"],
                ingest_batch_id=batch_id, source_row=rec["row_number"], lifecycle_stage="new",
                stage_changed_at=now, created_at=now, updated_at=now,
                account_id=accounts.get(rec["email_domain"]),
                **{k: rec[k] for k in MERGEABLE},
            )
            session.add(lead)
            existing[rec["email"]] = lead
            new_leads.append(lead)
            inserted += 1
            continue
        filled = [k for k in MERGEABLE if rec.get(k) and not getattr(lead, k)]
        for k in filled:
            setattr(lead, k, rec[k])
        if rec["is_hand_raiser"] and not lead.is_hand_raiser:
            lead.is_hand_raiser = True  # a known lead asking for a demo is now a hand-raiser
            filled.append("is_hand_raiser")
        if filled:
            lead.scored_at = None  # new facts about the lead: the next scoring pass rescores it
        merges.append(dict(ingest_batch_id=batch_id, source_row=rec["row_number"], fields_filled=filled,
                           raw=raw_by_row[rec["row_number"]], merged_at=now, lead=lead))
        merged += 1
    session.flush()
    if merges:
        session.execute(insert(LeadMerge), [{**{k: v for k, v in m.items() if k != "lead"}, "lead_id": m["lead"].id} for m in merges])
    if new_leads:
        session.execute(insert(LeadStageChange), [
            dict(lead_id=lead.id, from_stage=None, to_stage="new", changed_at=now,
                 cause=f"arrived from {lead.source} (batch {batch_id}, row {lead.source_row})")
            for lead in new_leads
        ])
    return inserted, merged


def _ensure_accounts(session: Session, good: list[dict], now: datetime) -> dict[str, int]:
    """Create missing accounts for business email domains; returns domain -> account id."""
    names: dict[str, tuple[str | None, str | None]] = {}
    for rec in good:
        d = rec["email_domain"]
        if d and not rec["is_free_email"] and d not in names:
            names[d] = (rec["company"], rec["company_key"])
    if not names:
        return {}
    domains = sorted(names)
    found = {}
    for chunk in (domains[i:i + 500] for i in range(0, len(domains), 500)):
        found.update(dict(session.execute(select(Account.domain, Account.id).where(Account.domain.in_(chunk))).all()))
    missing = [d for d in domains if d not in found]
    for d in missing:
        acc = Account(domain=d, name=names[d][0], name_key=names[d][1], created_at=now)
        session.add(acc)
        session.flush()
        found[d] = acc.id
    return found
