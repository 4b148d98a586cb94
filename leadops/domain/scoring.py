"""Lead scoring: ICP fit + engagement with half-life decay + negative signals, explained.

Pure functions: the caller passes the lead's features, its engagement events and ``now``.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from leadops.config import ScoringRules
from leadops.domain.lifecycle import SCORER_OWNS, Stage

JOB_SEEKER_WORDS = ("job seeker", "looking for", "recherche d'emploi", "en recherche", "open to work", "demandeur d'emploi")


@dataclass(frozen=True)
class LeadFeatures:
    """What scoring reads of one lead (current values, enrichment included)."""

    industry: str | None = None
    employee_band: str | None = None
    revenue_band: str | None = None
    country: str | None = None
    seniority: str | None = None
    department: str | None = None
    source: str | None = None
    job_title: str | None = None
    email_domain: str | None = None
    is_free_email: bool = False
    is_disposable_email: bool = False
    is_competitor: bool = False
    do_not_contact: bool = False  # the person opted out (consent "no" at intake)
    bounced: bool = False  # an email to the lead bounced


@dataclass(frozen=True)
class EngagementEvent:
    """One engagement signal (a lead's source at arrival, a web visit, an email click...)."""

    kind: str
    at: datetime


class RulePoints(TypedDict):
    """One rule that fired in a score's breakdown: its group (fit, engagement, negative, model), the rule
    in words and the points it gave (a cap's entry gives the negative points it took away)."""

    group: str
    rule: str
    points: float


@dataclass(frozen=True)
class ScoreResult:
    """One lead's score at one instant; ``breakdown`` lists every rule that fired."""

    fit: float
    engagement: float
    negative: float
    total: float
    fit_grade: str
    engagement_grade: str
    breakdown: tuple[RulePoints, ...] = field(default_factory=tuple)

    @property
    def grade(self) -> str:
        return f"{self.fit_grade}{self.engagement_grade}"


def _fit(f: LeadFeatures, rules: ScoringRules) -> tuple[float, list[RulePoints]]:
    total, parts = 0.0, list[RulePoints]()
    for rule in rules.fit:
        value = getattr(f, rule.field)
        points = rule.points.get(value, rule.default) if value is not None else rule.default
        if points:
            parts.append({"group": "fit", "rule": f"{rule.field}={value}", "points": round(points, 2)})
            total += points
    if total > rules.fit_cap:
        parts.append({"group": "fit", "rule": f"cap {rules.fit_cap:g}", "points": round(rules.fit_cap - total, 2)})
        total = rules.fit_cap
    return total, parts


def decay(points: float, age_days: float, half_life_days: float) -> float:
    """Return ``points`` halved every ``half_life_days`` of age (future events count fully)."""
    return points * float(0.5 ** (max(age_days, 0.0) / half_life_days))


def _engagement(events: Iterable[EngagementEvent], rules: ScoringRules, now: datetime) -> tuple[float, list[RulePoints]]:
    eng = rules.engagement
    by_kind: dict[str, list[float]] = defaultdict(list)
    for ev in events:
        base = eng.points.get(ev.kind)
        if not base:
            continue
        age = (now - ev.at).total_seconds() / 86400
        by_kind[ev.kind].append(decay(base, age, eng.half_life_days))
    parts: list[RulePoints] = [
        {"group": "engagement", "rule": f"{kind} x{len(vals)}", "points": round(sum(vals), 2)}
        for kind, vals in sorted(by_kind.items())
    ]
    total = sum(sum(v) for v in by_kind.values())
    if total > eng.cap:
        parts.append({"group": "engagement", "rule": f"cap {eng.cap:g}", "points": round(eng.cap - total, 2)})
        total = eng.cap
    return total, parts


def _negative(f: LeadFeatures, rules: ScoringRules) -> tuple[float, list[RulePoints]]:
    title = (f.job_title or "").casefold()
    points: dict[str, float] = dict(rules.negative.items())
    signals: dict[str, bool] = {
        "competitor": f.is_competitor or (f.email_domain or "") in rules.competitor_domains,
        "free_email": f.is_free_email,
        "disposable_email": f.is_disposable_email,
        "student": f.seniority in ("student", "intern"),
        "job_seeker": any(w in title for w in JOB_SEEKER_WORDS),
        "do_not_contact": f.do_not_contact,
        "bounced": f.bounced,
    }
    parts: list[RulePoints] = [
        {"group": "negative", "rule": name, "points": points[name]}
        for name, fired in signals.items()
        if fired and points.get(name)
    ]
    return sum(p["points"] for p in parts), parts


def _grade(value: float, thresholds: Iterable[tuple[str, float]], worst: str) -> str:
    for label, floor in sorted(thresholds, key=lambda kv: -kv[1]):
        if value >= floor:
            return label
    return worst


def score_lead(features: LeadFeatures, events: Iterable[EngagementEvent], rules: ScoringRules, now: datetime) -> ScoreResult:
    """Return the lead's fit, engagement, negative and total score (total floored at 0) as of ``now``."""
    fit, fit_parts = _fit(features, rules)
    eng, eng_parts = _engagement(events, rules, now)
    neg, neg_parts = _negative(features, rules)
    total = max(fit + eng + neg, 0.0)
    return ScoreResult(
        fit=round(fit, 2),
        engagement=round(eng, 2),
        negative=round(neg, 2),
        total=round(total, 2),
        fit_grade=_grade(fit, rules.grades.fit.items(), "D"),
        engagement_grade=_grade(eng, rules.grades.engagement.items(), "4"),
        breakdown=tuple(fit_parts + eng_parts + neg_parts),
    )


# --------------------------------------------------------------------------- lifecycle

HAND_RAISER_CAUSE = "hand-raiser fast-track (demo or contact-sales request)"
COMPETITOR_CAUSE = "competitor domain"
COMPETITOR_REASON = "competitor"  # the disqualification reason a competitor gets


def mql_cause(total: float, threshold: float) -> str:
    """Return why a lead became an MQL by its score, in words."""
    return f"score {total:g} crossed the MQL threshold {threshold:g}"


def nurture_cause(total: float, threshold: float, nurture_after_days: float) -> str:
    """Return why an untouched lead under the threshold went to nurture, in words."""
    return f"score {total:g} under the MQL threshold {threshold:g} and no touch for {nurture_after_days:g} days"


@dataclass(frozen=True)
class StageChange:
    """A lifecycle move decided by scoring: the new stage, why, and a disqualification reason if any."""

    to_stage: Stage
    cause: str
    disqualified_reason: str | None = None


def lifecycle_after_scoring(
    stage: Stage | str, result: ScoreResult, *, is_hand_raiser: bool, is_competitor: bool, threshold: float
) -> StageChange | None:
    """Return the stage change scoring implies for a lead in ``stage``, or None to stay put.

    The one-lead reference of :func:`leadops.domain.stage_moves.stage_moves` (without the
    nurture rule, which needs the lead's last touch).
    """
    if stage not in SCORER_OWNS:
        return None
    if is_competitor:
        return StageChange(Stage.DISQUALIFIED, COMPETITOR_CAUSE, COMPETITOR_REASON)
    if is_hand_raiser:
        return StageChange(Stage.MQL, HAND_RAISER_CAUSE)
    if result.total >= threshold:
        return StageChange(Stage.MQL, mql_cause(result.total, threshold))
    return None
