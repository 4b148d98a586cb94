"""Roster sync: sdrs.yaml is the truth; the database follows it, and leads of people who left are reassigned."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadops.config import Rules
from leadops.db.models import Assignment, Lead, Sdr
from leadops.db.roster import current_members, sync_roster
from leadops.domain.roster import Change, describe, diff, member_from_person
from leadops.services.route import OPEN_OWNED, reassign


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
        out = {k: 0 for k in ("added", "changed", "deactivated", "reactivated")}
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


def _open_leads_of_inactive(session: Session) -> list[tuple[Lead, str]]:
    """Return (lead, owner code) for every lead in an open owned stage whose active assignment is to an
    inactive SDR, oldest assignment first."""
    rows = session.execute(
        select(Lead, Sdr.code).join(Assignment, (Assignment.lead_id == Lead.id) & Assignment.active.is_(True)
                                    & (Assignment.status == "assigned"))
        .join(Sdr, Sdr.id == Assignment.sdr_id)
        .where(Sdr.active.is_(False), Lead.lifecycle_stage.in_(OPEN_OWNED))
        .order_by(Assignment.assigned_at, Lead.id)).all()
    return [(lead, code) for lead, code in rows]


def sync(session: Session, rules: Rules, company_tz: str, now: datetime, *, dry_run: bool = False,
         flow_run_id: str | None = None) -> RosterSync:
    """Make the database's roster that of sdrs.yaml and reassign the open leads of people no longer active.

    With ``dry_run`` nothing is written: the result says what would change and how many leads would move.
    Idempotent: a second sync finds no change and no lead to move (a lead no one could take is tried again).
    """
    current = current_members(session)
    out = RosterSync(diff(current, [member_from_person(p) for p in rules.roster.people]), dry_run)
    if dry_run:
        kinds = {c.code: c.kind for c in out.changes}
        inactive = {code for code, m in current.items() if not m.active and kinds.get(code) != "reactivated"}
        inactive |= {code for code, kind in kinds.items() if kind == "deactivated"}
        out.to_reassign = dict(session.execute(
            select(Sdr.code, func.count()).join(Assignment, Assignment.sdr_id == Sdr.id)
            .join(Lead, Lead.id == Assignment.lead_id)
            .where(Sdr.code.in_(sorted(inactive)), Assignment.active.is_(True), Assignment.status == "assigned",
                   Lead.lifecycle_stage.in_(OPEN_OWNED))
            .group_by(Sdr.code).order_by(Sdr.code)).all())
        return out
    if out.changes:
        sync_roster(session, rules.roster)
    for lead, code in _open_leads_of_inactive(session):
        decision = reassign(session, lead, rules, company_tz, now, kind="reassign",
                            reason=f"{code} is no longer on the roster", flow_run_id=flow_run_id)
        out.to_reassign[code] = out.to_reassign.get(code, 0) + 1
        if decision.status == "assigned":
            out.reassigned.append({"lead_id": lead.id, "from": code, "to": decision.sdr, "rule": decision.rule})
        else:
            out.not_reassigned.append({"lead_id": lead.id, "from": code, "reason": decision.reason})
    return out

