"""The sample's history: leads that went through the pipeline in the weeks before the anchor's week."""
from __future__ import annotations

import heapq
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from leadops.domain.lifecycle import Stage
from leadops.domain.scoring import lifecycle_after_scoring
from leadops.seed.activities import marketing_events, work_lead
from leadops.seed.context import PARIS, Ctx, utc
from leadops.seed.people import People, SamplePerson
from leadops.seed.plan import PlannedAccount, PlannedAssignment, PlannedLead
from leadops.seed.reference import CAMPAIGNS, COUNTRY_TZ, HOUR_WEIGHTS, SOURCE_WEIGHTS, STUDENT_TITLES
from leadops.seed.routing import SampleRouter
from leadops.seed.scores import score_at, score_version
from leadops.seed.sla import first_touch_clock
from leadops.seed.stages import move
from leadops.seed.text import company_key


def _arrival(ctx: Ctx, country: str) -> datetime:
    """Return an arrival instant in history: weekdays and office hours weigh more, slight growth."""
    rng = ctx.rng
    days = (ctx.week_start - ctx.history_start).days
    weights = [(0.25 if (ctx.history_start + timedelta(days=i)).astimezone(PARIS).weekday() >= 5 else 1.0)
               * (1 + 0.3 * i / days) for i in range(days)]
    d = (ctx.history_start + timedelta(days=rng.choices(range(days), weights)[0])).astimezone(PARIS).date()
    tz = ZoneInfo(COUNTRY_TZ.get(country, "Europe/Paris"))
    hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
    t = utc(d, hour, rng.randint(0, 59), tz)
    return min(max(t, ctx.history_start), ctx.week_start - timedelta(minutes=1))


def _event_arrival(ctx: Ctx, source: str) -> datetime | None:
    """Trade shows happen on fixed days; returns an arrival for those or None."""
    rng = ctx.rng
    if source == "trade_show":  # a two-day salon in week -5, visitors scanned 10:00-18:00 Paris
        d = (ctx.history_start + timedelta(days=8 + rng.randint(0, 1))).astimezone(PARIS).date()
        return utc(d, rng.randint(10, 17), rng.randint(0, 59), PARIS)
    return None


def _lead_fields(ctx: Ctx, p: SamplePerson, source: str, t0: datetime) -> dict[str, Any]:
    """Return the leads-row values of a new history lead (stage new, scores filled later)."""
    # enrichment knows the listed companies only (a miss for the others; no company, nothing to look up)
    c = p.company if p.company is not None and p.company.listed else None
    enriched = c is not None
    return {
        "email": p.email, "email_domain": p.email.split("@")[1], "first_name": p.first, "last_name": p.last,
        "company": p.company_name or None, "company_key": company_key(p.company_name) if p.company_name else None,
        "job_title": p.title, "seniority": p.seniority, "department": p.department, "phone": p.phone,
        "country": p.country, "language": p.language, "source": source,
        "campaign": ctx.rng.choice(CAMPAIGNS[source]), "is_free_email": p.free_email,
        "is_competitor": p.competitor, "is_hand_raiser": source in ctx.rules.scoring.hand_raiser_sources,
        "lifecycle_stage": Stage.NEW.value, "stage_changed_at": t0, "disqualified_reason": None,
        "industry": c.industry if c else None, "employee_count": c.employee_count if c else None,
        "employee_band": c.employee_band if c else None, "revenue_band": c.revenue_band if c else None,
        "enrichment_status": "enriched" if enriched else "skipped" if p.company is None else "miss",
        "enriched_at": t0 + timedelta(minutes=ctx.rng.randint(2, 9)),
        "routing_status": None, "arrived_at": t0, "created_at": t0, "grade": None,
    }


