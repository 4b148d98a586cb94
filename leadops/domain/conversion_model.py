"""The learned conversion model: candidate learners, their choice by cross-validation, calibration.

Two learners are candidates, each with the settings a data scientist would try first:
logistic regression (numeric columns imputed and scaled, categorical ones one-hot encoded)
and scikit-learn's HistGradientBoostingClassifier with its default settings and native
categorical splits (categories ordinal-encoded, unseen ones treated as missing). A third
candidate averages the two. :func:`choose` scores every candidate by stratified k-fold
cross-validation on the training part only (the held-out part is never looked at), keeps the
best mean AUC, refitted on the whole training part, with a Platt scaling fitted on its
out-of-fold predictions. Platt scaling is monotone, so it changes probabilities, never the
ranking: the chosen model's AUC is the learner's own.

scikit-learn is imported inside the functions (it costs a second at import time).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

LOGISTIC = "logistic_regression"
BOOSTING = "gradient_boosting"
BLEND = "average_of_both"
CANDIDATES = (LOGISTIC, BOOSTING, BLEND)
MAX_CATEGORIES = 250  # HistGradientBoosting splits at most 255 categories per column; rarer ones are grouped
_EPS = 1e-6


def logistic_pipeline(numeric: list[str], categorical: list[str]) -> Any:
    """Return an unfitted logistic regression pipeline over the prepared frame (see ``conversion.prepare``)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=3), categorical),
    ])
    # no class re-weighting: probabilities stay on the scale of the observed rate
    return Pipeline([("features", pre), ("model", LogisticRegression(max_iter=2000))])


def boosting_pipeline(numeric: list[str], categorical: list[str]) -> Any:
    """Return an unfitted HistGradientBoostingClassifier pipeline (default settings, native categorical splits)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    pre = ColumnTransformer([
        ("num", "passthrough", numeric),  # missing numbers stay NaN: the trees route them on their own
        # -1 (a category never seen in training) is read as missing by the trees
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, max_categories=MAX_CATEGORIES),
         categorical),
    ])
    mask = [False] * len(numeric) + [True] * len(categorical)
    return Pipeline([("features", pre),
                     ("model", HistGradientBoostingClassifier(categorical_features=mask, random_state=0))])


def _fit(kind: str, numeric: list[str], categorical: list[str], x: pd.DataFrame, y: pd.Series) -> list[Any]:
    """Return the fitted pipelines of one candidate (two for the average)."""
    makers = {LOGISTIC: [logistic_pipeline], BOOSTING: [boosting_pipeline],
              BLEND: [logistic_pipeline, boosting_pipeline]}[kind]
    with _one_thread():
        return [make(numeric, categorical).fit(x, y) for make in makers]


def _raw(pipes: list[Any], x: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Return the uncalibrated probability: the mean of the pipelines' predictions."""
    with _one_thread():
        out: npt.NDArray[np.float64] = np.mean([p.predict_proba(x)[:, 1] for p in pipes], axis=0)
    return out


def _one_thread() -> Any:
    """Return a context that keeps OpenMP (the trees) and BLAS (the regression) to one thread each.

    On a busy machine OpenMP threads spin waiting for each other: a training that takes 9 s on
    one thread took 184 s on two cores shared with other work; on an idle machine one thread
    costs little at these sizes.
    """
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # scikit-learn's own dependency

    return threadpool_limits(limits=1)  # OpenMP and BLAS alike


