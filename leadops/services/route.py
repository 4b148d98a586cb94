"""Route MQLs to SDRs: load SDR state, decide (domain.routing), persist the assignment, its SLA clock
and the SDR's notification in one transaction, and the pools' round-robin positions (one per pool and SDR)
that moved.

Loads and writes go through ``uow.routing`` (leadops/db/repositories/routing.py: the lock, the queue in
keyset chunks, the set-based writes) and ``uow.outbox``; nothing here commits: whoever opened the unit of
work does.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from leadops.config import Rules, SlaPolicy
from leadops.db.models import utcnow
from leadops.db.repositories.outbox import Message
from leadops.db.repositories.routing import AssignmentEmail, Manager, NewAssignment, RoutingSdr, assignment_email
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.assignment import (
    PolicyPicker, assignment_words, due_line, lead_fields, unroutable_body, unroutable_subject,
)
from leadops.domain.business_time import add_business_seconds, is_working
from leadops.domain.lifecycle import OPEN_OWNED
from leadops.domain.routing import Decision, RoutableLead, SdrState, assign_to, route_lead, segment_of
from leadops.notify import slack_blocks
from leadops.services.collector import in_fewer_passes
from leadops.services.notices import Notices


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


def positions_of(states: dict[str, SdrState]) -> dict[tuple[str, str], float]:
    """Return every round-robin position held in ``states``: (pool, SDR code) -> virtual time."""
    return {(pool, code): vt for code, s in states.items() for pool, vt in s.positions.items()}


def save_positions(uow: UnitOfWork, states: dict[str, SdrState], sdrs: dict[str, RoutingSdr],
                   loaded: dict[tuple[str, str], float], now: datetime) -> None:
    """Store the positions (pool, SDR) that moved since ``loaded`` (``positions_of`` the states as loaded):
    turns taken, and SDRs raised to their pool's pace on coming back."""
    moved = {(pool, sdrs[code].id): vt for (pool, code), vt in positions_of(states).items()
             if loaded.get((pool, code)) != vt}
    uow.routing.save_positions(moved, now)


def sdr_states(uow: UnitOfWork, now: datetime, company_tz: str,
               exclude: Collection[str] = frozenset()) -> tuple[dict[str, SdrState], dict[str, RoutingSdr]]:
    """Return routing state per SDR code as of ``now`` (today counted from company-local midnight), and the SDRs."""
    sdrs = uow.routing.sdrs()
    midnight = datetime.combine(now.astimezone(ZoneInfo(company_tz)).date(), time.min, ZoneInfo(company_tz))
    loads = uow.routing.loads(midnight, OPEN_OWNED)
    states = {}
    for code, s in sdrs.items():
        states[code] = SdrState(
            code=code, weight=s.weight, daily_cap=s.daily_cap, open_cap=s.open_cap,
            assigned_today=loads.assigned_since.get(s.id, 0), open_leads=loads.open_leads.get(s.id, 0),
            active=s.active and code not in exclude, out_of_office=s.out_of_office(now),
            working_now=is_working(s.calendar, now), paired_ae=s.paired_ae,
        )
    # each SDR's place in each pool's rotation as stored; someone who lags their pool (back from leave, or
    # no routing for days) is raised to its pace by the router when they are next a candidate, not here
    code_of = {s.id: code for code, s in sdrs.items()}
    for (pool, sdr_id), position in uow.routing.positions().items():
        if sdr_id in code_of:
            states[code_of[sdr_id]].positions[pool] = position.virtual_time
    return states, sdrs


#: lead columns every pass reads: identity, routing state, the derived fields' inputs, the notification's words
ROUTE_COLUMNS = ("id", "account_id", "routing_status", "email_domain", "first_name", "last_name", "company",
                 "job_title", "country", "grade", "employee_band", "is_hand_raiser")


def _columns_read(rules: Rules) -> set[str]:
    """Return the lead columns a routing pass needs: ROUTE_COLUMNS and every column a routing rule or
    SLA policy matches on (reading all ~40 columns of 80k leads cost more than deciding them)."""
    keys = {k for r in rules.routing.rules for k in r.when} | {k for p in rules.sla.policies for k in p.when}
    return set(ROUTE_COLUMNS) | keys


ROUTE_CHUNK = 10_000  # pending leads read, decided and written per round: memory stays flat in the backlog; each
# round costs ~15 statements and temporary tables (5 a round then: 2,000 a round spent ~1 s of 11 on them at 100k on
# PostgreSQL; 2 now, the chunk's assignments and its messages)
ASSIGNMENTS_SHOWN = 1000  # assignments listed in the summary (and the run's artifact); the counts cover all


