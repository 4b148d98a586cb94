"""The conversion model learns a real signal, is chosen and calibrated without looking at the held-out
rows, holds its own against the bare learners and the rules, explains itself, and refuses data it
cannot use."""
import numpy as np
import pandas as pd
import pytest

from leadops.domain.conversion import (TrainingError, binary_label, clean_frame, lift_top_decile, predict, prepare,
                                       split_columns, top_factors, train)
from leadops.domain.conversion_model import BOOSTING, CANDIDATES, LOGISTIC


def synthetic(n=600, seed=3):
    rng = np.random.default_rng(seed)
    industry = rng.choice(["Software", "Retail", "Mining"], n)
    employees = rng.integers(5, 5000, n)
    noise = rng.choice(["a", "b", "c"], n)
    logit = -1.5 + 2.5 * (industry == "Software") + 0.0004 * employees
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df = pd.DataFrame({"industry": industry, "employees": employees.astype(str), "noise": noise,
                       "email": [f"p{i}@x.fr" for i in range(n)], "empty": ["Select"] * n})
    return df, pd.Series(y.astype(float))


def interactions(n=2000, seed=7):
    """Conversion driven by an interaction (source x region) and a threshold: what trees see and a
    linear model cannot."""
    rng = np.random.default_rng(seed)
    source = rng.choice(["webinar", "demo", "ebook", "event"], n)
    region = rng.choice(["emea", "amer", "apac"], n)
    visits = rng.integers(0, 30, n)
    hot = ((source == "demo") & (region != "apac")) | ((source == "ebook") & (region == "apac"))
    logit = -1.2 + 2.2 * hot + 1.5 * (visits > 12) - 1.5 * (visits > 24)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return pd.DataFrame({"source": source, "region": region, "visits": visits.astype(str)}), pd.Series(y)


def sparse_linear(n=400, seed=11):
    """Few rows, one additive effect per category of a many-level column: logistic regression's home ground."""
    rng = np.random.default_rng(seed)
    levels = [f"c{i}" for i in range(30)]
    effect = dict(zip(levels, rng.normal(0, 1.2, 30), strict=True))
    cat = rng.choice(levels, n)
    score = rng.normal(0, 1, n)
    logit = np.array([effect[c] for c in cat]) + 0.8 * score
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return pd.DataFrame({"campaign": cat, "score": score.round(3).astype(str)}), pd.Series(y)


