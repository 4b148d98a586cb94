"""Roster repository: the roster the database holds as domain snapshots, and writing sdrs.yaml's into it."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from leadops.config import Roster
from leadops.db.models import OutOfOffice, Sdr
from leadops.domain.roster import COPIED, Absence, Member, diff, member_from_person


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def current_members(session: Session) -> dict[str, Member]:
    """Return the roster in the database as snapshots comparable with sdrs.yaml's (grain: one per code)."""
    sdrs = list(session.scalars(select(Sdr).options(selectinload(Sdr.out_of_office))))
    code_of = {s.id: s.code for s in sdrs}
    out = {}
    for s in sdrs:
        values = {k: getattr(s, k) for k in COPIED}
        for k in ("work_days", "territories", "segments", "languages"):
            values[k] = tuple(values[k] or ())
        absences = tuple(sorted((Absence(_utc(o.starts_at), _utc(o.ends_at), o.reason) for o in s.out_of_office),
                                key=lambda a: (a.starts_at, a.ends_at)))
        out[s.code] = Member(code=s.code, manager=code_of.get(s.manager_id), paired_ae=code_of.get(s.paired_ae_id),
                             out_of_office=absences, **values)
    return out


def sync_roster(session: Session, roster: Roster) -> dict[str, int]:
    """Write sdrs.yaml's roster into the database: insert new people, update changed ones, replace changed
    out-of-office periods, deactivate people missing from the file (never delete: their history stays).

    Writes only what differs (a sync with nothing to do writes nothing). Returns code -> sdr id.
    """
    wanted = {p.code: member_from_person(p) for p in roster.people}
    changes = {c.code: c for c in diff(current_members(session), list(wanted.values()))}
    existing = {s.code: s for s in session.scalars(select(Sdr))}
    for code, change in changes.items():
        sdr = existing.get(code)
        if sdr is None:
            sdr = existing[code] = Sdr(code=code)
            session.add(sdr)
        if code not in wanted:  # missing from the file
            sdr.active = False
            continue
        w = wanted[code]
        for attr in COPIED:
            value = getattr(w, attr)
            setattr(sdr, attr, list(value) if isinstance(value, tuple) else value)
        if change.kind == "added" or "out_of_office" in change.fields:
            sdr.out_of_office = [OutOfOffice(starts_at=a.starts_at, ends_at=a.ends_at, reason=a.reason)
                                 for a in w.out_of_office]
    session.flush()
    for code, change in changes.items():
        if code in wanted and (change.kind == "added" or {"manager", "paired_ae"} & set(change.fields)):
            w, sdr = wanted[code], existing[code]
            sdr.manager_id = existing[w.manager].id if w.manager else None
            sdr.paired_ae_id = existing[w.paired_ae].id if w.paired_ae else None
    session.flush()
    return {code: sdr.id for code, sdr in existing.items()}
