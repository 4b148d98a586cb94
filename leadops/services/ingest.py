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
from leadops.db.models import Account, Activity, IngestBatch, Lead, LeadMerge, LeadStageChange, Quarantine, utcnow
from leadops.domain import dedupe
from leadops.domain import normalize as nz
from leadops.sources.files import FileRejected, RawRow, read_lead_file, sha256_file
from leadops.validation import validate_batch, validate_rows

SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson")
# Fields a later row may fill on an existing lead when the lead has none.
MERGEABLE = ("first_name", "last_name", "company", "company_key", "job_title", "seniority", "department", "phone",
             "country", "language", "campaign")


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


def upsert_leads(session: Session, good: list[dict], batch_id: int, raw_by_row: dict[int, dict], now: datetime,
                 fuzzy_threshold: float = 92.0, origin: str = "") -> tuple[int, int]:
    """Insert new leads and merge duplicates; returns (inserted, merged).

    A row is a duplicate of a stored lead (or an earlier row of the batch) with the same
    normalized email, or, within one business email domain, of the same person at the same
    company by fuzzy match. A merge keeps the earliest lead, fills its blanks, records the
    merge and attaches the row as an engagement activity (so scoring sees the new touch).
    """
    if not good:
        return 0, 0
    emails = sorted({r["email"] for r in good})
    existing: dict[str, Lead] = {}
    for chunk in _chunks(emails):
        existing.update({lead.email: lead for lead in session.scalars(select(Lead).where(Lead.email.in_(chunk)))})
    pool = _fuzzy_pool(session, good)
    accounts = _ensure_accounts(session, good, now)
    pending: dict[str, dict[str, Any]] = {}  # email -> row of a lead new in this batch (bulk-inserted below)
    merges, touches = [], []
    for rec in good:
        target: Lead | dict[str, Any] | None = existing.get(rec["email"]) or pending.get(rec["email"])
        matched_by = "email"
        me = None if rec["is_free_email"] else dedupe.person(None, rec["email_domain"], rec["first_name"],
                                                              rec["last_name"], rec["company_key"])
        if target is None and me is not None:
            hit = dedupe.best_match(me, pool.get(rec["email_domain"], ()), fuzzy_threshold)
            if hit is not None:
                key, score = hit
                target = pending[key[1]] if isinstance(key, tuple) else session.get(Lead, key)
                matched_by = f"fuzzy {score:.0f}"
        if target is None:
            pending[rec["email"]] = dict(
                email=rec["email"], email_domain=rec["email_domain"], source=rec["source"],
                is_free_email=rec["is_free_email"], is_competitor=rec["is_competitor"],
                is_hand_raiser=rec["is_hand_raiser"], arrived_at=rec["arrived_at"],
                ingest_batch_id=batch_id, source_row=rec["row_number"], lifecycle_stage="new",
                stage_changed_at=now, created_at=now, updated_at=now,
                account_id=accounts.get(rec["email_domain"]) or accounts.get(f"name:{rec['company_key']}"),
                **{k: rec[k] for k in MERGEABLE},
            )
            if me is not None:
                pool.setdefault(rec["email_domain"], []).append(dedupe.Person(("new", rec["email"]), me.domain, me.name, me.company))
            continue
        filled = _merge_into(target, rec)
        merges.append(dict(ingest_batch_id=batch_id, source_row=rec["row_number"], fields_filled=filled,
                           matched_by=matched_by, raw=raw_by_row[rec["row_number"]], merged_at=now, target=target))
        touches.append(dict(kind="web", outcome=rec["source"], occurred_at=rec["arrived_at"], target=target,
                            detail=f"merged touch from {Path(origin).name or 'batch ' + str(batch_id)} row {rec['row_number']}",
                            external_key=f"merge:{batch_id}:{rec['row_number']}"))
    session.flush()
    # Core inserts on the session's connection: the ORM bulk path splices RETURNING rows slowly.
    conn = session.connection()
    leads_t = Lead.__table__
    ids: dict[str, int] = {}
    rows = list(pending.values())
    for chunk in _chunks(rows, 1000):
        ids.update({email: lid for lid, email in conn.execute(insert(leads_t).returning(leads_t.c.id, leads_t.c.email), chunk)})

    def lead_id(target: Lead | dict[str, Any]) -> int:
        return ids[target["email"]] if isinstance(target, dict) else target.id

    if merges:
        conn.execute(insert(LeadMerge.__table__), [{**_without(m, "target"), "lead_id": lead_id(m["target"])} for m in merges])
        conn.execute(insert(Activity.__table__), [{**_without(t, "target"), "lead_id": lead_id(t["target"])} for t in touches])
    if rows:
        for chunk in _chunks(rows, 1000):
            conn.execute(insert(LeadStageChange.__table__), [
                dict(lead_id=ids[r["email"]], from_stage=None, to_stage="new", changed_at=now,
                     cause=f"arrived from {r['source']} (batch {batch_id}, row {r['source_row']})") for r in chunk])
    inserted, merged = len(rows), len(merges)
    return inserted, merged