def bare_aucs(df, y, holdout=0.25):
    """Held-out AUC of each bare learner a data scientist would fit first, on the same split as train()."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num, cat, _ = split_columns(df)
    x = prepare(num, cat, df)
    cut = round(len(x) * (1 - holdout))
    lr = make_pipeline(ColumnTransformer([("n", make_pipeline(SimpleImputer(), StandardScaler()), num),
                                          ("c", OneHotEncoder(handle_unknown="ignore"), cat)]),
                       LogisticRegression(max_iter=2000)).fit(x.iloc[:cut], y.iloc[:cut])
    xc = x.astype(dict.fromkeys(cat, "category"))
    hgb = HistGradientBoostingClassifier().fit(xc.iloc[:cut], y.iloc[:cut])  # default: categories from the dtype
    return {"logistic": roc_auc_score(y.iloc[cut:], lr.predict_proba(x.iloc[cut:])[:, 1]),
            "boosting": roc_auc_score(y.iloc[cut:], hgb.predict_proba(xc.iloc[cut:])[:, 1])}


def test_learns_the_signal_and_ranks_the_right_features():
    df, y = synthetic()
    res = train(clean_frame(df), y)
    assert res.n_train == 450 and res.n_test == 150 and res.auc is not None and res.auc > 0.75
    assert res.top_features[0]["feature"] == "industry=Software" and res.top_features[0]["weight"] > 0
    employees = next(f for f in res.top_features if f["feature"] == "employees")
    assert employees["weight"] > 0  # more employees, more conversions
    assert res.dropped == {"email": "identifier-like (600 distinct values)", "empty": "always empty"}
    assert res.numeric == ["employees"] and sorted(res.categorical) == ["industry", "noise"]
    assert sum(c["leads"] for c in res.calibration) == 150
    [factors] = top_factors(res.model, clean_frame(df).head(1), k=2)
    assert len(factors) == 2 and all("effect" in f for f in factors)


@pytest.mark.parametrize("make, winner", [(interactions, BOOSTING), (sparse_linear, LOGISTIC)])
def test_chosen_on_the_training_part_and_at_least_as_good_as_each_bare_learner(make, winner):
    df, y = make()
    res = train(df, y)
    assert set(res.cv_auc) == set(CANDIDATES) and res.kind == max(res.cv_auc, key=res.cv_auc.get)
    # the choice is the one the data calls for, made without the held-out rows
    assert res.kind in (winner, "average_of_both")
    bare = bare_aucs(df, y)
    assert res.auc >= max(bare.values()) - 0.005, (res.auc, bare)
    assert res.holdout_auc[res.kind] == res.auc


def test_the_choice_never_sees_the_held_out_rows():
    df, y = interactions(1200)
    res = train(df, y)
    flipped = y.copy()
    flipped.iloc[900:] = 1 - flipped.iloc[900:]  # rewrite the outcome of every held-out row
    again = train(df, flipped)
    assert again.kind == res.kind and again.cv_auc == res.cv_auc
    assert again.auc == pytest.approx(1 - res.auc, abs=1e-3)


def test_probabilities_are_calibrated_and_brier_is_the_held_out_error():
    df, y = interactions(3000, seed=2)
    res = train(df, y)
    cut = res.n_train
    p = predict(res.model, df.iloc[cut:])
    assert res.brier == pytest.approx(float(np.mean((p - y.iloc[cut:].to_numpy()) ** 2)), abs=1e-4)
    assert abs(p.mean() - y.iloc[cut:].mean()) < 0.03
    for band in res.calibration:
        if band["leads"] >= 100:
            assert abs(band["predicted"] - band["observed"]) < 0.08, band
    # the bands keep their order: a higher predicted band converts more
    big = [b for b in res.calibration if b["leads"] >= 100]
    assert [b["observed"] for b in big] == sorted(b["observed"] for b in big)


def test_explanations_for_trees_name_the_features_that_matter():
    df, y = interactions()
    res = train(df, y, )
    assert res.kind != LOGISTIC
    top = [f["feature"] for f in res.top_features[:6]]
    assert any(t.startswith("source=") for t in top) and "visits" in top
    hot = pd.DataFrame({"source": ["demo"], "region": ["emea"], "visits": ["15"]})
    cold = pd.DataFrame({"source": ["webinar"], "region": ["emea"], "visits": ["2"]})
    [hot_f], [cold_f] = top_factors(res.model, hot), top_factors(res.model, cold)
    assert hot_f[0]["effect"] > 0 and cold_f[0]["effect"] < 0
    assert {f["feature"] for f in hot_f} & {"source=demo", "visits=15"}
    assert predict(res.model, hot)[0] > predict(res.model, cold)[0]


def test_compared_with_the_rules_score_on_the_same_rows():
    df, y = synthetic(1200, seed=5)
    rng = np.random.default_rng(0)
    good_rules = pd.Series(np.where(df["industry"] == "Software", 30, 10) + rng.integers(0, 3, 1200), index=df.index)
    res = train(clean_frame(df), y, rules_score=good_rules)
    assert res.rules["leads"] == 300 and res.rules["auc"] is not None
    assert 0.5 < res.rules["auc"] <= res.auc  # the rules see industry only; the model also employees
    blind = train(clean_frame(df), y, rules_score=pd.Series(rng.random(1200), index=df.index))
    assert abs(blind.rules["auc"] - 0.5) < 0.1 and blind.rules["lift_top_decile"] < res.lift_top_decile


def test_lift_of_the_top_decile():
    y = np.array([1] * 10 + [0] * 90)
    assert lift_top_decile(np.arange(100, 0, -1), y) == 10.0  # the ten converters ranked first
    assert lift_top_decile(np.arange(100), y) == 0.0
    assert lift_top_decile(np.zeros(3), np.zeros(3)) is None


def test_a_model_saved_before_the_choice_still_predicts():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    df, y = synthetic(200)
    x = prepare([], ["industry"], df)
    old = Pipeline([("features", ColumnTransformer([("num", "passthrough", []),
                                                    ("cat", OneHotEncoder(), ["industry"])])),
                    ("model", LogisticRegression())]).fit(x, y)
    p = predict(old, df.head(3))
    assert p.shape == (3,) and ((p > 0) & (p < 1)).all()


def test_placeholders_are_missing_and_labels_are_binarized():
    df = clean_frame(pd.DataFrame({"a": [" Select ", "n/a", "x", ""]}))
    assert df["a"].tolist() == [None, None, "x", None]
    assert binary_label(pd.Series(["Yes", "no", "Won", None, "0"]), "y").tolist()[:3] == [1.0, 0.0, 1.0]
    with pytest.raises(TrainingError, match="'maybe'"):
        binary_label(pd.Series(["yes", "maybe"]), "converted")


def test_refuses_what_it_cannot_learn_from():
    df, y = synthetic(100)
    with pytest.raises(TrainingError, match="one class only"):
        train(clean_frame(df), pd.Series([1.0] * 100))
    with pytest.raises(TrainingError, match="at least 20"):
        train(clean_frame(df).head(10), y.head(10))
    with pytest.raises(TrainingError, match="no usable feature"):
        train(clean_frame(df)[["email", "empty"]], y)


def test_a_single_positive_in_training_still_trains_without_cross_validation():
    df, y = synthetic(100)
    y = pd.Series([0.0] * 100)
    y.iloc[[3, 90]] = 1.0
    res = train(clean_frame(df), y)
    assert res.kind == LOGISTIC and res.cv_auc == {}


def test_split_columns_detects_numeric_with_placeholders():
    num, cat, dropped = split_columns(clean_frame(pd.DataFrame({"n": ["1", "2", "Select", "4"] * 10,
                                                                "c": ["x", "y", "x", "z"] * 10})))
    assert (num, cat, dropped) == (["n"], ["c"], {})
