"""Batch bookkeeping: open a batch once per content, admit it chunk by chunk inside a savepoint, store
what failed in quarantine, and close it with its counts (or reject it as a whole).

One batch per file or API page, keyed by its content hash, so a rerun (or a crash mid-batch) never
duplicates anything. The tables are reached through the unit of work's intake repository
(:class:`leadops.db.repositories.intake.IntakeRepository`); nothing here commits: the caller's unit
of work does.
"""
from __future__ import annotations

import gc
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from leadops.config import FileSource, IntakeSource, Rules, Settings
from leadops.db.repositories.intake import Batch, IntakeRepository
from leadops.db.repositories.lead_store import FileCache
from leadops.db.unit_of_work import UnitOfWork
from leadops.intake import validation_process
from leadops.intake.gate import gate_problem
from leadops.intake.outcome import FileOutcome
from leadops.intake.reading.rows import FileRejected, RawRow
from leadops.intake.stages import Check, Stages, prepare_chunk, prepare_here
from leadops.intake.transport import PackedRows

#: Chunks read (and normalized here) ahead of the first store while the validation process starts:
#: ~4 fit in its start on 2 cores; each holds ~25 MB of rows and records until stored.
AHEAD_WHILE_STARTING = 4


def open_batch(intake: IntakeRepository, digest: str, source: str, origin: str,
               flow_run_id: str | None) -> tuple[Batch | None, Batch | None]:
    """Return (batch to fill, None), or (None, earlier batch) when this content was ingested before.

    A batch rejected before is reopened, so a file can be retried once ops fixed its mapping.
    """
    seen = intake.batch_by_hash(digest)
    if seen is not None and seen.status != "rejected":
        return None, seen
    return intake.start_batch(digest, source, origin, flow_run_id), None


def stored_outcome(intake: IntakeRepository, batch: Batch, src: FileSource | None) -> FileOutcome:
    """Return the outcome of a batch already stored, rebuilt from its counts and quarantine rows."""
    counter: Counter[str] = Counter()
    for reasons in intake.quarantine_reasons(batch.id):
        counter.update(reasons)
    return FileOutcome(batch.origin, "done", batch.source, batch.id, rows_read=batch.rows_read,
                       inserted=batch.inserted, merged=batch.merged, quarantined=batch.quarantined,
                       reasons=dict(counter.most_common()), kind=src.kind if src is not None else "leads")


def reject(intake: IntakeRepository, batch: Batch, problem: str, message: str,
           validation: list[dict[str, Any]] | None = None) -> FileOutcome:
    """Mark ``batch`` rejected as a whole; returns the outcome naming the problem (and the gate's results)."""
    intake.reject_batch(batch.id, problem)
    return FileOutcome(batch.origin, "rejected", batch.source, batch.id, error=message, validation=validation or [])


def quarantine(intake: IntakeRepository, batch: Batch, rows: list[RawRow], reasons: dict[int, list[str]],
               now: datetime, counter: Counter[str]) -> int:
    """Store the rows at the indexes of ``reasons`` in quarantine, as read, with every reason; returns how many.

    ``counter`` gets each reason counted once per row (the run's and the batch's reason tally).
    """
    held = [dict(ingest_batch_id=batch.id, source=batch.source, origin=batch.origin, source_row=rows[i].row_number,
                 raw=rows[i].raw, reasons=r, status="open", created_at=now) for i, r in sorted(reasons.items())]
    for r in reasons.values():
        counter.update(r)
    intake.hold(held)
    return len(held)


def finish_batch(intake: IntakeRepository, batch: Batch, out: FileOutcome, counter: Counter[str]) -> FileOutcome:
    """Close ``batch`` as done with the counts of ``out`` (and its reasons tally); returns ``out``."""
    out.reasons = dict(counter.most_common())
    intake.finish_batch(batch.id, rows_read=out.rows_read, inserted=out.inserted, merged=out.merged,
                        quarantined=out.quarantined)
    return out