@in_fewer_passes
def route_pending(uow: UnitOfWork, rules: Rules, company_tz: str, *, now: datetime | None = None,
                  flow_run_id: str | None = None, progress: Callable[[int, int], None] | None = None) -> RouteSummary:
    """Route every MQL that has no active owner; returns counts and the first ASSIGNMENTS_SHOWN assignments.
    ``progress(considered, queued)`` is called after each chunk (``queued``: the queue's length at the start).

    Set-based: pending leads are read ROUTE_CHUNK at a time in arrival order, decided in memory
    (SDR loads carried across chunks, an account claimed by an earlier lead of the pass goes to
    the same SDR), and each chunk's assignments, SLA clocks, "started" events, notifications and
    owners are written with one multi-row statement per table, inside the caller's unit of work.
    """
    now = now or utcnow()
    uow.routing.lock(now)
    states, sdrs = sdr_states(uow, now, company_tz)
    loaded = positions_of(states)
    pass_ = _Pass(uow, rules, now, flow_run_id, sdrs)
    summary = RouteSummary()
    per_sdr: Counter[str] = Counter()
    per_rule: Counter[str] = Counter()
    held_since = uow.routing.held_since()
    claimed: dict[int, int] = {}  # account id -> SDR id, for accounts this pass gave an owner
    # one count on the queue, only when someone watches
    queued = uow.routing.queue_length() if progress is not None else 0
    chunks = iter(uow.routing.queue(_columns_read(rules), ROUTE_CHUNK))
    rows = next(chunks, None)
    while rows is not None:
        summary.considered += len(rows)
        for row in rows:
            fields = lead_fields(row.columns)
            account_id = fields["account_id"]
            owner_id = row.account_owner_id or claimed.get(account_id)
            owner = pass_.by_id.get(owner_id) if owner_id is not None else None
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
                code = _assigned_to(decision)
                if rules.routing.assign_new_accounts and account_id and owner_id is None:
                    claimed[account_id] = sdrs[code].id
                pass_.assign(fields, decision)
                per_sdr[code] += 1
                per_rule[decision.rule or "-"] += 1
                summary.assigned += 1
                if len(summary.assignments) < ASSIGNMENTS_SHOWN:
                    summary.assignments.append({"lead_id": fields["id"], "sdr": code, "rule": decision.rule,
                                                "reason": decision.reason})
        # The next chunk is read before this one is written: on PostgreSQL the writes are sent ahead
        # (leadops.db.pending), and the server runs them while the next chunk is decided here. Its leads'
        # accounts claimed by this chunk are not written yet: ``claimed`` has them.
        rows = next(chunks, None)
        pass_.write(claimed)
        if progress is not None:
            progress(summary.considered, max(queued, summary.considered))
    save_positions(uow, states, sdrs, loaded, now)
    uow.routing.finish()
    summary.per_sdr, summary.per_rule = dict(per_sdr), dict(per_rule)
    return summary


def _assigned_to(decision: Decision) -> str:
    """Return the SDR code of an ``assigned`` decision."""
    if decision.sdr is None:
        raise ValueError(f"lead {decision.lead_id}: an assigned decision names no SDR")
    return decision.sdr


