"""Decision quality of `leadops score train` on a CSV export, against the bare learners on the same split.

    .venv/bin/python bench/model_quality.py Leads.csv --label Converted --exclude "Prospect ID,Tags,..."

Prints, on the held-out rows (the last 25% in file order, as `score train` holds them out), the AUC of
the model leadops chose and calibrated, of a bare logistic regression (one-hot, default settings) and of
scikit-learn's HistGradientBoostingClassifier with default settings (categories from the dtype), each
fitted on the same training rows, and the ratio of leadops' AUC to each. The dataset is not bundled:
bench/RESULTS.md names the public export the figures were measured on.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", type=Path)
    ap.add_argument("--label", required=True)
    ap.add_argument("--exclude", default="")
    ap.add_argument("--rules-score", default=None)
    args = ap.parse_args()

    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from leadops.domain.conversion import prepare, split_columns, train
    from leadops.services.model import read_training_csv

    x, y = read_training_csv(args.csv, args.label, [c.strip() for c in args.exclude.split(",") if c.strip()])
    rules = x.pop(args.rules_score) if args.rules_score else None
    started = time.perf_counter()
    res = train(x, y, rules_score=rules)
    seconds = time.perf_counter() - started

    keep = y.notna()
    x, y = x[keep], y[keep].astype(int)
    num, cat, _ = split_columns(x)
    xp = prepare(num, cat, x)
    cut = round(len(xp) * 0.75)
    lr = make_pipeline(ColumnTransformer([("n", make_pipeline(SimpleImputer(), StandardScaler()), num),
                                          ("c", OneHotEncoder(handle_unknown="ignore"), cat)]),
                       LogisticRegression(max_iter=2000)).fit(xp.iloc[:cut], y.iloc[:cut])
    xc = xp.astype(dict.fromkeys(cat, "category"))
    hgb = HistGradientBoostingClassifier().fit(xc.iloc[:cut], y.iloc[:cut])
    bare = {"logistic_regression": roc_auc_score(y.iloc[cut:], lr.predict_proba(xp.iloc[cut:])[:, 1]),
            "gradient_boosting": roc_auc_score(y.iloc[cut:], hgb.predict_proba(xc.iloc[cut:])[:, 1])}
    out = {"rows": len(xp), "converted": round(float(y.mean()), 4), "held_out": len(xp) - cut,
           "leadops": {"model": res.kind, "auc": res.auc, "brier": res.brier, "lift_top_decile": res.lift_top_decile,
                       "cv_auc": res.cv_auc, "train_seconds": round(seconds, 1)},
           "rules": res.rules, "bare_auc": {k: round(v, 4) for k, v in bare.items()},
           "ratio_to_bare": {k: round((res.auc or 0) / v, 4) for k, v in bare.items()}}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
