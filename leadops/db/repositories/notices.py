"""What Slack messages show of leads (one query per batch), and the Slack member cache (``slack_users``)."""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from leadops.db.bulk import dialect_insert
from leadops.db.models import CrmLink, Lead, ScoreHistory, SlackUser
from leadops.notify.slack_blocks import LeadCard

#: (connector, object, record id) -> (URL of the record in the CRM's UI, CRM name), or None when unknown
RecordLink = Callable[[str, str, str], tuple[str, str] | None]

TOP_FACTORS = 3


def top_factors(breakdown: list[dict[str, Any]] | None, n: int = TOP_FACTORS) -> tuple[str, ...]:
    """Return the ``n`` rules that gave a score the most points, best first, as ``rule +points``."""
    parts = [p for p in breakdown or [] if isinstance(p, dict) and (p.get("points") or 0) > 0]
    parts.sort(key=lambda p: -float(p["points"]))
    return tuple(f"{p.get('rule', '?')} +{float(p['points']):.0f}" for p in parts[:n])


class NoticeRepository(Protocol):
    def cards(self, lead_ids: Collection[int], link: RecordLink | None = None) -> dict[int, LeadCard]:
        """Return what Slack messages show of each lead of ``lead_ids`` (grain: one lead), by lead id."""
        ...


class SqlNoticeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def cards(self, lead_ids: Collection[int], link: RecordLink | None = None) -> dict[int, LeadCard]:
        ids = sorted(set(lead_ids))
        if not ids:
            return {}
        leads = self.session.execute(select(
            Lead.id, Lead.first_name, Lead.last_name, Lead.job_title, Lead.company, Lead.email_domain, Lead.country,
            Lead.source, Lead.grade, Lead.score).where(Lead.id.in_(ids))).all()
        latest = (select(ScoreHistory.lead_id, func.max(ScoreHistory.id).label("id"))
                  .where(ScoreHistory.lead_id.in_(ids)).group_by(ScoreHistory.lead_id).subquery())
        breakdowns: dict[int, Any] = dict(self.session.execute(select(ScoreHistory.lead_id, ScoreHistory.breakdown)
                                               .join(latest, ScoreHistory.id == latest.c.id)).tuples().all())
        urls: dict[int, tuple[str, str]] = {}
        if link is not None:
            # the lowest link id first: the record the lead came from, not one merged into it later
            for lead_id, connector, obj, ext in self.session.execute(
                    select(CrmLink.lead_id, CrmLink.connector, CrmLink.object, CrmLink.external_id)
                    .where(CrmLink.lead_id.in_(ids)).order_by(CrmLink.id.desc())):
                found = link(connector, obj, ext) if lead_id is not None else None
                if found is not None and lead_id is not None:
                    urls[lead_id] = found
        return {r.id: LeadCard(
            id=r.id, name=" ".join(x for x in (r.first_name, r.last_name) if x), title=r.job_title,
            company=r.company or r.email_domain, country=r.country, source=r.source, grade=r.grade, score=r.score,
            factors=top_factors(breakdowns.get(r.id)), crm_url=urls.get(r.id, (None, None))[0],
            crm_name=urls.get(r.id, (None, None))[1]) for r in leads}


@dataclass(frozen=True)
class CachedMember:
    """A cached users.lookupByEmail answer: ``user_id`` None means Slack has no member with that email."""

    user_id: str | None
    dm_channel: str | None
    looked_up_at: datetime


class SlackUserCache:
    """The ``slack_users`` table, in short transactions of its own (the Slack sender works outside any unit of
    work): member ids and DM channels by email."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self.sessions = sessions

    def get(self, email: str) -> CachedMember | None:
        """Return the cached answer for ``email`` (lower-cased), however old; None when never looked up."""
        with self.sessions() as session:
            row = session.execute(select(SlackUser.user_id, SlackUser.dm_channel, SlackUser.looked_up_at)
                                  .where(SlackUser.email == email.lower())).first()
        return CachedMember(row.user_id, row.dm_channel, row.looked_up_at) if row else None

    def put(self, email: str, user_id: str | None, dm_channel: str | None, at: datetime) -> None:
        """Store the answer for ``email`` (replacing any): committed at once."""
        with self.sessions() as session, session.begin():
            stmt = dialect_insert(session, SlackUser.__table__).values(
                email=email.lower(), user_id=user_id, dm_channel=dm_channel, looked_up_at=at)
            session.execute(stmt.on_conflict_do_update(
                index_elements=["email"], set_={"user_id": user_id, "dm_channel": dm_channel, "looked_up_at": at}))

    def forget(self, email: str | None = None) -> int:
        """Drop the cached answer for ``email`` (every answer when None); returns rows removed."""
        with self.sessions() as session, session.begin():
            stmt = delete(SlackUser) if email is None else delete(SlackUser).where(SlackUser.email == email.lower())
            return session.execute(stmt).rowcount or 0  # type: ignore[attr-defined]