def _logit(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


@dataclass
class ConversionModel:
    """A fitted, calibrated conversion model: what :func:`choose` returns and ``score train`` saves.

    ``predict`` returns one calibrated probability per row; ``reference`` holds, per column,
    the values an "average lead" is drawn from (explanations compare a lead with them).
    """

    kind: str
    numeric: list[str]
    categorical: list[str]
    pipelines: list[Any]
    platt: tuple[float, float] = (1.0, 0.0)  # slope, intercept on the logit of the raw probability
    reference: dict[str, list[Any]] = field(default_factory=dict)
    reference_weights: dict[str, list[float]] = field(default_factory=dict)
    cv_auc: dict[str, float] = field(default_factory=dict)  # mean cross-validated AUC per candidate
    folds: int = 0

    def predict(self, x: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Return the calibrated conversion probability per row of a prepared frame."""
        a, b = self.platt
        out: npt.NDArray[np.float64] = 1 / (1 + np.exp(-(a * _logit(_raw(self.pipelines, x)) + b)))
        return out

    def log_odds(self, x: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Return the calibrated log-odds per row (explanations are differences of these)."""
        a, b = self.platt
        return a * _logit(_raw(self.pipelines, x)) + b


def _reference(x: pd.DataFrame, numeric: list[str], categorical: list[str],
               max_levels: int = 12) -> tuple[dict[str, list[Any]], dict[str, list[float]]]:
    """Return, per column, representative values and their weights: the most frequent categories
    (the rest grouped by weight into them) and the deciles of numeric columns."""
    values: dict[str, list[Any]] = {}
    weights: dict[str, list[float]] = {}
    for c in categorical:
        freq = x[c].value_counts(normalize=True).head(max_levels)
        values[c], weights[c] = list(freq.index), list((freq / freq.sum()).to_numpy(dtype=float))
    for c in numeric:
        present = x[c].dropna()
        qs = np.unique(np.quantile(present, np.linspace(0.05, 0.95, 10))) if len(present) else np.array([np.nan])
        values[c], weights[c] = [float(v) for v in qs], [1 / len(qs)] * len(qs)
    return values, weights


def choose(x: pd.DataFrame, y: pd.Series, numeric: list[str], categorical: list[str], *,
           folds: int = 5) -> tuple[ConversionModel, dict[str, ConversionModel]]:
    """Return (the chosen model, every candidate fitted on all of (x, y)).

    The chosen one has the best mean cross-validated AUC on (x, y), ties going to the simpler
    model (the order of CANDIDATES); each candidate is Platt-calibrated on its own out-of-fold
    predictions. With fewer than two examples of a class, cross-validation is impossible and
    logistic regression is taken, uncalibrated.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    values, weights = _reference(x, numeric, categorical)
    fitted = {LOGISTIC: _fit(LOGISTIC, numeric, categorical, x, y), BOOSTING: _fit(BOOSTING, numeric, categorical, x, y)}
    fitted[BLEND] = fitted[LOGISTIC] + fitted[BOOSTING]
    k = min(folds, int(y.value_counts().min()))
    if k < 2:
        models = {c: ConversionModel(c, numeric, categorical, fitted[c], reference=values, reference_weights=weights)
                  for c in CANDIDATES}
        return models[LOGISTIC], models
    splits = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=0).split(x, y))
    oof: dict[str, npt.NDArray[np.float64]] = {}
    for kind in (LOGISTIC, BOOSTING):
        pred = np.zeros(len(y))
        for train_idx, test_idx in splits:
            pred[test_idx] = _raw(_fit(kind, numeric, categorical, x.iloc[train_idx], y.iloc[train_idx]),
                                  x.iloc[test_idx])
        oof[kind] = pred
    oof[BLEND] = (oof[LOGISTIC] + oof[BOOSTING]) / 2
    # per-fold AUC, averaged: a pooled AUC would mix the folds' different probability scales
    cv_auc = {c: round(float(np.mean([roc_auc_score(y.iloc[t], oof[c][t]) for _, t in splits])), 4)
              for c in CANDIDATES}
    models = {c: ConversionModel(c, numeric, categorical, fitted[c], _platt(oof[c], y), values, weights, cv_auc, k)
              for c in CANDIDATES}
    best = max(CANDIDATES, key=lambda c: (cv_auc[c], -CANDIDATES.index(c)))
    return models[best], models


def _platt(raw: npt.NDArray[np.float64], y: pd.Series) -> tuple[float, float]:
    """Return (slope, intercept) mapping the logit of out-of-fold probabilities to calibrated log-odds."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(raw).reshape(-1, 1), y)
    slope, intercept = float(fit.coef_[0][0]), float(fit.intercept_[0])
    if slope <= 0:  # no better than chance out of fold: keep the learner's own probabilities
        return 1.0, 0.0
    return slope, intercept
