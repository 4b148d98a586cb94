"""Route MQLs to SDRs: load SDR state, decide (domain.routing), persist the assignment, its SLA clock
and the SDR's notification in one transaction.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.util import identity_key

from leadops.config import Rules, SlaPolicy
from leadops.db.bulk import bulk_insert, dialect_insert
from leadops.db.models import (
    ROUTING_QUEUE, Account, Assignment, Lead, Notification, RoutingLock, RoutingPosition, Sdr, SlaClock, SlaEvent, utcnow,
)
from leadops.domain.assignment import (
    assignment_message, lead_fields, policy_for, unroutable_body, unroutable_subject,
)
from leadops.domain.business_time import WorkCalendar, add_business_seconds, is_working
from leadops.domain.lifecycle import OPEN_OWNED, Stage
from leadops.domain.routing import Decision, RoutableLead, SdrState, assign_to, catch_up, route_lead, segment_of
from leadops.notify.outbox import enqueue


@dataclass
class RouteSummary:
    """Counts of one routing pass (grain: leads)."""

    considered: int = 0
    assigned: int = 0
    held: int = 0  # kept for an unavailable account owner (pool policy hold_for_owner)
    unroutable: int = 0
    per_sdr: dict[str, int] = field(default_factory=dict)
    per_rule: dict[str, int] = field(default_factory=dict)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    # the leads held or left unroutable, with why (the first ASSIGNMENTS_SHOWN; the counts cover all)
    not_assigned: list[dict[str, Any]] = field(default_factory=list)


def calendar_of(sdr: Sdr) -> WorkCalendar:
    """Return the SDR's business calendar (hours, days, holidays, out-of-office)."""
    return WorkCalendar.build(
        sdr.time_zone, sdr.work_start, sdr.work_end, tuple(sdr.work_days), sdr.holiday_country,
        tuple((o.starts_at, o.ends_at) for o in sdr.out_of_office),
    )


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


PACE_WINDOW = timedelta(days=1)


def save_positions(session: Session, states: dict[str, SdrState], sdrs: dict[str, Sdr], codes: set[str], now: datetime) -> None:
    """Store the round-robin position of the SDRs in ``codes``."""
    for code in sorted(codes):
        pos = session.get(RoutingPosition, sdrs[code].id) or RoutingPosition(sdr_id=sdrs[code].id)
        pos.virtual_time, pos.updated_at = states[code].virtual_time, now
        session.add(pos)


def sdr_states(session: Session, now: datetime, company_tz: str, exclude: set[str] = frozenset()) -> tuple[dict[str, SdrState], dict[str, Sdr]]:
    """Return routing state per SDR code as of ``now`` (today counted from company-local midnight)."""
    sdrs = {s.code: s for s in session.scalars(select(Sdr).where(Sdr.role == "sdr").options(selectinload(Sdr.out_of_office)))}
    midnight = datetime.combine(now.astimezone(ZoneInfo(company_tz)).date(), time.min, ZoneInfo(company_tz))
    today = dict(session.execute(select(Assignment.sdr_id, func.count()).where(
        Assignment.assigned_at >= midnight, Assignment.status == "assigned").group_by(Assignment.sdr_id)).all())
    open_ = dict(session.execute(select(Lead.owner_sdr_id, func.count()).where(
        Lead.lifecycle_stage.in_([s.value for s in OPEN_OWNED])).group_by(Lead.owner_sdr_id)).all())
    ae_codes = dict(session.execute(select(Sdr.id, Sdr.code)).all())
    states = {}
    for code, s in sdrs.items():
        ooo = any(o.starts_at <= now < o.ends_at for o in s.out_of_office)
        states[code] = SdrState(
            code=code, weight=s.weight, daily_cap=s.daily_cap, open_cap=s.open_cap,
            assigned_today=today.get(s.id, 0), open_leads=open_.get(s.id, 0), active=s.active and code not in exclude,
            out_of_office=ooo, working_now=is_working(calendar_of(s), now), paired_ae=ae_codes.get(s.paired_ae_id),
        )
    positions = {p.sdr_id: p for p in session.scalars(select(RoutingPosition))}
    for code, s in sdrs.items():
        if s.id in positions:
            states[code].virtual_time = positions[s.id].virtual_time
    # the pace: the least advanced of the SDRs who took leads lately
    pace = [positions[s.id].virtual_time for s in sdrs.values()
            if s.id in positions and positions[s.id].updated_at >= now - PACE_WINDOW]
    catch_up(states, min(pace) if pace else 0.0)
    return states, sdrs


