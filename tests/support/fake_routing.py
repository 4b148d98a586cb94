"""An in-memory routing repository: leads, accounts, SDRs, assignments, clocks and positions as plain lists and dicts.

It keeps the stored repository's contract: the queue is the MQLs without owner in arrival order, read chunk by
chunk after the caller's writes, a lead left in it never read twice in a pass; a lead refuses a second active
assignment; an account already owned keeps its owner. Assignment emails go to ``outbox`` (the unit of work's
outbox: give it the same one), as the stored repository queues them in the outbox table.
"""
from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadops.db.repositories.routing import (
    QUEUE_KEYS, AssignmentEmail, LeadStory, LeadToMove, Loads, Manager, NewAssignment, PastDecision, Position,
    QueuedLead, RoutingSdr, assignment_email,
)
from leadops.domain.lifecycle import Stage
from leadops.domain.routing import Decision
from tests.support.fake_outbox import FakeOutboxRepository


@dataclass
class StoredLead:
    """One lead: the columns routing reads (``columns``: country, company, grade...) and its routing state."""

    id: int
    arrived_at: datetime
    stage: Stage = Stage.MQL
    owner_sdr_id: int | None = None
    routing_status: str | None = None
    account_id: int | None = None
    columns: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {**self.columns, "id": self.id, "arrived_at": self.arrived_at, "lifecycle_stage": self.stage.value,
                "owner_sdr_id": self.owner_sdr_id, "routing_status": self.routing_status,
                "account_id": self.account_id}


@dataclass
class StoredAssignment:
    """One assignments row (assigned, held or unroutable)."""

    id: int
    lead_id: int
    status: str
    at: datetime
    sdr_id: int | None = None
    ae_id: int | None = None
    previous_sdr_id: int | None = None
    kind: str = "initial"
    rule: str | None = None
    reason: str = ""
    candidates: tuple[dict[str, Any], ...] = ()
    active: bool = False
    ended_at: datetime | None = None
    flow_run_id: str | None = None


@dataclass
class StoredClock:
    """One first-touch clock and its "started" event's detail."""

    id: int
    lead_id: int
    sdr_id: int
    assignment_id: int
    policy: str
    target_seconds: int
    started_at: datetime
    due_at: datetime
    started_detail: str
    status: str = "open"


