"""Lifecycle moves of a planned lead: its stage history and the ``leads`` columns that follow it."""
from __future__ import annotations

from datetime import datetime

from leadops.domain.lifecycle import Stage
from leadops.seed.plan import PlannedLead, StageChange


def move(pl: PlannedLead, to: Stage, at: datetime, cause: str, reason: str | None = None) -> None:
    """Record the move of ``pl`` to stage ``to`` at ``at`` (with a disqualification ``reason`` if any).

    The plan holds the stage's value (a plain string), as the database stores it.
    """
    stage = Stage(to).value
    pl.stages.append(StageChange(pl.stages[-1].to_stage if pl.stages else None, stage, at, cause))
    pl.fields["lifecycle_stage"] = stage
    pl.fields["stage_changed_at"] = at
    if reason:
        pl.fields["disqualified_reason"] = reason
