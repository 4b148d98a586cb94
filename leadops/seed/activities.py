"""What happens to a sample lead after intake: marketing engagement, then its SDR's cadence (touches,
qualification, meetings, the AE's opportunity), stopped at the cutoff."""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from leadops.domain.business_time import add_business_seconds
from leadops.domain.lifecycle import Stage
from leadops.seed.context import PARIS, Ctx, utc
from leadops.seed.plan import PlannedActivity, PlannedLead, PlannedOpportunity
from leadops.seed.reference import ENGAGEMENT_EVENTS
from leadops.seed.scores import stays_below
from leadops.seed.stages import move

_DQ_AT_TOUCH = ["out_of_icp", "no_budget", "not_interested"]


def webinar_times(ctx: Ctx) -> list[datetime]:
    """Thursday 11:00 Paris of history weeks 1, 3 and 5 (0-based)."""
    return [utc((ctx.history_start + timedelta(weeks=w, days=3)).astimezone(PARIS).date(), 11, 0, PARIS)
            for w in (1, 3, 5)]


def marketing_events(ctx: Ctx, lead: dict[str, Any], t0: datetime) -> list[PlannedActivity]:
    """Return the lead's marketing engagement (kind "web", no SDR), all before the cutoff."""
    rng = ctx.rng
    out = []
    if lead["source"] == "webinar":
        webinar = next((w for w in webinar_times(ctx) if w > t0), None)
        if webinar and webinar <= ctx.cutoff and rng.random() < 0.5:
            out.append(PlannedActivity(ctx.key(), "web", "webinar_attended", webinar, detail=lead["campaign"]))
    for outcome, base in ENGAGEMENT_EVENTS:
        if outcome == "webinar_attended" or (outcome == "white_paper" and lead["source"] == "white_paper"):
            continue
        p = base / 3 if lead["source"] == "outbound_list" else base
        n = sum(rng.random() < p for _ in range(2))
        for _ in range(n):
            t = t0 + timedelta(hours=rng.expovariate(1 / 100))
            if t <= ctx.cutoff:
                out.append(PlannedActivity(ctx.key(), "web", outcome, t, detail=f"seed {outcome.replace('_', ' ')}"))
    out.sort(key=lambda a: a.occurred_at)
    return out


def _touch_outcome(rng: random.Random, kind: str, propensity: float) -> str:
    r = rng.random()
    if kind == "call":
        for outcome, p in (("meeting_booked", 0.035 * propensity), ("disqualified", 0.025), ("connected", 0.16)):
            if r < p:
                return outcome
            r -= p
        return "no_answer"
    if kind == "email":
        for outcome, p in (("meeting_booked", 0.022 * propensity), ("bounced", 0.012), ("replied", 0.07)):
            if r < p:
                return outcome
            r -= p
        return "no_reply"
    return "replied" if r < 0.08 else "sent"


def work_lead(ctx: Ctx, pl: PlannedLead, first_touch: datetime, propensity: float) -> None:
    """Simulate the SDR cadence from ``first_touch``: touches, SQL, meetings, SAO, close; stops at cutoff."""
    rng, sdr = ctx.rng, pl.owner
    assert sdr is not None  # only a routed lead is worked
    cal = ctx.calendars[sdr]
    f = pl.fields
    dq = f["industry"] in ("Education", "Public Sector") or f["employee_band"] == "1-10"
    if (dq and rng.random() < 0.7) or (f["is_free_email"] and rng.random() < 0.25):
        pl.activities.append(PlannedActivity(ctx.key(), "call", "disqualified", first_touch, sdr))
        reason = "out_of_icp" if dq else rng.choice(["bad_data", "duplicate"])
        move(pl, Stage.DISQUALIFIED, first_touch, f"seed: SDR disqualified at first touch ({reason})", reason)
        return
    move(pl, Stage.SAL, first_touch, "seed: SDR accepted")
    t = first_touch
    for i in range(rng.randint(4, 8)):
        if i:
            t = add_business_seconds(cal, t, 8 * 3600 * rng.uniform(0.5, 3.0))
        if t > ctx.cutoff:
            return
        kind = rng.choices(["call", "email", "linkedin"], [0.45, 0.4, 0.15])[0]
        outcome = _touch_outcome(rng, kind, propensity)
        pl.activities.append(PlannedActivity(ctx.key(), kind, outcome, t, sdr))
        if outcome in ("connected", "replied") and f["lifecycle_stage"] != Stage.SQL and rng.random() < 0.35:
            move(pl, Stage.SQL, t, "seed: SDR qualified after a conversation")
        elif outcome == "disqualified":
            reason = rng.choice(_DQ_AT_TOUCH)
            move(pl, Stage.DISQUALIFIED, t, f"seed: SDR disqualified on call ({reason})", reason)
            return
        elif outcome == "bounced":
            move(pl, Stage.DISQUALIFIED, t, "seed: email bounced", "bad_data")
            return
        elif outcome == "meeting_booked":
            if f["lifecycle_stage"] != Stage.SQL:
                move(pl, Stage.SQL, t, "seed: meeting booked")
            _meetings(ctx, pl, t)
            return
    end = add_business_seconds(cal, t, 8 * 3600 * rng.uniform(1, 3))
    if end <= ctx.cutoff:
        r = rng.random()
        if r < 0.5:
            _park(ctx, pl, end, "seed: cadence finished without reply")
        else:
            reason = "not_interested" if r < 0.8 else "no_budget"
            move(pl, Stage.DISQUALIFIED, end, f"seed: SDR closed after cadence ({reason})", reason)


