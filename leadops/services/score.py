"""Score open leads with config/scoring.yaml and move their lifecycle stage, as set operations.

Leads are read in chunks into frames, scored by :func:`leadops.domain.scoring_frame.score_frame`,
and written back with bulk statements; history rows are written only for leads whose score or
model version changed, so a rescore is idempotent.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session

from leadops.config import Rules
from leadops.db.bulk import bulk_insert
from leadops.db.models import Activity, Lead, LeadStageChange, ScoreHistory, utcnow
from leadops.db.repositories.routing import lock_routing
from leadops.domain.lifecycle import SCORED, Stage
from leadops.domain.normalize import DISPOSABLE_EMAIL_DOMAINS
from leadops.domain.scoring_frame import breakdowns, score_frame
from leadops.domain.scoring_pass import ScoreSummary, band_counts
from leadops.domain.stage_moves import stage_moves

# Activities that count as engagement: marketing web events (kind web) and replies to SDR emails.
REPLY_OUTCOMES = {"replied": "reply", "meeting_booked": "reply"}
CHUNK = 20_000  # leads per frame; also bounds the ids bound in one IN list (SQLite builds cap variables)


def rescore_filter(stages: list[str] | None = None, sources: list[str] | None = None,
                   arrived_since: datetime | None = None) -> ColumnElement[bool] | None:
    """Return the SQL condition selecting leads for a rescore (None: every open lead)."""
    conds = []
    if stages:
        conds.append(Lead.lifecycle_stage.in_(stages))
    if sources:
        conds.append(Lead.source.in_(sources))
    if arrived_since is not None:
        conds.append(Lead.arrived_at >= arrived_since)
    return and_(*conds) if conds else None


def changed_since_scored():
    """SQL condition: never scored, enriched since, or new engagement since the last score."""
    engaged = exists().where(Activity.lead_id == Lead.id, Activity.kind.in_(("web", "email")),
                             Activity.occurred_at > Lead.scored_at)
    return or_(Lead.scored_at.is_(None), Lead.enriched_at > Lead.scored_at, engaged)


_COLUMNS = (Lead.id, Lead.industry, Lead.employee_band, Lead.revenue_band, Lead.country, Lead.seniority, Lead.department,
            Lead.source, Lead.job_title, Lead.email_domain, Lead.is_free_email, Lead.is_competitor, Lead.do_not_contact,
            Lead.is_hand_raiser, Lead.lifecycle_stage, Lead.owner_sdr_id, Lead.arrived_at, Lead.score, Lead.fit_score,
            Lead.engagement_score, Lead.score_version)


def _frames(session: Session, ids: list[int]) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Return (leads frame indexed by id, engagement events, last touch per lead) for ``ids``."""
    leads = pd.DataFrame(session.execute(select(*_COLUMNS).where(Lead.id.in_(ids))).all(),
                         columns=[c.key for c in _COLUMNS]).set_index("id")
    leads["is_disposable_email"] = leads["email_domain"].isin(DISPOSABLE_EMAIL_DOMAINS)
    acts = pd.DataFrame(session.execute(select(Activity.lead_id, Activity.kind, Activity.outcome, Activity.occurred_at)
                                        .where(Activity.lead_id.in_(ids))).all(),
                        columns=["lead_id", "kind", "outcome", "at"])
    leads["bounced"] = leads.index.isin(acts.loc[(acts["kind"] == "email") & (acts["outcome"] == "bounced"), "lead_id"])
    web = acts[acts["kind"] == "web"].assign(name=lambda a: a["outcome"])
    replies = acts[acts["kind"] == "email"].assign(name=lambda a: a["outcome"].map(REPLY_OUTCOMES))
    arrival = pd.DataFrame({"lead_id": leads.index, "name": leads["source"].to_numpy(), "at": leads["arrived_at"].to_numpy()})
    events = pd.concat([arrival, web[["lead_id", "name", "at"]], replies[["lead_id", "name", "at"]].dropna()],
                       ignore_index=True).rename(columns={"name": "kind"})
    events["at"] = pd.to_datetime(events["at"], utc=True)
    last_touch = pd.concat([pd.Series(pd.to_datetime(leads["arrived_at"], utc=True).to_numpy(), index=leads.index),
                            pd.to_datetime(acts.groupby("lead_id")["at"].max(), utc=True)]).groupby(level=0).max()
    return leads, events, last_touch