class _Undo(Exception):
    """Leaves the savepoint of a batch the gate refused: what was admitted of it is undone."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def with_small_tail(chunks: Iterator[list[RawRow]], size: int) -> Iterator[list[RawRow]]:
    """Yield ``chunks``, folding a last chunk under half of ``size`` into the one before it; one empty
    chunk when there is none.

    The gate measures rates per chunk: a tail of a few rows must not decide a file's fate alone.
    """
    held: list[RawRow] | None = None
    for chunk in chunks:
        if held is None:
            held = chunk
        elif len(chunk) < size // 2:
            held = held + chunk  # may be the tail: keep one chunk's lookahead
        else:
            yield held
            held = chunk
    yield held if held is not None else []  # a file without rows is gated too ("no data rows")


#: A chunk on its way: its rows, its validation job, where it is in the file, and its records when
#: they were normalized here
_Pending = tuple[list[RawRow], validation_process.Job, str, list[dict[str, Any]] | None]


def admit_chunks(uow: UnitOfWork, batch: Batch, chunks: Iterable[list[RawRow]], columns: list[str],
                 src: IntakeSource | None, rules: Rules, settings: Settings, *, stages: Stages,
                 raw_suite: str = "leads_raw.json", progress: Callable[[int], None] | None = None,
                 check: Check | None = None) -> FileOutcome:
    """Gate and admit a file (or an API page) chunk by chunk inside a savepoint of ``uow``; returns its
    outcome (``uow``'s owner commits).

    Each chunk is one GX batch for both suites. If any chunk fails the batch-level gate, or the
    file turns out unreadable further on, everything admitted from it is rolled back and the
    batch is rejected as a whole, naming the rows of the failing chunk. ``stages`` and
    ``raw_suite`` say the kind of rows (leads, activities). ``progress(rows)`` is called after
    each chunk is stored, with the rows stored so far. ``check`` gates and checks each chunk here
    instead of GX (:func:`leadops.intake.stages.prepare_chunk` in the validation process): a test's seam.

    Chunks are pipelined: while this process reads chunk k+1 and stores chunk k, the validation
    process gates, normalizes and validates chunk k+1 (see :mod:`leadops.intake.validation_process`).
    While that process starts, this one normalizes the first chunks itself
    (:func:`leadops.intake.stages.prepare_here`).
    """
    out = FileOutcome(batch.origin, "done", batch.source, batch.id)
    counter: Counter[str] = Counter()
    now = datetime.now(UTC)
    cache = FileCache()  # fuzzy-dedupe candidates and account ids, carried across the file's chunks
    in_process = not settings.validation_process
    if check is None:
        validation_process.warm_up(in_process=in_process)
    # A chunk allocates hundreds of thousands of dicts, tuples and strings that form no cycles (a
    # 100k-row file leaves ~260 unreachable objects in all). With the default thresholds the cyclic
    # collector rescanned them over and over (~12% of intake time); at a 50k threshold its young
    # passes still took ~1 s of a 100k-row file. While the file is admitted it is off, and on again
    # after (collecting what is left then); only the threshold is raised when GX runs here (its
    # objects do form cycles, chunk after chunk).
    gc_thresholds = gc.get_threshold()
    quiet = gc.isenabled() and check is None and not in_process and validation_process.spawnable()
    if quiet:
        gc.disable()
    else:
        gc.set_threshold(max(gc_thresholds[0], 50_000), *gc_thresholds[1:])

    def admit(rows: list[RawRow], job: validation_process.Job, where: str,
              records: list[dict[str, Any]] | None) -> str | None:
        """Store the chunk once its gate passed; returns the gate's problem instead when it failed.

        ``records``: the chunk's records when they were normalized here (the job checked them).
        """
        done = validation_process.result(job, f"{batch.origin}{where}")
        gate, prepared = done if records is None else (done[0], None)
        out.validation = gate.results
        problem = gate_problem(gate, where)
        if problem:
            return problem
        if prepared is None:
            prepared = stages.decide(rows, records, done[1], rules)
        prepared.rows = rows
        stages.store(uow.intake, batch, prepared, src, rules, settings, now, out, counter, cache)
        if progress is not None:
            progress(out.rows_read)
        return None

    def submitted() -> Iterator[_Pending]:
        """Yield each chunk with its validation job, started as the chunk is read (and the chunk's
        records when they were normalized here)."""
        read = 0
        for chunk in with_small_tail(iter(chunks), settings.intake_chunk_rows):
            where = "" if read == 0 and len(chunk) < settings.intake_chunk_rows else \
                f" (in rows {chunk[0].row_number}-{chunk[-1].row_number})"
            read += len(chunk)
            if check is not None:
                yield chunk, validation_process.Job(True, check, (stages, chunk, columns, src, rules, settings, now,
                                                                  raw_suite)), where, None
                continue
            local = prepare_here(chunk, columns, src, rules, settings, now, raw_suite, stages) \
                if validation_process.starting(in_process) else None
            if local is not None:
                yield chunk, local[0], where, local[1]
                continue
            yield chunk, validation_process.Job(in_process, prepare_chunk, (
                stages, chunk if in_process else PackedRows.of(chunk), columns, src, rules, settings, now,
                raw_suite)), where, None

    # Chunk k+1 is read and handed to the validation process before chunk k is stored (while
    # that process is still starting, up to AHEAD_WHILE_STARTING chunks, normalized here).
    # Reading on a second thread while this one waits on the database was tried, and so was
    # writing a chunk on one while this one reads and decides the next: GIL contention made
    # both slower than this (bench/RESULTS.md).
    pending: deque[_Pending] = deque()
    problem = None
    try:
        with uow.savepoint():  # released on a clean exit (the caller's unit of work commits), undone on a raise
            for item in submitted():
                pending.append(item)
                while not problem and len(pending) > (AHEAD_WHILE_STARTING if validation_process.starting(in_process) else 1):
                    problem = admit(*pending.popleft())
                if problem:
                    break
            while pending and not problem:
                problem = admit(*pending.popleft())
            if problem:
                raise _Undo(problem)
    except FileRejected as exc:
        return reject(uow.intake, batch, exc.problem, str(exc))
    except _Undo as undo:
        return reject(uow.intake, batch, undo.problem, f"{batch.origin}: {undo.problem}", out.validation)
    finally:
        gc.set_threshold(*gc_thresholds)
        if quiet:
            gc.enable()
    return finish_batch(uow.intake, batch, out, counter)
