"""SLA clocks as a repository: the set-based SQL an SLA sweep and the managers' digest run.

The sweep reads open clocks and the owners' touches as frames (a backlog can hold a million
clocks: no object per clock), writes only the clocks that reach a step, and records each step once
per (clock, step) thanks to the unique constraint on ``sla_events``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from leadops.db.bulk import dialect_insert
from leadops.db.models import Activity, Lead, Sdr, SlaClock, SlaEvent
from leadops.domain.business_time import WorkCalendar
from leadops.domain.lifecycle import Stage
from leadops.domain.sla import BreachedClock, ClockKind, LeadRef, Step, StepTaken

#: statuses of a clock the sweep still evaluates (a breached clock can still be met or reassigned)
OPEN = ("open", "breached")

#: columns of :meth:`SlaRepository.open_clocks`, one row per open clock, by id
CLOCK_COLUMNS = ["id", "lead_id", "sdr_id", "assignment_id", "kind", "required", "started_at", "target", "policy",
                 "due_at"]

_CHUNK = 1000  # rows per INSERT: well under every driver's bound-parameter limit


@dataclass(frozen=True)
class Person:
    """Someone on the roster a message goes to (an SDR, AE or manager)."""

    id: int
    code: str
    name: str
    email: str
    manager_id: int | None


@dataclass(frozen=True)
class NewCadence:
    """A follow-up cadence clock to open from a first touch just met (one per assignment)."""

    lead_id: int
    sdr_id: int
    assignment_id: int
    touches_required: int
    target_seconds: int
    started_at: datetime
    due_at: datetime


class SlaRepository(Protocol):
    """Where the SLA sweep reads clocks and records their steps."""

    def close_ended_cadences(self, stages: Sequence[Stage], now: datetime) -> int:
        """Close the open cadence clocks of leads now in one of ``stages``; returns how many."""
        ...

    def open_clocks(self) -> pd.DataFrame:
        """Return the open (and breached) clocks, one row per clock by id, columns CLOCK_COLUMNS."""
        ...

    def touches(self, kinds: Sequence[str], now: datetime) -> pd.DataFrame:
        """Return the owners' touches of ``kinds`` on their open clocks' leads, from each clock's start to ``now``.

        One row per (clock, touch), columns ``id`` (the clock) and ``at``.
        """
        ...

    def calendars(self, sdr_ids: Iterable[int]) -> dict[int, WorkCalendar]:
        """Return the business calendar of each SDR in ``sdr_ids``, by SDR id."""
        ...

    def people(self) -> dict[int, Person]:
        """Return everyone on the roster, by id."""
        ...

    def lead_refs(self, lead_ids: Iterable[int]) -> dict[int, LeadRef]:
        """Return how messages name each lead of ``lead_ids``, by lead id."""
        ...

    def record_steps(self, steps: Sequence[StepTaken]) -> set[tuple[int, Step]]:
        """Record ``steps``, skipping (clock, step) pairs already recorded; returns the pairs this call recorded."""
        ...

    def mark_met(self, steps: Sequence[StepTaken], now: datetime) -> None:
        """Close the clocks of MET ``steps`` as met at the step's instant, with its elapsed time."""
        ...

    def update_elapsed(self, elapsed: Mapping[int, int], now: datetime) -> None:
        """Store each clock's elapsed business seconds (clock id -> seconds) as evaluated at ``now``."""
        ...

    def mark_breached(self, clock_ids: Sequence[int]) -> None:
        """Set the clocks of ``clock_ids`` breached."""
        ...

    def start_cadences(self, cadences: Sequence[NewCadence]) -> None:
        """Open each cadence clock unless its assignment has one already."""
        ...

    def breached_clocks(self) -> list[BreachedClock]:
        """Return the breached clocks still open, by owner code then start."""
        ...


