"""Explaining a conversion model, the same way for every learner.

A feature's effect on one lead is how far the lead's log-odds of converting sit above what
they would be, all else equal, if that feature took the values of an average lead (the
most frequent categories, weighted by frequency; the deciles of a number). For a logistic
regression this is the coefficient measured from the average; for boosted trees it also
carries the interactions the trees learned around that lead. Positive effects push the
lead towards converting.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from leadops.domain.conversion_model import ConversionModel


def effects(model: ConversionModel, x: pd.DataFrame) -> pd.DataFrame:
    """Return one row per row of ``x`` (a prepared frame) and one column per feature: the effect
    in log-odds of the row's value of that feature against an average lead's."""
    base = model.log_odds(x)
    out = pd.DataFrame(index=x.index)
    n = len(x)
    for col in [*model.numeric, *model.categorical]:
        values, weights = model.reference[col], model.reference_weights[col]
        # one prediction pass for every reference value of the column, stacked
        probe = pd.concat([x] * len(values), ignore_index=True)
        probe[col] = np.repeat(np.array(values, dtype=object), n)
        if col in model.numeric:
            probe[col] = pd.to_numeric(probe[col])
        alt = model.log_odds(probe).reshape(len(values), n)
        out[col] = base - np.asarray(weights) @ alt
    return out


def _label(col: str, value: object, numeric: bool) -> str:
    """Return how a factor is shown: ``column=value`` (a number as %g; a missing number as the column alone)."""
    if numeric:
        number = float(value)  # type: ignore[arg-type]  # a numeric column of the prepared frame holds floats
        return col if np.isnan(number) else f"{col}={number:g}"
    return f"{col}={value}"


def top_factors(model: ConversionModel, x: pd.DataFrame, k: int = 3) -> list[list[dict[str, Any]]]:
    """Return, per row of ``x`` (prepared), the ``k`` features with the largest effect: ``feature`` (column=value)
    and ``effect`` (log-odds); features without effect are left out."""
    eff = effects(model, x)
    cols = list(eff.columns)
    matrix: npt.NDArray[np.float64] = eff.to_numpy()
    out = []
    for i, row in enumerate(matrix):
        order = np.argsort(-np.abs(row))[:k]
        out.append([{"feature": _label(cols[j], x.iloc[i][cols[j]], cols[j] in model.numeric),
                     "effect": round(float(row[j]), 4)} for j in order if abs(row[j]) >= 1e-4])
    return out


def global_factors(model: ConversionModel, x: pd.DataFrame, limit: int = 15, min_rows: int = 3) -> list[dict[str, Any]]:
    """Return the features that move predictions most over the rows of ``x``: for a category, the mean
    effect of leads having it (``column=value``); for a number, the mean effect of its upper half minus
    that of its lower half (positive: higher values convert more). Ranked by size of ``weight``."""
    eff = effects(model, x)
    rows: list[dict[str, Any]] = []
    for col in model.categorical:
        means = eff[col].groupby(x[col]).agg(["mean", "size"])
        for value, (mean, size) in means.iterrows():
            if size >= min_rows:
                rows.append({"feature": f"{col}={value}", "weight": round(float(mean), 4), "leads": int(size)})
    for col in model.numeric:
        v = x[col]
        present = v.notna()
        if present.sum() >= 2 * min_rows:
            high = v > v[present].median()
            hi, lo = eff[col][present & high], eff[col][present & ~high]
            if len(hi) and len(lo):
                rows.append({"feature": col, "weight": round(float(hi.mean() - lo.mean()), 4),
                             "leads": int(present.sum())})
    return sorted(rows, key=lambda r: -abs(r["weight"]))[:limit]
