"""Intake of lead batches (inbox files here, API pages through api_ingest): every input row ends
inserted, merged or quarantined.

One transaction per batch, keyed by the batch's content hash, so a rerun (or a crash mid-batch)
never duplicates anything.
"""
from __future__ import annotations

import fnmatch
import gc
import glob
import json
import os
import shutil
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadops import validation, validator
from leadops.config import ApiSource, FileSource, Rules, Settings
from leadops.db.bulk import bulk_insert
from leadops.db.models import IngestBatch, Lead, Quarantine, utcnow
from leadops.domain import normalize as nz
from leadops.domain.dedupe import match_name
from leadops.sources import inbox
from leadops.sources.files import FileRejected, RawRow, open_lead_file, sha256_file
from leadops.services.lead_store import FileCache, upsert_leads
from leadops.validation import ValidationOutcome

#: Consent values meaning the person does not want to be contacted (compared casefolded, accents removed).
OPT_OUT = frozenset({"no", "non", "n", "false", "0", "opt-out", "opt out", "optout", "opted out", "unsubscribed",
                     "desabonne", "refus", "refuse", "do not contact", "ne pas contacter"})

SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson")


def column_limits(table) -> dict[str, int]:
    """Return column -> maximum length of ``table``'s bounded text columns (``String(n)``)."""
    return {c.name: c.type.length for c in table.columns if getattr(c.type, "length", None)}


#: The leads table's text limits, checked on every row before storing, the same on SQLite (which
#: would store a 1 MB name) and PostgreSQL (which would fail the whole file): the model is the
#: one source of truth, so a migration that widens a column widens the check.
LEAD_LIMITS = column_limits(Lead.__table__)
#: How a reason names a stored field (derived fields are named after what they come from).
FIELD_LABELS = {"first_name": "first name", "last_name": "last name", "company": "company name",
                "company_key": "company name", "job_title": "job title", "email_domain": "email",
                "source": "lead source", "campaign": "campaign", "language": "language", "phone": "phone",
                "email": "email", "country": "country", "seniority": "job title", "department": "job title"}
_CHECKED = tuple(LEAD_LIMITS)
#: Chunks read (and normalized here) ahead of the first store while the validation process starts:
#: ~4 fit in its start on 2 cores; each holds ~25 MB of rows and records until stored.
AHEAD_WHILE_STARTING = 4


@dataclass
class FileOutcome:
    """What happened to one file: counts per outcome, where it went, and quarantine reasons."""

    file: str
    status: str  # done | rejected | duplicate | taken (another run claimed the file first: not ours to report)
    source: str = "default"
    batch_id: int | None = None
    rows_read: int = 0
    inserted: int = 0
    merged: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    moved_to: str | None = None
    # the batch-level gate's result per expectation (of the last chunk, or of the failing one)
    validation: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "leads"  # leads | activities (then inserted = new events, merged = events seen before)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def discover(folder: Path) -> list[Path]:
    """Return the entries waiting in the inbox ``folder`` with a lead-file extension (not in its
    subfolders), oldest name first. Links and special files are listed without being followed:
    claiming them (:func:`leadops.sources.inbox.claim`) refuses them with a reason."""
    return inbox.entries(folder, SUFFIXES)


