"""The conversion model learns a real signal, explains itself, and refuses data it cannot use."""
import numpy as np
import pandas as pd
import pytest

from leadops.domain.conversion import TrainingError, binary_label, clean_frame, split_columns, top_factors, train


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


def test_learns_the_signal_and_ranks_the_right_features():
    df, y = synthetic()
    res = train(clean_frame(df), y)
    assert res.n_train == 450 and res.n_test == 150 and res.auc is not None and res.auc > 0.75
    assert res.top_features[0]["feature"] == "industry=Software" and res.top_features[0]["weight"] > 0
    assert res.dropped == {"email": "identifier-like (600 distinct values)", "empty": "always empty"}
    assert res.numeric == ["employees"] and sorted(res.categorical) == ["industry", "noise"]
    assert sum(c["leads"] for c in res.calibration) == 150
    [factors] = top_factors(res.pipeline, clean_frame(df).head(1), k=2)
    assert len(factors) == 2 and all("effect" in f for f in factors)


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


def test_split_columns_detects_numeric_with_placeholders():
    num, cat, dropped = split_columns(clean_frame(pd.DataFrame({"n": ["1", "2", "Select", "4"] * 10,
                                                                "c": ["x", "y", "x", "z"] * 10})))
    assert (num, cat, dropped) == (["n"], ["c"], {})