class _Pass:
    """The writes of one routing pass, buffered per chunk and written by ``write`` in bulk."""

    def __init__(self, uow: UnitOfWork, rules: Rules, now: datetime, flow_run_id: str | None,
                 sdrs: dict[str, RoutingSdr]) -> None:
        self.uow, self.rules, self.now, self.flow_run_id, self.sdrs = uow, rules, now, flow_run_id, sdrs
        self.by_id = {s.id: s for s in sdrs.values()}
        self.due: dict[tuple[str, str], tuple[datetime, str]] = {}  # (SDR, policy) -> due and its line, per pass
        self.policy = PolicyPicker(rules.sla.policies)
        self.assigned: list[tuple[dict[str, Any], Decision, str]] = []
        self.held: list[Decision] = []
        self.owners_written: set[int] = set()
        self.managers: list[Manager] | None = None
        self.notices = Notices(uow, rules)

    def assign(self, fields: dict[str, Any], decision: Decision, kind: str = "initial") -> None:
        """Buffer an assignment; ``fields["owner_sdr_id"]``, when present, is the owner it replaces."""
        self.assigned.append((fields, decision, kind))

    def hold(self, fields: dict[str, Any], decision: Decision) -> None:
        if fields["routing_status"] != "held":  # audit the start of the hold, not every pass
            self.held.append(decision)

    def unroutable(self, fields: dict[str, Any], decision: Decision) -> None:
        if fields["routing_status"] == "unroutable":  # audit a change, not every retry
            return
        audit_id = self.uow.routing.mark_unroutable(decision, self.now, self.flow_run_id)
        if self.managers is None:
            self.managers = self.uow.routing.managers()
        emails = [(Message(key=f"unroutable:{audit_id}:{m.code}", kind="unroutable_alert", recipient=m.email,
                           subject=unroutable_subject(fields), body=unroutable_body(m.name, fields, decision.reason),
                           lead_id=fields["id"]), m.code) for m in self.managers]
        if self.notices.carries("unroutable_alert"):
            card = self.notices.cards([fields["id"]])[fields["id"]]
            notes = self.notices.to_managers(emails, f"unroutable:{audit_id}",
                                             lambda _: slack_blocks.unroutable(card, reason=decision.reason))
        else:
            notes = [m for m, _ in emails]
        for note in notes:
            self.uow.outbox.enqueue(note)

    def _due(self, code: str, policy: SlaPolicy) -> tuple[datetime, str]:
        """Return the first-touch due instant of ``code``'s leads under ``policy`` and the message line saying
        it: one of each per (SDR, policy) and pass (one ``now``)."""
        key = (code, policy.name)
        if key not in self.due:
            s = self.sdrs[code]
            due = add_business_seconds(s.calendar, self.now, policy.first_touch)
            self.due[key] = due, due_line(sdr_time_zone=s.time_zone, policy=policy.name, due=due)
        return self.due[key]

    def write(self, claimed: dict[int, int]) -> None:
        """Write the buffered decisions: held audits, then assignments with their clocks, events,
        notifications and owners; the partial unique index still refuses a second active assignment."""
        routing, now = self.uow.routing, self.now
        if self.held:
            routing.hold(self.held, now, self.flow_run_id)
            self.held = []
        if not self.assigned:
            return
        # the accounts first: on PostgreSQL the assignments' statements are sent ahead, and any statement after
        # them would wait for them (leadops.db.pending)
        fresh = {a: s for a, s in claimed.items() if a not in self.owners_written}
        if fresh:
            routing.claim_accounts(fresh)
            self.owners_written.update(fresh)
        batch, self.assigned = self.assigned, []
        sdr = [self.sdrs[_assigned_to(d)] for _, d, _ in batch]
        policies = [self.policy(f) for f, _, _ in batch]
        dues = [self._due(s.code, p) for s, p in zip(sdr, policies, strict=True)]
        new = [NewAssignment(lead_id=f["id"], sdr_id=s.id, ae_id=self.sdrs[d.ae].id if d.ae in self.sdrs else None,
                             previous_sdr_id=f.get("owner_sdr_id"), kind=kind, rule=d.rule, reason=d.reason,
                             candidates=d.candidates, policy=p.name, target_seconds=p.first_touch, due_at=due)
               for (f, d, kind), s, p, (due, _) in zip(batch, sdr, policies, dues, strict=True)]
        notices = self.notices
        slack = notices.carries("assignment")
        webhook = self.rules.routing.notify_webhook
        # the email each SDR gets (what to_rep returns when Slack does not carry assignments)
        emails = [AssignmentEmail(s.email, *assignment_words(f, reason=d.reason, sdr_name=s.name, due_text=due_text))
                  for (f, d, _), s, (_, due_text) in zip(batch, sdr, dues, strict=True)]
        if not slack and not webhook:
            # email only: queued with the assignments, keyed by them in the database (no ids back and forth)
            routing.assign(new, now, self.flow_run_id, emails)
        else:
            ids = routing.assign(new, now, self.flow_run_id)
            notes: list[Message] = []
            cards = notices.cards([f["id"] for f, _, _ in batch]) if slack else {}
            for (f, d, _), s, a, p, (due, _), e in zip(batch, sdr, ids, policies, dues, emails, strict=True):
                email = assignment_email(a, f["id"], e)
                if slack:
                    notes += notices.to_rep(email, s.code,
                                            partial(_assignment_slack, notices, cards, f["id"], d, s, p.name, due))
                else:
                    notes.append(email)
                if webhook:
                    notes.append(Message(key=f"assignment:{a}:webhook", kind="assignment", recipient=s.code,
                                         subject=e.subject, body=e.body, lead_id=f["id"], channel="webhook"))
            self.uow.outbox.enqueue_many(notes, now)


