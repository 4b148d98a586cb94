"""The roster as a repository: the SDRs the database holds as domain snapshots, a sync's changes written back,
and the open leads of given SDRs (what a sync hands to routing when someone leaves)."""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from leadops.db.models import Assignment, Lead, OutOfOffice, Sdr
from leadops.domain.lifecycle import OPEN_OWNED
from leadops.domain.roster import COPIED, Absence, Change, Member


@dataclass(frozen=True)
class OpenLead:
    """One lead in an open owned stage and the code of the SDR its active assignment is to."""

    lead: Lead
    owner: str


class RosterRepository(Protocol):
    """Where a roster sync reads and writes the SDRs."""

    def members(self) -> dict[str, Member]:
        """Return the roster in the database as snapshots comparable with sdrs.yaml's (grain: one per code)."""
        ...

    def apply(self, changes: Sequence[Change], wanted: Sequence[Member]) -> dict[str, int]:
        """Write ``changes`` (from ``diff(members(), wanted)``): add, update, reactivate from ``wanted``;
        deactivate a code missing from it (never delete). Returns code -> sdr id of every SDR."""
        ...

    def open_leads(self, codes: Collection[str]) -> list[OpenLead]:
        """Return the open owned leads actively assigned to ``codes``, oldest assignment first."""
        ...

    def count_open_leads(self, codes: Collection[str]) -> dict[str, int]:
        """Return code -> number of open owned leads actively assigned to it (codes with none left out)."""
        ...


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SqlRosterRepository:
    """The sdrs and out_of_office tables; leads and assignments read only."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def members(self) -> dict[str, Member]:
        sdrs = list(self.session.scalars(select(Sdr).options(selectinload(Sdr.out_of_office))))
        code_of: dict[int | None, str] = {s.id: s.code for s in sdrs}
        out = {}
        for s in sdrs:
            values = {k: getattr(s, k) for k in COPIED}
            for k in ("work_days", "territories", "segments", "languages"):
                values[k] = tuple(values[k] or ())
            absences = tuple(sorted((Absence(_utc(o.starts_at), _utc(o.ends_at), o.reason) for o in s.out_of_office),
                                    key=lambda a: (a.starts_at, a.ends_at)))
            out[s.code] = Member(code=s.code, manager=code_of.get(s.manager_id),
                                 paired_ae=code_of.get(s.paired_ae_id), out_of_office=absences, **values)
        return out

    def apply(self, changes: Sequence[Change], wanted: Sequence[Member]) -> dict[str, int]:
        by_code = {m.code: m for m in wanted}
        existing = {s.code: s for s in self.session.scalars(select(Sdr))}
        for change in changes:
            sdr = existing.get(change.code)
            if sdr is None:
                sdr = existing[change.code] = Sdr(code=change.code)
                self.session.add(sdr)
            w = by_code.get(change.code)
            if w is None:  # missing from the file
                sdr.active = False
                continue
            for attr in COPIED:
                value = getattr(w, attr)
                setattr(sdr, attr, list(value) if isinstance(value, tuple) else value)
            if change.kind == "added" or "out_of_office" in change.fields:
                sdr.out_of_office = [OutOfOffice(starts_at=a.starts_at, ends_at=a.ends_at, reason=a.reason)
                                     for a in w.out_of_office]
        # references by id: a manager or AE added in this same sync has one only after this flush
        self.session.flush()
        for change in changes:
            w = by_code.get(change.code)
            if w is not None and (change.kind == "added" or {"manager", "paired_ae"} & set(change.fields)):
                sdr = existing[change.code]
                sdr.manager_id = existing[w.manager].id if w.manager else None
                sdr.paired_ae_id = existing[w.paired_ae].id if w.paired_ae else None
        self.session.flush()
        return {code: sdr.id for code, sdr in existing.items()}

    @staticmethod
    def _open_owned(codes: Collection[str]) -> tuple[ColumnElement[bool], ...]:
        return (Assignment.active.is_(True), Assignment.status == "assigned", Sdr.code.in_(sorted(codes)),
                Lead.lifecycle_stage.in_(OPEN_OWNED))

    def open_leads(self, codes: Collection[str]) -> list[OpenLead]:
        rows = self.session.execute(
            select(Lead, Sdr.code).join(Assignment, Assignment.lead_id == Lead.id)
            .join(Sdr, Sdr.id == Assignment.sdr_id).where(*self._open_owned(codes))
            .order_by(Assignment.assigned_at, Lead.id)).all()
        return [OpenLead(lead, code) for lead, code in rows]

    def count_open_leads(self, codes: Collection[str]) -> dict[str, int]:
        return dict(self.session.execute(
            select(Sdr.code, func.count()).join(Assignment, Assignment.sdr_id == Sdr.id)
            .join(Lead, Lead.id == Assignment.lead_id).where(*self._open_owned(codes))
            .group_by(Sdr.code).order_by(Sdr.code)).tuples().all())