def routable(lead: Lead, owner_code: str | None) -> RoutableLead:
    """Return ``lead`` (an ORM object) as routing sees it."""
    return RoutableLead(lead.id, lead_fields({c.key: getattr(lead, c.key) for c in Lead.__table__.columns}), owner_code)


#: lead columns every pass reads: identity, routing state, the derived fields' inputs, the notification's words
ROUTE_COLUMNS = ("id", "account_id", "routing_status", "arrived_at", "email_domain", "first_name", "last_name", "company",
                 "job_title", "country", "grade", "employee_band", "is_hand_raiser")


def _columns_read(rules: Rules) -> list[Any]:
    """Return the lead columns a routing pass needs: ROUTE_COLUMNS and every column a routing rule or
    SLA policy matches on (reading all ~40 columns of 80k leads cost more than deciding them)."""
    keys = {k for r in rules.routing.rules for k in r.when} | {k for p in rules.sla.policies for k in p.when}
    table = Lead.__table__
    return [c for c in table.columns if c.key in ROUTE_COLUMNS or c.key in keys]


def _queue_chunk(session: Session, columns: list[Any]) -> Callable[[tuple[datetime, int] | None], Any]:
    """Return ``chunk(after)``: the statement reading the next ``:n`` leads of the routing queue (MQLs without
    owner, arrival order) after the keyset ``after`` (arrived_at, id), with their account's owner.

    Written out because it must run on the queue's partial index (``ix_leads_routing_queue``):
    its predicate has to appear literally, and SQLite has to be told (``INDEXED BY``: its planner
    took the lifecycle_stage index and sorted every MQL for every chunk, quadratic in the backlog).
    On PostgreSQL the chunk's leads are locked, skipping those a concurrent router holds.
    """
    dialect = session.get_bind().dialect.name
    accounts = Account.__table__
    select_list = ", ".join(f"leads.{c.name}" for c in columns)
    head = (f"SELECT {select_list}, accounts.owner_sdr_id AS _account_owner FROM leads"
            f"{' INDEXED BY ix_leads_routing_queue' if dialect == 'sqlite' else ''}"
            f" LEFT OUTER JOIN accounts ON accounts.id = leads.account_id"
            f" WHERE leads.{ROUTING_QUEUE.replace(' AND ', ' AND leads.')}")
    tail = " ORDER BY leads.arrived_at, leads.id LIMIT :n" + (" FOR UPDATE OF leads SKIP LOCKED" if dialect == "postgresql" else "")
    result_columns = [*columns, accounts.c.owner_sdr_id.label("_account_owner")]
    first = text(head + tail).columns(*result_columns)
    later = text(head + " AND (leads.arrived_at, leads.id) > (:after_at, :after_id)" + tail).bindparams(
        bindparam("after_at", type_=Lead.__table__.c.arrived_at.type)).columns(*result_columns)

    def chunk(after: tuple[datetime, int] | None) -> Any:
        return first if after is None else later.params(after_at=after[0], after_id=after[1])

    return chunk


ROUTE_CHUNK = 2000  # pending leads read, decided and written per round: memory stays flat in the backlog
ASSIGNMENTS_SHOWN = 1000  # assignments listed in the summary (and the run's artifact); the counts cover all


