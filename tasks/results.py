"""What the tasks return where their service has no result type of its own (the others return the
service's: FileOutcome, EnrichSummary, ScoreSummary, RouteSummary, DeliveryReport, SlaSummary,
ReportResult). Frozen: a flow reads them, never changes them; picklable for Prefect's results."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from leadops.intake.outcome import FileOutcome  # re-exported: the one import of it in tasks and flows

__all__ = ["ApiSourceOutcome", "DigestCounts", "FileOutcome", "ReprocessCounts", "RosterCounts", "RosterSyncResult",
           "ScoringPlan"]


@dataclass(frozen=True)
class ApiSourceOutcome:
    """One API source read by one run: its pages (each a batch, accounted like a file), the error
    that stopped it early if any, and the watermark after it (None: never read a page)."""

    source: str
    pages: tuple[FileOutcome, ...] = ()
    error: str | None = None
    watermark: datetime | None = None


@dataclass(frozen=True)
class RosterCounts:
    """People changed by a roster sync, by kind, and the open leads of people who left (grain: person, lead)."""

    added: int = 0
    changed: int = 0
    deactivated: int = 0
    reactivated: int = 0
    reassigned: int = 0
    not_reassigned: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counts by name (the `roster` object of a pipeline summary)."""
        return asdict(self)


@dataclass(frozen=True)
class RosterSyncResult:
    """What syncing sdrs.yaml into the database did: counts, and one line per change (codes only, no lead data)."""

    counts: RosterCounts
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoringPlan:
    """The leads one scoring pass takes, cut into partitions, and the one instant they are all scored as of."""

    now: datetime
    parts: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ReprocessCounts:
    """Open quarantine rows re-validated by one pass (grain: input row): re-admitted (as new or merged
    leads), still held, and the reasons of those still held with their row counts."""

    considered: int = 0
    released: int = 0
    inserted: int = 0
    merged: int = 0
    still_held: int = 0
    held_reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DigestCounts:
    """Managers' breach digests queued by one pass: managers and breaches covered, emails queued
    (0 when this hour's digests were queued before)."""

    managers: int = 0
    breaches: int = 0
    queued: int = 0

    @classmethod
    def of(cls, counts: dict[str, Any]) -> DigestCounts:
        """Return the counts of :func:`leadops.services.sla.queue_breach_digests`'s answer."""
        return cls(managers=counts["managers"], breaches=counts["breaches"], queued=counts["queued"])