def _nurture_unrouted(ctx: Ctx, pl: PlannedLead) -> None:
    """Apply scoring's nurture rule to a lead that never became an MQL (so it has no owner).

    Scoring sends an unowned lead under the threshold to nurture once it has had no touch for
    ``nurture_after_days``; the move is dated when that happens. A lead reaching that age on the
    anchor day itself is nurtured at the cutoff: `leadops score --all` run that day (right
    after `make demo`) would move it otherwise, and the sample is meant to agree with scoring.
    """
    sc = ctx.rules.scoring
    last_touch = max([pl.fields["arrived_at"]] + [a.occurred_at for a in pl.activities])
    stale = last_touch + timedelta(days=sc.nurture_after_days)
    day_end = datetime.combine(ctx.anchor + timedelta(days=1), time.min, PARIS).astimezone(UTC)
    if stale >= day_end:
        return
    at = min(stale, ctx.cutoff)
    total = score_at(ctx.rules, pl, at).total
    cause = f"score {total:g} under the MQL threshold {sc.mql_threshold:g} and no touch for {sc.nurture_after_days:g} days"
    move(pl, Stage.NURTURE, at, cause if stale <= ctx.cutoff else f"seed: {cause} by the end of {ctx.anchor}")


#: how long after a held or unroutable decision routing tries the lead again (the next pipeline run)
ROUTING_RETRY = timedelta(hours=1)


def _intake(ctx: Ctx, pl: PlannedLead) -> datetime | None:
    """Take one history lead from arrival to where scoring leaves it; returns when routing first sees
    it (an MQL), or None when it never reaches routing.

    Intake, enrichment and the first scoring pass happen together (``enriched_at``); the lead is
    scored again after each engagement event, and scoring's own lifecycle rule
    (domain.scoring.lifecycle_after_scoring) decides: a competitor is disqualified, a hand-raiser is
    an MQL at once, any other lead when its score reaches the MQL threshold. A lead that never does
    gets scoring's nurture rule.
    """
    rng, f, sc = ctx.rng, pl.fields, ctx.rules.scoring
    first = f["enriched_at"]
    move(pl, Stage.NEW, f["arrived_at"], f"seed: lead created from {f['source']}")
    if f["job_title"] in STUDENT_TITLES.values():  # marketing's call, not scoring's
        move(pl, Stage.DISQUALIFIED, first, "seed: student", "student")
        return None
    instants = [first] + [a.occurred_at for a in pl.activities if first < a.occurred_at <= ctx.cutoff]
    for t in instants:
        result = score_at(ctx.rules, pl, t)
        change = lifecycle_after_scoring(f["lifecycle_stage"], result, is_hand_raiser=f["is_hand_raiser"],
                                         is_competitor=f["is_competitor"], threshold=sc.mql_threshold)
        if change is None:
            continue
        if change.to_stage != Stage.MQL:
            move(pl, Stage(change.to_stage), t, f"seed: {change.cause}", change.disqualified_reason)
            return None
        move(pl, Stage.MQL, t + timedelta(minutes=rng.randint(1, 5)), f"seed: {change.cause}")
        f["grade"] = result.grade  # as routing and the SLA policy see the lead
        return f["stage_changed_at"] + timedelta(minutes=rng.randint(1, 3))
    _nurture_unrouted(ctx, pl)
    return None


def _work(ctx: Ctx, pl: PlannedLead, assigned: datetime) -> None:
    """From its assignment on: the lead's first-touch SLA clock, then its SDR's cadence if touched by the cutoff."""
    assert pl.owner is not None
    f = pl.fields
    pl.clock, touch = first_touch_clock(ctx, pl, assigned, ctx.calendars[pl.owner])
    if touch <= ctx.cutoff:
        propensity = 2.2 if f["is_hand_raiser"] else 0.6 if f["source"] == "outbound_list" else \
            1.0 + score_at(ctx.rules, pl, assigned).fit / 100
        work_lead(ctx, pl, touch, propensity)