def route_pending(session: Session, rules: Rules, company_tz: str, *, now: datetime | None = None,
                  flow_run_id: str | None = None, progress: Callable[[int, int], None] | None = None) -> RouteSummary:
    """Route every MQL that has no active owner; returns counts and the first ASSIGNMENTS_SHOWN assignments.
    ``progress(considered, queued)`` is called after each chunk (``queued``: the queue's length at the start).

    Set-based: pending leads are read ROUTE_CHUNK at a time in arrival order, decided in memory
    (SDR loads carried across chunks, an account claimed by an earlier lead of the pass goes to
    the same SDR), and each chunk's assignments, SLA clocks, "started" events, notifications and
    owners are written with one multi-row statement per table, inside the caller's transaction.
    """
    now = now or utcnow()
    lock_routing(session, now)
    states, sdrs = sdr_states(session, now, company_tz)
    pass_ = _Pass(session, rules, now, flow_run_id, sdrs)
    summary = RouteSummary()
    per_sdr: Counter[str] = Counter()
    per_rule: Counter[str] = Counter()
    queue = _queue_chunk(session, _columns_read(rules))
    # held leads among the unowned MQLs, by a join: an IN list of every pending lead's id bound one
    # parameter per lead and failed past PostgreSQL's 65,535 (a backlog of 66k MQLs never routed)
    held_since = dict(session.execute(select(Assignment.lead_id, func.min(Assignment.assigned_at))
                                      .join(Lead, Lead.id == Assignment.lead_id)
                                      .where(Assignment.status == "held", Lead.lifecycle_stage == Stage.MQL.value,
                                             Lead.owner_sdr_id.is_(None))
                                      .group_by(Assignment.lead_id)).all())
    claimed: dict[int, int] = {}  # account id -> SDR id, for accounts this pass gave an owner
    after: tuple[datetime, int] | None = None
    # one count on the queue's partial index, only when someone watches
    queued = (session.scalar(text(f"SELECT count(*) FROM leads WHERE {ROUTING_QUEUE}")) or 0) if progress is not None else 0
    while True:
        rows = session.execute(queue(after), {"n": ROUTE_CHUNK}).mappings().all()
        if not rows:
            break
        if after is None and len(rows) == ROUTE_CHUNK and session.get_bind().dialect.name == "postgresql":
            # A backlog: scoring just promoted these leads, and PostgreSQL's statistics (taken at
            # intake, when every lead was new) still say no lead is an MQL. Planned on those, every
            # chunk read all MQLs through the lifecycle_stage index and sorted them (routing 800k
            # MQLs took 517 s instead of ~110). Statistics are sampled: ~1 s at a million leads.
            session.execute(text("ANALYZE leads"))
        after = (rows[-1]["arrived_at"], rows[-1]["id"])
        summary.considered += len(rows)
        for row in rows:
            fields = lead_fields({k: v for k, v in row.items() if k != "_account_owner"})
            account_id = fields["account_id"]
            owner_id = row["_account_owner"] or claimed.get(account_id)
            owner = pass_.by_id.get(owner_id)
            held = held_since.get(fields["id"])
            item = RoutableLead(fields["id"], fields, owner.code if owner else None,
                                (now - held).total_seconds() / 3600 if held is not None else None)
            decision = route_lead(item, rules.routing, states)
            if decision.status != "assigned":
                if decision.status == "held":
                    pass_.hold(fields, decision)
                    summary.held += 1
                else:
                    pass_.unroutable(fields, decision)
                    summary.unroutable += 1
                if len(summary.not_assigned) < ASSIGNMENTS_SHOWN:
                    summary.not_assigned.append({"lead_id": fields["id"], "status": decision.status,
                                                 "rule": decision.rule, "reason": decision.reason})
            else:
                sdr_id = sdrs[decision.sdr].id
                if rules.routing.assign_new_accounts and account_id and owner_id is None:
                    claimed[account_id] = sdr_id
                pass_.assign(fields, decision)
                per_sdr[decision.sdr] += 1
                per_rule[decision.rule or "-"] += 1
                summary.assigned += 1
                if len(summary.assignments) < ASSIGNMENTS_SHOWN:
                    summary.assignments.append({"lead_id": fields["id"], "sdr": decision.sdr, "rule": decision.rule,
                                                "reason": decision.reason})
        pass_.write(claimed)
        if progress is not None:
            progress(summary.considered, max(queued, summary.considered))
    save_positions(session, states, sdrs, set(per_sdr), now)
    session.flush()
    session.expire_all()  # the writes went around the ORM: objects the caller holds reload on next access
    summary.per_sdr, summary.per_rule = dict(per_sdr), dict(per_rule)
    return summary


