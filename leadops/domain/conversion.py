"""A learned conversion model (logistic regression, scikit-learn) next to the rules: trained on
the project's own history or on any CSV with a label column, evaluated on a time-ordered holdout.

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
    """What training produced: the fitted pipeline, holdout metrics and explanations."""

    pipeline: Any
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


def train(df: pd.DataFrame, label: pd.Series, *, holdout: float = 0.25, order: pd.Series | None = None) -> TrainResult:
    """Fit logistic regression on ``df`` (features) and ``label`` (0/1), holding out the latest rows.

    ``order`` sorts rows in time (else the frame's order is taken as time order); the last
    ``holdout`` share is the test set. Returns AUC on it (None when it has one class only),
    calibration by predicted-probability band and the largest coefficients.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

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
    note = None
    if y_train.nunique() < 2:
        raise TrainingError("the earliest rows (training part) have one class only: more history is needed")
    x = _prepare(numeric, categorical, df)
    pre = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=3), categorical),
    ])
    # no class re-weighting: the probabilities stay calibrated, which blending into the score needs
    pipe = Pipeline([("features", pre), ("model", LogisticRegression(max_iter=2000))])
    pipe.fit(x.iloc[:cut], y_train)
    proba = pipe.predict_proba(x.iloc[cut:])[:, 1] if len(y_test) else np.array([])
    auc = None
    if y_test.nunique() == 2:
        auc = round(float(roc_auc_score(y_test, proba)), 4)
    else:
        note = "the holdout has one class only: AUC cannot be computed (more varied recent history is needed)"
    names = pipe.named_steps["features"].get_feature_names_out()
    coefs = pipe.named_steps["model"].coef_[0]
    top = [{"feature": _pretty(n, categorical), "weight": round(float(w), 4)}
           for n, w in sorted(zip(names, coefs, strict=True), key=lambda nw: -abs(nw[1]))[:15]]
    return TrainResult(pipe, auc, len(y_train), len(y_test), int(y_train.sum()), int(y_test.sum()), numeric, categorical,
                       top, calibration(proba, y_test.to_numpy()), note, dropped)


def calibration(proba: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
    """Return, per predicted-probability band, the leads, the mean prediction and the observed rate."""
    out = []
    for lo, hi in pairwise(BANDS):
        m = (proba >= lo) & (proba < hi)
        if m.any():
            out.append({"band": f"{lo:.0%}-{min(hi, 1):.0%}", "leads": int(m.sum()),
                        "predicted": round(float(proba[m].mean()), 4), "observed": round(float(y[m].mean()), 4)})
    return out


def top_factors(pipe: Any, rows: pd.DataFrame, k: int = 3) -> list[list[dict[str, Any]]]:
    """Return, per row, the ``k`` features that pushed its predicted conversion the most (coefficient x value)."""
    pre, model = pipe.named_steps["features"], pipe.named_steps["model"]
    x = pre.transform(_prepare(*_fitted_columns(pipe), rows))
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    contrib = x * model.coef_[0]
    names = pre.get_feature_names_out()
    out = []
    for row in contrib:
        order = np.argsort(-np.abs(row))[:k]
        cats = list(pre.transformers_[1][2])
        out.append([{"feature": _pretty(names[j], cats), "effect": round(float(row[j]), 4)} for j in order if row[j]])
    return out


def predict(pipe: Any, rows: pd.DataFrame) -> np.ndarray:
    """Return the predicted conversion probability per row."""
    proba: np.ndarray = pipe.predict_proba(_prepare(*_fitted_columns(pipe), rows))[:, 1]
    return proba


def _prepare(numeric: list[str], categorical: list[str], rows: pd.DataFrame) -> pd.DataFrame:
    """Return the model's input: numeric columns as numbers, categorical ones as text with "(missing)"."""
    x = pd.DataFrame(index=rows.index)
    for c in numeric:
        x[c] = pd.to_numeric(rows[c], errors="coerce") if c in rows else np.nan
    for c in categorical:
        col = rows[c] if c in rows else pd.Series(None, index=rows.index, dtype=object)
        x[c] = col.astype(object).where(col.notna(), "(missing)").astype(str)
    return x


def _fitted_columns(pipe: Any) -> tuple[list[str], list[str]]:
    pre = pipe.named_steps["features"]
    return list(pre.transformers_[0][2]), list(pre.transformers_[1][2])


def _pretty(name: str, categorical: list[str]) -> str:
    """'cat__employee_band_51-200' -> 'employee_band=51-200'; 'num__employees' -> 'employees'."""
    kind, _, rest = name.partition("__")
    if kind == "cat":
        col = max((c for c in categorical if rest.startswith(c + "_")), key=len, default=None)
        if col is not None:
            value = rest[len(col) + 1:]
            return f"{col}=(other)" if value == "infrequent_sklearn" else f"{col}={value}"
    return rest
