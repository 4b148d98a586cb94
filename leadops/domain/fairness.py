"""Fairness of a pool's rotation: did each member get their weighted share of the leads they could take?

Pure. For every lead a pool's rotation placed, each member eligible at that moment (active, weight above 0,
not out of office, under their caps, in working hours when anyone of the pool is: the members the router
chose from) had an expected share ``weight / sum of the eligible members' weights``; a member's expected
count is the sum of those shares over the pool's leads, and their ratio is ``got / expected`` (1.0: exactly
their share, 2.0: twice it). The pool's fairness is max/min of the ratios of the members expected at least
``min_expected`` leads (1.0: perfectly even).

A lead a member could not take (out of office, off hours, capped) counts neither for nor against them, so
members with different availability are compared on what each could receive, and a pool is judged on its own
leads only: territories of different volume do not make a fair rotation look unfair.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: members expected fewer leads than this are listed but not part of a pool's fairness figure: below it one
#: lead more or less moves a ratio by 20 % or more (the same rule of thumb as a chi-squared test's "at least 5
#: expected per cell")
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class Placement:
    """One lead a pool's rotation placed: the members who could take it then (code -> weight) and who got it."""

    eligible: Mapping[str, float]
    got: str


@dataclass(frozen=True)
class MemberShare:
    """One member's share of a pool's leads (grain: one member of one pool)."""

    code: str
    got: int  # the pool's leads this member got
    expected: float  # the sum of their weighted shares of the leads they were eligible for
    ratio: float | None  # got / expected; None when they were never eligible
    available: float  # the part of the pool's leads for which they were eligible (0..1)
    counted: bool  # expected >= min_expected: part of the pool's fairness


@dataclass(frozen=True)
class PoolFairness:
    """A pool's rotation judged on its own leads (grain: one pool, one replay or history)."""

    leads: int  # leads placed by the rotation and judged (``outside`` excluded)
    fairness: float | None  # max/min ratio of the counted members; None when fewer than two are counted or
    #                         one of them got nothing (then ``unbounded``)
    unbounded: bool  # a counted member got none of the leads expected for them: max/min is infinite
    outside: int  # leads given to someone who was not eligible then: counted for nobody
    members: tuple[MemberShare, ...]
    min_expected: float


def pool_fairness(placements: Iterable[Placement], members: Iterable[str] = (),
                  min_expected: float = MIN_EXPECTED) -> PoolFairness:
    """Return each member's got, expected and ratio over ``placements``, and the pool's fairness.

    ``members`` lists the pool's members in the order to report them (a member never eligible is still
    listed, with no ratio); anyone else eligible for one of the leads is added after them.
    """
    order: dict[str, None] = dict.fromkeys(members)
    got: dict[str, int] = {}
    expected: dict[str, float] = {}
    eligible_for: dict[str, int] = {}
    leads = outside = 0
    for p in placements:
        weights = {code: w for code, w in p.eligible.items() if w > 0}
        total = sum(weights.values())
        order.update(dict.fromkeys(weights))
        if p.got not in weights:
            outside += 1  # not a rotation's choice among those who could take it: says nothing of its fairness
            continue
        leads += 1
        got[p.got] = got.get(p.got, 0) + 1
        for code, w in weights.items():
            expected[code] = expected.get(code, 0.0) + w / total
            eligible_for[code] = eligible_for.get(code, 0) + 1
    rows = tuple(MemberShare(
        code=code, got=got.get(code, 0), expected=expected.get(code, 0.0),
        ratio=got.get(code, 0) / expected[code] if expected.get(code, 0.0) > 0 else None,
        available=eligible_for.get(code, 0) / leads if leads else 0.0,
        counted=expected.get(code, 0.0) >= min_expected) for code in order)
    ratios = [r.ratio for r in rows if r.counted and r.ratio is not None]
    unbounded = len(ratios) >= 2 and min(ratios) == 0
    fairness = max(ratios) / min(ratios) if len(ratios) >= 2 and not unbounded else None
    return PoolFairness(leads=leads, fairness=fairness, unbounded=unbounded, outside=outside, members=rows,
                        min_expected=min_expected)
