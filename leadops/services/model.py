"""Training the conversion model on the project's history (or a CRM export) and storing it."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from leadops.db.models import utcnow
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.conversion import TrainingError, binary_label, clean_frame, predict, top_factors

FEATURES = ("industry", "employee_band", "country", "seniority", "department", "source", "is_free_email",
            "is_hand_raiser")
CONVERTED = ("sql", "opportunity", "won")
MIN_AGE_DAYS = 14  # leads younger than this have not had their chance to convert yet


def history_frame(uow: UnitOfWork, *, now: datetime | None = None) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Return (features, label 1 = reached SQL or beyond, arrival time) for leads old enough to have converted,
    read through ``uow.leads``."""
    now = now or utcnow()
    df = uow.leads.conversion_history(now - timedelta(days=MIN_AGE_DAYS), FEATURES)
    converted = converted_ids(uow, dict(zip(df.index, df["stage"], strict=True)))
    label = pd.Series(df.index.isin(list(converted)), index=df.index).astype(float)
    return feature_frame(df), label, df["arrived_at"]


def converted_ids(uow: UnitOfWork, stages: Mapping[int, str]) -> set[int]:
    """Return the ids among ``stages`` (lead id -> current stage) of the leads that converted: in one of
    CONVERTED now, or moved to one at any time, or with an opportunity (``uow.leads.reached_stages``)."""
    return (uow.leads.reached_stages(CONVERTED) & stages.keys()) | {i for i, st in stages.items() if st in CONVERTED}


def feature_frame(leads: pd.DataFrame) -> pd.DataFrame:
    """Return the model's features from a frame of lead columns (flags as yes/no categories), one row per lead."""
    features = leads[list(FEATURES)].astype(object)
    for c in ("is_free_email", "is_hand_raiser"):
        features[c] = features[c].map({True: "yes", False: "no"})
    return features


def read_training_csv(path: Path, label: str, exclude: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """Return (features, 0/1 label) from a CSV export; raises TrainingError naming the file and the problem."""
    from leadops.intake.reading.delimited import detect_delimiter
    from leadops.intake.reading.rows import FileRejected
    from leadops.intake.reading.text import detect_encoding

    try:
        encoding = detect_encoding(path)
    except (ValueError, EOFError) as exc:
        raise TrainingError(f"{path}: {exc}") from None
    except OSError as exc:
        raise TrainingError(f"{path}: {exc.strerror or exc}") from None
    with open(path, encoding=encoding, newline="") as fh:
        sample = fh.read(65536)
    try:
        df = pd.read_csv(path, sep=detect_delimiter(sample), encoding=encoding, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, FileRejected) as exc:
        raise TrainingError(f"{path}: not a readable CSV: {exc}") from None
    df.columns = [c.strip().lstrip("\ufeff") for c in df.columns]
    if label not in df.columns:
        raise TrainingError(f"{path}: no column {label!r} (found: {', '.join(df.columns)})")
    missing = [c for c in exclude if c not in df.columns]
    if missing:
        raise TrainingError(f"{path}: --exclude names unknown column(s) {', '.join(missing)}")
    df = clean_frame(df)
    y = binary_label(df[label], label)
    return df.drop(columns=[label, *exclude]), y


def save_model(result: Any, models_dir: Path, meta: dict[str, Any]) -> Path:
    """Store the fitted model and its metadata as models_dir/conversion.joblib (+ .json); returns the path."""
    import joblib

    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / "conversion.joblib"
    joblib.dump(result.model, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    meta = {**meta, "model_version": digest, "trained_at": utcnow().isoformat(), "kind": result.kind,
            "auc": result.auc, "brier": result.brier, "cv_auc": result.cv_auc, "n_train": result.n_train,
            "n_test": result.n_test, "features": result.numeric + result.categorical}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return path


def report(result: Any, examples: pd.DataFrame | None = None) -> dict[str, Any]:
    """Return the JSON-able summary of a training run (with top factors for ``examples`` rows)."""
    out: dict[str, Any] = {
        "model": result.kind, "auc": result.auc, "brier": result.brier, "lift_top_decile": result.lift_top_decile,
        "cv_auc": result.cv_auc, "holdout_auc": result.holdout_auc, "rules": result.rules,
        "n_train": result.n_train, "n_test": result.n_test,
        "positives_train": result.positives_train, "positives_test": result.positives_test,
        "numeric_columns": result.numeric, "categorical_columns": result.categorical, "dropped_columns": result.dropped,
        "top_features": result.top_features, "calibration": result.calibration,
    }
    if result.note:
        out["note"] = result.note
    if examples is not None and len(examples):
        proba = predict(result.model, examples)
        factors = top_factors(result.model, examples)
        out["examples"] = [{"id": str(i), "p_convert": round(float(p), 4), "top_factors": f}
                           for i, p, f in zip(examples.index, proba, factors, strict=True)]
    return out
