"""Vectorized lead scoring: the rules of :mod:`leadops.domain.scoring` applied to whole columns.

Scoring is a set operation here: each fit rule is one ``map`` over a column, engagement is one
decay over the events column and one group-by, negatives are boolean columns. The per-lead
breakdown (every rule that fired, with its points) is assembled only for the leads whose score
changed, from the same component columns. :func:`leadops.domain.scoring.score_lead` is the
one-lead reference; a property test checks both agree.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from leadops.config import ScoringRules
from leadops.domain.scoring import JOB_SEEKER_WORDS, RulePoints

#: Columns :func:`score_frame` reads from the leads frame (index: lead id).
LEAD_COLUMNS = ("industry", "employee_band", "revenue_band", "country", "seniority", "department", "source",
                "job_title", "email_domain", "is_free_email", "is_disposable_email", "is_competitor",
                "do_not_contact", "bounced")
NEGATIVES = ("competitor", "free_email", "disposable_email", "student", "job_seeker", "do_not_contact", "bounced")
_JOB_SEEKER = re.compile("|".join(re.escape(w) for w in JOB_SEEKER_WORDS))


def _grades(values: npt.NDArray[np.float64], thresholds: Iterable[tuple[str, float]],
            worst: str) -> npt.NDArray[np.str_]:
    """Return each value's grade: the label of the highest threshold it reaches, else ``worst``."""
    ordered = sorted(thresholds, key=lambda kv: -kv[1])
    return np.select([values >= floor for _, floor in ordered], [label for label, _ in ordered], default=worst)


def score_frame(leads: pd.DataFrame, events: pd.DataFrame, rules: ScoringRules, now: datetime) -> pd.DataFrame:
    """Return one row per lead (same index as ``leads``): fit, engagement, negative, total, grades,
    and the component columns the breakdown is built from (``fit:<field>``, ``eng:<kind>`` points,
    ``n:<kind>`` counts, ``neg:<signal>``, ``cap:fit``, ``cap:engagement``).

    ``events`` has columns ``lead_id``, ``kind`` and ``at`` (timezone-aware UTC); events of
    kinds without points are ignored.
    """
    out = pd.DataFrame(index=leads.index)
    # fit: one map per rule
    fit = np.zeros(len(leads))
    for rule in rules.fit:
        col = leads[rule.field]
        pts = col.map(rule.points).astype("float64").fillna(rule.default).to_numpy()
        out[f"fit:{rule.field}"] = pts
        fit += pts
    capped = np.minimum(fit, rules.fit_cap)
    out["cap:fit"] = capped - fit
    out["fit"] = capped

    # engagement: decay every event at once, then sum per lead and kind
    eng_rules = rules.engagement
    eng = np.zeros(len(leads))
    if len(events):
        base = events["kind"].map(eng_rules.points).to_numpy(dtype="float64", na_value=np.nan)
        pos = leads.index.get_indexer(pd.Index(events["lead_id"]))
        keep = ~np.isnan(base) & (base != 0) & (pos >= 0)
        at = events["at"]
        if not isinstance(at.dtype, pd.DatetimeTZDtype):
            at = pd.to_datetime(at, utc=True)
        age = (pd.Timestamp(now) - at[keep]).dt.total_seconds().to_numpy() / 86400
        points = base[keep] * 0.5 ** (np.maximum(age, 0.0) / eng_rules.half_life_days)
        codes, kinds = pd.factorize(events["kind"].to_numpy()[keep], sort=True)
        # one bincount over (lead, kind) cells instead of a group-by: sums and counts per lead and kind
        cell = pos[keep] * len(kinds) + codes
        size = len(leads) * len(kinds)
        sums = np.bincount(cell, weights=points, minlength=size).reshape(len(leads), len(kinds))
        counts = np.bincount(cell, minlength=size).reshape(len(leads), len(kinds))
        for j, kind in enumerate(kinds):
            out[f"eng:{kind}"] = sums[:, j]
            out[f"n:{kind}"] = counts[:, j]
        eng = sums.sum(axis=1)
    capped_eng = np.minimum(eng, eng_rules.cap)
    out["cap:engagement"] = capped_eng - eng
    out["engagement"] = capped_eng

    # negative signals: boolean columns times their points
    title = leads["job_title"].fillna("").str.casefold()
    fired = {
        "competitor": leads["is_competitor"].fillna(False).astype(bool)
                      | leads["email_domain"].isin(rules.competitor_domains),
        "free_email": leads["is_free_email"].fillna(False).astype(bool),
        "disposable_email": leads["is_disposable_email"].fillna(False).astype(bool),
        "student": leads["seniority"].isin(("student", "intern")),
        "job_seeker": title.str.contains(_JOB_SEEKER, regex=True),
        "do_not_contact": leads["do_not_contact"].fillna(False).astype(bool),
        "bounced": leads["bounced"].fillna(False).astype(bool),
    }
    neg = np.zeros(len(leads))
    negative: dict[str, float] = dict(rules.negative.items())
    for name in NEGATIVES:
        signal = np.where(fired[name].to_numpy(), negative.get(name) or 0.0, 0.0)
        out[f"neg:{name}"] = signal
        neg += signal
    out["negative"] = neg
    out["total"] = np.maximum(out["fit"] + out["engagement"] + neg, 0.0)
    # grades from the unrounded values, as the one-lead scorer does
    out["fit_grade"] = _grades(out["fit"].to_numpy(), rules.grades.fit.items(), "D")
    out["engagement_grade"] = _grades(out["engagement"].to_numpy(), rules.grades.engagement.items(), "4")
    for c in ("fit", "engagement", "negative", "total"):
        out[c] = out[c].round(2)
    out["grade"] = out["fit_grade"] + out["engagement_grade"]
    return out