class SqlSlaRepository:
    """The sla_clocks and sla_events tables (and the leads, activities and roster they refer to)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def close_ended_cadences(self, stages: Sequence[Stage], now: datetime) -> int:
        ended = select(Lead.id).where(Lead.lifecycle_stage.in_([s.value for s in stages]))
        result = self.session.execute(
            update(SlaClock).where(SlaClock.kind == ClockKind.CADENCE.value, SlaClock.status.in_(OPEN),
                                   SlaClock.lead_id.in_(ended))
            .values(status="closed", evaluated_at=now))
        return int(getattr(result, "rowcount", 0) or 0)

    def open_clocks(self) -> pd.DataFrame:
        rows = self.session.execute(
            select(SlaClock.id, SlaClock.lead_id, SlaClock.sdr_id, SlaClock.assignment_id, SlaClock.kind,
                   SlaClock.touches_required, SlaClock.started_at, SlaClock.target_seconds, SlaClock.policy,
                   SlaClock.due_at)
            .where(SlaClock.status.in_(OPEN)).order_by(SlaClock.id)).all()
        return pd.DataFrame(rows, columns=CLOCK_COLUMNS)

    def touches(self, kinds: Sequence[str], now: datetime) -> pd.DataFrame:
        rows = self.session.execute(
            select(SlaClock.id, Activity.occurred_at)
            .join(Activity, (SlaClock.lead_id == Activity.lead_id) & (SlaClock.sdr_id == Activity.sdr_id))
            .where(SlaClock.status.in_(OPEN), Activity.kind.in_(list(kinds)),
                   Activity.occurred_at >= SlaClock.started_at, Activity.occurred_at <= now)).all()
        return pd.DataFrame(rows, columns=["id", "at"])

    def calendars(self, sdr_ids: Iterable[int]) -> dict[int, WorkCalendar]:
        from leadops.db.repositories.routing import calendar_of  # the one place an Sdr row becomes a calendar

        sdrs = self.session.scalars(select(Sdr).where(Sdr.id.in_(sorted(set(sdr_ids))))
                                    .options(selectinload(Sdr.out_of_office)))
        return {s.id: calendar_of(s) for s in sdrs}

    def people(self) -> dict[int, Person]:
        rows = self.session.execute(select(Sdr.id, Sdr.code, Sdr.name, Sdr.email, Sdr.manager_id))
        return {r.id: Person(r.id, r.code, r.name, r.email, r.manager_id) for r in rows}

    def lead_refs(self, lead_ids: Iterable[int]) -> dict[int, LeadRef]:
        rows = self.session.execute(select(Lead.id, Lead.company, Lead.email_domain)
                                    .where(Lead.id.in_(sorted(set(lead_ids)))))
        return {r.id: LeadRef(r.id, r.company, r.email_domain) for r in rows}

    def record_steps(self, steps: Sequence[StepTaken]) -> set[tuple[int, Step]]:
        # the unique (clock_id, step) constraint makes overlapping sweeps safe: only the sweep whose
        # insert lands sends the matching notification
        rows = [dict(clock_id=s.clock_id, step=s.step.value, at=s.at, elapsed_seconds=s.elapsed_seconds,
                     detail=s.detail) for s in steps]
        done: set[tuple[int, Step]] = set()
        for i in range(0, len(rows), _CHUNK):
            stmt = (dialect_insert(self.session, SlaEvent).values(rows[i:i + _CHUNK])
                    .on_conflict_do_nothing(index_elements=["clock_id", "step"])
                    .returning(SlaEvent.clock_id, SlaEvent.step))
            done.update((int(c), Step(st)) for c, st in self.session.execute(stmt))
        return done

    def mark_met(self, steps: Sequence[StepTaken], now: datetime) -> None:
        if steps:
            self.session.execute(update(SlaClock), [
                {"id": s.clock_id, "status": "met", "met_at": s.at, "elapsed_seconds": s.elapsed_seconds,
                 "evaluated_at": now} for s in steps])

    def update_elapsed(self, elapsed: Mapping[int, int], now: datetime) -> None:
        if elapsed:
            self.session.execute(update(SlaClock), [
                {"id": cid, "elapsed_seconds": seconds, "evaluated_at": now} for cid, seconds in elapsed.items()])

    def mark_breached(self, clock_ids: Sequence[int]) -> None:
        if clock_ids:
            self.session.execute(update(SlaClock).where(SlaClock.id.in_(list(clock_ids))).values(status="breached"))

    def start_cadences(self, cadences: Sequence[NewCadence]) -> None:
        rows = [dict(lead_id=c.lead_id, sdr_id=c.sdr_id, assignment_id=c.assignment_id, policy="cadence",
                     kind=ClockKind.CADENCE.value, touches_required=c.touches_required,
                     target_seconds=c.target_seconds, started_at=c.started_at, due_at=c.due_at, status="open",
                     elapsed_seconds=0) for c in cadences]
        for i in range(0, len(rows), _CHUNK):
            self.session.execute(dialect_insert(self.session, SlaClock).values(rows[i:i + _CHUNK])
                                 .on_conflict_do_nothing(index_elements=["assignment_id", "kind"]))

    def breached_clocks(self) -> list[BreachedClock]:
        rows = self.session.execute(
            select(SlaClock.id, SlaClock.policy, SlaClock.kind, SlaClock.started_at, Lead.id.label("lead_id"),
                   Lead.company, Lead.email_domain, Sdr.code, Sdr.name, Sdr.manager_id)
            .join(Lead, Lead.id == SlaClock.lead_id).join(Sdr, Sdr.id == SlaClock.sdr_id)
            .where(SlaClock.status == "breached").order_by(Sdr.code, SlaClock.started_at)).all()
        return [BreachedClock(r.id, ClockKind(r.kind), r.policy, r.started_at,
                              LeadRef(r.lead_id, r.company, r.email_domain), r.code, r.name, r.manager_id)
                for r in rows]