def score_open_leads(session: Session, rules: Rules, *, now: datetime | None = None, flow_run_id: str | None = None,
                     lead_ids: list[int] | None = None, only_changed: bool = True,
                     where: ColumnElement[bool] | None = None,
                     progress: Callable[[int, int], None] | None = None) -> ScoreSummary:
    """Score open leads as of ``now`` and move lifecycle stages; returns what changed (grain: leads).

    The pipeline scores only leads that changed since their last score (``only_changed``); a
    rescore (``only_changed=False``, optionally narrowed by ``lead_ids`` or a ``where``
    condition) applies the current model to everyone it selects and reports the score
    distribution before and after.
    """
    now = now or utcnow()
    sr = rules.scoring
    blend = load_blend(sr)
    # Scoring moves stages (new -> mql, -> nurture) that routing reads, so it holds the routing lock:
    # two passes at once (the pipeline beside a rescore, two workers) would both read a lead as
    # `new` and both promote it, writing its stage and score history twice; a pass working from a
    # read older than a router's commit could send a lead the router just assigned to nurture.
    lock_routing(session, now)
    if blend is not None:  # the model is part of the version: a retrained model is a new version
        sr = sr.model_copy(update={"version": f"{sr.version}+model-{blend[1]}"})
    ids = select_for_scoring(session, lead_ids=lead_ids, only_changed=only_changed, where=where)
    summary = ScoreSummary(model_version=sr.version)
    grades: Counter = Counter()
    before: Counter = Counter()
    after: Counter = Counter()
    stage_changes: Counter = Counter()
    for i in range(0, len(ids), CHUNK):
        leads, events, last_touch = _frames(session, ids[i:i + CHUNK])
        scored = score_frame(leads, events, sr, now)
        if blend is not None:
            _blend(leads, scored, blend[0], sr.model.weight)
        before.update(band_counts(leads["score"].astype("float64")))
        after.update(band_counts(scored["total"]))
        grades.update(scored["grade"].value_counts().to_dict())
        summary.scored += len(scored)
        _write_scores(session, leads, scored, sr, now, flow_run_id, summary)
        _move_stages(session, leads, scored, last_touch, sr, now, summary, stage_changes)
        if progress is not None:  # leads scored so far, of the selection
            progress(summary.scored, len(ids))
    # bulk statements bypass the identity map: objects loaded earlier in this session must reload
    session.expire_all()
    summary.grades = dict(sorted((str(k), int(v)) for k, v in grades.items()))
    summary.stage_changes = dict(sorted(stage_changes.items()))
    summary.distribution_before, summary.distribution_after = dict(sorted(before.items())), dict(sorted(after.items()))
    return summary


def select_for_scoring(session: Session, *, lead_ids: list[int] | None = None, only_changed: bool = True,
                       where: ColumnElement[bool] | None = None) -> list[int]:
    """Return the ids of the open leads a scoring pass takes, in id order (the selection of
    :func:`score_open_leads`: ``lead_ids``, changed since their last score, ``where``)."""
    q = select(Lead.id).where(Lead.lifecycle_stage.in_([s.value for s in SCORED])).order_by(Lead.id)
    if lead_ids is not None:
        q = q.where(Lead.id.in_(lead_ids))
    if only_changed:
        q = q.where(changed_since_scored())
    if where is not None:
        q = q.where(where)
    return list(session.scalars(q))


def load_blend(sr: Any) -> tuple[Any, str] | None:
    """Return (fitted model, its version) when scoring.yaml enables blending, else None.

    Raises ValueError naming the file when blending is enabled but no trained model exists:
    the score never silently falls back to rules only.
    """
    if not sr.model.enabled:
        return None
    import joblib

    path = Path(sr.model.path)
    if not path.exists():
        raise ValueError(f"scoring.yaml enables the conversion model but {path} does not exist: run `leadops score train`")
    meta = path.with_suffix(".json")
    version = json.loads(meta.read_text(encoding="utf-8")).get("model_version") if meta.exists() else None
    return joblib.load(path), version or hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _blend(leads: pd.DataFrame, scored: pd.DataFrame, model: Any, weight: float) -> None:
    """Mix the model's conversion probability into ``scored['total']`` (adds model_p and model_points)."""
    from leadops.domain.conversion import predict
    from leadops.services.model import feature_frame

    p = predict(model, feature_frame(leads))
    rules_total = scored["total"].to_numpy()
    blended = np.round((1 - weight) * rules_total + weight * 100 * p, 2)
    scored["model_p"] = p
    scored["model_points"] = blended - rules_total
    scored["total"] = blended


