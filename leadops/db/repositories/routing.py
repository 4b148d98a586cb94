"""Routing as a repository: the routing lock, the SDRs' loads and round-robin positions (per pool and SDR), the routing queue
read in keyset chunks, and the set-based writes of a pass (audits, assignments with their SLA clocks,
"started" events and email announcements, lead and account owners); the reads and writes of a reassignment and
of ``explain``.

The decisions are leadops/domain/routing.py's; the orchestration (chunks, what to write, the messages' words)
is leadops/services/route.py's. Nothing here commits.
"""
from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session, selectinload

from leadops.db.bulk import dialect_insert
from leadops.db.bulk_update import SET_BASED_FROM, insert_from, update_from
from leadops.db.repositories.assignment_chunk import write_chunk
from leadops.db.repositories.outbox import Message, SqlOutboxRepository
from leadops.db.models import (
    ROUTING_QUEUE, Account, Assignment, Lead, RoutingLock, RoutingPosition, ScoreHistory, Sdr, SlaClock, SlaEvent,
)
from leadops.domain.assignment import lead_fields
from leadops.domain.business_time import WorkCalendar
from leadops.domain.lifecycle import Stage
from leadops.domain.routing import Decision, RoutableLead


def calendar_of(sdr: Sdr) -> WorkCalendar:
    """Return the SDR's business calendar (hours, days, holidays, out-of-office)."""
    return WorkCalendar.build(
        sdr.time_zone, sdr.work_start, sdr.work_end, tuple(sdr.work_days), sdr.holiday_country,
        tuple((o.starts_at, o.ends_at) for o in sdr.out_of_office),
    )


def routable(lead: Lead, owner_code: str | None) -> RoutableLead:
    """Return ``lead`` (an ORM object) as routing sees it."""
    return RoutableLead(lead.id, lead_fields({c.key: getattr(lead, c.key) for c in Lead.__table__.columns}), owner_code)


def lock_routing(session: Session, now: datetime) -> None:
    """Serialize routing (and scoring): hold the routing lock until the caller's transaction ends.

    Two pipeline runs, two workers or the SLA sweep routing at once would otherwise read the same
    SDR loads and caps and both assign past a cap; scoring takes it too (see score_open_leads).
    PostgreSQL: a row lock (SELECT ... FOR UPDATE); SQLite: the database write lock, taken by the
    first statement of the pass.
    """
    session.execute(dialect_insert(session, RoutingLock).values(name="route", locked_at=now).on_conflict_do_nothing())
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(RoutingLock.name).where(RoutingLock.name == "route").with_for_update())
    session.execute(update(RoutingLock).where(RoutingLock.name == "route").values(locked_at=now))


@dataclass(frozen=True)
class RoutingSdr:
    """One SDR (role ``sdr``, active or not) as routing and its messages see them."""

    id: int
    code: str
    name: str
    email: str
    time_zone: str
    weight: float
    daily_cap: int
    open_cap: int
    active: bool
    calendar: WorkCalendar
    absences: tuple[tuple[datetime, datetime], ...] = ()
    paired_ae: str | None = None  # the paired AE's code

    def out_of_office(self, at: datetime) -> bool:
        """True when ``at`` falls in one of the SDR's out-of-office periods."""
        return any(start <= at < end for start, end in self.absences)


@dataclass(frozen=True)
class Manager:
    """An active manager, who hears of leads nobody could take."""

    code: str
    name: str
    email: str


@dataclass(frozen=True)
class Position:
    """An SDR's stored position in one pool's round robin and when it last moved."""

    virtual_time: float
    updated_at: datetime


@dataclass(frozen=True)
class Loads:
    """The SDRs' loads, by SDR id: assignments since a given instant, and open owned leads."""

    assigned_since: dict[int, int]
    open_leads: dict[int, int]


class QueuedLead(NamedTuple):  # a named tuple, not a frozen dataclass: built per queued lead, a third of the cost
    """One lead of the routing queue: its columns (those asked for) and its account's owner (an SDR id)."""

    columns: dict[str, Any]
    account_owner_id: int | None


@dataclass(frozen=True)
class LeadToMove:
    """A lead a reassignment moves: all its columns and its owner's code (any role), if any."""

    columns: dict[str, Any]
    owner: str | None


