"""Score open leads with config/scoring.yaml and move their lifecycle stage, as set operations.

Leads are read in chunks into frames through ``uow.scoring``, scored by
:func:`leadops.domain.scoring_frame.score_frame`, their stage moves decided by
:func:`leadops.domain.stage_moves.stage_moves`, and written back in bulk by the repository; history
rows are written only for leads whose score or model version changed, so a rescore is idempotent.
The service never commits: whoever opened the unit of work does.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadops.config import Rules, ScoringRules
from leadops.db.models import utcnow
from leadops.db.repositories.scoring import MOVE_COLUMNS, SCORE_COLUMNS, LeadFilter
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.lifecycle import Stage
from leadops.domain.normalize import DISPOSABLE_EMAIL_DOMAINS
from leadops.domain.scoring_frame import breakdown_json, score_frame
from leadops.domain.scoring_pass import ScoreSummary, band_counts
from leadops.domain.stage_moves import stage_moves
from leadops.services.collector import in_fewer_passes
from leadops.services.write_behind import WriteBehind

# Activities that count as engagement: marketing web events (kind web) and replies to SDR emails.
REPLY_OUTCOMES = {"replied": "reply", "meeting_booked": "reply"}
CHUNK = 20_000  # leads per frame; also bounds the ids bound in one IN list (SQLite builds cap variables)


def rescore_filter(stages: Sequence[str] | None = None, sources: Sequence[str] | None = None,
                   arrived_since: datetime | None = None) -> LeadFilter | None:
    """Return the selection of leads for a rescore (None: every open lead)."""
    if not stages and not sources and arrived_since is None:
        return None
    return LeadFilter(tuple(stages or ()), tuple(sources or ()), arrived_since)


def scoring_inputs(leads: pd.DataFrame, activities: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Return (leads with the columns the scorer derives, engagement events, last touch per lead).

    ``leads``: the repository's leads frame (index: id); ``activities``: their activities (lead_id,
    kind, outcome, at). Events are each lead's arrival (kind: its source), its web events (kind:
    the event) and its replies to SDR emails; the last touch is its latest arrival or activity (UTC).
    """
    leads = leads.copy()
    leads["is_disposable_email"] = leads["email_domain"].isin(DISPOSABLE_EMAIL_DOMAINS)
    acts = activities
    leads["bounced"] = leads.index.isin(acts.loc[(acts["kind"] == "email") & (acts["outcome"] == "bounced"), "lead_id"])
    web = acts[acts["kind"] == "web"].assign(name=lambda a: a["outcome"])
    replies = acts[acts["kind"] == "email"].assign(name=lambda a: a["outcome"].map(REPLY_OUTCOMES))
    # instants stay datetime arrays: an aware column's to_numpy() is one Timestamp object per lead
    arrived = pd.to_datetime(leads["arrived_at"], utc=True).array
    arrival = pd.DataFrame({"lead_id": leads.index, "name": leads["source"].to_numpy(), "at": arrived})
    events = pd.concat([arrival, web[["lead_id", "name", "at"]], replies[["lead_id", "name", "at"]].dropna()],
                       ignore_index=True).rename(columns={"name": "kind"})
    events["at"] = pd.to_datetime(events["at"], utc=True)
    last_touch = pd.concat([pd.Series(arrived, index=leads.index),
                            pd.to_datetime(acts.groupby("lead_id")["at"].max(), utc=True)]).groupby(level=0).max()
    return leads, events, last_touch


def rules_at_arrival(uow: UnitOfWork, ids: list[int], rules: ScoringRules, *, chunk: int = 5000) -> pd.Series:
    """Return, per lead id, the rules-only score as it stood when the lead arrived: fit, negative
    signals and the points of the arrival itself (no later engagement, so it knows what the model knows)."""
    now = utcnow()
    none = pd.DataFrame({"lead_id": pd.Series(dtype="int64"), "kind": pd.Series(dtype=object),
                         "outcome": pd.Series(dtype=object), "at": pd.Series(dtype="datetime64[ns, UTC]")})
    parts = []
    for i in range(0, len(ids), chunk):
        leads, _, _ = scoring_inputs(uow.scoring.leads(ids[i:i + chunk]), none)
        arrival = pd.DataFrame({"lead_id": leads.index, "kind": leads["source"].to_numpy(),
                                "at": pd.Series([now] * len(leads), dtype="datetime64[ns, UTC]").to_numpy()})
        parts.append(score_frame(leads, arrival, rules, now)["total"])
    return pd.concat(parts) if parts else pd.Series(dtype=float)


