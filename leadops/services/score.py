"""Score open leads with config/scoring.yaml and move their lifecycle stage.

Idempotent: history is written only when a lead's score or model version changes.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, insert, or_, select
from sqlalchemy.orm import Session

from leadops.config import Rules
from leadops.db.models import Activity, Lead, LeadStageChange, ScoreHistory, utcnow
from leadops.domain.normalize import DISPOSABLE_EMAIL_DOMAINS
from leadops.domain.scoring import EngagementEvent, LeadFeatures, lifecycle_after_scoring, score_lead

OPEN_STAGES = ("new", "mql", "sal", "sql", "nurture", "recycled")
# Activities that count as engagement: marketing web events (kind web) and replies to SDR emails.
REPLY_OUTCOMES = {"replied": "reply", "meeting_booked": "reply"}


@dataclass
class ScoreSummary:
    """Counts of one scoring pass (grain: leads)."""

    scored: int = 0
    changed: int = 0
    promoted_mql: int = 0
    disqualified: int = 0
    model_version: str = ""
    grades: dict[str, int] = field(default_factory=dict)


def _events(session: Session, lead_ids: list[int]) -> dict[int, list[EngagementEvent]]:
    out: dict[int, list[EngagementEvent]] = defaultdict(list)
    for chunk in (lead_ids[i:i + 900] for i in range(0, len(lead_ids), 900)):
        rows = session.execute(select(Activity.lead_id, Activity.kind, Activity.outcome, Activity.occurred_at)
                               .where(Activity.lead_id.in_(chunk), Activity.kind.in_(("web", "email"))))
        for lead_id, kind, outcome, at in rows:
            name = outcome if kind == "web" else REPLY_OUTCOMES.get(outcome or "")
            if name:
                out[lead_id].append(EngagementEvent(name, at))
    return out


def changed_since_scored():
    """SQL condition: never scored, enriched since, or new engagement since the last score."""
    engaged = exists().where(Activity.lead_id == Lead.id, Activity.kind.in_(("web", "email")),
                             Activity.occurred_at > Lead.scored_at)
    return or_(Lead.scored_at.is_(None), Lead.enriched_at > Lead.scored_at, engaged)


def score_open_leads(session: Session, rules: Rules, *, now: datetime | None = None, flow_run_id: str | None = None,
                     lead_ids: list[int] | None = None, only_changed: bool = True) -> ScoreSummary:
    """Score open leads as of ``now``; returns counts of changes and promotions.

    The pipeline scores only leads that changed since their last score (``only_changed``);
    a model change is applied to everyone by an explicit rescore (``only_changed=False``).
    """
    now = now or utcnow()
    sr = rules.scoring
    q = select(Lead).where(Lead.lifecycle_stage.in_(OPEN_STAGES)).order_by(Lead.id)
    if lead_ids is not None:
        q = q.where(Lead.id.in_(lead_ids))
    if only_changed:
        q = q.where(changed_since_scored())
    leads = list(session.scalars(q))
    events = _events(session, [lead.id for lead in leads])
    summary = ScoreSummary(model_version=sr.version)
    history, stage_rows = [], []
    grades: dict[str, int] = defaultdict(int)
    for lead in leads:
        feats = LeadFeatures(
            industry=lead.industry, employee_band=lead.employee_band, revenue_band=lead.revenue_band,
            country=lead.country, seniority=lead.seniority, department=lead.department, source=lead.source,
            job_title=lead.job_title, email_domain=lead.email_domain, is_free_email=lead.is_free_email,
            is_disposable_email=lead.email_domain in DISPOSABLE_EMAIL_DOMAINS, is_competitor=lead.is_competitor,
        )
        res = score_lead(feats, [EngagementEvent(lead.source, lead.arrived_at), *events.get(lead.id, [])], sr, now)
        summary.scored += 1
        grades[res.grade] += 1
        if (lead.score, lead.fit_score, lead.engagement_score, lead.score_version) != (res.total, res.fit, res.engagement, sr.version):
            summary.changed += 1
            lead.fit_score, lead.engagement_score, lead.score = res.fit, res.engagement, res.total
            lead.grade, lead.score_version, lead.scored_at = res.grade, sr.version, now
            history.append(dict(lead_id=lead.id, model_version=sr.version, fit_score=res.fit,
                                engagement_score=res.engagement, score=res.total, grade=res.grade,
                                breakdown=list(res.breakdown), scored_at=now, flow_run_id=flow_run_id))
        change = lifecycle_after_scoring(lead.lifecycle_stage, res, is_hand_raiser=lead.is_hand_raiser,
                                         is_competitor=lead.is_competitor, threshold=sr.mql_threshold)
        if change:
            stage_rows.append(dict(lead_id=lead.id, from_stage=lead.lifecycle_stage, to_stage=change.to_stage,
                                   cause=change.cause, changed_at=now))
            lead.lifecycle_stage, lead.stage_changed_at = change.to_stage, now
            lead.disqualified_reason = change.disqualified_reason
            summary.promoted_mql += change.to_stage == "mql"
            summary.disqualified += change.to_stage == "disqualified"
    session.flush()
    if history:
        session.execute(insert(ScoreHistory), history)
    if stage_rows:
        session.execute(insert(LeadStageChange), stage_rows)
    summary.grades = dict(sorted(grades.items()))
    return summary