class NewAssignment(NamedTuple):  # a named tuple, not a frozen dataclass: built per assignment, a third of the cost
    """An assignment to write with its first-touch SLA clock (and the clock's "started" event)."""

    lead_id: int
    sdr_id: int
    ae_id: int | None
    previous_sdr_id: int | None
    kind: str
    rule: str | None
    reason: str
    candidates: tuple[dict[str, Any], ...]
    policy: str
    target_seconds: int
    due_at: datetime


class AssignmentEmail(NamedTuple):
    """The email announcing one assignment to its SDR: who receives it and its words."""

    recipient: str
    subject: str
    body: str


@dataclass(frozen=True)
class PastDecision:
    """One stored routing decision about a lead (an assignments row), SDRs by code."""

    at: datetime
    kind: str
    status: str
    sdr: str | None
    previous_sdr: str | None
    ae: str | None
    rule: str | None
    reason: str
    active: bool
    ended_at: datetime | None
    candidates: list[Any]


@dataclass(frozen=True)
class LeadStory:
    """What ``explain`` shows of a lead: its routing inputs, its last score breakdown and every decision."""

    lead_id: int
    stage: str
    routing_status: str | None
    owner: str | None
    country: str | None
    language: str | None
    employee_band: str | None
    grade: str | None
    score: float | None
    score_breakdown: list[Any]
    decisions: list[PastDecision]


class RoutingRepository(Protocol):
    """Where routing reads the SDRs and the queue and writes its decisions."""

    def lock(self, now: datetime) -> None:
        """Hold the routing lock until the transaction ends (one router, or scoring, at a time)."""
        ...

    def sdrs(self) -> dict[str, RoutingSdr]:
        """Return every SDR (role ``sdr``), by code."""
        ...

    def loads(self, since: datetime, open_stages: Collection[Stage]) -> Loads:
        """Return the assignments made since ``since`` and the leads in ``open_stages`` owned, per SDR id."""
        ...

    def positions(self) -> dict[tuple[str, int], Position]:
        """Return the stored round-robin positions, by (pool name, SDR id)."""
        ...

    def save_positions(self, virtual_times: Mapping[tuple[str, int], float], now: datetime) -> None:
        """Store each round-robin position given ((pool name, SDR id) -> virtual time), as moved at ``now``."""
        ...

    def held_since(self) -> dict[int, datetime]:
        """Return, for each unowned MQL ever held for its account owner, when it was first held."""
        ...

    def queue_length(self) -> int:
        """Return how many leads the routing queue (MQLs without owner) holds."""
        ...

    def queue(self, keys: Collection[str], size: int) -> Iterator[list[QueuedLead]]:
        """Yield the routing queue in arrival order, ``size`` leads at a time, each read after the caller has
        written its decisions on the previous chunk; a lead left in the queue is not read twice. Columns:
        those of the leads table named in ``keys`` (with ``id`` and ``routing_status``)."""
        ...

    def lead(self, lead_id: int) -> LeadToMove | None:
        """Return the lead ``lead_id`` (every column) and its owner's code; None when there is none."""
        ...

    def hold(self, decisions: Sequence[Decision], now: datetime, flow_run_id: str | None) -> None:
        """Audit the start of each ``held`` decision and mark its lead held."""
        ...

    def mark_unroutable(self, decision: Decision, now: datetime, flow_run_id: str | None) -> int:
        """Audit an ``unroutable`` decision and mark its lead unroutable; returns the audit's id."""
        ...

    def managers(self) -> list[Manager]:
        """Return the active managers, by code."""
        ...

    def assign(self, assignments: Sequence[NewAssignment], now: datetime, flow_run_id: str | None,
               emails: Sequence[AssignmentEmail] | None = None) -> list[int]:
        """Write ``assignments`` (active), each with its open first-touch clock and its "started" event, and
        make their SDRs the leads' owners; returns the assignments' ids in order. A lead with an active
        assignment refuses a second one (the database raises).

        ``emails`` (one per assignment, in order): each assignment's announcement, queued in the outbox as
        ``assignment_email`` queues it (key ``assignment:<assignment id>``, skipped when the key exists)."""
        ...

    def claim_accounts(self, owners: Mapping[int, int]) -> None:
        """Give each account of ``owners`` (account id -> SDR id) that owner, unless it has one by now."""
        ...

    def end_assignment(self, lead_id: int, now: datetime) -> None:
        """End the lead's active assignment at ``now`` and close its open clocks as reassigned."""
        ...

    def story(self, lead_id: int) -> LeadStory | None:
        """Return what ``explain`` shows of lead ``lead_id``; None when there is no such lead."""
        ...

    def finish(self) -> None:
        """The writes of a pass are done: make them visible to whatever the caller loaded before."""
        ...


