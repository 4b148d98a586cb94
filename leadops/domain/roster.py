"""The roster as sdrs.yaml states it against the roster the database holds: what a sync adds, changes, deactivates.

Pure: people are compared as :class:`Member` snapshots (every routed attribute, references as codes,
out-of-office periods as UTC instants), so `leadops roster sync --dry-run` and the sync itself decide
from the same function.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta, UTC
from typing import Any
from zoneinfo import ZoneInfo

#: the attributes a sync copies from sdrs.yaml (besides manager, paired AE and out-of-office periods)
COPIED = (
    "name", "email", "role", "team", "time_zone", "work_start", "work_end", "work_days", "holiday_country",
    "daily_cap", "open_cap", "weight", "territories", "segments", "languages", "active",
)


@dataclass(frozen=True)
class Absence:
    """One out-of-office period, in UTC."""

    starts_at: datetime
    ends_at: datetime
    reason: str | None


@dataclass(frozen=True)
class Member:
    """One roster member's routed attributes (grain: one person by code)."""

    code: str
    name: str
    email: str
    role: str
    team: str | None
    time_zone: str
    work_start: str
    work_end: str
    work_days: tuple[int, ...]
    holiday_country: str | None
    daily_cap: int
    open_cap: int
    weight: float
    territories: tuple[str, ...]
    segments: tuple[str, ...]
    languages: tuple[str, ...]
    active: bool
    manager: str | None = None
    paired_ae: str | None = None
    out_of_office: tuple[Absence, ...] = ()


@dataclass(frozen=True)
class Change:
    """One difference between sdrs.yaml and the database: ``kind`` added | changed | deactivated | reactivated;
    ``fields`` maps each changed attribute to (in the database, in the file)."""

    code: str
    kind: str
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def absence_instant(value: str, tz: str, end: bool) -> datetime:
    """Return the UTC instant of an out-of-office bound: a bare date is the whole day in the person's zone
    (an end date is inclusive, to the next local midnight); a datetime without offset is in that zone."""
    if len(value) == 10:
        d = date.fromisoformat(value)
        local = datetime.combine(d + timedelta(days=1) if end else d, time.min, ZoneInfo(tz))
    else:
        local = datetime.fromisoformat(value)
        local = local if local.tzinfo else local.replace(tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC)


def member_from_person(person: Any) -> Member:
    """Return the snapshot of one sdrs.yaml person (a leadops.config.Person)."""
    values = {k: getattr(person, k) for k in COPIED}
    for k in ("work_days", "territories", "segments", "languages"):
        values[k] = tuple(values[k])
    absences = tuple(sorted(
        (Absence(absence_instant(o.start, person.time_zone, False), absence_instant(o.end, person.time_zone, True),
                 o.reason) for o in person.out_of_office), key=lambda a: (a.starts_at, a.ends_at)))
    return Member(code=person.code, manager=person.manager, paired_ae=person.paired_ae, out_of_office=absences,
                  **values)


def diff(current: dict[str, Member], wanted: list[Member]) -> list[Change]:
    """Return what a sync changes, in file order then removed codes in code order (grain: one change per person).

    A person in the database and not in the file is deactivated (never deleted: their history stays);
    one already inactive and still missing is no change.
    """
    out: list[Change] = []
    listed = set()
    for w in wanted:
        listed.add(w.code)
        c = current.get(w.code)
        if c is None:
            out.append(Change(w.code, "added"))
            continue
        changed = {f.name: (getattr(c, f.name), getattr(w, f.name)) for f in fields(Member)
                   if f.name != "code" and getattr(c, f.name) != getattr(w, f.name)}
        if not changed:
            continue
        kind = "reactivated" if "active" in changed and w.active else \
            "deactivated" if "active" in changed and not w.active else "changed"
        out.append(Change(w.code, kind, changed))
    for code in sorted(set(current) - listed):
        if current[code].active:
            out.append(Change(code, "deactivated", {"active": (True, False)}))
    return out


def describe(change: Change) -> str:
    """Return one line for people: 'changed s.petit: daily_cap 40 -> 30, out_of_office 0 -> 1 period(s)'."""
    def show(name: str, v: Any) -> str:
        if name == "out_of_office":
            return f"{len(v)} period(s)"
        if isinstance(v, tuple):
            return "[" + ", ".join(map(str, v)) + "]"
        return str(v)

    if change.kind == "added":
        return f"added {change.code}"
    parts = [f"{k} {show(k, a)} -> {show(k, b)}" for k, (a, b) in change.fields.items() if k != "active"]
    return f"{change.kind} {change.code}" + (": " + ", ".join(parts) if parts else "")
