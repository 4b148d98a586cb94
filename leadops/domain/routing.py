"""Routing: ordered rules (first match wins), account ownership, weighted round robin per pool with caps
and availability. Every decision carries the rule that matched and why each candidate was skipped.

Pure: the caller loads SDR state (counts, availability at ``now``, positions per pool) and persists
decisions and positions. ``route_lead`` returns one decision per lead and counts it into the states.

The round robin keeps one rotation per pool: each SDR has a virtual time in each pool (``SdrState.positions``);
a pick from a pool moves the chosen SDR's virtual time in that pool by 1/weight, and the candidate whose
next virtual time would be the lowest goes next. Before comparing, every candidate lagging more than one
of its own turns behind the most advanced candidate is raised to that pace (``keep_pace``): among SDRs
who stay available this never changes anything, so the rotation is plain weighted round robin; an SDR
back from leave, out of hours, a cap or new on the roster rejoins at the pace of the others, with at most
one lead of advance, instead of taking every lead until their count catches up.

Bound (tests/unit/test_routing_rotation.py): while the set of candidates of a pool does not change, in
any N consecutive picks of that pool an SDR of weight w among n candidates of total weight W gets at most
N*w/W + 1 + (n - 2)*w/W leads (under N/n + 2 when weights are equal), whatever happened before.
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
    # the SDR's virtual time in each pool's rotation (pool name -> virtual time; absent: 0). Per pool,
    # because an SDR of two pools taking leads in one must not lose their turn in the other; stored
    # between runs (routing_positions, one row per pool and SDR).
    positions: dict[str, float] = field(default_factory=dict)

    def position(self, pool: str | None) -> float:
        """Return this SDR's virtual time in ``pool``'s rotation (0 when never placed; None: no rotation)."""
        return self.positions.get(pool, 0.0) if pool is not None else 0.0

    def load(self, pool: str | None) -> float:
        """The virtual time this SDR would reach in ``pool`` by taking the next lead (lower goes first)."""
        return self.position(pool) + 1 / self.weight if self.weight > 0 else float("inf")

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


def keep_pace(pool: str, candidates: list[SdrState]) -> None:
    """Raise each candidate's virtual time in ``pool`` to at least the most advanced candidate's minus
    1/its weight. Returns nothing; changes only candidates lagging by more than one of their turns.

    Weighted round robin keeps every candidate within 1/weight of the most advanced one, so for SDRs
    who have been candidates all along this is a no-op. Someone who was not a candidate while the
    others took leads (out of office, outside working hours, at a cap, inactive, new on the roster)
    lags behind, however long ago that was; without this they would take every lead until level.
    Raised, they are next in line (ties aside), then take turns at the pace of the others.
    """
    if not candidates:
        return
    pace = max(s.position(pool) for s in candidates)
    for s in candidates:
        floor = pace - 1 / s.weight  # candidates have a weight > 0 (skip_reason)
        if s.position(pool) < floor:
            s.positions[pool] = floor


def _pick(members: Iterable[str], sdrs: dict[str, SdrState],
          pool_name: str | None) -> tuple[SdrState | None, list[dict[str, Any]], str]:
    """Return the eligible member next in ``pool_name``'s rotation (working now preferred; None: a single
    SDR, no rotation), the candidates, and a note."""
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
    if pool_name is not None:
        # at every pick, not once per pass: someone can come back between two leads of one pass or replay
        keep_pace(pool_name, pool)
    chosen = min(pool, key=lambda s: (s.load(pool_name), s.code))
    for s in pool:
        entry = {"sdr": s.code, "load": round(s.load(pool_name), 3)}
        if s is not chosen:
            entry["skipped"] = f"higher load {s.load(pool_name):.2f} than {chosen.code} {chosen.load(pool_name):.2f}"
        candidates.append(entry)
    return chosen, candidates, note


def route_lead(lead: RoutableLead, rules: RoutingRules, sdrs: dict[str, SdrState]) -> Decision:
    """Return the decision for one lead and count the assignment into ``sdrs``: daily and open loads
    always; the position in a pool's rotation only when that pool's rotation picked the SDR (an account
    owner's lead or a rule naming one SDR takes no turn in any pool)."""
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
        chosen, candidates, note = _pick(members, sdrs, rule.to.pool)
        trail.extend({"rule": rule.name, **c} for c in candidates)
        if chosen is None:
            continue  # nobody in this rule's pool can take it: fall through, recorded in the trail
        target = f"pool {rule.to.pool}" if rule.to.pool else f"sdr {rule.to.sdr}"
        return assign_to(lead, chosen, rule.name, f"rule {rule.name} -> {target}: least loaded{note}", trail,
                         pool=rule.to.pool)
    reason = "no rule matched" if not trail else "every matching rule's candidates were unavailable"
    return Decision(lead.id, "unroutable", None, None, reason, tuple(trail))


def assign_to(lead: RoutableLead, s: SdrState, rule: str, reason: str, trail: list[dict[str, Any]],
              pool: str | None = None) -> Decision:
    """Return the decision giving ``lead`` to ``s`` and count it in ``s``: daily and open loads always (caps
    count every lead), the turn in ``pool``'s rotation when ``pool`` picked them (None: outside any rotation,
    e.g. an account owner's lead or a reassignment by hand)."""
    s.assigned_today += 1
    s.open_leads += 1
    if pool is not None and s.weight > 0:
        s.positions[pool] = s.position(pool) + 1 / s.weight
    return Decision(lead.id, "assigned", s.code, rule, reason, tuple(trail), ae=s.paired_ae)


def route_batch(leads: Iterable[RoutableLead], rules: RoutingRules, sdrs: dict[str, SdrState]) -> list[Decision]:
    """Return one decision per lead, in order, sharing SDR load across the batch."""
    return [route_lead(lead, rules, sdrs) for lead in leads]

