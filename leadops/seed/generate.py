"""Build the whole sample as data (:class:`SeedPlan`): pure, one ``random.Random(seed)``, no clock, no IO."""
from __future__ import annotations

import random
from datetime import date

from leadops.config import Rules
from leadops.seed.context import Ctx, calendar_of_person, week_bounds
from leadops.seed.firmographics import companies
from leadops.seed.history import history
from leadops.seed.inbox import events_file, inbox_files
from leadops.seed.people import People
from leadops.seed.plan import SeedPlan

HISTORY_SHARE = 0.85


def generate(seed: int, anchor: date, rules: Rules, n_leads: int = 2000) -> SeedPlan:
    """Return the whole seed as data: ~85% history leads, ~15% current-week inbox rows. No IO.

    Deterministic: depends only on ``seed``, ``anchor``, ``n_leads`` and the rule files.
    """
    rng = random.Random(seed)
    history_start, week_start, cutoff = week_bounds(anchor)
    people = {p.code: p for p in rules.roster.people}
    ctx = Ctx(seed, anchor, rng, rules, cutoff, history_start, week_start,
              {c: calendar_of_person(p) for c, p in people.items()}, people)
    comps = companies()
    pool = People(rng, comps, rules.scoring.competitor_domains)
    n_history = round(n_leads * HISTORY_SHARE)
    leads, accounts = history(ctx, pool, n_history)
    inbox = inbox_files(ctx, pool, n_leads - n_history, leads)
    events = [events_file(ctx, pool, leads)]  # drawn last: the rest of the plan does not depend on it
    return SeedPlan(seed, anchor, week_start, history_start, cutoff, comps, accounts, leads, inbox, events)