@in_fewer_passes
def score_open_leads(uow: UnitOfWork, rules: Rules, *, now: datetime | None = None, flow_run_id: str | None = None,
                     lead_ids: Sequence[int] | None = None, only_changed: bool = True,
                     where: LeadFilter | None = None,
                     progress: Callable[[int, int], None] | None = None) -> ScoreSummary:
    """Score open leads as of ``now`` and move lifecycle stages; returns what changed (grain: leads).

    The pipeline scores only leads that changed since their last score (``only_changed``); a
    rescore (``only_changed=False``, optionally narrowed by ``lead_ids`` or a ``where``
    selection, see :func:`rescore_filter`) applies the current model to everyone it selects and
    reports the score distribution before and after.
    """
    now = now or utcnow()
    sr = rules.scoring
    blend = load_blend(sr)
    # Scoring moves stages (new -> mql, -> nurture) that routing reads, so it holds the routing lock:
    # two passes at once (the pipeline beside a rescore, two workers) would both read a lead as
    # `new` and both promote it, writing its stage and score history twice; a pass working from a
    # read older than a router's commit could send a lead the router just assigned to nurture.
    uow.scoring.lock(now)
    if blend is not None:  # the model is part of the version: a retrained model is a new version
        sr = sr.model_copy(update={"version": f"{sr.version}+model-{blend[1]}"})
    ids = select_for_scoring(uow, lead_ids=lead_ids, only_changed=only_changed, where=where, now=now)
    summary = ScoreSummary(model_version=sr.version)
    grades: Counter[str] = Counter()
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    stage_changes: Counter[str] = Counter()
    # Chunk i is written in the background while chunk i + 1 is scored (where the repository allows it: see
    # write_behind); the next chunk is read before the write starts, since both need the connection. Chunks are
    # disjoint sets of leads, so reading one before the previous is written reads what it would have read after.
    with WriteBehind(uow.scoring.writes_behind) as behind:
        read = None  # the chunk's leads and activities, when read ahead
        for i in range(0, len(ids), CHUNK):
            leads, events, last_touch = scoring_inputs(*(read or _read(uow, ids[i:i + CHUNK])))
            scored = score_frame(leads, events, sr, now)
            if blend is not None:
                _blend(leads, scored, blend[0], sr.model.weight)
            before.update(band_counts(leads["score"].astype("float64")))
            after.update(band_counts(scored["total"]))
            grades.update({str(k): int(v) for k, v in scored["grade"].value_counts().items()})
            changed, parts = _new_scores(leads, scored, sr, summary)
            moves = _stage_moves(leads, scored, last_touch, sr, now, summary, stage_changes)
            behind.wait()
            if progress is not None and i:  # leads scored and written so far, of the selection
                progress(summary.scored, len(ids))
            read = _read(uow, ids[i + CHUNK:i + 2 * CHUNK]) if i + CHUNK < len(ids) else None
            behind.submit(uow.scoring.write, changed[list(SCORE_COLUMNS)], parts, moves[list(MOVE_COLUMNS)],
                          version=sr.version, now=now, flow_run_id=flow_run_id)
            summary.scored += len(scored)
    if progress is not None and ids:
        progress(summary.scored, len(ids))
    summary.grades = dict(sorted(grades.items()))
    summary.stage_changes = dict(sorted(stage_changes.items()))
    summary.distribution_before, summary.distribution_after = dict(sorted(before.items())), dict(sorted(after.items()))
    return summary


def _read(uow: UnitOfWork, ids: Sequence[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (the leads ``ids``, their activities) as the repository reads them (one row per lead, per activity)."""
    return uow.scoring.leads(ids), uow.scoring.activities(ids)


def select_for_scoring(uow: UnitOfWork, *, lead_ids: Sequence[int] | None = None, only_changed: bool = True,
                       where: LeadFilter | None = None, now: datetime | None = None) -> list[int]:
    """Return the ids of the open leads a scoring pass at ``now`` (default: the current time) takes, in id
    order (the selection of :func:`score_open_leads`: ``lead_ids``, changed since their last score by
    ``now``, ``where``)."""
    return uow.scoring.select(lead_ids=lead_ids, only_changed=only_changed, where=where, now=now or utcnow())


def load_blend(sr: ScoringRules) -> tuple[Any, str] | None:
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


def _new_scores(leads: pd.DataFrame, scored: pd.DataFrame, sr: ScoringRules,
                summary: ScoreSummary) -> tuple[pd.DataFrame, pd.Series]:
    """Return (the scores of the leads whose score or model changed, their breakdowns as JSON text by lead id)."""
    old = leads[["score", "fit_score", "engagement_score", "score_version"]]
    same = ((old["score"] == scored["total"]) & (old["fit_score"] == scored["fit"])
            & (old["engagement_score"] == scored["engagement"]) & (old["score_version"] == sr.version))
    changed = scored[~same.fillna(False).to_numpy()]
    summary.changed += len(changed)
    if changed.empty:
        return changed, pd.Series(dtype=object)
    extra = None
    if "model_p" in changed:
        extra = pd.Series([json.dumps({"group": "model", "rule": f"conversion p={p:.2f} x weight {sr.model.weight:g}",
                                       "points": round(float(pts), 2)})
                           for p, pts in zip(changed["model_p"], changed["model_points"], strict=True)],
                          index=changed.index, dtype=object)
    return changed, breakdown_json(changed, leads.loc[changed.index], sr, extra)


def _stage_moves(leads: pd.DataFrame, scored: pd.DataFrame, last_touch: pd.Series, sr: ScoringRules,
                 now: datetime, summary: ScoreSummary, stage_changes: Counter[str]) -> pd.DataFrame:
    """Return the stage moves the chunk's scores decide (:func:`leadops.domain.stage_moves.stage_moves`; index:
    lead id), counted in ``summary`` and ``stage_changes``."""
    moves = stage_moves(leads, scored["total"], last_touch, threshold=sr.mql_threshold,
                        nurture_after_days=sr.nurture_after_days, now=now)
    if moves.empty:
        return moves.reindex(columns=list(MOVE_COLUMNS))
    to = moves["to_stage"].to_numpy()
    pairs = moves.groupby(["from_stage", "to_stage"], dropna=False).size()
    for (f, t), n in zip(pairs.index.tolist(), pairs.tolist(), strict=True):
        stage_changes[f"{f}->{t}"] += int(n)
    summary.promoted_mql += int((to == Stage.MQL.value).sum())
    summary.disqualified += int((to == Stage.DISQUALIFIED.value).sum())
    summary.nurtured += int((to == Stage.NURTURE.value).sum())
    return moves
