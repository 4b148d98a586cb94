"""The CRM links as a repository: which CRM record became which lead, its modification stamp, the write-back
values last seen in the CRM and last written, and the decisions of linked leads a write-back compares.

Set-based: links are upserted a page at a time; write-back candidates are read in keyset chunks. Nothing here
commits: the unit of work does.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session

from leadops.db.bulk import dialect_insert
from leadops.db.models import Assignment, CrmLink, Lead, LeadMerge, Notification, Sdr, SlaClock

_IN_LIST = 1000


@dataclass(frozen=True)
class Link:
    """One CRM record as leadops knows it (grain: connector, object, CRM id)."""

    id: int
    object: str
    external_id: str
    lead_id: int | None
    modified_at: datetime
    seen: dict[str, Any]
    written: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """A linked lead's current decisions, as a write-back compares them (grain: one CRM record).

    ``owner`` is the owning SDR's code; ``routing_reason`` the active assignment's rule and reason;
    ``sla_status`` the first-touch clock's status of that assignment (None: no clock)."""

    link: Link
    owner: str | None
    score: float | None
    grade: str | None
    lifecycle_stage: str
    routing_reason: str | None
    sla_status: str | None


class CrmRepository(Protocol):
    def links(self, connector: str, obj: str, ids: Collection[str]) -> dict[str, Link]:
        """Return CRM id -> link of the records of ``obj`` among ``ids`` stored before."""
        ...

    def lead_ids(self, connector: str, objects: Collection[str], ids: Collection[str]) -> dict[str, int]:
        """Return CRM id -> lead id of the linked records among ``ids`` (any of ``objects``)."""
        ...

    def save_links(self, connector: str, rows: Sequence[dict[str, Any]], now: datetime) -> None:
        """Upsert links (keys object, external_id, lead_id, modified_at, seen): a record read again keeps its
        lead when this read found none, and its newest stamp."""
        ...

    def decisions(self, connector: str, objects: Collection[str], after_id: int, limit: int) -> list[Decision]:
        """Return the decisions of up to ``limit`` linked leads of ``connector``'s ``objects`` with link id >
        ``after_id``, by link id (a keyset chunk)."""
        ...

    def mark_written(self, connector: str, obj: str, written: Sequence[tuple[str, dict[str, Any], datetime | None]],
                     now: datetime) -> None:
        """Record what a batch wrote: (CRM id, values, new stamp when known) per record; the values are now what the
        CRM holds."""
        ...

    def hold_activities(self, connector: str, obj: str, rows: Sequence[dict[str, Any]], now: datetime) -> None:
        """Keep engagements about people not linked yet (keys external_id, modified_at, people, row: the activity row
        without its lead), to store once one of their people is read."""
        ...

    def held_activities(self, connector: str) -> list[Link]:
        """Return the engagements held by :meth:`hold_activities` and not stored yet."""
        ...

    def release_activities(self, connector: str, link_ids: Collection[int]) -> None:
        """Mark held engagements stored (or given up): they are not returned by :meth:`held_activities` again."""
        ...

    def supersede(self, recipients: Collection[str], keep: Collection[str]) -> int:
        """Mark superseded the pending CRM updates of ``recipients`` whose key is not in ``keep`` (a newer
        decision replaced them); returns how many."""
        ...

    def sdr_ids(self) -> dict[str, int]:
        """Return SDR code -> id of the whole roster."""
        ...

    def batch_leads(self, batch_id: int) -> dict[int, int]:
        """Return row number -> lead id of the rows of ingest batch ``batch_id`` that became a lead or were merged
        into one (by email or by the fuzzy match): the lead each CRM record of a page is."""
        ...