def breakdowns(scored: pd.DataFrame, leads: pd.DataFrame, rules: ScoringRules) -> dict[int, list[RulePoints]]:
    """Return lead id -> every rule that fired with its points, for the leads in ``scored``.

    Same entries and order as :func:`leadops.domain.scoring.score_lead`'s breakdown.
    """
    fit_cols = [(r.field, f"fit:{r.field}") for r in rules.fit]
    kinds = sorted(c[4:] for c in scored.columns if c.startswith("eng:"))
    out: dict[int, list[RulePoints]] = {}
    values = {c: scored[c].to_numpy() for c in scored.columns if ":" in c}
    fields = {f: leads[f].to_numpy() for f, _ in fit_cols}
    for i, lead_id in enumerate(scored.index):
        parts: list[RulePoints] = []
        for f, col in fit_cols:
            pts = values[col][i]
            if pts:
                parts.append({"group": "fit", "rule": f"{f}={_label(fields[f][i])}", "points": round(float(pts), 2)})
        if values["cap:fit"][i]:
            parts.append({"group": "fit", "rule": f"cap {rules.fit_cap:g}", "points": round(float(values["cap:fit"][i]), 2)})
        for kind in kinds:
            n = int(values[f"n:{kind}"][i])
            if n:
                parts.append({"group": "engagement", "rule": f"{kind} x{n}",
                              "points": round(float(values[f"eng:{kind}"][i]), 2)})
        if values["cap:engagement"][i]:
            parts.append({"group": "engagement", "rule": f"cap {rules.engagement.cap:g}",
                          "points": round(float(values["cap:engagement"][i]), 2)})
        for name in NEGATIVES:
            pts = values[f"neg:{name}"][i]
            if pts:
                parts.append({"group": "negative", "rule": name, "points": float(pts)})
        out[int(lead_id)] = parts
    return out


