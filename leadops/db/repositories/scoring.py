"""Scoring as a repository: the set-based SQL of a scoring pass.

A pass selects open leads, reads them and their activities as frames (a chunk of thousands of
leads at a time, no object per lead), and writes the new scores, the score history, the stage
moves and the stage history with one executemany or bulk insert per chunk.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pandas as pd
from sqlalchemy import ColumnElement, and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from leadops.db.bulk import bulk_insert, table_of
from leadops.db.models import Activity, Lead, LeadStageChange, ScoreHistory
from leadops.domain.lifecycle import SCORED
from leadops.domain.scoring import RulePoints

#: columns of :meth:`ScoringRepository.leads`, one row per lead (index: ``id``)
LEAD_COLUMNS = ("industry", "employee_band", "revenue_band", "country", "seniority", "department", "source",
                "job_title", "email_domain", "is_free_email", "is_competitor", "do_not_contact", "is_hand_raiser",
                "lifecycle_stage", "owner_sdr_id", "arrived_at", "score", "fit_score", "engagement_score",
                "score_version")
#: columns of :meth:`ScoringRepository.activities`, one row per activity
ACTIVITY_COLUMNS = ("lead_id", "kind", "outcome", "at")
#: columns of the scores :meth:`ScoringRepository.write_scores` stores (index: lead id)
SCORE_COLUMNS = ("fit", "engagement", "total", "grade")
#: columns of the moves :meth:`ScoringRepository.move_stages` stores (index: lead id)
MOVE_COLUMNS = ("from_stage", "to_stage", "cause", "disqualified_reason")


@dataclass(frozen=True)
class LeadFilter:
    """Which open leads a rescore takes: in one of ``stages``, from one of ``sources``, arrived since
    ``arrived_since`` (each condition only when given; all of them together)."""

    stages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    arrived_since: datetime | None = None


class ScoringRepository(Protocol):
    """Where a scoring pass reads leads and writes their scores and stage moves."""

    def lock(self, now: datetime) -> None:
        """Hold the routing lock until the transaction ends (scoring moves the stages routing reads)."""
        ...

    def select(self, *, lead_ids: Sequence[int] | None, only_changed: bool, where: LeadFilter | None) -> list[int]:
        """Return the ids of the open (scored) leads among ``lead_ids`` (all when None), changed since their
        last score when ``only_changed`` (never scored, enriched since, new web or email activity since),
        matching ``where``; in id order."""
        ...

    def leads(self, ids: Sequence[int]) -> pd.DataFrame:
        """Return the leads ``ids``, one row per lead, index ``id``, columns LEAD_COLUMNS."""
        ...

    def activities(self, ids: Sequence[int]) -> pd.DataFrame:
        """Return the activities of the leads ``ids``, one row per activity, columns ACTIVITY_COLUMNS."""
        ...

    def write_scores(self, scores: pd.DataFrame, breakdowns: Mapping[int, list[RulePoints]], *, version: str,
                     now: datetime, flow_run_id: str | None) -> None:
        """Store ``scores`` (index: lead id, columns SCORE_COLUMNS) on their leads, scored by model ``version``
        at ``now``, and one score-history row per lead with its breakdown."""
        ...

    def move_stages(self, moves: pd.DataFrame, now: datetime) -> None:
        """Move each lead of ``moves`` (index: lead id, columns MOVE_COLUMNS) to its stage at ``now``, with
        one stage-history row per lead saying why."""
        ...


def _condition(where: LeadFilter) -> ColumnElement[bool] | None:
    conds: list[ColumnElement[bool]] = []
    if where.stages:
        conds.append(Lead.lifecycle_stage.in_(where.stages))
    if where.sources:
        conds.append(Lead.source.in_(where.sources))
    if where.arrived_since is not None:
        conds.append(Lead.arrived_at >= where.arrived_since)
    return and_(*conds) if conds else None


def changed_since_scored() -> ColumnElement[bool]:
    """SQL condition: never scored, enriched since, or new engagement (web or email) since the last score."""
    engaged = exists().where(Activity.lead_id == Lead.id, Activity.kind.in_(("web", "email")),
                             Activity.occurred_at > Lead.scored_at)
    return or_(Lead.scored_at.is_(None), Lead.enriched_at > Lead.scored_at, engaged)


class SqlScoringRepository:
    """The leads table (scores and stages), score_history and lead_stage_changes; activities read only."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def lock(self, now: datetime) -> None:
        from leadops.db.repositories.routing import lock_routing  # the routing lock's one definition

        lock_routing(self.session, now)

    def select(self, *, lead_ids: Sequence[int] | None, only_changed: bool, where: LeadFilter | None) -> list[int]:
        q = select(Lead.id).where(Lead.lifecycle_stage.in_([s.value for s in SCORED])).order_by(Lead.id)
        if lead_ids is not None:
            q = q.where(Lead.id.in_(lead_ids))
        if only_changed:
            q = q.where(changed_since_scored())
        cond = _condition(where) if where is not None else None
        if cond is not None:
            q = q.where(cond)
        return list(self.session.scalars(q))

    def leads(self, ids: Sequence[int]) -> pd.DataFrame:
        cols = [Lead.id, *(getattr(Lead, c) for c in LEAD_COLUMNS)]
        rows = self.session.execute(select(*cols).where(Lead.id.in_(ids))).all()
        return pd.DataFrame(rows, columns=["id", *LEAD_COLUMNS]).set_index("id")

    def activities(self, ids: Sequence[int]) -> pd.DataFrame:
        rows = self.session.execute(select(Activity.lead_id, Activity.kind, Activity.outcome, Activity.occurred_at)
                                    .where(Activity.lead_id.in_(ids))).all()
        return pd.DataFrame(rows, columns=list(ACTIVITY_COLUMNS))

    def write_scores(self, scores: pd.DataFrame, breakdowns: Mapping[int, list[RulePoints]], *, version: str,
                     now: datetime, flow_run_id: str | None) -> None:
        if scores.empty:
            return
        ids = scores.index.to_numpy()
        fit, eng, total, grade = (scores[c].to_numpy() for c in SCORE_COLUMNS)
        # Core executemany by primary key: the ORM's bulk UPDATE processed every parameter in Python
        lt = table_of(Lead)
        self.session.execute(update(lt).where(lt.c.id == bindparam("b_id")).values(
            fit_score=bindparam("b_fit"), engagement_score=bindparam("b_eng"), score=bindparam("b_total"),
            grade=bindparam("b_grade"), score_version=version, scored_at=now), [
            {"b_id": int(ids[k]), "b_fit": float(fit[k]), "b_eng": float(eng[k]), "b_total": float(total[k]),
             "b_grade": str(grade[k])} for k in range(len(ids))])
        bulk_insert(self.session.connection(), ScoreHistory.__table__, [
            dict(lead_id=int(ids[k]), model_version=version, fit_score=float(fit[k]), engagement_score=float(eng[k]),
                 score=float(total[k]), grade=str(grade[k]), breakdown=breakdowns[int(ids[k])], scored_at=now,
                 flow_run_id=flow_run_id) for k in range(len(ids))])
        # bulk statements bypass the identity map: objects loaded earlier in this session must reload
        self.session.expire_all()

    def move_stages(self, moves: pd.DataFrame, now: datetime) -> None:
        if moves.empty:
            return
        ids = moves.index.to_numpy()
        frm, to, why, dq = (moves[c].to_numpy() for c in MOVE_COLUMNS)
        lt = table_of(Lead)
        self.session.execute(update(lt).where(lt.c.id == bindparam("b_id")).values(
            lifecycle_stage=bindparam("b_stage"), stage_changed_at=now, disqualified_reason=bindparam("b_why")), [
            {"b_id": int(ids[k]), "b_stage": str(to[k]), "b_why": dq[k]} for k in range(len(ids))])
        bulk_insert(self.session.connection(), LeadStageChange.__table__, [
            dict(lead_id=int(ids[k]), from_stage=str(frm[k]), to_stage=str(to[k]), cause=str(why[k]), changed_at=now)
            for k in range(len(ids))])
        self.session.expire_all()