def _write_scores(session: Session, leads: pd.DataFrame, scored: pd.DataFrame, sr: Any, now: datetime,
                  flow_run_id: str | None, summary: ScoreSummary) -> None:
    """Store new scores and one history row (with the breakdown) per lead whose score or model changed."""
    old = leads[["score", "fit_score", "engagement_score", "score_version"]]
    same = ((old["score"] == scored["total"]) & (old["fit_score"] == scored["fit"])
            & (old["engagement_score"] == scored["engagement"]) & (old["score_version"] == sr.version))
    changed = scored[~same.fillna(False).to_numpy()]
    summary.changed += len(changed)
    if changed.empty:
        return
    parts = breakdowns(changed, leads.loc[changed.index], sr)
    if "model_p" in changed:
        for lead_id, p, pts in zip(changed.index, changed["model_p"], changed["model_points"]):
            parts[int(lead_id)].append({"group": "model", "rule": f"conversion p={p:.2f} x weight {sr.model.weight:g}",
                                        "points": round(float(pts), 2)})
    ids = changed.index.to_numpy()
    fit, eng, total, grade = (changed[c].to_numpy() for c in ("fit", "engagement", "total", "grade"))
    # Core executemany by primary key: the ORM's bulk UPDATE processed every parameter in Python
    lt = Lead.__table__
    session.execute(update(lt).where(lt.c.id == bindparam("b_id")).values(
        fit_score=bindparam("b_fit"), engagement_score=bindparam("b_eng"), score=bindparam("b_total"),
        grade=bindparam("b_grade"), score_version=sr.version, scored_at=now), [
        {"b_id": int(ids[k]), "b_fit": float(fit[k]), "b_eng": float(eng[k]), "b_total": float(total[k]),
         "b_grade": str(grade[k])} for k in range(len(ids))])
    bulk_insert(session.connection(), ScoreHistory.__table__, [
        dict(lead_id=int(ids[k]), model_version=sr.version, fit_score=float(fit[k]), engagement_score=float(eng[k]),
             score=float(total[k]), grade=str(grade[k]), breakdown=parts[int(ids[k])], scored_at=now,
             flow_run_id=flow_run_id) for k in range(len(ids))])


def _move_stages(session: Session, leads: pd.DataFrame, scored: pd.DataFrame, last_touch: pd.Series, sr: Any,
                 now: datetime, summary: ScoreSummary, stage_changes: Counter) -> None:
    """Write the stage moves the chunk's scores decide (:func:`leadops.domain.stage_moves.stage_moves`),
    each with a stage-history row saying why."""
    moves = stage_moves(leads, scored["total"], last_touch, threshold=sr.mql_threshold,
                        nurture_after_days=sr.nurture_after_days, now=now)
    if moves.empty:
        return
    ids = moves.index.to_numpy()
    frm, to, why, dq = (moves[c].to_numpy() for c in ("from_stage", "to_stage", "cause", "disqualified_reason"))
    lt = Lead.__table__
    session.execute(update(lt).where(lt.c.id == bindparam("b_id")).values(
        lifecycle_stage=bindparam("b_stage"), stage_changed_at=now, disqualified_reason=bindparam("b_why")), [
        {"b_id": int(ids[k]), "b_stage": str(to[k]), "b_why": dq[k]} for k in range(len(ids))])
    bulk_insert(session.connection(), LeadStageChange.__table__, [
        dict(lead_id=int(ids[k]), from_stage=str(frm[k]), to_stage=str(to[k]), cause=str(why[k]), changed_at=now)
        for k in range(len(ids))])
    for f, t in zip(frm, to):
        stage_changes[f"{f}->{t}"] += 1
    summary.promoted_mql += int((to == Stage.MQL.value).sum())
    summary.disqualified += int((to == Stage.DISQUALIFIED.value).sum())
    summary.nurtured += int((to == Stage.NURTURE.value).sum())