class _Pass:
    """The writes of one routing pass, buffered per chunk and flushed by ``write`` in bulk."""

    def __init__(self, session: Session, rules: Rules, now: datetime, flow_run_id: str | None, sdrs: dict[str, Sdr]):
        self.session, self.rules, self.now, self.flow_run_id, self.sdrs = session, rules, now, flow_run_id, sdrs
        self.by_id = {s.id: s for s in sdrs.values()}
        self.calendars: dict[str, WorkCalendar] = {}  # built on first use: holidays cost ~5 ms an SDR
        self.due: dict[tuple[str, str], datetime] = {}  # (SDR, policy) -> due: one instant per pass
        self.assigned: list[tuple[dict[str, Any], Decision, str]] = []
        self.held: list[tuple[dict[str, Any], Decision]] = []
        self.owners_written: set[int] = set()
        self.managers: list[Sdr] | None = None

    def assign(self, fields: dict[str, Any], decision: Decision, kind: str = "initial") -> None:
        """Buffer an assignment; ``fields["owner_sdr_id"]``, when present, is the owner it replaces."""
        self.assigned.append((fields, decision, kind))

    def hold(self, fields: dict[str, Any], decision: Decision) -> None:
        if fields["routing_status"] != "held":  # audit the start of the hold, not every pass
            self.held.append((fields, decision))

    def unroutable(self, fields: dict[str, Any], decision: Decision) -> None:
        if fields["routing_status"] == "unroutable":  # audit a change, not every retry
            return
        audit_id = self.session.execute(insert(Assignment).returning(Assignment.id).values(
            lead_id=fields["id"], status="unroutable", reason=decision.reason, candidates=list(decision.candidates),
            active=False, assigned_at=self.now, flow_run_id=self.flow_run_id)).scalar_one()
        if self.managers is None:
            self.managers = list(self.session.scalars(select(Sdr).where(Sdr.role == "manager", Sdr.active.is_(True))
                                                      .order_by(Sdr.code)))
        for m in self.managers:
            enqueue(self.session, key=f"unroutable:{audit_id}:{m.code}", kind="unroutable_alert", recipient=m.email,
                    lead_id=fields["id"], subject=unroutable_subject(fields),
                    body=unroutable_body(m.name, fields, decision.reason))
        self._set_status([fields["id"]], "unroutable")

    def _set_status(self, ids: list[int], status: str) -> None:
        self.session.execute(update(Lead.__table__).where(Lead.__table__.c.id == bindparam("b_id"))
                             .values(routing_status=status, updated_at=self.now), [{"b_id": i} for i in ids])

    def _due(self, code: str, policy: SlaPolicy) -> datetime:
        key = (code, policy.name)
        if key not in self.due:
            if code not in self.calendars:
                self.calendars[code] = calendar_of(self.sdrs[code])
            self.due[key] = add_business_seconds(self.calendars[code], self.now, policy.first_touch)
        return self.due[key]

    def write(self, claimed: dict[int, int]) -> None:
        """Write the buffered decisions: held audits, then assignments with their clocks, events,
        notifications and owners; the partial unique index still refuses a second active assignment."""
        session, now = self.session, self.now
        if self.held:
            session.execute(insert(Assignment.__table__), [
                dict(lead_id=f["id"], status="held", rule=d.rule, reason=d.reason, candidates=list(d.candidates),
                     active=False, assigned_at=now, flow_run_id=self.flow_run_id) for f, d in self.held])
            self._set_status([f["id"] for f, _ in self.held], "held")
            self.held = []
        if not self.assigned:
            return
        batch, self.assigned = self.assigned, []
        sdr = [self.sdrs[d.sdr] for _, d, _ in batch]
        # driver-level bulk inserts (COPY on PostgreSQL), ids read back by their unique keys: the ORM's
        # multi-row INSERT ... RETURNING processed every parameter in Python and was most of routing's time
        conn = session.connection()
        bulk_insert(conn, Assignment.__table__, [
            dict(lead_id=f["id"], sdr_id=s.id, ae_id=self.sdrs[d.ae].id if d.ae in self.sdrs else None,
                 previous_sdr_id=f.get("owner_sdr_id"), kind=kind, status="assigned", rule=d.rule, reason=d.reason,
                 candidates=list(d.candidates), active=True, assigned_at=now, ended_at=None, flow_run_id=self.flow_run_id)
            for (f, d, kind), s in zip(batch, sdr)])
        at = Assignment.__table__
        active = dict(session.execute(select(at.c.lead_id, at.c.id).where(
            at.c.active, at.c.lead_id.in_([f["id"] for f, _, _ in batch]))).all())
        ids = [active[f["id"]] for f, _, _ in batch]
        policies = [policy_for(f, self.rules.sla.policies) for f, _, _ in batch]
        dues = [self._due(d.sdr, p) for (_, d, _), p in zip(batch, policies)]
        bulk_insert(conn, SlaClock.__table__, [
            dict(lead_id=f["id"], sdr_id=s.id, assignment_id=a, policy=p.name, kind="first_touch",
                 target_seconds=p.first_touch, started_at=now, due_at=due, status="open", elapsed_seconds=0,
                 met_at=None, evaluated_at=None, touches_required=1)
            for (f, _, _), s, a, p, due in zip(batch, sdr, ids, policies, dues)])
        ct = SlaClock.__table__
        clock_of = dict(session.execute(select(ct.c.assignment_id, ct.c.id).where(
            ct.c.kind == "first_touch", ct.c.assignment_id.in_(ids))).all())
        bulk_insert(conn, SlaEvent.__table__, [
            dict(clock_id=clock_of[a], step="started", at=now, elapsed_seconds=0, detail=f"policy {p.name}, due {due.isoformat()}")
            for a, p, due in zip(ids, policies, dues)])
        notes = []
        for (f, d, _), s, a, p, due in zip(batch, sdr, ids, policies, dues):
            subject, body = assignment_message(f, reason=d.reason, sdr_name=s.name, sdr_time_zone=s.time_zone,
                                               policy=p.name, due=due)
            # keyed by the assignment: a retried run re-enqueues nothing, each assignment is announced once
            notes.append(dict(key=f"assignment:{a}", kind="assignment", channel="email", recipient=s.email,
                              subject=subject, body=body, lead_id=f["id"], status="pending", attempts=0, created_at=now))
            if self.rules.routing.notify_webhook:
                notes.append(dict(key=f"assignment:{a}:webhook", kind="assignment", channel="webhook", recipient=s.code,
                                  subject=subject, body=body, lead_id=f["id"], status="pending", attempts=0,
                                  created_at=now))
        session.execute(dialect_insert(session, Notification.__table__).on_conflict_do_nothing(index_elements=["key"]), notes)
        lt = Lead.__table__
        session.execute(update(lt).where(lt.c.id == bindparam("b_id"))
                        .values(owner_sdr_id=bindparam("b_owner"), routing_status="assigned", updated_at=now),
                        [{"b_id": f["id"], "b_owner": s.id} for (f, _, _), s in zip(batch, sdr)])
        fresh = [(a, s) for a, s in claimed.items() if a not in self.owners_written]
        if fresh:
            at = Account.__table__
            # only an account still without owner: another pass (or a person) may have set one since
            session.execute(update(at).where(at.c.id == bindparam("b_id"), at.c.owner_sdr_id.is_(None))
                            .values(owner_sdr_id=bindparam("b_owner")), [{"b_id": a, "b_owner": s} for a, s in fresh])
            self.owners_written.update(a for a, _ in fresh)


