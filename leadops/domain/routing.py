"""Routing: ordered rules (first match wins), account ownership, weighted load balancing with caps
and availability. Every decision carries the rule that matched and why each candidate was skipped.

Pure: the caller loads SDR state (counts, availability at ``now``) and persists decisions.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from leadops.config import RoutingRule, RoutingRules

SEGMENTS = {"1-10": "smb", "11-50": "smb", "51-200": "smb", "201-1000": "mid", "1001-5000": "enterprise", "5001+": "enterprise"}


def segment_of(employee_band: str | None) -> str | None:
    """Return smb | mid | enterprise for an employee band, None when unknown."""
    return SEGMENTS.get(employee_band or "")


@dataclass(frozen=True)
class RoutableLead:
    """A lead as routing sees it: matchable fields plus its account owner's code, if any."""

    id: int
    fields: dict[str, Any]
    account_owner: str | None = None
    held_hours: float | None = None  # hours since the lead was first held for its owner (None: never held)


@dataclass
class SdrState:
    """One SDR's routing state at ``now`` (mutated as the batch assigns leads)."""

    code: str
    weight: float = 1.0
    daily_cap: int = 40
    open_cap: int = 200
    assigned_today: int = 0
    open_leads: int = 0
    active: bool = True
    out_of_office: bool = False
    working_now: bool = True
    paired_ae: str | None = None
    # weighted round robin as virtual time: each assignment advances it by 1/weight; the least
    # advanced eligible SDR is next. Stored between runs, and raised to the pool's pace when an
    # SDR comes back (or joins), so nobody is flooded to "catch up".
    virtual_time: float = 0.0

    def load(self) -> float:
        """The virtual time this SDR would reach by taking the next lead (lower goes first)."""
        return self.virtual_time + 1 / self.weight if self.weight > 0 else float("inf")

    def skip_reason(self) -> str | None:
        """Return why this SDR cannot take a lead now regardless of hours, or None."""
        if not self.active:
            return "inactive"
        if self.weight <= 0:
            return "weight 0"
        if self.out_of_office:
            return "out of office"
        if self.assigned_today >= self.daily_cap:
            return f"daily cap {self.daily_cap} reached"
        if self.open_leads >= self.open_cap:
            return f"open-lead cap {self.open_cap} reached"
        return None


@dataclass(frozen=True)
class Decision:
    """The routing outcome for one lead: assigned to ``sdr``, or unroutable with the reason."""

    lead_id: int
    status: str  # assigned | held | unroutable
    sdr: str | None
    rule: str | None
    reason: str
    candidates: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    ae: str | None = None


def rule_matches(rule: RoutingRule, lead: RoutableLead) -> bool:
    """True when every ``when`` field of the rule has one of its listed values on the lead."""
    for key, allowed in rule.when.items():
        value = lead.fields.get(key)
        if value not in allowed and str(value) not in {str(a) for a in allowed}:
            return False
    return True


def _pick(members: Iterable[str], sdrs: dict[str, SdrState]) -> tuple[SdrState | None, list[dict[str, Any]], str]:
    """Return the least-loaded eligible member (working now preferred), the candidates, and a note."""
    candidates: list[dict[str, Any]] = []
    eligible: list[SdrState] = []
    for code in members:
        s = sdrs.get(code)
        if s is None:
            candidates.append({"sdr": code, "skipped": "not on the roster"})
            continue
        why = s.skip_reason()
        if why:
            candidates.append({"sdr": code, "skipped": why})
            continue
        eligible.append(s)
    working = [s for s in eligible if s.working_now]
    pool, note = (working, "") if working else (eligible, " (nobody in working hours: SLA clock starts at their next working hour)")
    for s in eligible:
        if working and not s.working_now:
            candidates.append({"sdr": s.code, "skipped": "outside working hours"})
    if not pool:
        return None, candidates, ""
    chosen = min(pool, key=lambda s: (s.load(), s.code))
    for s in pool:
        entry = {"sdr": s.code, "load": round(s.load(), 3)}
        if s is not chosen:
            entry["skipped"] = f"higher load {s.load():.2f} than {chosen.code} {chosen.load():.2f}"
        candidates.append(entry)
    return chosen, candidates, note


def route_lead(lead: RoutableLead, rules: RoutingRules, sdrs: dict[str, SdrState]) -> Decision:
    """Return the decision for one lead and count the assignment into ``sdrs``."""
    trail: list[dict[str, Any]] = []
    owner_away: str | None = None  # why the account owner cannot take the lead now
    for rule in rules.rules:
        if not rule_matches(rule, lead):
            continue
        if rule.to.account_owner:
            owner = sdrs.get(lead.account_owner) if lead.account_owner else None
            if owner is None:
                continue  # no owned account: the rule does not apply
            why = owner.skip_reason()
            if why:
                trail.append({"rule": rule.name, "sdr": owner.code, "skipped": f"account owner {why}"})
                owner_away = why
                continue
            return assign_to(lead, owner, rule.name, f"account owner of {lead.fields.get('email_domain')}", trail)
        pool = rules.pools[rule.to.pool] if rule.to.pool else None
        members = [rule.to.sdr] if rule.to.sdr else pool.members if pool is not None else []
        if (pool is not None and pool.policy == "hold_for_owner" and owner_away and lead.account_owner in members
                and (lead.held_hours is None or lead.held_hours < pool.hold_max_hours)):
            return Decision(lead.id, "held", None, rule.name,
                            f"held for account owner {lead.account_owner} ({owner_away}) by pool {rule.to.pool}'s "
                            f"hold_for_owner policy, at most {pool.hold_max_hours:g} h", tuple(trail))
        chosen, candidates, note = _pick(members, sdrs)
        trail.extend({"rule": rule.name, **c} for c in candidates)
        if chosen is None:
            continue  # nobody in this rule's pool can take it: fall through, recorded in the trail
        target = f"pool {rule.to.pool}" if rule.to.pool else f"sdr {rule.to.sdr}"
        return assign_to(lead, chosen, rule.name, f"rule {rule.name} -> {target}: least loaded{note}", trail)
    reason = "no rule matched" if not trail else "every matching rule's candidates were unavailable"
    return Decision(lead.id, "unroutable", None, None, reason, tuple(trail))


def assign_to(lead: RoutableLead, s: SdrState, rule: str, reason: str, trail: list[dict[str, Any]]) -> Decision:
    """Return the decision giving ``lead`` to ``s`` and count it in ``s`` (daily and open loads, rotation)."""
    s.assigned_today += 1
    s.open_leads += 1
    s.virtual_time += 1 / s.weight if s.weight > 0 else 0.0
    return Decision(lead.id, "assigned", s.code, rule, reason, tuple(trail), ae=s.paired_ae)


def route_batch(leads: Iterable[RoutableLead], rules: RoutingRules, sdrs: dict[str, SdrState]) -> list[Decision]:
    """Return one decision per lead, in order, sharing SDR load across the batch."""
    return [route_lead(lead, rules, sdrs) for lead in leads]


def catch_up(states: dict[str, SdrState], floor: float) -> None:
    """Raise the virtual time of available SDRs lagging behind ``floor``.

    ``floor`` is the pace of the SDRs who have been taking leads: someone back from leave or new
    on the roster starts there instead of receiving every lead until their count catches up.
    """
    for s in states.values():
        if s.skip_reason() is None and s.virtual_time < floor:
            s.virtual_time = floor
