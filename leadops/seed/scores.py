"""The sample scored by the real scorer (domain.scoring), from what happened to a lead up to an instant."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from leadops.config import Rules
from leadops.domain.normalize import DISPOSABLE_EMAIL_DOMAINS
from leadops.domain.scoring import EngagementEvent, LeadFeatures, ScoreResult, score_lead
from leadops.seed.context import Ctx
from leadops.seed.plan import PlannedLead
from leadops.services.score import REPLY_OUTCOMES

SEED_SCORE_VERSION = "seed"


def features(f: dict[str, Any], bounced: bool) -> LeadFeatures:
    """Return what the real scorer reads of a planned lead (its ``leads`` row values)."""
    return LeadFeatures(
        industry=f["industry"], employee_band=f["employee_band"], revenue_band=f["revenue_band"], country=f["country"],
        seniority=f["seniority"], department=f["department"], source=f["source"], job_title=f["job_title"],
        email_domain=f["email_domain"], is_free_email=f["is_free_email"],
        is_disposable_email=f["email_domain"] in DISPOSABLE_EMAIL_DOMAINS, is_competitor=f["is_competitor"],
        do_not_contact=bool(f.get("do_not_contact")), bounced=bounced)


def score_at(rules: Rules, pl: PlannedLead, at: datetime) -> ScoreResult:
    """Return the lead's score as ``leadops score`` computes it at ``at``, from what happened up to ``at``.

    The same inputs as services/score.py: the arrival as an event of the lead's source, web
    events by outcome, replies to SDR emails (REPLY_OUTCOMES), a bounced email as a negative.
    """
    f = pl.fields
    events = [EngagementEvent(f["source"], f["arrived_at"])]
    bounced = False
    for a in pl.activities:
        if a.occurred_at > at:
            continue
        if a.kind == "web":
            events.append(EngagementEvent(a.outcome or "", a.occurred_at))
        elif a.kind == "email":
            bounced = bounced or a.outcome == "bounced"
            if a.outcome in REPLY_OUTCOMES:
                events.append(EngagementEvent(REPLY_OUTCOMES[a.outcome], a.occurred_at))
    return score_lead(features(f, bounced), events, rules.scoring, at)


def stays_below(ctx: Ctx, pl: PlannedLead, since: datetime) -> bool:
    """True when scoring would leave the lead under the MQL threshold from ``since`` on: not a
    hand-raiser, and under the threshold at ``since`` and after each of its later engagement
    events. Decay only lowers a score between events, so that covers every instant up to now."""
    if pl.fields["is_hand_raiser"]:
        return False
    instants = [since] + [a.occurred_at for a in pl.activities if since < a.occurred_at <= ctx.cutoff]
    return all(score_at(ctx.rules, pl, t).total < ctx.rules.scoring.mql_threshold for t in instants)


def score_version(rules: Rules) -> str:
    """The version history leads are scored with: scoring.yaml's, unless the learned model is blended
    in (the seed scores with the rules only, so it does not claim the blended version)."""
    return SEED_SCORE_VERSION if rules.scoring.model.enabled else rules.scoring.version
