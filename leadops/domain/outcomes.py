"""Outcome feedback: did the leads scoring ranked high, and the routing rules and SDRs they went to, convert?

Pure functions over typed values (no IO). Leads old enough to have had their chance are grouped by score
band and grade (the score they had when they were handed to sales, see :func:`decision_score`), by the
routing rule and the SDR of their first assignment; each group gets its leads, its converted leads, the
rate and a 95% Wilson score interval. Small groups are kept, with their wide interval: that width is how
the page says "too few leads to tell".
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from leadops.domain.scoring_pass import UNSCORED, band_labels, band_of

#: the standard normal quantile of a two-sided 95% interval
Z_95 = 1.959963984540054
#: the group of leads never assigned to an SDR (in the rule and SDR tables)
NOT_ROUTED = "(not routed)"
#: the group of leads assigned without a rule (by hand)
NO_RULE = "(no rule)"
#: the group of leads without a grade
NO_GRADE = "(no grade)"
#: the group of every lead (the overall rate)
ALL_LEADS = "All leads"


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """Return the Wilson score interval ``(low, high)`` of the proportion ``successes / trials``; None for 0 trials.

    Unlike the normal approximation (p ± z·√(p(1−p)/n)) it stays within [0, 1], keeps a width at 0/n and
    n/n, and holds up for small groups (Wilson 1927; Newcombe 1998, method 3). Raises ValueError for
    counts that are not ``0 <= successes <= trials``.
    """
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"{successes} successes of {trials} trials: expected 0 <= successes <= trials")
    if trials == 0:
        return None
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # exact bounds at the ends (the formula gives them up to rounding)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


class ScoreBasis(StrEnum):
    """Which score a lead is grouped by in the score band and grade tables."""

    HANDOFF = "handoff"  # the last score stored at or before its hand-off to sales
    CURRENT = "current"  # handed to sales with no score stored by then: its current score (may include later activity)
    NOT_HANDED_OFF = "not_handed_off"  # never MQL nor assigned: its current score (no sales conversation to leak)


@dataclass(frozen=True)
class OutcomeRecord:
    """What is stored about one lead for outcome feedback (grain: one lead)."""

    lead_id: int
    arrived_at: datetime
    stage: str  # its lifecycle stage now
    score: float | None  # its current score (leads.score)
    grade: str | None  # its current grade
    # its hand-off to sales: the first move to MQL or a later funnel step, or its first assignment, whichever came
    # first (None: neither happened)
    handoff_at: datetime | None = None
    handoff_score: float | None = None  # of the last score history row at or before handoff_at (None: no such row)
    handoff_grade: str | None = None
    rule: str | None = None  # the routing rule of its first assignment
    sdr: str | None = None  # the SDR code of its first assignment (None: never assigned)


def decision_score(record: OutcomeRecord) -> tuple[float | None, str | None, ScoreBasis]:
    """Return the (score, grade) a lead is judged by, and where they come from.

    The score it had when it was handed to sales (the last one stored at or before the hand-off): its
    current score can be inflated by what happened after (replies to the SDR, meetings), which would
    flatter the high bands. A lead handed to sales with no score stored by then (loaded with a score, or
    scored before score history was kept) falls back to its current score, and says so; a lead never
    handed to sales had no sales conversation to leak from and is judged by its current score.
    """
    if record.handoff_at is None:
        return record.score, record.grade, ScoreBasis.NOT_HANDED_OFF
    if record.handoff_score is None:
        return record.score, record.grade, ScoreBasis.CURRENT
    return record.handoff_score, record.handoff_grade, ScoreBasis.HANDOFF


@dataclass(frozen=True)
class GroupRate:
    """The conversion of one group of leads (grain: one group)."""

    group: str
    leads: int
    converted: int
    rate: float | None  # converted / leads; None for an empty group
    ci_low: float | None  # the 95% Wilson score interval of the rate
    ci_high: float | None


def group_rate(group: str, leads: int, converted: int) -> GroupRate:
    """Return the rate and its 95% Wilson interval of ``converted`` leads out of ``leads``."""
    interval = wilson_interval(converted, leads)
    return GroupRate(group, leads, converted, converted / leads if leads else None,
                     interval[0] if interval else None, interval[1] if interval else None)


def conversion_by(groups: Iterable[tuple[str, bool]], order: Callable[[str, int], tuple[object, ...]]) -> list[GroupRate]:
    """Return one :class:`GroupRate` per group of ``groups`` ((group, converted) per lead), sorted by
    ``order(group, leads)``."""
    leads: Counter[str] = Counter()
    won: Counter[str] = Counter()
    for k, converted in groups:
        leads[k] += 1
        won[k] += int(converted)
    return [group_rate(k, leads[k], won[k]) for k in sorted(leads, key=lambda k: order(k, leads[k]))]


@dataclass(frozen=True)
class Outcomes:
    """Conversion of a set of leads, overall and by score band, grade, routing rule and SDR."""

    overall: GroupRate
    by_band: list[GroupRate]  # "0-20" ... "100+", then "unscored" (bands without lead left out)
    by_grade: list[GroupRate]  # grades in order, then "(no grade)"
    by_rule: list[GroupRate]  # most leads first, then "(no rule)" and "(not routed)"
    by_sdr: list[GroupRate]  # by SDR code, then "(not routed)"
    score_basis: dict[str, int]  # ScoreBasis value -> leads judged by that score (every basis listed)


_BANDS = [*band_labels(), UNSCORED]


def evaluate(records: Sequence[OutcomeRecord], converted: Collection[int]) -> Outcomes:
    """Return the conversion of ``records`` overall and by group; ``converted``: the ids of the converted leads.

    Every table covers every lead once, so each table's leads add up to the overall count."""
    judged = [(r, r.lead_id in converted, decision_score(r)) for r in records]
    basis = Counter(b for _, _, (_, _, b) in judged)
    return Outcomes(
        overall=group_rate(ALL_LEADS, len(judged), sum(int(won) for _, won, _ in judged)),
        by_band=conversion_by(((band_of(score), won) for _, won, (score, _, _) in judged),
                              lambda g, _n: (_BANDS.index(g),)),
        by_grade=conversion_by(((grade or NO_GRADE, won) for _, won, (_, grade, _) in judged),
                               lambda g, _n: (g == NO_GRADE, g)),
        by_rule=conversion_by(((NOT_ROUTED if r.sdr is None else r.rule or NO_RULE, won) for r, won, _ in judged),
                              lambda g, n: ((g == NO_RULE) + 2 * (g == NOT_ROUTED), -n, g)),
        by_sdr=conversion_by(((r.sdr or NOT_ROUTED, won) for r, won, _ in judged), lambda g, _n: (g == NOT_ROUTED, g)),
        score_basis={b.value: basis.get(b, 0) for b in ScoreBasis},
    )
