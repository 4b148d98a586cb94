"""The lifecycle of a lead: one enum of stages and the named groups every layer uses.

``new -> mql -> sal -> sql -> opportunity (SAO) -> won | lost``, plus ``nurture``, ``disqualified``
(with a reason) and ``recycled``. The database refuses any other value (a check constraint on
``leads.lifecycle_stage`` and ``lead_stage_history``), so a typo fails where it is written.
"""
from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """One lifecycle stage; its value is what the database, reports and rule files say."""

    NEW = "new"
    MQL = "mql"  # marketing-qualified: the score crossed the threshold (or a hand-raiser)
    SAL = "sal"  # sales-accepted: an SDR took it
    SQL = "sql"  # sales-qualified: the SDR qualified it after a conversation
    OPPORTUNITY = "opportunity"  # an AE accepted the meeting the SDR booked (SAO)
    WON = "won"
    LOST = "lost"
    NURTURE = "nurture"
    DISQUALIFIED = "disqualified"
    RECYCLED = "recycled"


#: every stage, in lifecycle order (the order reports list them in)
STAGES: tuple[Stage, ...] = tuple(Stage)

#: stages the scorer may move a lead out of (to MQL or nurture); past them a person decides
SCORER_OWNS: frozenset[Stage] = frozenset({Stage.NEW, Stage.NURTURE, Stage.RECYCLED})

#: stages a scoring pass still looks at (a lead past SQL keeps the score it had)
SCORED: tuple[Stage, ...] = (Stage.NEW, Stage.MQL, Stage.SAL, Stage.SQL, Stage.NURTURE, Stage.RECYCLED)

#: stages in which a lead belongs to an SDR who must work it (reassigned when its SDR leaves)
OPEN_OWNED: tuple[Stage, ...] = (Stage.MQL, Stage.SAL, Stage.SQL)

#: stages that end a follow-up cadence: the lead moved on (qualified, closed, disqualified, nurtured)
CADENCE_ENDS: tuple[Stage, ...] = (Stage.SQL, Stage.OPPORTUNITY, Stage.WON, Stage.LOST, Stage.DISQUALIFIED,
                                   Stage.NURTURE)

#: the funnel's steps: a lead counts at a step when it reached that stage or a later one
FUNNEL_STEPS: tuple[Stage, ...] = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.WON)

#: where a lead that left the funnel early ends (an SAL that ends here without SQL is sales-rejected: SRL)
FUNNEL_EXITS: tuple[Stage, ...] = (Stage.RECYCLED, Stage.NURTURE, Stage.DISQUALIFIED, Stage.LOST)


def check_sql(column: str) -> str:
    """Return the SQL of a CHECK constraint that admits only the stages in ``column``."""
    return f"{column} IN (" + ", ".join(f"'{s.value}'" for s in Stage) + ")"