def _park(ctx: Ctx, pl: PlannedLead, at: datetime, cause: str) -> None:
    """The SDR hands the lead back to marketing (nurture) when scoring would keep it there;
    otherwise (a hand-raiser, or a score at or over the MQL threshold) the next scoring pass
    would make it an MQL again at once, so the SDR closes it as not interested instead."""
    if stays_below(ctx, pl, at):
        move(pl, Stage.NURTURE, at, cause)
    else:
        move(pl, Stage.DISQUALIFIED, at, f"{cause}; closed as not interested (its score keeps it an MQL)",
             "not_interested")


def _meetings(ctx: Ctx, pl: PlannedLead, booked: datetime) -> None:
    """Book a meeting (and one reschedule after a no-show); a held one may become an SAO."""
    rng, sdr = ctx.rng, pl.owner
    assert sdr is not None
    cal = ctx.calendars[sdr]
    for _attempt in range(2):
        when = add_business_seconds(cal, booked, 8 * 3600 * rng.uniform(1.5, 8))
        when = when.replace(minute=(when.minute // 30) * 30, second=0)
        # a meeting after the cutoff is still ahead; the draw is only made for one that happened
        outcome = "scheduled" if when > ctx.cutoff else "held" if rng.random() < 0.8 else "no_show"
        ae = ctx.people[sdr].paired_ae
        pl.activities.append(PlannedActivity(ctx.key(), "meeting", outcome, booked, sdr, scheduled_for=when,
                                             detail=f"discovery call with {ctx.people[ae].name if ae else 'AE'}"))
        if outcome == "scheduled":
            return
        if outcome == "held":
            _sao(ctx, pl, when)
            return
        booked = add_business_seconds(cal, when, 8 * 3600 * rng.uniform(0.2, 2))  # rebook after the no-show
        if booked > ctx.cutoff or rng.random() < 0.5:
            return
        pl.activities.append(PlannedActivity(ctx.key(), "email", "meeting_booked", booked, sdr,
                                             detail="rebooked after no-show"))


def _sao(ctx: Ctx, pl: PlannedLead, held: datetime) -> None:
    """~30% of held meetings become an opportunity; old enough ones may be won or lost."""
    rng, f = ctx.rng, pl.fields
    assert pl.owner is not None
    ae = ctx.people[pl.owner].paired_ae
    created = held + timedelta(hours=rng.uniform(2, 48))
    if rng.random() >= 0.30 or created > ctx.cutoff:
        if rng.random() < 0.3 and created <= ctx.cutoff:
            _park(ctx, pl, created, "seed: AE rejected the meeting (SRL)")
        return
    size = {"1-10": 0.3, "11-50": 0.5, "51-200": 0.8, "201-1000": 1.2, "1001-5000": 1.8, "5001+": 2.2}
    amount = min(120_000, max(5_000, rng.lognormvariate(9.9, 0.6) * size.get(f["employee_band"], 0.8)))
    amount = round(amount / 500) * 500
    move(pl, Stage.OPPORTUNITY, created, "seed: AE accepted the meeting (SAO)")
    close = created + timedelta(days=rng.uniform(7, 35))
    stage, closed_at = "open", None
    if close <= ctx.cutoff and rng.random() < 0.75:
        stage, closed_at = ("won" if rng.random() < 0.45 else "lost"), close
        move(pl, Stage(stage), close, f"seed: opportunity {stage}")
    pl.opportunity = PlannedOpportunity(pl.owner, ae, created, stage, float(amount), closed_at)