def assign(session: Session, lead: Lead, decision: Decision, sdrs: dict[str, Sdr], rules: Rules, now: datetime, *,
           kind: str = "initial", flow_run_id: str | None = None) -> None:
    """Persist one assignment of ``lead`` (an ORM object), as a routing pass writes its chunks: audit
    row (replacing its current owner), lead owner, account owner if none, SLA clock, notification."""
    pass_ = _Pass(session, rules, now, flow_run_id, sdrs)
    pass_.assign(routable(lead, None).fields, decision, kind)
    claim = rules.routing.assign_new_accounts and lead.account_id
    pass_.write({lead.account_id: sdrs[decision.sdr].id} if claim else {})
    # written around the ORM: the caller's lead (and its account, if loaded) reload on next access
    session.expire(lead)
    if lead.account_id is not None and (acc := session.identity_map.get(identity_key(Account, lead.account_id))):
        session.expire(acc)


def reassign(session: Session, lead: Lead, rules: Rules, company_tz: str, now: datetime, *, to: str | None = None,
             kind: str = "manual", reason: str | None = None, flow_run_id: str | None = None) -> Decision:
    """Move ``lead`` to another SDR: ``to`` (checked for availability) or the routing rules without the current owner.

    The current assignment is ended (kept in the history with its end time), its open SLA clock
    is closed as reassigned, and the new assignment gets its own clock and notification. Returns
    the decision; an ``unroutable`` decision changes nothing.
    """
    lock_routing(session, now)
    owner = session.get(Sdr, lead.owner_sdr_id) if lead.owner_sdr_id else None
    states, by_code = sdr_states(session, now, company_tz, exclude={owner.code} if owner and to is None else set())
    if to is not None:
        target = states.get(to)
        if target is None:
            known = ", ".join(sorted(states))
            raise ValueError(f"no SDR {to!r} on the roster (SDRs: {known})")
        why = target.skip_reason()
        if why:
            return Decision(lead.id, "unroutable", None, None, f"{to} cannot take it: {why}")
        if owner is not None and owner.code == to:
            return Decision(lead.id, "unroutable", None, None, f"{to} already owns lead {lead.id}")
        decision = assign_to(routable(lead, None), target, "manual", reason or f"reassigned by hand to {to}", [])
    else:
        decision = route_lead(routable(lead, None), rules.routing, states)
        if decision.status != "assigned":
            return decision
        decision = Decision(decision.lead_id, decision.status, decision.sdr, decision.rule,
                            (reason + ": " if reason else "") + decision.reason, decision.candidates, decision.ae)
    for clock in session.scalars(select(SlaClock).where(SlaClock.lead_id == lead.id, SlaClock.status == "open")):
        clock.status = "reassigned"
    current = session.scalar(select(Assignment).where(Assignment.lead_id == lead.id, Assignment.active.is_(True)))
    if current is not None:
        current.active, current.ended_at = False, now
        session.flush()
    assign(session, lead, decision, by_code, rules, now, kind=kind, flow_run_id=flow_run_id)
    save_positions(session, states, by_code, {decision.sdr}, now)
    return decision


