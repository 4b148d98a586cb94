"""A learned conversion model next to the rules: trained on the project's own history or on any CSV
with a label column, chosen among learners by cross-validation on the training part
(:mod:`leadops.domain.conversion_model`) and evaluated on a time-ordered holdout against the
rules-only score.

Pure functions over DataFrames; scikit-learn is imported lazily (it costs a second).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from leadops.domain.normalize import PLACEHOLDERS as INTAKE_PLACEHOLDERS

#: Values that mean "nothing was entered" in CRM exports (compared case-insensitively).
# intake's placeholders, plus what CRM exports write for "no value" in columns meant for a model
PLACEHOLDERS = INTAKE_PLACEHOLDERS | {"na", "--select--", "unknown", "nan"}
POSITIVE_LABELS = frozenset({"1", "true", "yes", "y", "oui", "won", "closed won", "converted", "sql", "1.0"})
NEGATIVE_LABELS = frozenset({"0", "false", "no", "n", "non", "lost", "closed lost", "not converted", "0.0"})
BANDS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0001)


class TrainingError(ValueError):
    """The data cannot train a model; the message says what is wrong and where."""


@dataclass
class TrainResult:
    """What training produced: the chosen, calibrated model and what it and the rules score on the held-out part.

    Held-out figures (``auc``, ``brier``, ``lift_top_decile``, ``calibration``) are the chosen
    model's; ``holdout_auc`` gives every candidate's for comparison (never used to choose);
    ``rules`` the rules-only score's AUC and lift on the same rows, or why there are none.
    """

    model: Any
    auc: float | None
    n_train: int
    n_test: int
    positives_train: int
    positives_test: int
    numeric: list[str]
    categorical: list[str]
    top_features: list[dict[str, Any]]
    calibration: list[dict[str, Any]]
    note: str | None = None
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why it was not used
    kind: str = ""
    cv_auc: dict[str, float] = field(default_factory=dict)
    holdout_auc: dict[str, float | None] = field(default_factory=dict)
    brier: float | None = None
    lift_top_decile: float | None = None
    rules: dict[str, Any] = field(default_factory=dict)


def clean_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with placeholders ('Select', 'n/a', blanks...) as missing and strings trimmed."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            s = out[col].astype("string").str.strip()
            out[col] = s.mask(s.str.casefold().isin(PLACEHOLDERS)).astype(object).where(lambda x: x.notna(), None)
    return out


def binary_label(values: pd.Series, name: str) -> pd.Series:
    """Return the label as 0/1 (NaN where missing); raises TrainingError for values that are not two classes."""
    s = values.astype("string").str.strip().str.casefold()
    mapped = pd.Series(np.where(s.isin(POSITIVE_LABELS), 1.0, np.where(s.isin(NEGATIVE_LABELS), 0.0, np.nan)),
                       index=values.index)
    unknown = sorted(set(s[mapped.isna() & s.notna()].dropna().unique()))[:5]
    if unknown:
        raise TrainingError(f"label column {name!r}: values {', '.join(map(repr, unknown))} are neither positive "
                            f"({', '.join(sorted(POSITIVE_LABELS))}) nor negative ({', '.join(sorted(NEGATIVE_LABELS))})")
    return mapped


def split_columns(df: pd.DataFrame, *, max_levels: int = 50) -> tuple[list[str], list[str], dict[str, str]]:
    """Return (numeric columns, categorical columns, dropped column -> reason) detected from the values."""
    numeric, categorical, dropped = [], [], {}
    n = max(len(df), 1)
    for col in df.columns:
        s = df[col]
        present = s.dropna()
        if present.empty:
            dropped[col] = "always empty"
            continue
        as_num = pd.to_numeric(present, errors="coerce")
        if as_num.notna().mean() >= 0.95:
            if as_num.nunique() <= 1:
                dropped[col] = "constant"
            else:
                numeric.append(col)
            continue
        levels = present.astype(str).nunique()
        if levels <= 1:
            dropped[col] = "constant"
        elif levels > max_levels and levels > 0.5 * n:
            dropped[col] = f"identifier-like ({levels} distinct values)"
        else:
            categorical.append(col)
    return numeric, categorical, dropped


def train(df: pd.DataFrame, label: pd.Series, *, holdout: float = 0.25, order: pd.Series | None = None,
          rules_score: pd.Series | None = None) -> TrainResult:
    """Choose, fit and calibrate the conversion model on ``df`` (features) and ``label`` (0/1), holding out
    the latest rows; returns it with its held-out figures.

    ``order`` sorts rows in time (else the frame's order is taken as time order); the last
    ``holdout`` share is the test set, never seen by the choice of model
    (:func:`leadops.domain.conversion_model.choose`). ``rules_score`` (same index) is the
    rules-only score the model is compared with on the held-out rows.
    """
    from leadops.domain.conversion_explain import global_factors
    from leadops.domain.conversion_model import choose

    keep = label.notna()
    df, label = df[keep], label[keep].astype(int)
    if order is not None:
        idx = order[keep].sort_values(kind="stable").index
        df, label = df.loc[idx], label.loc[idx]
    if len(df) < 20:
        raise TrainingError(f"only {len(df)} labelled rows: at least 20 are needed")
    if label.nunique() < 2:
        raise TrainingError(f"the label has one class only ({int(label.iloc[0])} for all {len(label)} rows)")
    numeric, categorical, dropped = split_columns(df)
    if not numeric and not categorical:
        raise TrainingError("no usable feature column (all empty, constant or identifier-like)")
    cut = round(len(df) * (1 - holdout))
    y_train, y_test = label.iloc[:cut], label.iloc[cut:]
    if y_train.nunique() < 2:
        raise TrainingError("the earliest rows (training part) have one class only: more history is needed")
    x = prepare(numeric, categorical, df)
    x_train, x_test = x.iloc[:cut], x.iloc[cut:]
    model, candidates = choose(x_train, y_train, numeric, categorical)
    proba = model.predict(x_test) if len(y_test) else np.array([])
    y = y_test.to_numpy()
    note = None
    two_classes = y_test.nunique() == 2
    if not two_classes:
        note = "the holdout has one class only: AUC cannot be computed (more varied recent history is needed)"
    holdout_auc = {k: _auc(y, m.predict(x_test)) if two_classes else None for k, m in candidates.items()}
    rules: dict[str, Any] = {}
    if rules_score is not None:
        r = pd.to_numeric(rules_score.reindex(y_test.index), errors="coerce").to_numpy(dtype=float)
        known = ~np.isnan(r)
        rules = {"leads": int(known.sum()),
                 "auc": _auc(y[known], r[known]) if known.any() and len(set(y[known])) == 2 else None,
                 "lift_top_decile": lift_top_decile(r[known], y[known])}
    # explanations over a sample of the training part: enough rows for stable means, bounded cost
    sample = x_train.sample(1000, random_state=0) if len(x_train) > 1000 else x_train
    return TrainResult(model, holdout_auc[model.kind], len(y_train), len(y_test), int(y_train.sum()), int(y_test.sum()),
                       numeric, categorical, global_factors(model, sample), calibration(proba, y), note, dropped,
                       model.kind, model.cv_auc, holdout_auc,
                       round(float(np.mean((proba - y) ** 2)), 4) if len(y) else None,
                       lift_top_decile(proba, y), rules)


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Return the ROC AUC rounded to 4 places, None when ``y`` has one class only."""
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(y, score)), 4) if len(set(y.tolist())) == 2 else None