def failure_line(exc: BaseException) -> str:
    """Return one line saying why ingesting a file failed, without the file's values.

    A database error says its first line only (PostgreSQL's DETAIL and CONTEXT lines, and
    SQLAlchemy's echo of the statement and its parameters, quote the row's values); any other
    error its type and first line, cut at 200 characters.
    """
    from sqlalchemy.exc import StatementError

    if isinstance(exc, StatementError) and exc.orig is not None:
        exc = exc.orig
    text = (str(exc).strip().splitlines() or [""])[0]
    text = text if len(text) <= 200 else text[:200] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def set_aside(path: Path, settings: Settings, error: str, source: str = "default") -> FileOutcome:
    """Move the inbox entry ``path`` (never followed: a link moves as a link) into var/failed with a
    sidecar giving ``error``; returns the rejected outcome. ``error`` names the file and the reason.

    Used for an entry the inbox refuses and for a file whose ingest failed in a way retries did not
    fix, so it does not block later runs. An entry that cannot be moved stays (and says why).
    """
    out = FileOutcome(str(path), "rejected", source, error=error)
    folder = settings.var_dir / "failed"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if os.path.lexists(target):
        target = folder / f"{path.stem}.{utcnow().strftime('%Y%m%d%H%M%S%f')}{path.suffix}"
    try:
        os.rename(path, target)  # a rename, never a copy: copying a FIFO or a device would read it
    except FileNotFoundError:
        out.error = f"{error} (no longer in the inbox)"
        return out
    except OSError as exc:
        out.error = f"{error} (left in the inbox: cannot move it to {folder}: {exc.strerror})"
        return out
    out.moved_to = str(target)
    target.with_name(target.name + ".result.json").write_text(json.dumps(out.as_dict(), indent=2, default=str),
                                                              encoding="utf-8")
    return out


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


#: Day-first and other export formats tried after ISO 8601 (strptime: slow when it fails, so last).
DATE_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%d/%m/%Y %H:%M", "%d/%m/%Y")


def _parse_date(value: str | None, fmt: str | None, tz: str) -> tuple[datetime | None, str | None]:
    """Return (UTC datetime, None), or (None, why) for a value that is not a date; (None, None) for no value.

    ``fmt`` (the source's date format) is tried first, then ISO 8601 (parsed in C: strptime
    failing format after format cost ~10 us a row), then the usual export formats (day first,
    as French exports write them). Naive values are in ``tz``.
    """
    if not value:
        return None, None
    parsers = [lambda v, f=f: datetime.strptime(v, f) for f in ([fmt] if fmt else [])]
    parsers += [datetime.fromisoformat] + [lambda v, f=f: datetime.strptime(v, f) for f in DATE_FORMATS]
    for parse in parsers:
        try:
            dt = parse(value)
        except ValueError:
            continue
        return (dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))).astimezone(timezone.utc), None
    return None, f"{value!r} is not a date ({fmt or 'ISO 8601 or dd/mm/yyyy'})"


def normalize_row(row: RawRow, src: FileSource | ApiSource | None, rules: Rules, tz: str, now: datetime) -> dict[str, Any]:
    """Return one normalized candidate lead (plus *_raw and flag columns the GX suite checks, and
    ``field_problems``: the reasons its values do not fit the leads table, see :data:`LEAD_LIMITS`)."""
    f = row.fields
    em = nz.normalize_email(f.get("email"))
    first, last = f.get("first_name"), f.get("last_name")
    if not (first or last) and f.get("full_name"):
        parts = f["full_name"].split(" ", 1)
        first, last = parts[0], (parts[1] if len(parts) > 1 else None)
    country_raw = f.get("country")
    country = nz.normalize_country(country_raw)
    seniority, department = nz.title_to_seniority_department(f.get("job_title"))
    company = f.get("company")  # RawRow fields are cleaned already
    source = f.get("source") or (src.source if src else None) or rules.sources.default_source
    source = source.strip().lower().replace(" ", "_").replace("-", "_")
    arrived, date_error = _parse_date(f.get("created_at"), getattr(src, "date_format", None), tz)
    first, last = nz.normalize_person_name(first), nz.normalize_person_name(last)
    rec = {
        "row_number": row.row_number,
        "email": em.email,
        "email_raw": f.get("email"),
        "email_domain": em.domain,
        "is_free_email": em.is_free,
        "is_disposable_email": em.is_disposable,
        "is_competitor": (em.domain or "") in rules.scoring.competitor_domains,
        "first_name": first,
        "last_name": last,
        "match_name": match_name(first, last),  # for fuzzy dedupe, computed here off the storing process
        "company": company,
        "company_key": nz.company_key(company),
        "job_title": f.get("job_title"),
        "seniority": seniority,
        "department": department,
        "phone": nz.normalize_phone(f.get("phone"), country),
        "country": country,
        "country_unrecognized": country_raw if (country_raw and not country) else None,
        "language": f.get("language"),
        "source": source,
        "campaign": f.get("campaign") or (src.campaign if src else None),
        "is_hand_raiser": source in rules.scoring.hand_raiser_sources,
        "do_not_contact": nz.fold(f.get("consent") or "") in OPT_OUT,
        "arrived_at": arrived or now,
        "date_error": date_error,
        "raw_error": row.raw.get("_error"),
    }
    rec["field_problems"] = nz.field_problems({k: rec[k] for k in _CHECKED if k in rec}, LEAD_LIMITS, FIELD_LABELS)
    return rec