def _assignment_slack(notices: Notices, cards: dict[int, slack_blocks.LeadCard], lead_id: int, d: Decision,
                      s: RoutingSdr, policy: str, due: datetime) -> slack_blocks.SlackPayload:
    """Return the Slack rendering of one assignment (the rep named by their Slack id when sdrs.yaml has it)."""
    return slack_blocks.assignment(cards[lead_id], rep=notices.mention(s.code, s.name), rule=d.rule or "-",
                                   reason=d.reason, due=due, time_zone=s.time_zone, policy=policy,
                                   with_buttons=notices.slack.interactive)


def assign(uow: UnitOfWork, fields: dict[str, Any], decision: Decision, sdrs: dict[str, RoutingSdr], rules: Rules,
           now: datetime, *, kind: str = "initial", flow_run_id: str | None = None) -> None:
    """Persist one assignment of the lead whose fields are ``fields`` (``lead_fields`` of its columns), as a
    routing pass writes its chunks: audit row (replacing its current owner, ``fields["owner_sdr_id"]``), lead
    owner, account owner if none, SLA clock, notification."""
    pass_ = _Pass(uow, rules, now, flow_run_id, sdrs)
    pass_.assign(fields, decision, kind)
    account_id = fields.get("account_id")
    claimed: dict[int, int] = {}
    if rules.routing.assign_new_accounts and account_id is not None:
        claimed[account_id] = sdrs[_assigned_to(decision)].id
    pass_.write(claimed)
    uow.routing.finish()  # written around what the caller may hold: it reloads on next access


def reassign(uow: UnitOfWork, lead_id: int, rules: Rules, company_tz: str, now: datetime, *, to: str | None = None,
             kind: str = "manual", reason: str | None = None, flow_run_id: str | None = None) -> Decision:
    """Move lead ``lead_id`` to another SDR: ``to`` (checked for availability) or the routing rules without the
    current owner.

    The current assignment is ended (kept in the history with its end time), its open SLA clock
    is closed as reassigned, and the new assignment gets its own clock and notification. Returns
    the decision; an ``unroutable`` decision changes nothing.
    """
    uow.routing.lock(now)
    lead = uow.routing.lead(lead_id)
    if lead is None:
        raise LookupError(f"no lead {lead_id}")
    owner = lead.owner
    states, by_code = sdr_states(uow, now, company_tz, exclude={owner} if owner and to is None else set())
    loaded = positions_of(states)
    fields = lead_fields(lead.columns)
    item = RoutableLead(lead_id, fields, None)
    if to is not None:
        target = states.get(to)
        if target is None:
            known = ", ".join(sorted(states))
            raise ValueError(f"no SDR {to!r} on the roster (SDRs: {known})")
        why = target.skip_reason()
        if why:
            return Decision(lead_id, "unroutable", None, None, f"{to} cannot take it: {why}")
        if owner == to:
            return Decision(lead_id, "unroutable", None, None, f"{to} already owns lead {lead_id}")
        decision = assign_to(item, target, "manual", reason or f"reassigned by hand to {to}", [])
    else:
        decision = route_lead(item, rules.routing, states)
        if decision.status != "assigned":
            return decision
        decision = Decision(decision.lead_id, decision.status, decision.sdr, decision.rule,
                            (reason + ": " if reason else "") + decision.reason, decision.candidates, decision.ae)
    uow.routing.end_assignment(lead_id, now)
    assign(uow, fields, decision, by_code, rules, now, kind=kind, flow_run_id=flow_run_id)
    save_positions(uow, states, by_code, loaded, now)
    return decision


def explain(uow: UnitOfWork, lead_id: int) -> dict[str, Any]:
    """Return everything routing decided about one lead: its data, score breakdown, and every assignment
    decision in order with the rule, the reason and each candidate considered (and why skipped)."""
    story = uow.routing.story(lead_id)
    if story is None:
        raise ValueError(f"no lead {lead_id}")
    return {
        "lead_id": story.lead_id, "stage": story.stage, "routing_status": story.routing_status,
        "owner": story.owner, "country": story.country, "language": story.language,
        "employee_band": story.employee_band, "segment": segment_of(story.employee_band), "grade": story.grade,
        "score": story.score, "score_breakdown": story.score_breakdown,
        "decisions": [
            {"at": d.at.isoformat(), "kind": d.kind, "status": d.status, "sdr": d.sdr, "previous_sdr": d.previous_sdr,
             "ae": d.ae, "rule": d.rule, "reason": d.reason, "active": d.active,
             "ended_at": d.ended_at.isoformat() if d.ended_at else None, "candidates": d.candidates}
            for d in story.decisions
        ],
    }