def _merge_into(target: Lead | dict[str, Any], rec: dict[str, Any]) -> list[str]:
    """Fill the lead's blanks from ``rec`` (a stored Lead or a row not inserted yet); returns the fields filled."""
    get = target.get if isinstance(target, dict) else lambda k: getattr(target, k)

    def put(k: str, v: Any) -> None:
        if isinstance(target, dict):
            target[k] = v
        else:
            setattr(target, k, v)

    filled = [k for k in MERGEABLE if rec.get(k) and not get(k)]
    for k in filled:
        put(k, rec[k])
    if rec["is_hand_raiser"] and not get("is_hand_raiser"):
        put("is_hand_raiser", True)  # a known lead asking for a demo is now a hand-raiser
        filled.append("is_hand_raiser")
    if rec["arrived_at"] < get("arrived_at"):
        put("arrived_at", rec["arrived_at"])  # the lead is as old as its earliest touch
    if not isinstance(target, dict):
        target.scored_at = None  # a new touch: the next scoring pass rescores this lead
    return filled


def _without(d: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != key}


def _chunks(values: list, size: int = 500):
    return (values[i:i + size] for i in range(0, len(values), size))


def _fuzzy_pool(session: Session, good: list[dict]) -> dict[str, list[dedupe.Person]]:
    """Return stored people per business email domain of the batch (grain: lead)."""
    domains = sorted({r["email_domain"] for r in good if r["email_domain"] and not r["is_free_email"]})
    pool: dict[str, list[dedupe.Person]] = {}
    for chunk in _chunks(domains):
        rows = session.execute(select(Lead.id, Lead.email_domain, Lead.first_name, Lead.last_name, Lead.company_key)
                               .where(Lead.email_domain.in_(chunk)))
        for lead_id, domain, first, last, ckey in rows:
            p = dedupe.person(lead_id, domain, first, last, ckey)
            if p is not None:
                pool.setdefault(domain, []).append(p)
    return pool


def _ensure_accounts(session: Session, good: list[dict], now: datetime) -> dict[str, int]:
    """Match rows to accounts by email domain, then by normalized company name; create missing ones.

    Returns domain -> account id, plus "name:<company key>" -> account id for name matches
    (which is how personal-email leads find their company's account).
    """
    names: dict[str, tuple[str | None, str | None]] = {}
    keys = {r["company_key"] for r in good if r["company_key"]}
    for rec in good:
        d = rec["email_domain"]
        if d and not rec["is_free_email"] and d not in names:
            names[d] = (rec["company"], rec["company_key"])
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(names)):
        found.update(dict(session.execute(select(Account.domain, Account.id).where(Account.domain.in_(chunk))).all()))
    by_name: dict[str, int] = {}
    for chunk in _chunks(sorted(keys)):
        for key, acc_id in session.execute(select(Account.name_key, Account.id).where(Account.name_key.in_(chunk))
                                           .order_by(Account.id)):
            by_name.setdefault(key, acc_id)
    for d in sorted(names):
        if d in found:
            continue
        name, key = names[d]
        if key and key in by_name:
            found[d] = by_name[key]  # same company under another domain (acme.com / acme.fr)
            continue
        acc = Account(domain=d, name=name, name_key=key, created_at=now)
        session.add(acc)
        session.flush()
        found[d] = acc.id
        if key:
            by_name.setdefault(key, acc.id)
    found.update({f"name:{k}": v for k, v in by_name.items()})
    return found
