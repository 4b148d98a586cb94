"""Roster repository: sync config/sdrs.yaml into the sdrs table, load calendars for the domain."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadops.config import Person, Roster
from leadops.db.models import OutOfOffice, Sdr

_COPIED = (
    "name", "email", "role", "team", "time_zone", "work_start", "work_end", "work_days", "holiday_country",
    "daily_cap", "open_cap", "weight", "territories", "segments", "languages", "active",
)


def _instant(value: str, tz: str, end: bool) -> datetime:
    """Return an aware datetime; a bare date means the whole day in the person's zone."""
    if len(value) == 10:
        d = date.fromisoformat(value)
        # an end date is inclusive: the period runs to the next local midnight
        return datetime.combine(d + timedelta(days=1) if end else d, time.min, ZoneInfo(tz))
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))


def sync_roster(session: Session, roster: Roster) -> dict[str, int]:
    """Upsert every person of the roster (by code) and replace their out-of-office periods.

    People missing from the file are deactivated, not deleted (their history stays).
    Returns code -> sdr id.
    """
    existing = {s.code: s for s in session.scalars(select(Sdr))}
    for p in roster.people:
        sdr = existing.get(p.code)
        if sdr is None:
            sdr = Sdr(code=p.code)
            session.add(sdr)
            existing[p.code] = sdr
        for attr in _COPIED:
            setattr(sdr, attr, getattr(p, attr))
        sdr.out_of_office = [
            OutOfOffice(
                starts_at=_instant(o.start, p.time_zone, end=False),
                ends_at=_instant(o.end, p.time_zone, end=True),
                reason=o.reason,
            )
            for o in p.out_of_office
        ]
    listed = {p.code for p in roster.people}
    for code, sdr in existing.items():
        if code not in listed:
            sdr.active = False
    session.flush()
    by_code: dict[str, Person] = {p.code: p for p in roster.people}
    for p in by_code.values():
        sdr = existing[p.code]
        sdr.manager_id = existing[p.manager].id if p.manager else None
        sdr.paired_ae_id = existing[p.paired_ae].id if p.paired_ae else None
    session.flush()
    return {code: sdr.id for code, sdr in existing.items()}
