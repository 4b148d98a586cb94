"""The sample as data: what ``generate`` returns and the writers write (no behaviour here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Company:
    """One fictional company (grain: one per domain); ``listed`` = present in firmographics.csv."""

    name: str
    domain: str
    country: str
    industry: str
    listed: bool
    employee_count: int
    employee_band: str
    revenue_band: str
    hq_city: str
    technologies: tuple[str, ...]
    email_pattern: str  # first.last | flast | firstlast | first


@dataclass
class StageChange:
    """One lifecycle transition (grain: one per lead per transition); stages are Stage values."""

    from_stage: str | None
    to_stage: str
    at: datetime
    cause: str


@dataclass
class PlannedActivity:
    """One activity row; ``sdr`` is a roster code or None for marketing ``web`` events."""

    external_key: str
    kind: str
    outcome: str | None
    occurred_at: datetime
    sdr: str | None = None
    scheduled_for: datetime | None = None
    detail: str | None = None


@dataclass
class PlannedClock:
    """One first-touch SLA clock with its events (grain: one per assignment)."""

    policy: str
    target_seconds: int
    started_at: datetime
    due_at: datetime
    status: str  # met | breached | open
    elapsed_seconds: int
    met_at: datetime | None
    evaluated_at: datetime | None
    events: list[tuple[str, datetime, int, str]]  # (step, at, elapsed_seconds, detail)


@dataclass
class PlannedAssignment:
    """The initial, active assignment of a history lead."""

    sdr: str
    rule: str
    reason: str
    candidates: list[dict[str, Any]]
    assigned_at: datetime
    ae: str | None = None  # the SDR's paired AE, as routing records it


@dataclass
class PlannedOpportunity:
    """One SAO created from a held meeting (grain: one per lead at most in the seed)."""

    sdr: str
    ae: str | None
    created_at: datetime
    stage: str
    amount: float
    closed_at: datetime | None


@dataclass
class PlannedLead:
    """One history lead: its ``leads`` row values plus every row hanging off it."""

    fields: dict[str, Any]  # Lead columns except ids
    owner: str | None
    account_domain: str | None
    stages: list[StageChange] = field(default_factory=list)
    assignment: PlannedAssignment | None = None
    clock: PlannedClock | None = None
    activities: list[PlannedActivity] = field(default_factory=list)
    opportunity: PlannedOpportunity | None = None

    @property
    def email(self) -> str:
        return self.fields["email"]


@dataclass
class PlannedAccount:
    """One account row (grain: one per company domain seen in history)."""

    domain: str
    name: str
    name_key: str
    owner: str | None
    created_at: datetime


@dataclass(frozen=True)
class InboxRow:
    """One data row of an inbox file; ``kind`` is new | dirty | dup_inbox | dup_history, or in an
    activity export event | unknown_lead | unknown_event."""

    email: str
    kind: str
    note: str = ""


@dataclass(frozen=True)
class InboxFile:
    """One inbox file, already encoded: ``content`` is exactly the bytes to write."""

    name: str
    encoding: str
    content: bytes
    rows: tuple[InboxRow, ...]


@dataclass
class SeedPlan:
    """Everything the seed writes. ``cutoff``: nothing in the plan happens after it."""

    seed: int
    anchor: date
    week_start: datetime  # Monday 00:00 Europe/Paris of anchor's ISO week, in UTC
    history_start: datetime
    cutoff: datetime  # anchor day 00:00 Europe/Paris (activities stop there)
    companies: list[Company]
    accounts: list[PlannedAccount]
    leads: list[PlannedLead]
    inbox_files: list[InboxFile]
    # engagement exports (kind: activities in sources.yaml); separate from the lead files above
    activity_files: list[InboxFile] = field(default_factory=list)