#: the tables the set-based writes address directly (the mapped classes declare ``__table__`` as a FromClause)
LEADS, ACCOUNTS, ASSIGNMENTS = (cast(Table, m.__table__) for m in (Lead, Account, Assignment))

#: the columns every QueuedLead carries, whatever the caller asks for
QUEUE_KEYS = ("id", "routing_status")


def _json(candidates: tuple[dict[str, Any], ...]) -> str:
    """Return the JSON text the candidates column stores for ``candidates`` (what the JSON type's serializer,
    ``json.dumps``, writes); an empty trail, most leads' (their account owner's), is not serialized each time."""
    return json.dumps(list(candidates)) if candidates else "[]"


def assignment_email(assignment_id: int, lead_id: int, email: AssignmentEmail) -> Message:
    """Return the outbox message announcing assignment ``assignment_id`` of lead ``lead_id`` by ``email``: keyed by
    the assignment, so a retried run queues nothing twice and each assignment is announced once."""
    return Message(key=f"assignment:{assignment_id}", kind="assignment", recipient=email.recipient,
                   subject=email.subject, body=email.body, lead_id=lead_id)


@lru_cache(maxsize=1024)
def _started(policy: str, due_at: datetime) -> str:
    """Return the detail of a first-touch clock's "started" event (one per policy and due instant of a pass)."""
    return f"policy {policy}, due {due_at.isoformat()}"