def explain(session: Session, lead_id: int) -> dict[str, Any]:
    """Return everything routing decided about one lead: its data, score breakdown, and every assignment
    decision in order with the rule, the reason and each candidate considered (and why skipped)."""
    from leadops.db.models import ScoreHistory

    lead = session.get(Lead, lead_id)
    if lead is None:
        raise ValueError(f"no lead {lead_id}")
    codes = dict(session.execute(select(Sdr.id, Sdr.code)).all())
    score = session.scalar(select(ScoreHistory).where(ScoreHistory.lead_id == lead_id).order_by(ScoreHistory.id.desc()))
    return {
        "lead_id": lead.id, "stage": lead.lifecycle_stage, "routing_status": lead.routing_status,
        "owner": codes.get(lead.owner_sdr_id), "country": lead.country, "language": lead.language,
        "employee_band": lead.employee_band, "segment": segment_of(lead.employee_band), "grade": lead.grade,
        "score": lead.score, "score_breakdown": score.breakdown if score else [],
        "decisions": [
            {"at": a.assigned_at.isoformat(), "kind": a.kind, "status": a.status, "sdr": codes.get(a.sdr_id),
             "previous_sdr": codes.get(a.previous_sdr_id), "ae": codes.get(a.ae_id), "rule": a.rule, "reason": a.reason,
             "active": a.active, "ended_at": a.ended_at.isoformat() if a.ended_at else None, "candidates": a.candidates}
            for a in session.scalars(select(Assignment).where(Assignment.lead_id == lead_id).order_by(Assignment.id))
        ],
    }
