"""The lifecycle moves a scoring pass decides, over whole columns: to MQL, to nurture, disqualified.

The vectorized form of :func:`leadops.domain.scoring.lifecycle_after_scoring` (which is the
one-lead reference for MQL and disqualification), plus the nurture rule, which needs the last
touch: an unowned lead that stays under the threshold and went untouched for a while is nurtured.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from leadops.domain.lifecycle import SCORER_OWNS, Stage
from leadops.domain.scoring import COMPETITOR_CAUSE, COMPETITOR_REASON, HAND_RAISER_CAUSE, mql_cause, nurture_cause

#: columns :func:`stage_moves` reads from the leads frame (index: lead id)
STAGE_MOVE_COLUMNS = ("lifecycle_stage", "is_competitor", "is_hand_raiser", "owner_sdr_id")
#: stages nurture may take an unowned, untouched lead from (an unowned MQL too: nobody works it)
NURTURE_FROM: tuple[Stage, ...] = (Stage.NEW, Stage.RECYCLED, Stage.MQL)


def stage_moves(leads: pd.DataFrame, total: pd.Series, last_touch: pd.Series, *, threshold: float,
                nurture_after_days: float, now: datetime) -> pd.DataFrame:
    """Return one row per lead whose stage the scores move (index: lead id, a subset of ``leads``'), with
    ``from_stage``, ``to_stage``, ``cause`` (why, in words) and ``disqualified_reason`` (None unless disqualified).

    ``total``: each lead's new score; ``last_touch``: its last arrival or activity (UTC). A
    competitor is disqualified, a hand-raiser or a score at the threshold makes an MQL, both only
    from the stages the scorer owns; disqualification wins over MQL, MQL over nurture.
    """
    stage = leads["lifecycle_stage"]
    owns = stage.isin([s.value for s in SCORER_OWNS])
    competitor = leads["is_competitor"].fillna(False).astype(bool)
    hand = leads["is_hand_raiser"].fillna(False).astype(bool)
    to_disq = owns & competitor
    to_mql = owns & ~competitor & (hand | (total >= threshold)) & (stage != Stage.MQL.value)
    stale = last_touch.reindex(leads.index) < pd.Timestamp(now - timedelta(days=nurture_after_days))
    to_nurture = (stage.isin([s.value for s in NURTURE_FROM]) & leads["owner_sdr_id"].isna() & ~competitor & ~hand
                  & (total < threshold) & stale.fillna(False).astype(bool))
    causes = pd.Series(None, index=leads.index, dtype="object")
    causes[to_nurture] = _each_distinct(total[to_nurture], lambda t: nurture_cause(t, threshold, nurture_after_days))
    causes[to_mql & ~hand] = _each_distinct(total[to_mql & ~hand], lambda t: mql_cause(t, threshold))
    causes[to_mql & hand] = HAND_RAISER_CAUSE
    causes[to_disq] = COMPETITOR_CAUSE
    # later assignments win: disqualification over MQL over nurture
    target = pd.Series(None, index=leads.index, dtype="object")
    target[to_nurture] = Stage.NURTURE.value
    target[to_mql] = Stage.MQL.value
    target[to_disq] = Stage.DISQUALIFIED.value
    moving = target.notna() & (target != stage)
    to = target[moving]
    # from a list: pandas fills an object Series' blanks with NaN, and the database wants NULL
    reason = pd.Series([COMPETITOR_REASON if t == Stage.DISQUALIFIED.value else None for t in to],
                       index=to.index, dtype="object")
    return pd.DataFrame({"from_stage": stage[moving], "to_stage": to, "cause": causes[moving],
                         "disqualified_reason": reason})


def _each_distinct(values: pd.Series, words: Callable[[float], str]) -> npt.NDArray[np.object_]:
    """Return ``words(v)`` for each score in ``values``, called once per distinct score (by bit pattern: -0.0
    is worded apart from 0.0)."""
    scores = np.ascontiguousarray(values.to_numpy(dtype="float64"))
    bits, which = np.unique(scores.view(np.int64), return_inverse=True)
    return np.array([words(v) for v in bits.view(np.float64).tolist()], dtype=object)[which]
