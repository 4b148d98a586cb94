"""Plan-level counts of a sample, as `leadops seed` prints them."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from leadops.seed.plan import SeedPlan


def summarize(plan: SeedPlan) -> dict[str, Any]:
    """Return plan-level counts (independent of what was already in the database)."""
    acts = [a for pl in plan.leads for a in pl.activities]
    opps = [pl.opportunity for pl in plan.leads if pl.opportunity]
    rows = [r for f in plan.inbox_files for r in f.rows]
    kinds = Counter(r.kind for r in rows)
    last_week = plan.week_start - timedelta(weeks=1)
    return {
        "seed": plan.seed, "anchor": plan.anchor.isoformat(), "week_start": plan.week_start.isoformat(),
        "history_leads": len(plan.leads), "accounts": len(plan.accounts),
        "sdrs_owning_leads": len({pl.owner for pl in plan.leads if pl.owner}),
        "stages": dict(sorted(Counter(pl.fields["lifecycle_stage"] for pl in plan.leads).items())),
        "activities": len(acts), "sdr_activities": sum(a.sdr is not None for a in acts),
        "activities_last_week": sum(last_week <= a.occurred_at < plan.week_start for a in acts),
        "activities_current_week": sum(a.occurred_at >= plan.week_start for a in acts),
        "meetings": sum(a.kind == "meeting" for a in acts),
        "future_meetings": sum(a.kind == "meeting" and a.outcome == "scheduled" for a in acts),
        "opportunities": len(opps), "won": sum(o.stage == "won" for o in opps),
        "revenue_won": sum(o.amount for o in opps if o.stage == "won"),
        "sla_clocks": sum(pl.clock is not None for pl in plan.leads),
        "inbox_files": len(plan.inbox_files), "inbox_rows": len(rows),
        "inbox_new": kinds["new"], "inbox_dirty": kinds["dirty"], "inbox_duplicates": kinds["dup_inbox"],
        "inbox_history_duplicates": kinds["dup_history"],
        "activity_export_rows": sum(len(f.rows) for f in plan.activity_files),
    }