def quarantine_reasons(records: list[dict[str, Any]], failures: dict[int, list[str]], rules: Rules) -> dict[int, list[str]]:
    """Return row index -> reasons: GX failures, the field limits of the leads table (see
    :data:`LEAD_LIMITS`) and the checks that need the rule files. Reasons name fields, not values
    (a value is shown only when it is a plausible source name)."""
    reasons = {i: list(r) for i, r in failures.items()}
    for i, rec in enumerate(records):
        extra = list(rec.get("field_problems") or ())
        if rec.get("raw_error"):
            extra.append(f"unreadable record: {rec['raw_error']}")
        if rec["source"] not in rules.sources.lead_sources:
            shown = f" {rec['source']!r}" if len(rec["source"]) <= LEAD_LIMITS["source"] and rec["source"].isprintable() else ""
            extra.append(f"unknown lead source{shown} (allowed: {', '.join(rules.sources.lead_sources)})")
        if extra:
            bucket = reasons.setdefault(i, [])
            bucket.extend(r for r in extra if r not in bucket)  # a suite of one's own may say the same
    return reasons


def move_with_sidecar(path: Path, folder: Path, sidecar: dict[str, Any]) -> Path:
    """Move ``path`` into ``folder`` with a ``.result.json`` sidecar; returns the new path (never overwrites).

    The sidecar is written first, whole (a temporary name, then a rename), and the file moved after it: a
    crash between the two leaves the file in the inbox, which the rerun finds stored and moves with its
    counts (:func:`_finished`), never a moved file without its counts.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():  # the same name arrived again with other content: keep both
        target = folder / f"{path.stem}.{sidecar.get('batch_id') or utcnow().strftime('%Y%m%d%H%M%S')}{path.suffix}"
    side = target.with_name(target.name + ".result.json")
    partial = side.with_name(side.name + ".partial")
    partial.write_text(json.dumps(sidecar, indent=2, default=str), encoding="utf-8")
    os.replace(partial, side)
    shutil.move(str(path), target)
    return target


def _finished(settings: Settings, path: Path, batch_id: int) -> bool:
    """Return True when a run moved this file after storing batch ``batch_id``: a file of its name is in
    processed/ or failed/ beside a sidecar naming that batch (else it is a file a run stored and then died
    before moving)."""
    for folder in (settings.var_dir / "processed", settings.var_dir / "failed"):
        for side in folder.glob(f"{glob.escape(path.stem)}*{glob.escape(path.suffix)}.result.json"):
            try:
                named = json.loads(side.read_text(encoding="utf-8")).get("batch_id")
            except (OSError, ValueError):
                continue
            if named == batch_id and side.with_name(side.name.removesuffix(".result.json")).exists():
                return True
    return False


def ingest_file(session: Session, path: Path, rules: Rules, settings: Settings, *,
                flow_run_id: str | None = None, move: bool = True, source: FileSource | None = None,
                progress: Callable[[int], None] | None = None) -> FileOutcome:
    """Ingest one file in one transaction, streaming it in chunks; returns its outcome (the caller commits).

    ``source`` forces a sources.yaml entry; by default the first whose pattern matches the name.
    ``progress(rows)`` is called after each chunk of a lead file is stored, with the rows stored so far.
    With ``move`` the file is claimed first (see :func:`leadops.sources.inbox.claim`): an entry the
    inbox does not read is set aside as rejected, one another run holds is reported ``taken``.
    """
    if move:
        try:
            with inbox.claim(path):
                return _ingest_file(session, path, rules, settings, flow_run_id=flow_run_id, move=True,
                                    source=source, progress=progress)
        except inbox.Taken as exc:
            return FileOutcome(str(path), "taken", error=str(exc))
        except inbox.Refused as exc:
            return set_aside(path, settings, str(exc))
    return _ingest_file(session, path, rules, settings, flow_run_id=flow_run_id, move=False, source=source,
                        progress=progress)


def _ingest_file(session: Session, path: Path, rules: Rules, settings: Settings, *, flow_run_id: str | None,
                 move: bool, source: FileSource | None, progress: Callable[[int], None] | None) -> FileOutcome:
    validator.warm_up(in_process=not settings.validation_process)  # it imports GX while this reads the file
    digest = sha256_file(path)
    src = source if source is not None else source_for(path, rules)

    def finish(out: FileOutcome) -> FileOutcome:
        if move:
            folder = "failed" if out.status == "rejected" else "processed"
            out.moved_to = str(move_with_sidecar(path, settings.var_dir / folder, out.as_dict()))
        return out

    batch, seen = open_batch(session, digest, src.name if src else "default", str(path), flow_run_id)
    if batch is None:
        own_retry = bool(flow_run_id) and seen.flow_run_id == flow_run_id
        # only for inbox files (moved when done): a file elsewhere ingested again is a duplicate
        in_inbox = path.resolve().parent == settings.inbox_dir.resolve()
        left_behind = in_inbox and seen.origin == str(path) and not _finished(settings, path, seen.id)
        if seen.status == "done" and (own_retry or left_behind):
            # a retry of this run's own task after its commit (e.g. the move failed), or a file a run stored
            # and then died before moving: report what was stored, so no run's accounting loses the file
            return finish(stored_outcome(session, seen, src))
        return finish(FileOutcome(str(path), "duplicate", seen.source, seen.id,
                                  error=f"same content as batch {seen.id} ({seen.origin})"))
    if src is not None and src.kind == "activities":
        from leadops.services.activity_ingest import ingest_activity_file

        outcome = ingest_activity_file(session, batch, path, src, rules, settings)
        outcome.kind = "activities"
        return finish(outcome)
    try:
        stream = open_lead_file(path, columns=src.columns if src else None)
    except FileRejected as exc:
        return finish(reject(batch, exc.problem, str(exc)))
    columns = list(dict.fromkeys(stream.mapping.values()))
    return finish(admit_chunks(session, batch, stream.chunks(settings.intake_chunk_rows), columns, src, rules, settings,
                               progress=progress))


def stored_outcome(session: Session, batch: IngestBatch, src: FileSource | None) -> FileOutcome:
    """Return the outcome of a batch already stored, rebuilt from its counts and quarantine rows."""
    counter: Counter[str] = Counter()
    for reasons in session.scalars(select(Quarantine.reasons).where(Quarantine.ingest_batch_id == batch.id)):
        counter.update(reasons)
    return FileOutcome(batch.origin, "done", batch.source, batch.id, rows_read=batch.rows_read or 0,
                       inserted=batch.inserted or 0, merged=batch.merged or 0, quarantined=batch.quarantined or 0,
                       reasons=dict(counter.most_common()), kind=getattr(src, "kind", "leads"))


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


def reject(batch: IngestBatch, problem: str, message: str, validation: list[dict[str, Any]] | None = None) -> FileOutcome:
    """Mark ``batch`` rejected as a whole; returns the outcome naming the problem (and the gate's results)."""
    batch.status, batch.error, batch.finished_at = "rejected", problem, utcnow()
    batch.rows_read = batch.inserted = batch.merged = batch.quarantined = 0
    return FileOutcome(batch.origin, "rejected", batch.source, batch.id, error=message, validation=validation or [])


def _gate_frame(rows: list[RawRow], columns: list[str]) -> pd.DataFrame:
    """Return the frame the batch-level suite sees: the readable rows' fields (grain: input row)."""
    # unreadable records are quarantined one by one; the gate measures the readable ones
    return pd.DataFrame([r.fields for r in rows if "_error" not in r.raw], columns=columns)


def _gate(frame: pd.DataFrame, src: FileSource | ApiSource | None, settings: Settings,
          suite: str = "leads_raw.json") -> ValidationOutcome:
    """Run the batch-level suite on ``frame`` (:func:`_gate_frame`); returns its outcome (see :func:`_gate_problem`)."""
    return validation.validate_batch(frame, settings.expectations_dir / suite, thresholds=_thresholds(src))


def _thresholds(src: FileSource | ApiSource | None) -> dict[str, float | None]:
    """Return the source's settings the batch-level suite reads (its expectations' ``threshold_setting``)."""
    return {"min_email_fill_rate": getattr(src, "min_email_fill_rate", None)}


def _gate_problem(gate: ValidationOutcome, where: str) -> str | None:
    """Return the gate's failures as one message naming ``where``, or None when the batch passed."""
    return "; ".join(gate.batch_failures) + where if gate.batch_failures else None


def _with_small_tail(chunks: Iterator[list[RawRow]], size: int) -> Iterator[list[RawRow]]:
    """Yield ``chunks``, folding a last chunk under half of ``size`` into the one before it; one empty
    chunk when there is none.

    The gate measures rates per chunk: a tail of a few rows must not decide a file's fate alone.
    """
    held: list[RawRow] | None = None
    for chunk in chunks:
        if held is not None:
            if len(chunk) < size // 2:
                chunk = held + chunk  # may be the tail: keep one chunk's lookahead
            else:
                yield held
        held = chunk
    yield held if held is not None else []  # a file without rows is gated too ("no data rows")


@dataclass
class Prepared:
    """One chunk ready to store: rows as read, their normalized records and the row suite's outcome."""

    rows: list[RawRow]
    records: list[dict[str, Any] | None]
    checked: ValidationOutcome
    #: row index -> every reason to quarantine it, when preparing could tell (then the records of
    #: those rows are None: they are not stored); None: storing decides
    reasons: dict[int, list[str]] | None = None


@dataclass(frozen=True)
class Stages:
    """How a kind of file is admitted. ``normalize(rows, src, rules, settings, now)`` returns a
    record per row and ``decide(rows, records, checked, rules)`` the chunk to store once the row
    suite (``suite``, a file of the expectations folder) checked the records: both pure, they
    run in the validation process or here. ``store(session, batch, prepared, src, rules,
    settings, now, out, counter, cache)`` runs here."""

    normalize: Callable[..., list[dict[str, Any]]]
    suite: str
    decide: Callable[..., Prepared]
    store: Callable[..., None]


def _prepare_job(stages: Stages, rows: list[RawRow] | PackedRows, columns: list[str],
                 src: FileSource | ApiSource | None, rules: Rules, settings: Settings, now: datetime,
                 raw_suite: str) -> tuple[ValidationOutcome, Prepared]:
    """Gate, normalize and validate one chunk (in the validation process); returns (gate, prepared chunk).

    Only what storing needs comes back: the rows stay with the caller.
    """
    if isinstance(rows, PackedRows):
        rows = rows.unpack()
    gate = _gate(_gate_frame(rows, columns), src, settings, raw_suite)
    if gate.batch_failures:  # the file is rejected: no need to normalize what will not be stored
        return gate, Prepared([], [], ValidationOutcome({}, {}, 0))
    records = stages.normalize(rows, src, rules, settings, now)
    p = stages.decide(rows, records, validation.validate_records(records, settings.expectations_dir / stages.suite), rules)
    p.rows = []
    return gate, p


@dataclass
class PackedRows:
    """A chunk's rows as the validation process needs them, by column, without what it does not read.

    Rows read from a file and not cleaned yet travel as their mapped raw cells (``mapping``:
    source header -> field; the validation process cleans them); other rows as their fields
    (``mapping`` None, ``names`` the fields). Lists of strings cross the process boundary
    several times faster than an object per row.
    """

    row_numbers: list[int]
    names: list[str]  # the source headers of ``mapping``, or the field names
    columns: list[list[str | None]]
    mapping: dict[str, str] | None
    errors: dict[int, str]  # index in the chunk -> the record's read error
    irregular: dict[int, dict[str, str | None]]  # index -> fields, for rows packed otherwise than by ``names``

    @classmethod
    def of(cls, rows: list[RawRow]) -> PackedRows:
        mapping = rows[0].mapping if rows and not rows[0].cleaned else None
        if mapping is not None:
            names = list(mapping)
            irregular = {i: r.fields for i, r in enumerate(rows) if r.cleaned or r.mapping is not mapping}
            columns = [[r.raw.get(n) for r in rows] for n in names]
        else:
            names = list(rows[0].fields) if rows else []
            keys = set(names)
            irregular = {i: r.fields for i, r in enumerate(rows) if r.fields.keys() != keys}
            columns = [[r.fields.get(n) for r in rows] for n in names]
        errors = {i: r.raw["_error"] for i, r in enumerate(rows) if "_error" in r.raw}
        return cls([r.row_number for r in rows], names, columns, mapping, errors, irregular)

    def unpack(self) -> list[RawRow]:
        """Return the rows: their fields are those of the rows packed; raw holds the mapped cells, or only a read error."""
        errors, irregular = self.errors, self.irregular
        if self.mapping is not None:  # clean by column, each distinct value once (files repeat most values)
            names = [self.mapping[h] for h in self.names]
            columns = [_cleaned_column(c) for c in self.columns]
        else:
            names, columns = self.names, self.columns
        values = zip(*columns) if names else ((),) * len(self.row_numbers)
        return [RawRow(number, irregular[i] if i in irregular else dict(zip(names, cells)),
                       {"_error": errors[i]} if i in errors else {})
                for i, (number, cells) in enumerate(zip(self.row_numbers, values))]


def _cleaned_column(values: list[str | None]) -> list[str | None]:
    """Return ``values`` through :func:`clean_text`, computing each distinct value once."""
    seen: dict[str | None, str | None] = {}
    out = []
    for v in values:
        try:
            out.append(seen[v])
        except KeyError:
            out.append(seen.setdefault(v, nz.clean_text(v)))
    return out


def admit_chunks(session: Session, batch: IngestBatch, chunks: Iterable[list[RawRow]], columns: list[str],
                 src: FileSource | ApiSource | None, rules: Rules, settings: Settings, *,
                 raw_suite: str = "leads_raw.json", stages: Stages | None = None,
                 progress: Callable[[int], None] | None = None) -> FileOutcome:
    """Gate and admit a file chunk by chunk inside a savepoint; returns the file's outcome.

    Each chunk is one GX batch for both suites. If any chunk fails the batch-level gate, or the
    file turns out unreadable further on, everything admitted from it is rolled back and the
    batch is rejected as a whole, naming the rows of the failing chunk. ``raw_suite`` and
    ``stages`` serve other kinds of files (activities).

    Chunks are pipelined: while this process reads chunk k+1 and stores chunk k, the validation
    process gates, normalizes and validates chunk k+1 (see :mod:`leadops.validator`). While
    that process starts, this one normalizes the first chunks itself (:func:`_normalized_here`).
    """
    stages = stages or LEADS
    out = FileOutcome(batch.origin, "done", batch.source, batch.id)
    counter: Counter[str] = Counter()
    now = utcnow()
    cache = FileCache()  # fuzzy-dedupe candidates and account ids, carried across the file's chunks
    in_process = not settings.validation_process
    validator.warm_up(in_process=in_process)
    savepoint = session.begin_nested()
    gc_thresholds = gc.get_threshold()
    # A chunk allocates hundreds of thousands of short-lived dicts and strings that form no
    # cycles; the default thresholds rescan the whole heap over and over (~12% of intake time).
    gc.set_threshold(max(gc_thresholds[0], 50_000), *gc_thresholds[1:])

    def admit(rows: list[RawRow], job: validator.Job, where: str, records: list[dict[str, Any]] | None) -> str | None:
        """Store the chunk once its gate passed; returns the gate's problem instead when it failed.

        ``records``: the chunk's records when they were normalized here (the job checked them).
        """
        done = validator.result(job, f"{batch.origin}{where}")
        gate, prepared = done if records is None else (done[0], None)
        out.validation = gate.results
        problem = _gate_problem(gate, where)
        if problem:
            return problem
        if prepared is None:
            prepared = stages.decide(rows, records, done[1], rules)
        prepared.rows = rows
        stages.store(session, batch, prepared, src, rules, settings, now, out, counter, cache)
        if progress is not None:
            progress(out.rows_read)
        return None

    def submitted() -> Iterator[tuple[list[RawRow], validator.Job, str, list[dict[str, Any]] | None]]:
        """Yield each chunk with its validation job, started as the chunk is read (and the chunk's
        records when they were normalized here)."""
        read = 0
        for chunk in _with_small_tail(iter(chunks), settings.intake_chunk_rows):
            where = "" if read == 0 and len(chunk) < settings.intake_chunk_rows else \
                f" (in rows {chunk[0].row_number}-{chunk[-1].row_number})"
            read += len(chunk)
            local = _normalized_here(chunk, columns, src, rules, settings, now, raw_suite, stages) \
                if validator.starting(in_process) else None
            if local is not None:
                yield chunk, local[0], where, local[1]
                continue
            yield chunk, validator.Job(in_process, _prepare_job, (stages, chunk if in_process else PackedRows.of(chunk),
                                                                   columns, src, rules, settings, now, raw_suite)), where, None

    # Chunk k+1 is read and handed to the validation process before chunk k is stored (while
    # that process is still starting, up to AHEAD_WHILE_STARTING chunks, normalized here).
    # Reading on a second thread while this one waits on the database was tried, and so was
    # writing a chunk on one while this one reads and decides the next: GIL contention made
    # both slower than this (bench/RESULTS.md).
    pending: deque[tuple[list[RawRow], validator.Job, str, list[dict[str, Any]] | None]] = deque()
    problem = None
    try:
        for item in submitted():
            pending.append(item)
            while not problem and len(pending) > (AHEAD_WHILE_STARTING if validator.starting(in_process) else 1):
                problem = admit(*pending.popleft())
            if problem:
                break
        while pending and not problem:
            problem = admit(*pending.popleft())
    except FileRejected as exc:
        savepoint.rollback()
        return reject(batch, exc.problem, str(exc))
    finally:
        gc.set_threshold(*gc_thresholds)
    if problem:
        savepoint.rollback()
        return reject(batch, problem, f"{batch.origin}: {problem}", out.validation)
    savepoint.commit()
    return _finish_batch(batch, out, counter)


def _normalized_here(chunk: list[RawRow], columns: list[str], src: FileSource | ApiSource | None, rules: Rules,
                     settings: Settings, now: datetime, raw_suite: str,
                     stages: Stages) -> tuple[validator.Job, list[dict[str, Any]]] | None:
    """Normalize ``chunk`` here and start the validation process's check of it; returns (job, records).

    For the seconds the validation process spends importing GX, this process would only wait:
    it normalizes the first chunks itself meanwhile (cleaning as the validation process does),
    and sends over only the two frames GX reads. Returns None when the chunk does not normalize
    here (the validation process then gates it first, as usual, and reports the problem).
    """
    clean = PackedRows.of(chunk).unpack()
    try:
        records = stages.normalize(clean, src, rules, settings, now)
        suite = settings.expectations_dir / stages.suite
        check = (_gate_frame(clean, columns), settings.expectations_dir / raw_suite, _thresholds(src),
                 validation.records_frame(records, suite), suite)
    except Exception:  # noqa: BLE001 - e.g. a suite that cannot be read: said by the usual path, naming the chunk
        return None
    # plain arguments: the validation process need not import this module (and the ORM) for it
    return validator.Job(False, validation.check_frames, check), records


def admit_rows(session: Session, batch: IngestBatch, rows: list[RawRow], columns: list[str],
               src: FileSource | ApiSource | None, rules: Rules, settings: Settings) -> FileOutcome:
    """Gate, normalize, validate and store one batch of rows held in memory (an API page); returns its outcome.

    Every row ends inserted, merged or quarantined; a batch-level failure rejects the whole batch.
    """
    return admit_chunks(session, batch, [rows], columns, src, rules, settings)


def _normalize_leads(rows: list[RawRow], src: FileSource | ApiSource | None, rules: Rules, settings: Settings,
                     now: datetime) -> list[dict[str, Any]]:
    """Return the normalized record of each row (grain: input row)."""
    # Records stay Python dicts (pandas would turn None into a truthy NaN); frames are for GX only.
    return [normalize_row(r, src, rules, settings.company_time_zone, now) for r in rows]


def _decide_leads(rows: list[RawRow], records: list[dict[str, Any]], checked: ValidationOutcome, rules: Rules) -> Prepared:
    """Return the chunk ready to store: the quarantine reasons of each failing row, the records of the others."""
    reasons = quarantine_reasons(records, checked.failures, rules)
    return Prepared(rows, [None if i in reasons else rec for i, rec in enumerate(records)], checked, reasons)


def _store_leads(session: Session, batch: IngestBatch, p: Prepared, src: FileSource | ApiSource | None,
                 rules: Rules, settings: Settings, now: datetime, out: FileOutcome, counter: Counter[str],
                 cache: FileCache | None = None) -> None:
    """Quarantine the failing rows of ``p`` and store the others; adds their counts to ``out`` and ``counter``."""
    reasons = p.reasons if p.reasons is not None else quarantine_reasons(p.records, p.checked.failures, rules)
    quarantined = quarantine(session, batch, p.rows, reasons, now, counter)
    good = [rec for i, rec in enumerate(p.records) if i not in reasons]
    by_row: dict[int, dict] = {}

    def raw_of(row_number: int) -> dict:
        """The row as read, for a merge's record (built on the first merge: most chunks have few)."""
        if not by_row:
            by_row.update((r.row_number, r.raw) for r in p.rows)
        return by_row[row_number]

    inserted, merged = upsert_leads(session, good, batch.id, raw_of, now,
                                    rules.sources.fuzzy_match_threshold, batch.origin, cache)
    out.rows_read += len(p.rows)
    out.quarantined += quarantined
    out.inserted += inserted
    out.merged += merged


LEADS = Stages(_normalize_leads, "leads_intake.json", _decide_leads, _store_leads)


def quarantine(session: Session, batch: IngestBatch, rows: list[RawRow], reasons: dict[int, list[str]], now: datetime,
               counter: Counter[str]) -> int:
    """Store the rows at the indexes of ``reasons`` in quarantine, as read, with every reason; returns how many.

    ``counter`` gets each reason counted once per row (the run's and the batch's reason tally).
    """
    held = [dict(ingest_batch_id=batch.id, source=batch.source, origin=batch.origin, source_row=rows[i].row_number,
                 raw=rows[i].raw, reasons=r, status="open", created_at=now) for i, r in sorted(reasons.items())]
    for r in reasons.values():
        counter.update(r)
    bulk_insert(session.connection(), Quarantine.__table__, held)
    return len(held)


def _finish_batch(batch: IngestBatch, out: FileOutcome, counter: Counter[str]) -> FileOutcome:
    out.reasons = dict(counter.most_common())
    batch.rows_read, batch.inserted, batch.merged, batch.quarantined = out.rows_read, out.inserted, out.merged, out.quarantined
    batch.status, batch.finished_at = "done", utcnow()
    return out