def _route_all(ctx: Ctx, leads: list[PlannedLead], queue: list[tuple[datetime, str, int]],
               accounts: dict[str, PlannedAccount]) -> None:
    """Route the MQLs of ``queue`` (routing instant, email, index in ``leads``) in time order with the
    real router, and work each one assigned before routing the next: the state routing reads (open
    leads, daily counts, the round robin) is then what the earlier leads left at that instant.

    As a routing pass does: an account without owner is claimed by the SDR its first routed lead
    goes to (routing.yaml's assign_new_accounts); a held or unroutable lead is tried again at the
    next pass, and stays an MQL without owner if none assigns it by the cutoff.
    """
    router = SampleRouter(ctx.rules, ctx.calendars)
    held_since: dict[int, datetime] = {}
    heapq.heapify(queue)
    while queue:
        at, email, i = heapq.heappop(queue)
        pl = leads[i]
        acct = accounts.get(pl.account_domain) if pl.account_domain else None
        since = held_since.get(i)
        decision = router.route(pl, acct.owner if acct else None, at,
                                (at - since).total_seconds() / 3600 if since else None)
        if decision.status != "assigned" or decision.sdr is None:
            if decision.status == "held":
                held_since.setdefault(i, at)
            pl.fields["routing_status"] = decision.status
            if at + ROUTING_RETRY <= ctx.cutoff:
                heapq.heappush(queue, (at + ROUTING_RETRY, email, i))
            continue
        if acct is not None and acct.owner is None and ctx.rules.routing.assign_new_accounts:
            acct.owner = decision.sdr
        pl.owner = decision.sdr
        pl.assignment = PlannedAssignment(decision.sdr, decision.rule or "", decision.reason,
                                          list(decision.candidates), at, decision.ae)
        pl.fields["routing_status"] = "assigned"
        _work(ctx, pl, at)


def history(ctx: Ctx, people: People, n: int) -> tuple[list[PlannedLead], list[PlannedAccount]]:
    """Return ``n`` history leads (sorted by arrival) and the accounts of their company domains."""
    rng = ctx.rng
    drafts = []
    for _ in range(n):
        source = rng.choices(list(SOURCE_WEIGHTS), list(SOURCE_WEIGHTS.values()))[0]
        p = people.draw()
        t0 = _event_arrival(ctx, source) or _arrival(ctx, p.country)
        drafts.append((t0, p, source))
    drafts.sort(key=lambda d: (d[0], d[1].email))
    accounts: dict[str, PlannedAccount] = {}
    leads: list[PlannedLead] = []
    queue: list[tuple[datetime, str, int]] = []
    for t0, p, source in drafts:
        fields = _lead_fields(ctx, p, source, t0)
        if p.company is not None and p.company.domain not in accounts:
            accounts[p.company.domain] = PlannedAccount(p.company.domain, p.company.name, company_key(p.company.name),
                                                        None, t0)
        pl = PlannedLead(fields, None, p.company.domain if p.company is not None else None)
        pl.activities = marketing_events(ctx, fields, t0)
        routed_at = _intake(ctx, pl)
        if routed_at is not None:
            queue.append((routed_at, pl.email, len(leads)))
        leads.append(pl)
    _route_all(ctx, leads, queue, accounts)
    for pl in leads:
        _scored(ctx, pl)
    return leads, list(accounts.values())


def _scored(ctx: Ctx, pl: PlannedLead) -> None:
    """Store the lead's score as of its last change.

    History was scored after everything it holds happened, so the pipeline's incremental scoring
    leaves it alone until something new happens to the lead; its stored score is the real
    scorer's at that instant.
    """
    fields = pl.fields
    last = max([fields["enriched_at"], fields["stage_changed_at"]] + [a.occurred_at for a in pl.activities])
    fields["scored_at"] = min(last + timedelta(minutes=5), max(last, ctx.cutoff))
    result = score_at(ctx.rules, pl, fields["scored_at"])
    fields.update(fit_score=result.fit, engagement_score=result.engagement, score=result.total,
                  grade=result.grade, score_version=score_version(ctx.rules))
    fields["updated_at"] = max([fields["stage_changed_at"], fields["scored_at"]]
                               + [a.occurred_at for a in pl.activities])
