"""Scoring as a repository: the set-based SQL of a scoring pass.

A pass selects open leads, reads them and their activities as frames (a chunk of thousands of
leads at a time, no object per lead), and writes the new scores, the score history, the stage
moves and the stage history with one executemany or bulk insert per chunk.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pandas as pd
from sqlalchemy import Column, ColumnElement, Connection, Integer, Table, Text, and_, exists, or_, select
from sqlalchemy.orm import Session

from leadops.db import pending
from leadops.db.bulk import table_of
from leadops.db.bulk_update import bound, by_key, driver_sql, load_columns, temporary
from leadops.db.models import Activity, Lead, LeadStageChange, ScoreHistory
from leadops.domain.lifecycle import SCORED

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

    @property
    def writes_behind(self) -> bool:
        """True when a pass may run :meth:`write` in a worker thread while it scores the next chunk (the caller's
        thread then leaves the repository alone until the write is done)."""
        ...

    def lock(self, now: datetime) -> None:
        """Hold the routing lock until the transaction ends (scoring moves the stages routing reads)."""
        ...

    def select(self, *, lead_ids: Sequence[int] | None, only_changed: bool, where: LeadFilter | None,
               now: datetime) -> list[int]:
        """Return the ids of the open (scored) leads among ``lead_ids`` (all when None), changed since their
        last score when ``only_changed`` (never scored, enriched since, new web or email activity since,
        counting only activity dated at or before ``now``), matching ``where``; in id order."""
        ...

    def leads(self, ids: Sequence[int]) -> pd.DataFrame:
        """Return the leads ``ids``, one row per lead, index ``id``, columns LEAD_COLUMNS."""
        ...

    def activities(self, ids: Sequence[int]) -> pd.DataFrame:
        """Return the activities of the leads ``ids``, one row per activity, columns ACTIVITY_COLUMNS."""
        ...

    def write(self, scores: pd.DataFrame, breakdowns: pd.Series, moves: pd.DataFrame, *,
              version: str, now: datetime, flow_run_id: str | None) -> None:
        """Store one chunk's outcome: ``scores`` (index: lead id, columns SCORE_COLUMNS) on their leads, scored by
        model ``version`` at ``now``, with one score-history row per lead and its breakdown (``breakdowns``: JSON
        text by lead id, :func:`leadops.domain.scoring_frame.breakdown_json`); and ``moves``
        (index: lead id, columns MOVE_COLUMNS): each lead moved to its stage at ``now`` with one stage-history
        row saying why. A lead in both is written once."""
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


def changed_since_scored(now: datetime) -> ColumnElement[bool]:
    """SQL condition: never scored, enriched since, or new engagement (web or email) since the last score
    and not after ``now``."""
    # Engagement dated after `now` (a feed's clock ahead of ours, a sample inbox of the coming hours) does
    # not count yet: it would select its lead on every pass until the clock caught up, and each pass would
    # write a new score history row for the decay of the minutes in between.
    engaged = exists().where(Activity.lead_id == Lead.id, Activity.kind.in_(("web", "email")),
                             Activity.occurred_at > Lead.scored_at, Activity.occurred_at <= now)
    return or_(Lead.scored_at.is_(None), Lead.enriched_at > Lead.scored_at, engaged)


class SqlScoringRepository:
    """The leads table (scores and stages), score_history and lead_stage_changes; activities read only."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def writes_behind(self) -> bool:
        """True on PostgreSQL: the server writes a chunk (~0.6-1 s for 20k leads at 100k) while this process scores
        the next (~0.25 s of pandas); the driver releases the GIL while it waits for the server. Not on SQLite,
        whose writes run in this process: a 100k-lead pass took longer that way (4 alternated rounds: median
        8.9 s against 7.2 s, CPU 4.43 s against 4.26 s)."""
        return self.session.get_bind().dialect.name == "postgresql"

    def lock(self, now: datetime) -> None:
        from leadops.db.repositories.routing import lock_routing  # the routing lock's one definition

        lock_routing(self.session, now)

    def select(self, *, lead_ids: Sequence[int] | None, only_changed: bool, where: LeadFilter | None,
               now: datetime) -> list[int]:
        q = select(Lead.id).where(Lead.lifecycle_stage.in_([s.value for s in SCORED])).order_by(Lead.id)
        if lead_ids is not None:
            q = q.where(Lead.id.in_(lead_ids))
        if only_changed:
            q = q.where(changed_since_scored(now))
        cond = _condition(where) if where is not None else None
        if cond is not None:
            q = q.where(cond)
        return list(self.session.scalars(q))

    def leads(self, ids: Sequence[int]) -> pd.DataFrame:
        frame = self._read(ids, "leads", "id", ("id", *LEAD_COLUMNS)).set_index("id")
        for c in BOOLEAN_COLUMNS:  # SQLite gives 0/1; Python bools (None for a blank) on both databases
            flags = frame[c]
            frame[c] = flags.astype(bool).astype(object) if not flags.isna().any() else \
                flags.astype("object").where(flags.notna(), None).map(lambda v: None if v is None else bool(v))
        frame["arrived_at"] = pd.to_datetime(frame["arrived_at"], utc=True, format="ISO8601")
        return frame

    def activities(self, ids: Sequence[int]) -> pd.DataFrame:
        frame = self._read(ids, "activities", "lead_id", ("lead_id", "kind", "outcome", "occurred_at"))
        frame.columns = list(ACTIVITY_COLUMNS)
        frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
        return frame

    def _read(self, ids: Sequence[int], table: str, key: str, columns: Sequence[str]) -> pd.DataFrame:
        """Return ``columns`` of the rows of ``table`` whose ``key`` is in ``ids``, as driver values (one row per row).

        By key range when the selection is dense (a pipeline's new leads): one range scan and no
        parameter per lead; a sparse one (a rescore of a few) by its ids. Driver rows from a driver
        cursor, converted by the caller by column: SQLAlchemy's per-value result processing, then
        pandas probing its Row objects (an attribute lookup raising per row), were most of this read.
        """
        if not ids:
            return pd.DataFrame(columns=list(columns))
        lo, hi = min(ids), max(ids)
        dense = hi - lo + 1 <= 2 * len(ids)
        conn = self.session.connection()
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        cols = ", ".join(f"{table}.{c}" for c in columns)
        if dense:
            sql = f"SELECT {cols} FROM {table} WHERE {key} BETWEEN {mark} AND {mark}"  # noqa: S608 - constant names
            params: tuple[int, ...] = (int(lo), int(hi))
        else:
            sql = f"SELECT {cols} FROM {table} WHERE {key} IN ({', '.join(mark for _ in ids)})"  # noqa: S608 - bound values
            params = tuple(int(i) for i in ids)
        cursor = pending.driver_cursor(conn)
        try:
            cursor.execute(sql, params)
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=list(columns))
        finally:
            cursor.close()
        if dense and len(frame):
            frame = frame[frame[key].isin(ids)]
        return frame

    def write(self, scores: pd.DataFrame, breakdowns: pd.Series, moves: pd.DataFrame, *,
              version: str, now: datetime, flow_run_id: str | None) -> None:
        if scores.empty and moves.empty:
            return
        ids = scores.index.union(moves.index)
        s = scores.reindex(ids)
        m = moves.reindex(ids)
        conn = self.session.connection()
        # The chunk is loaded once into one temporary table, from which one UPDATE ... FROM writes the leads (a lead
        # promoted by its new score is written once: every write of a leads row maintains its ~10 indexes) and two
        # INSERT ... SELECT write the score and stage history: each row crosses to the database once, and the
        # values shared by the chunk (model version, instants) are bound once, not converted per row.
        temp = temporary(conn, "_score_leads", [
            Column("id", Integer(), primary_key=True), Column("_scored", Integer()),
            *(Column(c, LEADS.c[c].type) for c in ("fit_score", "engagement_score", "score", "grade",
                                                    "lifecycle_stage", "disqualified_reason")),
            Column("from_stage", LEADS.c.lifecycle_stage.type), Column("cause", STAGES.c.cause.type),
            Column("breakdown", Text())])
        try:
            load_columns(conn, temp, {
                "id": ids.to_numpy().tolist(), "_scored": ids.isin(scores.index).astype(int).tolist(),
                "fit_score": _floats(s["fit"]), "engagement_score": _floats(s["engagement"]),
                "score": _floats(s["total"]), "grade": _objects(s["grade"]),
                "lifecycle_stage": _objects(m["to_stage"]), "disqualified_reason": _objects(m["disqualified_reason"]),
                "from_stage": _objects(m["from_stage"]), "cause": _objects(m["cause"]),
                "breakdown": _objects(breakdowns.reindex(ids))})
            self._apply(conn, temp, int(ids.min()), int(ids.max()), version=version, now=now, flow_run_id=flow_run_id)
        finally:
            temp.drop(conn)
        # bulk statements bypass the identity map: objects loaded earlier in this session must reload
        self.session.expire_all()

    def _apply(self, conn: Connection, temp: Table, lo: int, hi: int, *, version: str, now: datetime,
               flow_run_id: str | None) -> None:
        """Write a chunk loaded by :meth:`write` into ``temp`` (lead ids ``lo`` to ``hi``): the leads, then the score
        and stage history."""
        prep = conn.dialect.identifier_preparer
        t = prep.format_table(temp)
        pg = conn.dialect.name == "postgresql"
        if pg:
            # a plan for the join from the real row count (statistics of the key only: the breakdowns' text
            # tripled the time of a whole-table ANALYZE)
            conn.exec_driver_sql(f"ANALYZE {t} (id)")
        scored = {c: f"CASE WHEN t._scored = 1 THEN {{}} ELSE leads.{c} END"
                  for c in ("fit_score", "engagement_score", "score", "grade", "score_version", "scored_at")}
        moved = {c: f"CASE WHEN t.lifecycle_stage IS NULL THEN leads.{c} ELSE {{}} END"
                 for c in ("stage_changed_at", "disqualified_reason")}
        sets = [f"{c} = " + scored[c].format(f"t.{c}") for c in ("fit_score", "engagement_score", "score", "grade")]
        sets += [f"score_version = {scored['score_version'].format('?')}", f"scored_at = {scored['scored_at'].format('?')}",
                 "lifecycle_stage = COALESCE(t.lifecycle_stage, leads.lifecycle_stage)",
                 f"stage_changed_at = {moved['stage_changed_at'].format('?')}",
                 f"disqualified_reason = {moved['disqualified_reason'].format('t.disqualified_reason')}"]
        at = bound(conn, LEADS, "scored_at", now)
        params: tuple[Any, ...] = (bound(conn, LEADS, "score_version", version), at,
                                   bound(conn, LEADS, "stage_changed_at", now))
        # read by id, not by joining the chunk to every lead (a million leads, 45 chunks: 45 scans of a table the
        # pass itself bloats)
        keyed, bounds = by_key(conn, "leads.id", t, "id", [lo, hi])
        self._run(conn, f"UPDATE leads SET {', '.join(sets)} FROM {t} AS t WHERE leads.id = t.id{keyed}",  # noqa: S608
                  (*params, *bounds))
        breakdown = f"CAST(breakdown AS {HISTORY.c.breakdown.type.compile(conn.dialect)})" if pg else "breakdown"
        self._run(conn, "INSERT INTO score_history (lead_id, fit_score, engagement_score, score, grade, breakdown, "  # noqa: S608
                        f"model_version, scored_at, flow_run_id) SELECT id, fit_score, engagement_score, score, grade, "
                        f"{breakdown}, ?, ?, ? FROM {t} WHERE _scored = 1 ORDER BY id",
                  (bound(conn, HISTORY, "model_version", version), bound(conn, HISTORY, "scored_at", now),
                   flow_run_id))
        self._run(conn, "INSERT INTO lead_stage_history (lead_id, from_stage, to_stage, cause, changed_at) "  # noqa: S608
                        f"SELECT id, from_stage, lifecycle_stage, cause, ? FROM {t} WHERE lifecycle_stage IS NOT NULL "
                        "ORDER BY id", (bound(conn, STAGES, "changed_at", now),))

    @staticmethod
    def _run(conn: Connection, sql: str, params: tuple[Any, ...]) -> None:
        conn.exec_driver_sql(driver_sql(conn, sql), params)


LEADS = table_of(Lead)
HISTORY = table_of(ScoreHistory)
STAGES = table_of(LeadStageChange)
BOOLEAN_COLUMNS = ("is_free_email", "is_competitor", "do_not_contact", "is_hand_raiser")


def _floats(values: pd.Series) -> list[float | None]:
    """Return ``values`` as Python floats, None for a blank."""
    return [None if v != v else float(v) for v in values.to_numpy(dtype="float64")]


def _objects(values: pd.Series) -> list[object]:
    """Return ``values`` as Python objects, None for a blank (pandas' NaN of a reindexed object column)."""
    return [None if v is None or (isinstance(v, float) and v != v) else v for v in values.tolist()]