def _label(value: object) -> str:
    return "None" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def breakdown_json(scored: pd.DataFrame, leads: pd.DataFrame, rules: ScoringRules,
                   extra: pd.Series | None = None) -> pd.Series:
    """Return each lead's breakdown as JSON text (index: ``scored``'s), built by column: the text
    ``json.dumps`` gives for :func:`breakdowns`' list of the same lead, plus ``extra`` (one more entry
    per lead, as JSON object text, or None) at its end.

    Each rule's entries are formatted once per column (labels once per distinct value, points with
    the shortest repr as ``json`` writes floats), then joined per lead: the history of a 100k-lead
    pass is written without building a dict per rule per lead.
    """
    n = len(scored)
    acc = np.full(n, "", dtype=object)

    def add(fired: npt.NDArray[np.bool_], head: str | npt.NDArray[np.object_], points: npt.NDArray[np.float64]) -> None:
        if not fired.any():
            return
        text = _json_floats(points[fired])
        part = head + text + "}, " if isinstance(head, str) else head[fired] + text + "}, "
        acc[fired] = acc[fired] + part

    for rule in rules.fit:
        pts = scored[f"fit:{rule.field}"].to_numpy(dtype="float64")
        values = leads[rule.field].reindex(scored.index).to_numpy(dtype=object)
        add(pts != 0, _label_heads("fit", rule.field, values), np.round(pts, 2))
    cap = scored["cap:fit"].to_numpy(dtype="float64")
    add(cap != 0, _head("fit", f"cap {rules.fit_cap:g}"), np.round(cap, 2))
    for kind in sorted(c[4:] for c in scored.columns if c.startswith("eng:")):
        counts = scored[f"n:{kind}"].to_numpy().astype("int64")
        pts = scored[f"eng:{kind}"].to_numpy(dtype="float64")
        distinct, which = np.unique(counts, return_inverse=True)
        heads = np.array([_head("engagement", f"{kind} x{c}") for c in distinct.tolist()], dtype=object)[which]
        add(counts != 0, heads, np.round(pts, 2))
    cap = scored["cap:engagement"].to_numpy(dtype="float64")
    add(cap != 0, _head("engagement", f"cap {rules.engagement.cap:g}"), np.round(cap, 2))
    for name in NEGATIVES:
        pts = scored[f"neg:{name}"].to_numpy(dtype="float64")
        add(pts != 0, _head("negative", name), pts)
    if extra is not None:
        more = extra.reindex(scored.index).to_numpy(dtype=object)
        has = np.array([isinstance(m, str) for m in more], dtype=bool)
        acc[has] = acc[has] + more[has] + ", "
    return pd.Series(["[" + a[:-2] + "]" for a in acc], index=scored.index, dtype=object)


def _head(group: str, rule: str) -> str:
    """Return the JSON text of an entry up to its points (``{"group": ..., "rule": ..., "points": ``)."""
    import json

    return f'{{"group": {json.dumps(group)}, "rule": {json.dumps(rule)}, "points": '


def _label_heads(group: str, field: str, values: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """Return :func:`_head` of ``field=<label>`` for each value (:func:`_label`), computed once per distinct value."""
    codes, distinct = pd.factorize(values)
    heads = np.array([_head(group, f"{field}={_label(v)}") for v in distinct.tolist()] + [""], dtype=object)[codes]
    missing = codes < 0  # None, NaN (and any other blank: labelled as _label says, one by one)
    if missing.any():
        labels = [_label(v) for v in values[missing].tolist()]
        known = {label: _head(group, f"{field}={label}") for label in set(labels)}
        heads[missing] = [known[label] for label in labels]
    return heads


def _json_floats(values: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    """Return each float as ``json.dumps`` writes it (Python's shortest repr), computed once per distinct value
    (distinct bit patterns: -0.0 is written apart from 0.0)."""
    values = np.ascontiguousarray(values, dtype="float64")
    bits, which = np.unique(values.view(np.int64), return_inverse=True)
    return np.array([repr(v) for v in bits.view(np.float64).tolist()], dtype=object)[which]