def lift_top_decile(score: np.ndarray, y: np.ndarray) -> float | None:
    """Return the conversion rate of the tenth of rows with the highest ``score`` over the overall rate
    (1.0: the score finds converters no better than chance); None without rows or converters.
    Ties at the cut are broken by row order, as a list sorted by score would be."""
    if len(y) == 0 or y.sum() == 0:
        return None
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[:max(1, int(np.ceil(len(y) / 10)))]
    return round(float(y[top].mean() / y.mean()), 3)


def calibration(proba: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
    """Return, per predicted-probability band, the leads, the mean prediction and the observed rate."""
    out = []
    for lo, hi in pairwise(BANDS):
        m = (proba >= lo) & (proba < hi)
        if m.any():
            out.append({"band": f"{lo:.0%}-{min(hi, 1):.0%}", "leads": int(m.sum()),
                        "predicted": round(float(proba[m].mean()), 4), "observed": round(float(y[m].mean()), 4)})
    return out


def top_factors(model: Any, rows: pd.DataFrame, k: int = 3) -> list[list[dict[str, Any]]]:
    """Return, per row, the ``k`` features that pushed its predicted conversion the most, with their effect
    in log-odds (:mod:`leadops.domain.conversion_explain`)."""
    from leadops.domain.conversion_explain import top_factors as explain

    return explain(model, prepare(model.numeric, model.categorical, rows), k)


def predict(model: Any, rows: pd.DataFrame) -> np.ndarray:
    """Return the predicted conversion probability per row, for a model saved by ``score train``
    (a logistic regression pipeline saved before models were chosen is still read)."""
    if hasattr(model, "named_steps"):
        pre = model.named_steps["features"]
        cols = list(pre.transformers_[0][2]), list(pre.transformers_[1][2])
        old: np.ndarray = model.predict_proba(prepare(*cols, rows))[:, 1]
        return old
    proba: np.ndarray = model.predict(prepare(model.numeric, model.categorical, rows))
    return proba


def prepare(numeric: list[str], categorical: list[str], rows: pd.DataFrame) -> pd.DataFrame:
    """Return the model's input: numeric columns as numbers, categorical ones as text with "(missing)"."""
    x = pd.DataFrame(index=rows.index)
    for c in numeric:
        x[c] = pd.to_numeric(rows[c], errors="coerce") if c in rows else np.nan
    for c in categorical:
        col = rows[c] if c in rows else pd.Series(None, index=rows.index, dtype=object)
        x[c] = col.astype(object).where(col.notna(), "(missing)").astype(str)
    return x
