"""A scoring pass in numbers: its summary, the score bands it reports, and its partitions.

Each lead is scored on its own, so a pass can be cut into partitions of leads scored apart and
their summaries added back up into the summary of the whole pass.
"""
from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

#: lower bounds of the score bands a pass reports its distribution in ("0-20", ..., "100+")
SCORE_BANDS: tuple[int, ...] = (0, 20, 40, 60, 80, 100)
#: the band of leads without a score yet
UNSCORED = "unscored"

_COUNTS = ("scored", "changed", "promoted_mql", "disqualified", "nurtured")
_TALLIES = ("grades", "stage_changes", "distribution_before", "distribution_after")


@dataclass
class ScoreSummary:
    """Counts of one scoring pass (grain: leads)."""

    scored: int = 0
    changed: int = 0
    promoted_mql: int = 0
    disqualified: int = 0
    nurtured: int = 0
    model_version: str = ""
    grades: dict[str, int] = field(default_factory=dict)
    stage_changes: dict[str, int] = field(default_factory=dict)  # "new->mql": n
    # leads per score band ("0-20", ..., "100+") before this pass (unscored leads under "unscored") and after
    distribution_before: dict[str, int] = field(default_factory=dict)
    distribution_after: dict[str, int] = field(default_factory=dict)


def band_labels() -> list[str]:
    """Return the score bands' labels in order: "0-20", "20-40", ..., "100+"."""
    return [f"{lo}-{hi}" for lo, hi in pairwise(SCORE_BANDS)] + [f"{SCORE_BANDS[-1]}+"]


def _band_index(scores: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """Return the index in :func:`band_labels` of each (known) score: a score below 0 counts in the first band."""
    return np.clip(np.searchsorted(SCORE_BANDS, scores, side="right") - 1, 0, len(SCORE_BANDS) - 1)


_LABELS = tuple(band_labels())


def band_of(score: float | None) -> str:
    """Return the score band of one score ("0-20", ..., "100+"), the band :func:`band_counts` counts it in;
    "unscored" for None or NaN. (The same search as :func:`_band_index`, without numpy's cost per call.)"""
    if score is None or score != score:
        return UNSCORED
    return _LABELS[min(max(bisect_right(SCORE_BANDS, score) - 1, 0), len(_LABELS) - 1)]


def band_counts(scores: pd.Series) -> Counter[str]:
    """Return leads per score band (grain: band; NaN counts under "unscored", bands without lead are left out)."""
    labels = band_labels()
    known = scores.dropna()
    idx = _band_index(known.to_numpy())
    values, counts = np.unique(idx, return_counts=True)
    out = Counter({labels[int(i)]: int(n) for i, n in zip(values, counts, strict=True)})
    missing = int(scores.isna().sum())
    if missing:
        out[UNSCORED] = missing
    return out


def partitions(ids: list[int], size: int) -> list[list[int]]:
    """Return ``ids`` cut into consecutive lists of at most ``size`` ids (grain: one scoring partition);
    one empty list when there is no id, so a pass over nothing still reports its model version."""
    return [ids[i:i + size] for i in range(0, len(ids), size)] or [[]]


def combine(parts: Sequence[ScoreSummary]) -> ScoreSummary:
    """Return one summary for scoring passes over disjoint sets of leads (counts and distributions added).

    Raises ValueError when the parts were scored with different model versions: they are not one pass.
    """
    versions = {p.model_version for p in parts}
    if len(versions) > 1:  # scoring.yaml or the model changed between partitions
        raise ValueError(f"partitions scored with different model versions: {sorted(versions)}")
    out = ScoreSummary(model_version=versions.pop() if versions else "")
    tallies: dict[str, Counter[str]] = {k: Counter() for k in _TALLIES}
    for p in parts:
        for k in _COUNTS:
            setattr(out, k, getattr(out, k) + getattr(p, k))
        for k, c in tallies.items():
            c.update(getattr(p, k))
    for k, c in tallies.items():
        setattr(out, k, dict(sorted(c.items())))
    return out
