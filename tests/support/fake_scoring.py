"""An in-memory scoring repository: leads as dicts of the columns a pass reads, activities as tuples.

It keeps the stored repository's contract: only open (scored) leads are selected, in id order; a
lead counts as changed when it was never scored, was enriched since, or has web or email activity
since; writes update the leads and append one history row per lead (scores) or per move (stages).
"""
from __future__ import annotations

import json

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from leadops.db.repositories.scoring import ACTIVITY_COLUMNS, LEAD_COLUMNS, LeadFilter
from leadops.domain.lifecycle import SCORED, Stage
from leadops.domain.scoring import RulePoints


@dataclass(frozen=True)
class ScoreRow:
    """One score-history row."""

    lead_id: int
    version: str
    fit: float
    engagement: float
    total: float
    grade: str
    breakdown: list[RulePoints]
    scored_at: datetime
    flow_run_id: str | None


@dataclass(frozen=True)
class StageRow:
    """One stage-history row."""

    lead_id: int
    from_stage: str
    to_stage: str
    cause: str
    disqualified_reason: str | None
    changed_at: datetime


def lead_row(arrived_at: datetime, **values: Any) -> dict[str, Any]:
    """Return a lead's columns (LEAD_COLUMNS, plus scored_at and enriched_at): a new lead from a web form
    at acme.fr, arrived at ``arrived_at``, with ``values`` over the defaults."""
    row: dict[str, Any] = dict.fromkeys(LEAD_COLUMNS)
    row.update(source="web_form", email_domain="acme.fr", is_free_email=False, is_competitor=False,
               do_not_contact=False, is_hand_raiser=False, lifecycle_stage=Stage.NEW.value, arrived_at=arrived_at,
               scored_at=None, enriched_at=None)
    row.update(values)
    return row


@dataclass
class FakeScoringRepository:
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)  # lead id -> lead_row(...)
    acts: list[tuple[int, str, str | None, datetime]] = field(default_factory=list)  # lead, kind, outcome, at
    history: list[ScoreRow] = field(default_factory=list)
    stage_history: list[StageRow] = field(default_factory=list)
    locks: int = 0
    writes_behind: bool = False  # True: the pass writes each chunk in a worker thread

    def lock(self, now: datetime) -> None:
        self.locks += 1

    def _changed(self, lead_id: int, now: datetime) -> bool:
        row = self.rows[lead_id]
        scored = row["scored_at"]
        if scored is None:
            return True
        if row["enriched_at"] is not None and row["enriched_at"] > scored:
            return True
        return any(lid == lead_id and kind in ("web", "email") and scored < at <= now for lid, kind, _, at in self.acts)

    def select(self, *, lead_ids: Sequence[int] | None, only_changed: bool, where: LeadFilter | None,
               now: datetime) -> list[int]:
        open_stages = {s.value for s in SCORED}
        out = []
        for lead_id in sorted(self.rows):
            row = self.rows[lead_id]
            if row["lifecycle_stage"] not in open_stages or (lead_ids is not None and lead_id not in lead_ids):
                continue
            if only_changed and not self._changed(lead_id, now):
                continue
            if where is not None and (
                    (where.stages and row["lifecycle_stage"] not in where.stages)
                    or (where.sources and row["source"] not in where.sources)
                    or (where.arrived_since is not None and row["arrived_at"] < where.arrived_since)):
                continue
            out.append(lead_id)
        return out

    def leads(self, ids: Sequence[int]) -> pd.DataFrame:
        return pd.DataFrame([{"id": i, **{c: self.rows[i][c] for c in LEAD_COLUMNS}} for i in ids],
                            columns=["id", *LEAD_COLUMNS]).set_index("id")

    def activities(self, ids: Sequence[int]) -> pd.DataFrame:
        wanted = set(ids)
        return pd.DataFrame([a for a in self.acts if a[0] in wanted], columns=list(ACTIVITY_COLUMNS))

    def write_scores(self, scores: pd.DataFrame, breakdowns: Mapping[int, list[RulePoints]], *, version: str,
                     now: datetime, flow_run_id: str | None) -> None:
        for lead_id, s in scores.iterrows():
            i = int(lead_id)
            self.rows[i].update(fit_score=float(s["fit"]), engagement_score=float(s["engagement"]),
                                score=float(s["total"]), grade=str(s["grade"]), score_version=version, scored_at=now)
            self.history.append(ScoreRow(i, version, float(s["fit"]), float(s["engagement"]), float(s["total"]),
                                         str(s["grade"]), list(breakdowns[i]), now, flow_run_id))

    def write(self, scores: pd.DataFrame, breakdowns: pd.Series, moves: pd.DataFrame, *,
              version: str, now: datetime, flow_run_id: str | None) -> None:
        parts = {int(i): json.loads(t) for i, t in breakdowns.items()}
        self.write_scores(scores, parts, version=version, now=now, flow_run_id=flow_run_id)
        self.move_stages(moves, now)

    def move_stages(self, moves: pd.DataFrame, now: datetime) -> None:
        for lead_id, m in moves.iterrows():
            i = int(lead_id)
            self.rows[i].update(lifecycle_stage=str(m["to_stage"]), disqualified_reason=m["disqualified_reason"])
            self.stage_history.append(StageRow(i, str(m["from_stage"]), str(m["to_stage"]), str(m["cause"]),
                                               m["disqualified_reason"], now))
