"""The stages a kind of file goes through, and preparing one chunk for storing.

A chunk is gated (the batch-level suite), normalized (a record per row), checked (the row suite)
and decided (which rows go to quarantine) in the validation process, or here while that process
starts; then stored here. :class:`Stages` names the functions of one kind of file (leads,
activities); :func:`prepare_chunk` and :func:`prepare_here` run the pure stages.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadops.config import IntakeSource, Rules, Settings
from leadops.intake import gate, validation_process
from leadops.intake.gate import ValidationOutcome
from leadops.intake.reading.rows import RawRow
from leadops.intake.transport import PackedRows


@dataclass
class Prepared:
    """One chunk ready to store: rows as read, their normalized records and the row suite's outcome."""

    rows: list[RawRow]
    records: Sequence[dict[str, Any] | None]
    checked: ValidationOutcome
    #: row index -> every reason to quarantine it, when preparing could tell (then the records of
    #: those rows are None: they are not stored); None: storing decides
    reasons: dict[int, list[str]] | None = None

    def every_record(self) -> list[dict[str, Any]]:
        """Return the records of a chunk whose storing decides the quarantine (``reasons`` is None: none is held back)."""
        records = [r for r in self.records if r is not None]
        if len(records) != len(self.records):
            raise ValueError("a chunk whose records were held back carries their reasons")
        return records


@dataclass(frozen=True)
class Stages:
    """How a kind of file is admitted. ``normalize(rows, src, rules, settings, now)`` returns a
    record per row and ``decide(rows, records, checked, rules)`` the chunk to store once the row
    suite (``suite``, a file of the expectations folder) checked the records: both pure, they
    run in the validation process or here. ``store(intake, batch, prepared, src, rules,
    settings, now, out, counter, cache)`` runs here, storing through the intake repository of the
    unit of work. The functions are module-level (they are sent to the validation process by name)."""

    normalize: Callable[..., list[dict[str, Any]]]
    suite: str
    decide: Callable[..., Prepared]
    store: Callable[..., None]


#: How a chunk is gated and checked before it is stored: ``check(stages, rows, columns, src, rules, settings,
#: now, raw_suite)`` returns (the batch-level gate's outcome, the chunk to store), like :func:`prepare_chunk`
#: (GX, in the validation process: the default); a test gives its own to admit rows without GX.
Check = Callable[[Stages, list[RawRow], list[str], IntakeSource | None, Rules, Settings, datetime, str],
                 tuple[ValidationOutcome, Prepared]]


def prepare_chunk(stages: Stages, rows: list[RawRow] | PackedRows, columns: list[str],
                  src: IntakeSource | None, rules: Rules, settings: Settings, now: datetime,
                  raw_suite: str) -> tuple[ValidationOutcome, Prepared]:
    """Gate, normalize and validate one chunk (in the validation process); returns (gate, prepared chunk).

    Only what storing needs comes back: the rows stay with the caller.
    """
    if isinstance(rows, PackedRows):
        rows = rows.unpack()
    checked_gate = gate.gate_chunk(gate.gate_frame(rows, columns), src, settings, raw_suite)
    if checked_gate.batch_failures:  # the file is rejected: no need to normalize what will not be stored
        return checked_gate, Prepared([], [], ValidationOutcome({}, {}, 0))
    records = stages.normalize(rows, src, rules, settings, now)
    p = stages.decide(rows, records, gate.validate_records(records, settings.expectations_dir / stages.suite), rules)
    p.rows = []
    return checked_gate, p


def prepare_here(chunk: list[RawRow], columns: list[str], src: IntakeSource | None, rules: Rules,
                 settings: Settings, now: datetime, raw_suite: str,
                 stages: Stages) -> tuple[validation_process.Job, list[dict[str, Any]]] | None:
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
        check = (gate.gate_frame(clean, columns), settings.expectations_dir / raw_suite, gate.source_thresholds(src),
                 gate.records_frame(records, suite), suite)
    except Exception:  # noqa: BLE001 - e.g. a suite that cannot be read: said by the usual path, naming the chunk
        return None
    # plain arguments: the validation process need not import the ORM for it
    return validation_process.Job(False, gate.check_frames, check), records
