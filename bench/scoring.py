"""Scoring benchmark: leadops' vectorized scorer (score_frame: fit, engagement with decay, negatives,
caps, grades, and the component columns the breakdown is built from) against a bare pandas/numpy
computation of the same rules, on the same generated frames, in the same run. Prints leads/s and
the ratio; checks both give the same totals.

    .venv/bin/python bench/scoring.py [--leads 1000000 --events-per-lead 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, UTC
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from results import Reporter, add_arguments  # noqa: E402 - bench/ is the script's folder
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def frames(n: int, per_lead: int, rules, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    pick = lambda values, size: np.asarray(values, dtype=object)[rng.integers(0, len(values), size)]  # noqa: E731
    fit_values = {r.field: [*r.points, None, "other"] for r in rules.fit}
    leads = pd.DataFrame({
        "industry": pick(fit_values.get("industry", [None]), n), "employee_band": pick(fit_values.get("employee_band", [None]), n),
        "revenue_band": pick([None, "1-10M"], n), "country": pick(fit_values.get("country", [None]), n),
        "seniority": pick([*fit_values.get("seniority", [None]), "student"], n),
        "department": pick(fit_values.get("department", [None]), n), "source": pick(["web_form", "import", "webinar"], n),
        "job_title": pick(["CTO", "Head of Sales", None, "open to work"], n),
        "email_domain": pick(["acme.fr", "forge.de", "rivalleads.com", "gmail.com"], n),
        "is_free_email": rng.random(n) < 0.2, "is_disposable_email": rng.random(n) < 0.01,
        "is_competitor": rng.random(n) < 0.005, "do_not_contact": rng.random(n) < 0.01, "bounced": rng.random(n) < 0.02,
    }, index=pd.RangeIndex(1, n + 1, name="id"))
    m = n * per_lead
    events = pd.DataFrame({"lead_id": rng.integers(1, n + 1, m),
                           "kind": pick([*rules.engagement.points, "unknown"], m),
                           "at": pd.Timestamp(NOW) - pd.to_timedelta(rng.random(m) * 90, unit="D")})
    return leads, events


def bare(leads: pd.DataFrame, events: pd.DataFrame, rules) -> pd.Series:
    """The same rules written directly: the floor any implementation pays."""
    fit = sum(leads[r.field].map(r.points).astype("float64").fillna(r.default) for r in rules.fit)
    fit = np.minimum(fit, rules.fit_cap)
    base = events["kind"].map(rules.engagement.points).astype("float64")
    age = (pd.Timestamp(NOW) - events["at"]).dt.total_seconds() / 86400
    pts = base * 0.5 ** (age.clip(lower=0) / rules.engagement.half_life_days)
    eng = pts.groupby(events["lead_id"]).sum().reindex(leads.index, fill_value=0.0)
    eng = np.minimum(eng, rules.engagement.cap)
    neg = rules.negative
    competitor = leads["is_competitor"] | leads["email_domain"].isin(rules.competitor_domains)
    negative = (competitor * neg.get("competitor", 0) + leads["is_free_email"] * neg.get("free_email", 0)
                + leads["is_disposable_email"] * neg.get("disposable_email", 0)
                + leads["seniority"].isin(("student", "intern")) * neg.get("student", 0)
                + leads["job_title"].fillna("").str.casefold().str.contains("open to work|job seeker") * neg.get("job_seeker", 0)
                + leads["do_not_contact"] * neg.get("do_not_contact", 0) + leads["bounced"] * neg.get("bounced", 0))
    total = np.maximum(fit + eng + negative, 0.0).round(2)
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--events-per-lead", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    add_arguments(ap)
    a = ap.parse_args()
    rep = Reporter.from_args(a, "scoring")
    from leadops.config import load_rules
    from leadops.domain.scoring_frame import score_frame

    rules = load_rules(ROOT / "config").scoring
    leads, events = frames(a.leads, a.events_per_lead, rules)
    timings = {"bare": [], "leadops": []}
    for _ in range(a.repeat):  # interleaved, best of N: the machine is shared
        t = time.perf_counter()
        ref = bare(leads, events, rules)
        timings["bare"].append(time.perf_counter() - t)
        t = time.perf_counter()
        got = score_frame(leads, events, rules, NOW)
        timings["leadops"].append(time.perf_counter() - t)
    same = np.allclose(ref.to_numpy(), got["total"].to_numpy(), atol=0.011)
    b, lo = min(timings["bare"]), min(timings["leadops"])
    rep.line(f"scoring, {a.leads} leads, {len(events)} events (best of {a.repeat})")
    rep.line(f"  bare pandas/numpy  {a.leads / b:>12,.0f} leads/s")
    rep.line(f"  leadops            {a.leads / lo:>12,.0f} leads/s  (same totals: {same})")
    rep.line(f"  overhead           {lo / b:>12.2f}x the bare computation (target: at most 1.5x)")
    rep.add(f"scoring/{a.leads}", lo / b, better="lower", leads_per_s=round(a.leads / lo), same_totals=bool(same))
    rep.finish()


if __name__ == "__main__":
    main()
