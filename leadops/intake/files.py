"""Intake of one file (from the inbox or elsewhere): every row ends inserted, merged or quarantined,
in the caller's unit of work (which commits; a file is admitted whole, in a savepoint, or not at all).

One batch per file, keyed by the file's content hash, so a rerun (or a crash mid-file) never
duplicates anything; a file already stored is reported as a duplicate (or, when a run stored it and
died before moving it, with what was stored).
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path

from leadops.config import FileSource, Rules, Settings
from leadops.db.unit_of_work import UnitOfWork
from leadops.intake import inbox, validation_process
from leadops.intake.activities import ingest_activity_file
from leadops.intake.batches import admit_chunks, open_batch, reject, stored_outcome
from leadops.intake.leads import LEADS
from leadops.intake.outcome import FileOutcome
from leadops.intake.reading.registry import open_lead_file
from leadops.intake.reading.rows import FileRejected
from leadops.intake.reading.text import sha256_file
from leadops.intake.stages import Check


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


def ingest_file(uow: UnitOfWork, path: Path, rules: Rules, settings: Settings, *,
                flow_run_id: str | None = None, move: bool = True, source: FileSource | None = None,
                progress: Callable[[int], None] | None = None, check: Check | None = None) -> FileOutcome:
    """Ingest one file in the unit of work ``uow``, streaming it in chunks; returns its outcome (``uow``'s
    owner commits).

    ``source`` forces a sources.yaml entry; by default the first whose pattern matches the name.
    ``progress(rows)`` is called after each chunk of a lead file is stored, with the rows stored so far.
    ``check`` gates and checks the chunks instead of GX (see :func:`leadops.intake.batches.admit_chunks`).
    With ``move`` the file is claimed first (see :func:`leadops.intake.inbox.claim`): an entry the
    inbox does not read is set aside as rejected, one another run holds is reported ``taken``.
    """
    if move:
        try:
            with inbox.claim(path):
                return ingest_claimed(uow, path, rules, settings, flow_run_id=flow_run_id, move=True,
                                      source=source, progress=progress, check=check)
        except inbox.Taken as exc:
            return FileOutcome(str(path), "taken", error=str(exc))
        except inbox.Refused as exc:
            return inbox.set_aside(path, settings, str(exc))
    return ingest_claimed(uow, path, rules, settings, flow_run_id=flow_run_id, move=False, source=source,
                          progress=progress, check=check)


def ingest_claimed(uow: UnitOfWork, path: Path, rules: Rules, settings: Settings, *, flow_run_id: str | None,
                   move: bool, source: FileSource | None, progress: Callable[[int], None] | None,
                   check: Check | None = None) -> FileOutcome:
    """Ingest the file ``path``, claimed already (or not in the inbox); returns its outcome, moved out of
    the inbox with its sidecar when ``move``."""
    if check is None:  # it imports GX while this reads the file
        validation_process.warm_up(in_process=not settings.validation_process)
    digest = sha256_file(path)
    src = source if source is not None else source_for(path, rules)

    def finish(out: FileOutcome) -> FileOutcome:
        if move:
            folder = "failed" if out.status == "rejected" else "processed"
            out.moved_to = str(inbox.move_with_sidecar(path, settings.var_dir / folder, out.as_dict()))
        return out

    batch, seen = open_batch(uow.intake, digest, src.name if src else "default", str(path), flow_run_id)
    if batch is None:
        assert seen is not None
        own_retry = bool(flow_run_id) and seen.flow_run_id == flow_run_id
        # only for inbox files (moved when done): a file elsewhere ingested again is a duplicate
        in_inbox = path.resolve().parent == settings.inbox_dir.resolve()
        left_behind = in_inbox and seen.origin == str(path) and not inbox.finished(settings, path, seen.id)
        if seen.status == "done" and (own_retry or left_behind):
            # a retry of this run's own task after its commit (e.g. the move failed), or a file a run stored
            # and then died before moving: report what was stored, so no run's accounting loses the file
            return finish(stored_outcome(uow.intake, seen, src))
        return finish(FileOutcome(str(path), "duplicate", seen.source, seen.id,
                                  error=f"same content as batch {seen.id} ({seen.origin})"))
    if src is not None and src.kind == "activities":
        outcome = ingest_activity_file(uow, batch, path, src, rules, settings, check=check)
        outcome.kind = "activities"
        return finish(outcome)
    try:
        stream = open_lead_file(path, columns=src.columns if src else None)
    except FileRejected as exc:
        return finish(reject(uow.intake, batch, exc.problem, str(exc)))
    columns = list(dict.fromkeys(stream.mapping.values()))
    return finish(admit_chunks(uow, batch, stream.chunks(settings.intake_chunk_rows), columns, src, rules, settings,
                               stages=LEADS, progress=progress, check=check))
