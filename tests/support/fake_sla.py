"""An in-memory SLA repository: clocks, touches, roster and leads as plain lists and dicts.

It keeps the stored repository's contract: steps are recorded once per (clock, step) and
``record_steps`` returns only the pairs it recorded; open clocks are those ``open`` or ``breached``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import pandas as pd

from leadops.db.repositories.sla import CLOCK_COLUMNS, OPEN, NewCadence, Person
from leadops.domain.business_time import WorkCalendar
from leadops.domain.lifecycle import Stage
from leadops.domain.sla import BreachedClock, ClockKind, LeadRef, Step, StepTaken


@dataclass
class FakeClock:
    """One stored clock, as sla_clocks holds it."""

    id: int
    lead_id: int
    sdr_id: int
    assignment_id: int
    policy: str
    target_seconds: int
    started_at: datetime
    kind: ClockKind = ClockKind.FIRST_TOUCH
    due_at: datetime | None = None
    status: str = "open"
    touches_required: int = 1
    elapsed_seconds: int = 0
    met_at: datetime | None = None
    evaluated_at: datetime | None = None


@dataclass
class FakeLead:
    id: int
    company: str | None = None
    email_domain: str | None = None
    stage: Stage = Stage.MQL


@dataclass
class FakeSlaRepository:
    clocks: list[FakeClock] = field(default_factory=list)
    touches_by_lead: list[tuple[int, int, str, datetime]] = field(default_factory=list)  # lead, sdr, kind, at
    roster: dict[int, Person] = field(default_factory=dict)
    calendar_of: dict[int, WorkCalendar] = field(default_factory=dict)
    leads: dict[int, FakeLead] = field(default_factory=dict)
    events: dict[tuple[int, Step], StepTaken] = field(default_factory=dict)

    def clock(self, clock_id: int) -> FakeClock:
        return next(c for c in self.clocks if c.id == clock_id)

    def _set(self, clock_id: int, **values: object) -> None:
        i = next(i for i, c in enumerate(self.clocks) if c.id == clock_id)
        self.clocks[i] = replace(self.clocks[i], **values)  # type: ignore[arg-type]

    def close_ended_cadences(self, stages: Sequence[Stage], now: datetime) -> int:
        ended = [c for c in self.clocks if c.kind is ClockKind.CADENCE and c.status in OPEN
                 and self.leads[c.lead_id].stage in stages]
        for c in ended:
            self._set(c.id, status="closed", evaluated_at=now)
        return len(ended)

    def open_clocks(self) -> pd.DataFrame:
        rows = [(c.id, c.lead_id, c.sdr_id, c.assignment_id, c.kind.value, c.touches_required, c.started_at,
                 c.target_seconds, c.policy, c.due_at)
                for c in sorted(self.clocks, key=lambda c: c.id) if c.status in OPEN]
        return pd.DataFrame(rows, columns=CLOCK_COLUMNS)

    def touches(self, kinds: Sequence[str], now: datetime) -> pd.DataFrame:
        rows = [(c.id, at) for c in self.clocks if c.status in OPEN
                for lead, sdr, kind, at in self.touches_by_lead
                if lead == c.lead_id and sdr == c.sdr_id and kind in kinds and c.started_at <= at <= now]
        return pd.DataFrame(rows, columns=["id", "at"])

    def calendars(self, sdr_ids: Iterable[int]) -> dict[int, WorkCalendar]:
        return {i: self.calendar_of[i] for i in sdr_ids}

    def people(self) -> dict[int, Person]:
        return dict(self.roster)

    def lead_refs(self, lead_ids: Iterable[int]) -> dict[int, LeadRef]:
        return {i: LeadRef(i, self.leads[i].company, self.leads[i].email_domain) for i in lead_ids}

    def record_steps(self, steps: Sequence[StepTaken]) -> set[tuple[int, Step]]:
        done = set()
        for s in steps:
            if (s.clock_id, s.step) not in self.events:
                self.events[(s.clock_id, s.step)] = s
                done.add((s.clock_id, s.step))
        return done

    def mark_met(self, steps: Sequence[StepTaken], now: datetime) -> None:
        for s in steps:
            self._set(s.clock_id, status="met", met_at=s.at, elapsed_seconds=s.elapsed_seconds, evaluated_at=now)

    def update_elapsed(self, elapsed: Mapping[int, int], now: datetime) -> None:
        for cid, seconds in elapsed.items():
            self._set(cid, elapsed_seconds=seconds, evaluated_at=now)

    def mark_breached(self, clock_ids: Sequence[int]) -> None:
        for cid in clock_ids:
            self._set(cid, status="breached")

    def start_cadences(self, cadences: Sequence[NewCadence]) -> None:
        for c in cadences:
            if any(k.assignment_id == c.assignment_id and k.kind is ClockKind.CADENCE for k in self.clocks):
                continue
            self.clocks.append(FakeClock(id=max(k.id for k in self.clocks) + 1, lead_id=c.lead_id, sdr_id=c.sdr_id,
                                         assignment_id=c.assignment_id, policy="cadence",
                                         target_seconds=c.target_seconds, started_at=c.started_at,
                                         kind=ClockKind.CADENCE, due_at=c.due_at,
                                         touches_required=c.touches_required))

    def breached_clocks(self) -> list[BreachedClock]:
        breached = [c for c in self.clocks if c.status == "breached"]
        breached.sort(key=lambda c: (self.roster[c.sdr_id].code, c.started_at))
        return [BreachedClock(c.id, c.kind, c.policy, c.started_at,
                              LeadRef(c.lead_id, self.leads[c.lead_id].company, self.leads[c.lead_id].email_domain),
                              self.roster[c.sdr_id].code, self.roster[c.sdr_id].name,
                              self.roster[c.sdr_id].manager_id)
                for c in breached]