class SqlRoutingRepository:
    """The routing_lock, routing_positions and assignments tables; the leads, accounts, SLA clocks and events
    an assignment writes; the roster read only."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def lock(self, now: datetime) -> None:
        lock_routing(self.session, now)

    def sdrs(self) -> dict[str, RoutingSdr]:
        rows = list(self.session.scalars(select(Sdr).where(Sdr.role == "sdr").options(selectinload(Sdr.out_of_office))))
        ae_codes = dict(self.session.execute(select(Sdr.id, Sdr.code)).tuples().all())
        return {s.code: RoutingSdr(
            id=s.id, code=s.code, name=s.name, email=s.email, time_zone=s.time_zone, weight=s.weight,
            daily_cap=s.daily_cap, open_cap=s.open_cap, active=s.active, calendar=calendar_of(s),
            absences=tuple((o.starts_at, o.ends_at) for o in s.out_of_office),
            paired_ae=ae_codes.get(s.paired_ae_id) if s.paired_ae_id is not None else None) for s in rows}

    def loads(self, since: datetime, open_stages: Collection[Stage]) -> Loads:
        today = self.session.execute(select(Assignment.sdr_id, func.count()).where(
            Assignment.assigned_at >= since, Assignment.status == "assigned").group_by(Assignment.sdr_id)).tuples()
        open_ = self.session.execute(select(Lead.owner_sdr_id, func.count()).where(
            Lead.lifecycle_stage.in_([s.value for s in open_stages])).group_by(Lead.owner_sdr_id)).tuples()
        return Loads({int(i): int(n) for i, n in today if i is not None},
                     {int(i): int(n) for i, n in open_ if i is not None})

    def positions(self) -> dict[tuple[str, int], Position]:
        return {(p.pool, p.sdr_id): Position(p.virtual_time, p.updated_at)
                for p in self.session.scalars(select(RoutingPosition))}

    def save_positions(self, virtual_times: Mapping[tuple[str, int], float], now: datetime) -> None:
        # one row per pool member at most (tens): read through the identity map, no bulk statement needed
        for pool, sdr_id in sorted(virtual_times):
            pos = self.session.get(RoutingPosition, (pool, sdr_id)) or RoutingPosition(pool=pool, sdr_id=sdr_id)
            pos.virtual_time, pos.updated_at = virtual_times[(pool, sdr_id)], now
            self.session.add(pos)

    def held_since(self) -> dict[int, datetime]:
        # by a join: an IN list of every pending lead's id bound one parameter per lead and failed past
        # PostgreSQL's 65,535 (a backlog of 66k MQLs never routed)
        rows = self.session.execute(
            select(Assignment.lead_id, func.min(Assignment.assigned_at))
            .join(Lead, Lead.id == Assignment.lead_id)
            .where(Assignment.status == "held", Lead.lifecycle_stage == Stage.MQL.value, Lead.owner_sdr_id.is_(None))
            .group_by(Assignment.lead_id)).tuples()
        return {int(i): at for i, at in rows}

    def queue_length(self) -> int:
        # a count on the queue's partial index
        count = text(f"SELECT count(*) FROM leads WHERE {ROUTING_QUEUE}")  # noqa: S608 - a constant predicate
        return int(self.session.scalar(count) or 0)

    def queue(self, keys: Collection[str], size: int) -> Iterator[list[QueuedLead]]:
        wanted = set(keys) | set(QUEUE_KEYS)
        columns = [c for c in Lead.__table__.columns if c.key in wanted]
        first, later = self._queue_chunk(columns)
        names = [c.key for c in columns]
        # read as the driver gives it, untyped; the few columns whose type converts that (booleans on SQLite,
        # datetimes) converted here as SQLAlchemy would: typed results of every column were a tenth of a pass
        dialect = self.session.get_bind().dialect
        convert = [(c.key, p) for c in columns if (p := c.type._cached_result_processor(dialect, None)) is not None]
        after: tuple[Any, int] | None = None
        while True:
            rows = self.session.connection().exec_driver_sql(
                first if after is None else later, (size,) if after is None else (*after, size)).fetchall()
            if not rows:
                return
            if after is None and len(rows) == size and dialect.name == "postgresql":
                # A backlog: scoring just promoted these leads, and PostgreSQL's statistics (taken at
                # intake, when every lead was new) still say no lead is an MQL. Planned on those, every
                # chunk read all MQLs through the lifecycle_stage index and sorted them (routing 800k
                # MQLs took 517 s instead of ~110). Statistics are sampled; those of the queue's columns only
                # (its predicate, its order): 0.15 s at 100k leads, where all ~40 columns took 0.5-0.9 s.
                self.session.execute(text("ANALYZE leads (lifecycle_stage, owner_sdr_id, arrived_at, id)"))
            # the keyset: the last lead's arrival as the driver gave it (bound back as is) and its id
            after = (rows[-1][-1], rows[-1][names.index("id")])
            # the account owner and the keyset's arrival are the last two columns: each lead's are the others
            chunk = [QueuedLead(dict(zip(names, row, strict=False)), row[-2]) for row in rows]
            for key, process in convert:
                for lead in chunk:
                    lead.columns[key] = process(lead.columns[key])
            yield chunk

    def _queue_chunk(self, columns: list[Any]) -> tuple[str, str]:
        """Return the statements (driver SQL) reading the first ``size`` leads of the routing queue (MQLs without
        owner, arrival order; parameter: size) and the next ``size`` after a keyset (parameters: arrived_at as
        the driver gives it, id, size): ``columns``, then the account's owner and arrived_at as the driver
        gives it.

        Written out because it must run on the queue's partial index (``ix_leads_routing_queue``):
        its predicate has to appear literally, and SQLite has to be told (``INDEXED BY``: its planner
        took the lifecycle_stage index and sorted every MQL for every chunk, quadratic in the backlog).
        On PostgreSQL the chunk's leads are locked, skipping those a concurrent router holds.
        """
        dialect = self.session.get_bind().dialect
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        prep = dialect.identifier_preparer
        select_list = ", ".join(f"leads.{prep.quote(c.name)}" for c in columns)
        head = (f"SELECT {select_list}, accounts.owner_sdr_id, leads.arrived_at FROM leads"  # noqa: S608 - table columns
                f"{' INDEXED BY ix_leads_routing_queue' if dialect.name == 'sqlite' else ''}"
                f" LEFT OUTER JOIN accounts ON accounts.id = leads.account_id"
                f" WHERE leads.{ROUTING_QUEUE.replace(' AND ', ' AND leads.')}")
        tail = f" ORDER BY leads.arrived_at, leads.id LIMIT {mark}" + (
            " FOR UPDATE OF leads SKIP LOCKED" if dialect.name == "postgresql" else "")
        return head + tail, f"{head} AND (leads.arrived_at, leads.id) > ({mark}, {mark}){tail}"

    def lead(self, lead_id: int) -> LeadToMove | None:
        lt = Lead.__table__
        row = self.session.execute(select(lt).where(lt.c.id == lead_id)).mappings().first()
        if row is None:
            return None
        owner = row["owner_sdr_id"]
        code = self.session.scalar(select(Sdr.code).where(Sdr.id == owner)) if owner is not None else None
        return LeadToMove(dict(row), code)

    def _set_status(self, ids: list[int], status: str, now: datetime) -> None:
        lt = LEADS
        self.session.execute(update(lt).where(lt.c.id == bindparam("b_id")).values(routing_status=status, updated_at=now),
                             [{"b_id": i} for i in ids])

    def hold(self, decisions: Sequence[Decision], now: datetime, flow_run_id: str | None) -> None:
        if not decisions:
            return
        self.session.execute(insert(ASSIGNMENTS), [
            dict(lead_id=d.lead_id, status="held", rule=d.rule, reason=d.reason, candidates=list(d.candidates),
                 active=False, assigned_at=now, flow_run_id=flow_run_id) for d in decisions])
        self._set_status([d.lead_id for d in decisions], "held", now)

    def mark_unroutable(self, decision: Decision, now: datetime, flow_run_id: str | None) -> int:
        audit_id = self.session.execute(insert(Assignment).returning(Assignment.id).values(
            lead_id=decision.lead_id, status="unroutable", reason=decision.reason,
            candidates=list(decision.candidates), active=False, assigned_at=now,
            flow_run_id=flow_run_id)).scalar_one()
        self._set_status([decision.lead_id], "unroutable", now)
        return int(audit_id)

    def managers(self) -> list[Manager]:
        rows = self.session.execute(select(Sdr.code, Sdr.name, Sdr.email)
                                    .where(Sdr.role == "manager", Sdr.active.is_(True)).order_by(Sdr.code))
        return [Manager(r.code, r.name, r.email) for r in rows]

    def assign(self, assignments: Sequence[NewAssignment], now: datetime, flow_run_id: str | None,
               emails: Sequence[AssignmentEmail] | None = None) -> list[int]:
        if not assignments:
            return []
        session = self.session
        conn = session.connection()
        if emails is not None and len(emails) != len(assignments):
            raise ValueError(f"{len(emails)} emails for {len(assignments)} assignments")
        if len(assignments) >= SET_BASED_FROM:  # a routing chunk: one temporary table, statements chained from it
            # by column: the tuples transposed by zip (a getattr per field and row cost ~4x as much)
            columns: dict[str, Sequence[Any]] = dict(zip(NewAssignment._fields, zip(*assignments, strict=True),
                                                         strict=True))
            if emails is not None:
                columns.update(zip(AssignmentEmail._fields, zip(*emails, strict=True), strict=True))
            return write_chunk(conn, columns, now, flow_run_id, _started, _json)
        ids = self._assign_few(assignments, now, flow_run_id)
        if emails is not None:
            SqlOutboxRepository(session).enqueue_many(
                [assignment_email(i, a.lead_id, e) for i, a, e in zip(ids, assignments, emails, strict=True)], now)
        return ids

    def _assign_few(self, assignments: Sequence[NewAssignment], now: datetime, flow_run_id: str | None) -> list[int]:
        """``assign`` without emails for a few assignments (a reassignment: one); returns their ids in order."""
        session = self.session
        conn = session.connection()
        # by column through temporary tables, each INSERT ... SELECT returning the ids the next table refers to
        # (the ORM's multi-row INSERT ... RETURNING processed every parameter in Python; reading ids back by
        # their keys cost a query per table)
        active = dict(insert_from(conn, ASSIGNMENTS, {
            "lead_id": [a.lead_id for a in assignments], "sdr_id": [a.sdr_id for a in assignments],
            "ae_id": [a.ae_id for a in assignments], "previous_sdr_id": [a.previous_sdr_id for a in assignments],
            "kind": [a.kind for a in assignments], "rule": [a.rule for a in assignments],
            "reason": [a.reason for a in assignments], "candidates": [_json(a.candidates) for a in assignments]},
            json_text=("candidates",),
            fixed={"status": "assigned", "active": True, "assigned_at": now, "ended_at": None, "flow_run_id": flow_run_id},
            returning=("lead_id", "id")))
        ids = [int(active[a.lead_id]) for a in assignments]
        clock_of = dict(insert_from(conn, cast(Table, SlaClock.__table__), {
            "lead_id": [a.lead_id for a in assignments], "sdr_id": [a.sdr_id for a in assignments],
            "assignment_id": ids, "policy": [a.policy for a in assignments],
            "target_seconds": [a.target_seconds for a in assignments], "due_at": [a.due_at for a in assignments]},
            fixed={"kind": "first_touch", "started_at": now, "status": "open", "elapsed_seconds": 0, "met_at": None,
                   "evaluated_at": None, "touches_required": 1}, returning=("assignment_id", "id")))
        insert_from(conn, cast(Table, SlaEvent.__table__), {
            "clock_id": [clock_of[i] for i in ids],
            "detail": [_started(a.policy, a.due_at) for a in assignments]},
            fixed={"step": "started", "at": now, "elapsed_seconds": 0})
        lt = LEADS
        session.execute(update(lt).where(lt.c.id == bindparam("b_id"))
                        .values(owner_sdr_id=bindparam("b_owner"), routing_status="assigned", updated_at=now),
                        [{"b_id": a.lead_id, "b_owner": a.sdr_id} for a in assignments])
        return ids

    def claim_accounts(self, owners: Mapping[int, int]) -> None:
        if not owners:
            return
        act = ACCOUNTS
        # only an account still without owner: another pass (or a person) may have set one since
        if len(owners) >= SET_BASED_FROM:  # a routing chunk's new accounts: one UPDATE ... FROM, not one per account
            update_from(self.session.connection(), act, "id", {"id": list(owners), "owner_sdr_id": list(owners.values())},
                        where="accounts.owner_sdr_id IS NULL")
            return
        self.session.execute(update(act).where(act.c.id == bindparam("b_id"), act.c.owner_sdr_id.is_(None))
                             .values(owner_sdr_id=bindparam("b_owner")),
                             [{"b_id": a, "b_owner": s} for a, s in owners.items()])

    def end_assignment(self, lead_id: int, now: datetime) -> None:
        self.session.execute(update(SlaClock).where(SlaClock.lead_id == lead_id, SlaClock.status == "open")
                             .values(status="reassigned"))
        self.session.execute(update(Assignment).where(Assignment.lead_id == lead_id, Assignment.active.is_(True))
                             .values(active=False, ended_at=now))

    def story(self, lead_id: int) -> LeadStory | None:
        lead = self.session.get(Lead, lead_id)
        if lead is None:
            return None
        codes = dict(self.session.execute(select(Sdr.id, Sdr.code)).tuples().all())

        def code(sdr_id: int | None) -> str | None:
            return codes.get(sdr_id) if sdr_id is not None else None

        score = self.session.scalar(select(ScoreHistory).where(ScoreHistory.lead_id == lead_id)
                                    .order_by(ScoreHistory.id.desc()))
        decisions = [PastDecision(a.assigned_at, a.kind, a.status, code(a.sdr_id), code(a.previous_sdr_id),
                                  code(a.ae_id), a.rule, a.reason, a.active, a.ended_at, a.candidates)
                     for a in self.session.scalars(select(Assignment).where(Assignment.lead_id == lead_id)
                                                   .order_by(Assignment.id))]
        return LeadStory(lead.id, lead.lifecycle_stage, lead.routing_status, code(lead.owner_sdr_id), lead.country,
                         lead.language, lead.employee_band, lead.grade, lead.score,
                         score.breakdown if score else [], decisions)

    def finish(self) -> None:
        self.session.flush()
        self.session.expire_all()  # the writes went around the ORM: objects the caller holds reload on next access