class SqlCrmRepository:
    """The crm_records table, and the leads, assignments, clocks and outbox rows it refers to."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def links(self, connector: str, obj: str, ids: Collection[str]) -> dict[str, Link]:
        wanted = sorted(ids)
        out: dict[str, Link] = {}
        for i in range(0, len(wanted), _IN_LIST):
            for r in self.session.scalars(select(CrmLink).where(
                    CrmLink.connector == connector, CrmLink.object == obj, CrmLink.external_id.in_(wanted[i:i + _IN_LIST]))):
                out[r.external_id] = _link(r)
        return out

    def lead_ids(self, connector: str, objects: Collection[str], ids: Collection[str]) -> dict[str, int]:
        wanted = sorted(ids)
        out: dict[str, int] = {}
        for i in range(0, len(wanted), _IN_LIST):
            rows = self.session.execute(select(CrmLink.external_id, CrmLink.lead_id).where(
                CrmLink.connector == connector, CrmLink.object.in_(sorted(objects)),
                CrmLink.external_id.in_(wanted[i:i + _IN_LIST]), CrmLink.lead_id.is_not(None))).tuples()
            out.update({external_id: lead_id for external_id, lead_id in rows if lead_id is not None})
        return out

    def save_links(self, connector: str, rows: Sequence[dict[str, Any]], now: datetime) -> None:
        if not rows:
            return
        values = [dict(connector=connector, object=r["object"], external_id=r["external_id"], lead_id=r["lead_id"],
                       modified_at=r["modified_at"], seen=r["seen"], written={}, read_at=now) for r in rows]
        stmt = dialect_insert(self.session, CrmLink.__table__)
        excluded = stmt.excluded
        table = CrmLink.__table__.c
        # a stamp read earlier than the stored one (an overlap re-read racing a write-back) must not move it back
        newer = excluded.modified_at >= table.modified_at
        self.session.execute(stmt.on_conflict_do_update(
            index_elements=["connector", "object", "external_id"],
            set_={"lead_id": func.coalesce(excluded.lead_id, table.lead_id),
                  "modified_at": case((newer, excluded.modified_at), else_=table.modified_at),
                  "seen": case((newer, excluded.seen), else_=table.seen),
                  "read_at": excluded.read_at}), values)

    def decisions(self, connector: str, objects: Collection[str], after_id: int, limit: int) -> list[Decision]:
        clock = (select(SlaClock.status).where(SlaClock.assignment_id == Assignment.id, SlaClock.kind == "first_touch")
                 .order_by(SlaClock.id.desc()).limit(1).correlate(Assignment).scalar_subquery())
        rows = self.session.execute(
            select(CrmLink, Sdr.code, Lead.score, Lead.grade, Lead.lifecycle_stage, Assignment.rule, Assignment.reason,
                   clock)
            .join(Lead, Lead.id == CrmLink.lead_id)
            .outerjoin(Sdr, Sdr.id == Lead.owner_sdr_id)
            .outerjoin(Assignment, and_(Assignment.lead_id == Lead.id, Assignment.active.is_(True)))
            .where(CrmLink.connector == connector, CrmLink.object.in_(sorted(objects)), CrmLink.id > after_id)
            .order_by(CrmLink.id).limit(limit)).all()
        out = []
        for link, code, score, grade, stage, rule, reason, sla in rows:
            why = f"{rule}: {reason}" if rule and reason else (reason or rule)
            out.append(Decision(_link(link), code, score, grade, stage, why, sla))
        return out

    def mark_written(self, connector: str, obj: str, written: Sequence[tuple[str, dict[str, Any], datetime | None]],
                     now: datetime) -> None:
        by_id = {external_id: (values, stamp) for external_id, values, stamp in written}
        links = self.session.scalars(select(CrmLink).where(
            CrmLink.connector == connector, CrmLink.object == obj, CrmLink.external_id.in_(sorted(by_id))))
        for link in links:  # one SELECT for the batch; the flush sends the UPDATEs together
            values, stamp = by_id[link.external_id]
            link.seen = {**(link.seen or {}), **values}
            link.written = {**(link.written or {}), **values}
            link.written_at = now
            if stamp is not None and stamp > link.modified_at:
                link.modified_at = stamp
        self.session.flush()

    def hold_activities(self, connector: str, obj: str, rows: Sequence[dict[str, Any]], now: datetime) -> None:
        if not rows:
            return
        stmt = dialect_insert(self.session, CrmLink.__table__).on_conflict_do_nothing(
            index_elements=["connector", "object", "external_id"])
        self.session.execute(stmt, [dict(connector=connector, object=obj, external_id=r["external_id"], lead_id=None,
                                         modified_at=r["modified_at"], seen={"held": r["row"], "people": r["people"]},
                                         written={}, read_at=now) for r in rows])

    def held_activities(self, connector: str) -> list[Link]:
        rows = self.session.scalars(select(CrmLink).where(CrmLink.connector == connector, CrmLink.lead_id.is_(None),
                                                          CrmLink.written_at.is_(None)).order_by(CrmLink.id))
        return [_link(r) for r in rows if (r.seen or {}).get("held") is not None]

    def release_activities(self, connector: str, link_ids: Collection[int]) -> None:
        ids = sorted(link_ids)
        for i in range(0, len(ids), _IN_LIST):
            self.session.execute(update(CrmLink).where(CrmLink.id.in_(ids[i:i + _IN_LIST]))
                                 .values(seen={}, written_at=func.now()).execution_options(synchronize_session=False))

    def supersede(self, recipients: Collection[str], keep: Collection[str]) -> int:
        wanted, kept = sorted(recipients), sorted(keep)
        n = 0
        for i in range(0, len(wanted), _IN_LIST):
            result: Any = self.session.execute(
                update(Notification).where(Notification.channel == "crm", Notification.status == "pending",
                                           Notification.recipient.in_(wanted[i:i + _IN_LIST]),
                                           Notification.key.not_in(kept) if kept else Notification.key.is_not(None))
                .values(status="superseded", last_error="superseded by a newer decision before it was sent")
                .execution_options(synchronize_session=False))
            n += result.rowcount or 0
        return n

    def sdr_ids(self) -> dict[str, int]:
        return dict(self.session.execute(select(Sdr.code, Sdr.id)).tuples().all())

    def batch_leads(self, batch_id: int) -> dict[int, int]:
        self.session.flush()
        inserted = self.session.execute(select(Lead.source_row, Lead.id).where(Lead.ingest_batch_id == batch_id))
        rows: dict[int, int] = {row: lead_id for row, lead_id in inserted if row is not None}
        rows.update(self.session.execute(select(LeadMerge.source_row, LeadMerge.lead_id)
                                         .where(LeadMerge.ingest_batch_id == batch_id)).tuples().all())
        return rows


def _link(r: CrmLink) -> Link:
    return Link(r.id, r.object, r.external_id, r.lead_id, r.modified_at, dict(r.seen or {}), dict(r.written or {}))