@dataclass
class FakeRoutingRepository:
    roster: dict[str, RoutingSdr] = field(default_factory=dict)
    leads: dict[int, StoredLead] = field(default_factory=dict)
    account_owners: dict[int, int | None] = field(default_factory=dict)
    managers_on_roster: list[Manager] = field(default_factory=list)
    stored_positions: dict[tuple[str, int], Position] = field(default_factory=dict)  # (pool, SDR id)
    assignments: list[StoredAssignment] = field(default_factory=list)
    clocks: list[StoredClock] = field(default_factory=list)
    locked_at: list[datetime] = field(default_factory=list)
    finished: int = 0
    outbox: FakeOutboxRepository = field(default_factory=FakeOutboxRepository)

    # what a test reads
    def active_assignment(self, lead_id: int) -> StoredAssignment | None:
        return next((a for a in self.assignments if a.lead_id == lead_id and a.active), None)

    def audits(self, status: str) -> list[StoredAssignment]:
        return [a for a in self.assignments if a.status == status]

    def code_of(self, sdr_id: int | None) -> str | None:
        return next((s.code for s in self.roster.values() if s.id == sdr_id), None)

    def _record(self, **values: Any) -> int:
        a = StoredAssignment(id=len(self.assignments) + 1, **values)
        self.assignments.append(a)
        return a.id

    # the Protocol
    def lock(self, now: datetime) -> None:
        self.locked_at.append(now)

    def sdrs(self) -> dict[str, RoutingSdr]:
        return dict(self.roster)

    def loads(self, since: datetime, open_stages: Collection[Stage]) -> Loads:
        assigned: dict[int, int] = {}
        for a in self.assignments:
            if a.status == "assigned" and a.at >= since and a.sdr_id is not None:
                assigned[a.sdr_id] = assigned.get(a.sdr_id, 0) + 1
        owned: dict[int, int] = {}
        for le in self.leads.values():
            if le.stage in open_stages and le.owner_sdr_id is not None:
                owned[le.owner_sdr_id] = owned.get(le.owner_sdr_id, 0) + 1
        return Loads(assigned, owned)

    def positions(self) -> dict[tuple[str, int], Position]:
        return dict(self.stored_positions)

    def save_positions(self, virtual_times: Mapping[tuple[str, int], float], now: datetime) -> None:
        for key, vt in virtual_times.items():
            self.stored_positions[key] = Position(vt, now)

    def held_since(self) -> dict[int, datetime]:
        out: dict[int, datetime] = {}
        for a in self.audits("held"):
            le = self.leads[a.lead_id]
            if le.stage is Stage.MQL and le.owner_sdr_id is None:
                out[a.lead_id] = min(out.get(a.lead_id, a.at), a.at)
        return out

    def _in_queue(self) -> list[StoredLead]:
        return sorted((le for le in self.leads.values() if le.stage is Stage.MQL and le.owner_sdr_id is None),
                      key=lambda le: (le.arrived_at, le.id))

    def queue_length(self) -> int:
        return len(self._in_queue())

    def queue(self, keys: Collection[str], size: int) -> Iterator[list[QueuedLead]]:
        wanted = set(keys) | set(QUEUE_KEYS)
        after: tuple[datetime, int] | None = None
        while True:
            rows = [le for le in self._in_queue() if after is None or (le.arrived_at, le.id) > after][:size]
            if not rows:
                return
            after = (rows[-1].arrived_at, rows[-1].id)
            yield [QueuedLead({k: v for k, v in le.row().items() if k in wanted},
                              self.account_owners.get(le.account_id) if le.account_id is not None else None)
                   for le in rows]

    def lead(self, lead_id: int) -> LeadToMove | None:
        le = self.leads.get(lead_id)
        return None if le is None else LeadToMove(le.row(), self.code_of(le.owner_sdr_id))

    def hold(self, decisions: Sequence[Decision], now: datetime, flow_run_id: str | None) -> None:
        for d in decisions:
            self._record(lead_id=d.lead_id, status="held", at=now, rule=d.rule, reason=d.reason,
                         candidates=d.candidates, flow_run_id=flow_run_id)
            self.leads[d.lead_id].routing_status = "held"

    def mark_unroutable(self, decision: Decision, now: datetime, flow_run_id: str | None) -> int:
        self.leads[decision.lead_id].routing_status = "unroutable"
        return self._record(lead_id=decision.lead_id, status="unroutable", at=now, reason=decision.reason,
                            candidates=decision.candidates, flow_run_id=flow_run_id)

    def managers(self) -> list[Manager]:
        return sorted(self.managers_on_roster, key=lambda m: m.code)

    def assign(self, assignments: Sequence[NewAssignment], now: datetime, flow_run_id: str | None,
               emails: Sequence[AssignmentEmail] | None = None) -> list[int]:
        ids = self._assign(assignments, now, flow_run_id)
        if emails is not None:
            self.outbox.enqueue_many([assignment_email(i, a.lead_id, e)
                                      for i, a, e in zip(ids, assignments, emails, strict=True)], now)
        return ids

    def _assign(self, assignments: Sequence[NewAssignment], now: datetime, flow_run_id: str | None) -> list[int]:
        ids = []
        for n in assignments:
            if self.active_assignment(n.lead_id) is not None:
                raise ValueError(f"lead {n.lead_id} has an active assignment already")
            a = self._record(lead_id=n.lead_id, status="assigned", at=now, sdr_id=n.sdr_id, ae_id=n.ae_id,
                             previous_sdr_id=n.previous_sdr_id, kind=n.kind, rule=n.rule, reason=n.reason,
                             candidates=n.candidates, active=True, flow_run_id=flow_run_id)
            self.clocks.append(StoredClock(len(self.clocks) + 1, n.lead_id, n.sdr_id, a, n.policy, n.target_seconds,
                                           now, n.due_at, f"policy {n.policy}, due {n.due_at.isoformat()}"))
            lead = self.leads[n.lead_id]
            lead.owner_sdr_id, lead.routing_status = n.sdr_id, "assigned"
            ids.append(a)
        return ids

    def claim_accounts(self, owners: Mapping[int, int]) -> None:
        for account_id, sdr_id in owners.items():
            if self.account_owners.get(account_id) is None:
                self.account_owners[account_id] = sdr_id

    def end_assignment(self, lead_id: int, now: datetime) -> None:
        for c in self.clocks:
            if c.lead_id == lead_id and c.status == "open":
                c.status = "reassigned"
        current = self.active_assignment(lead_id)
        if current is not None:
            current.active, current.ended_at = False, now

    def story(self, lead_id: int) -> LeadStory | None:
        le = self.leads.get(lead_id)
        if le is None:
            return None
        c = le.columns
        return LeadStory(le.id, le.stage.value, le.routing_status, self.code_of(le.owner_sdr_id), c.get("country"),
                         c.get("language"), c.get("employee_band"), c.get("grade"), c.get("score"), [],
                         [PastDecision(a.at, a.kind, a.status, self.code_of(a.sdr_id), self.code_of(a.previous_sdr_id),
                                       self.code_of(a.ae_id), a.rule, a.reason, a.active, a.ended_at,
                                       list(a.candidates))
                          for a in self.assignments if a.lead_id == lead_id])

    def finish(self) -> None:
        self.finished += 1
