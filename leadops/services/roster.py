"""Roster sync: sdrs.yaml is the truth; the database follows it, and leads of people who left are reassigned."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadops.config import Roster, Rules
from leadops.db.models import Lead
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.roster import Change, Member, describe, diff, member_from_person
from leadops.domain.routing import Decision

#: moves one open lead of someone no longer active to another SDR; takes the lead and the reason to record,
#: returns routing's decision (``assigned``, or why no one could take it). Injected so that a sync can be
#: tested without the routing service and its database.
Reassign = Callable[[Lead, str], Decision]


def by_routing_rules(uow: UnitOfWork, rules: Rules, company_tz: str, now: datetime, *,
                     flow_run_id: str | None = None) -> Reassign:
    """Return the :data:`Reassign` of the routing service (leadops.services.route.reassign) in ``uow``."""
    from leadops.services.route import reassign

    def move(lead: Lead, reason: str) -> Decision:
        return reassign(uow, lead.id, rules, company_tz, now, kind="reassign", reason=reason,
                        flow_run_id=flow_run_id)

    return move


@dataclass
class RosterSync:
    """What a roster sync found and did: one Change per person that differs, and the open leads of people
    no longer active (reassigned by the routing rules, or left with the reason when no one can take them)."""

    changes: list[Change]
    dry_run: bool
    reassigned: list[dict[str, Any]] = field(default_factory=list)
    not_reassigned: list[dict[str, Any]] = field(default_factory=list)
    to_reassign: dict[str, int] = field(default_factory=dict)  # code -> open leads (what a dry run would move)

    def counts(self) -> dict[str, int]:
        """Return changes by kind plus reassigned and not_reassigned leads."""
        out = dict.fromkeys(("added", "changed", "deactivated", "reactivated"), 0)
        for c in self.changes:
            out[c.kind] += 1
        out["reassigned"] = len(self.reassigned)
        out["not_reassigned"] = len(self.not_reassigned)
        return out

    def lines(self) -> list[str]:
        """Return one line per change and per reassignment, for people (no lead's personal data)."""
        out = [describe(c) for c in self.changes]
        if self.dry_run:
            out += [f"would reassign {n} open lead(s) of {code} by the routing rules"
                    for code, n in self.to_reassign.items()]
        out += [f"lead {r['lead_id']}: {r['from']} -> {r['to']} (rule {r['rule']})" for r in self.reassigned]
        out += [f"lead {r['lead_id']} of {r['from']} not reassigned: {r['reason']}" for r in self.not_reassigned]
        return out


def inactive_after(current: dict[str, Member], wanted: Sequence[Member]) -> set[str]:
    """Return the codes inactive once ``wanted`` (sdrs.yaml) is written over ``current`` (the database):
    missing from the file, or inactive in it."""
    listed = {m.code for m in wanted}
    return {code for code in current if code not in listed} | {m.code for m in wanted if not m.active}


def apply_roster(uow: UnitOfWork, roster: Roster) -> dict[str, int]:
    """Write sdrs.yaml's roster through ``uow.roster``, only what differs, reassigning nothing (a new database,
    seeding, tests). Returns code -> sdr id of every SDR in the database."""
    wanted = [member_from_person(p) for p in roster.people]
    return uow.roster.apply(diff(uow.roster.members(), wanted), wanted)


def sync(uow: UnitOfWork, rules: Rules, *, reassign: Reassign, dry_run: bool = False) -> RosterSync:
    """Make the database's roster that of sdrs.yaml and hand the open leads of people no longer active to
    ``reassign`` (grain of the result: one change per person, one line per lead moved or not).

    With ``dry_run`` nothing is written: the result says what would change and how many leads would move.
    Idempotent: a second sync finds no change and no lead to move (a lead no one could take is tried again).
    Never commits: the caller's unit of work does.
    """
    current = uow.roster.members()
    wanted = [member_from_person(p) for p in rules.roster.people]
    out = RosterSync(diff(current, wanted), dry_run)
    inactive = inactive_after(current, wanted)
    if dry_run:
        out.to_reassign = uow.roster.count_open_leads(inactive)
        return out
    if out.changes:
        uow.roster.apply(out.changes, wanted)
    for open_lead in uow.roster.open_leads(inactive):
        lead, code = open_lead.lead, open_lead.owner
        decision = reassign(lead, f"{code} is no longer on the roster")
        out.to_reassign[code] = out.to_reassign.get(code, 0) + 1
        if decision.status == "assigned":
            out.reassigned.append({"lead_id": lead.id, "from": code, "to": decision.sdr, "rule": decision.rule})
        else:
            out.not_reassigned.append({"lead_id": lead.id, "from": code, "reason": decision.reason})
    return out
