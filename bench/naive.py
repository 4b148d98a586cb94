"""Naive-pattern benchmark: one Prefect task run per lead (a @task that normalizes, checks, stores, enriches,
scores and routes a single lead, called for each lead of a file in a @flow) against the batch design (the
real lead-pipeline flow: a task per file and per stage, set-based work inside), on the same generated
file with the offline provider, each in its own process on its own fresh database. Prints both
rates and the factor (target: the batch design at least 50x faster).

The batch flow is measured twice: as a process's first run (it starts its validation process: the
spawn, the imports and GX's import, ~3.5 s, overlapped with the first chunk's reading only in part),
and as a run of a served process (``leadops serve`` keeps one validation process warm for all its
runs: it is started before the clock). The factor is given for both; the first is the figure
recorded before issue 24 (``naive/<db>/<leads>``), the second ``naive/<db>/<leads>/served``.

    .venv/bin/python bench/naive.py [--leads 10000] [--db sqlite|postgresql] [--json] [--record]

The per-lead task is what a first version often looks like: leadops' own domain functions
(normalize, the one-lead scorer ``leadops.domain.scoring.score_lead``, ``route_lead``) and its
``assign`` service (assignment, SLA clock, outbox row), one transaction per lead, no GX (the
suites check batches). It does less than the batch flow (no Data Docs, no notification sent),
which favours it.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import UTC
from functools import lru_cache
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import workload  # noqa: E402 - bench/ is the script's folder
from common import child_env, fresh_url, spawn  # noqa: E402
from results import Reporter, add_arguments  # noqa: E402


@lru_cache(maxsize=1)
def _firmographics(path: str) -> dict[str, dict[str, Any]]:
    """Return the offline provider's table, read once per process (as the offline provider caches it)."""
    from bare_pipeline import _offline_table

    return _offline_table(Path(path))


def process_lead_fn(row_number: int, fields: dict[str, str | None], url: str, config: str, firmo_csv: str) -> str:
    """Store, enrich, score and route one lead in its own transaction; returns what happened to it."""
    from datetime import datetime

    from sqlalchemy import select

    from bare_pipeline import _normalize
    from leadops.config import load_rules_cached
    from leadops.db.models import Account, IngestBatch, Lead, LeadMerge, Quarantine, ScoreHistory
    from leadops.db.session import session_scope
    from leadops.domain.routing import route_lead
    from leadops.domain.scoring import EngagementEvent, LeadFeatures, score_lead
    from leadops.db.repositories.routing import routable
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.route import assign, positions_of, save_positions, sdr_states

    rules = load_rules_cached(config)
    now = datetime.now(UTC)
    rec = _normalize(fields, rules, now)
    with session_scope(url) as s:
        batch = s.scalar(select(IngestBatch).where(IngestBatch.content_hash == "naive"))
        if rec["reasons"]:
            s.add(Quarantine(ingest_batch_id=batch.id, source="default", origin=batch.origin, source_row=row_number,
                             raw=fields, reasons=rec.pop("reasons"), created_at=now))
            return "quarantined"
        del rec["reasons"]
        known = s.scalar(select(Lead).where(Lead.email == rec["email"]))
        if known is not None:
            s.add(LeadMerge(lead_id=known.id, ingest_batch_id=batch.id, source_row=row_number, raw=fields, merged_at=now))
            return "merged"
        account = None
        if not rec["is_free_email"]:
            account = s.scalar(select(Account).where(Account.domain == rec["email_domain"]))
            if account is None:
                account = Account(domain=rec["email_domain"], name=rec["company"], name_key=rec["company_key"])
                s.add(account)
                s.flush()
        lead = Lead(**rec, ingest_batch_id=batch.id, source_row=row_number, account_id=account.id if account else None,
                    lifecycle_stage="new", stage_changed_at=now)
        firmo = None if rec["is_free_email"] else _firmographics(firmo_csv).get(rec["email_domain"])
        if firmo:
            lead.industry, lead.employee_count = firmo["industry"], firmo["employee_count"]
            lead.employee_band = firmo["employee_band"]
        lead.enrichment_status, lead.enriched_at = ("skipped" if rec["is_free_email"] else "enriched" if firmo else "miss"), now
        features = LeadFeatures(**{k: getattr(lead, k) for k in ("industry", "employee_band", "country", "seniority",
                                                                 "department", "source", "job_title", "email_domain",
                                                                 "is_free_email", "is_competitor")})
        sc = score_lead(features, [EngagementEvent(lead.source, now)], rules.scoring, now)
        lead.fit_score, lead.engagement_score, lead.score, lead.grade = sc.fit, sc.engagement, sc.total, sc.grade
        lead.score_version, lead.scored_at = rules.scoring.version, now
        s.add(lead)
        s.flush()
        s.add(ScoreHistory(lead_id=lead.id, model_version=rules.scoring.version, fit_score=sc.fit,
                           engagement_score=sc.engagement, score=sc.total, grade=sc.grade, breakdown=list(sc.breakdown),
                           scored_at=now))
        if lead.is_competitor or not (lead.is_hand_raiser or sc.total >= rules.scoring.mql_threshold):
            return "inserted"
        lead.lifecycle_stage = "mql"
        uow = SqlUnitOfWork.around(s)
        states, sdrs = sdr_states(uow, now, "Europe/Paris")
        loaded = positions_of(states)
        owners = {a.id: a.owner_sdr_id for a in ([account] if account else [])}
        owner = next((c for c, x in sdrs.items() if x.id == owners.get(lead.account_id)), None)
        decision = route_lead(routable(lead, owner), rules.routing, states)
        if decision.status == "assigned":
            assign(uow, routable(lead, None).fields, decision, sdrs, rules, now)
            save_positions(uow, states, sdrs, loaded, now)
            return "routed"
        return "inserted"


def run_naive(spec: dict[str, Any], with_prefect: bool = True) -> dict[str, Any]:
    """Run the one-task-per-lead flow over the file (after a warm-up flow); returns seconds and outcomes.

    Without ``with_prefect``, the same loop calls the same function directly: the per-lead work alone.
    """
    import csv
    from collections import Counter

    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from bare_pipeline import COLUMNS
    from leadops.db.models import IngestBatch
    from leadops.db.session import session_scope

    process_lead = task(cache_policy=NO_CACHE, name="process-lead")(process_lead_fn) if with_prefect else process_lead_fn

    def naive(path: str) -> dict[str, int]:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            names = [COLUMNS[h] for h in next(reader)]
            outcomes = Counter(process_lead(n, {k: v.strip() or None for k, v in zip(names, cells, strict=True)}, spec["url"],
                                            spec["config"], spec["firmo_csv"]) for n, cells in enumerate(reader, start=2))
        return dict(outcomes)

    @flow(name="bench-warm-up")
    def warm_up() -> None:
        return None

    warm_up()
    if with_prefect:
        naive = flow(name="naive-one-task-per-lead")(naive)
    with session_scope(spec["url"]) as s:
        s.add(IngestBatch(source="default", origin=spec["file"], content_hash="naive", status="running"))
    t = time.perf_counter()
    outcomes = naive(spec["file"])
    return {"seconds": time.perf_counter() - t, "outcomes": outcomes}


def run_batch(spec: dict[str, Any], warm: bool = False) -> dict[str, Any]:
    """Run the lead-pipeline flow over the inbox (with ``warm``, once the validation process has started, as in a
    served process); returns seconds and counts."""
    from pipeline import run_leadops

    if warm:
        from leadops.intake import validation_process

        validation_process.warm_up(in_process=False)
        validation_process.pid()  # waits until it takes jobs
    return run_leadops(spec)


def child(mode: str, spec: dict[str, Any]) -> None:
    res = run_batch(spec, warm=mode == "served") if mode in ("batch", "served") else \
        run_naive(spec, with_prefect=mode == "naive")
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res, default=str))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, default=10_000)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "SPEC"))
    add_arguments(ap)
    a = ap.parse_args()
    if a.child:
        return child(a.child[0], json.loads(a.child[1]))
    rep = Reporter.from_args(a, "naive")
    n, domains = a.leads, max(1, a.leads // 20)
    res = {}
    with tempfile.TemporaryDirectory(prefix="bench-naive-") as d:
        tmp = Path(d)
        firmo_csv = workload.firmographics_csv(tmp / "firmographics.csv", domains)
        leads_csv = tmp / f"leads-{n}.csv"
        workload.generate(leads_csv, n, domains)
        for mode in ("batch", "served", "naive", "plain"):
            config = workload.config_dir(tmp / f"config-{mode}", workload.provider_config("offline", firmo_csv))
            url = fresh_url(a.db, f"naive_{mode}", tmp)
            workload.prepare_database(url, config)
            var = tmp / f"var-{mode}"
            if mode in ("batch", "served"):
                workload.copy_file(leads_csv, var / "inbox")
            spec = {"file": str(leads_csv), "url": url, "config": str(config), "var": str(var),
                    "firmo_csv": str(firmo_csv)}
            res[mode] = spawn(__file__, mode, spec, child_env(tmp, mode, spec))
    b, sv, nv = res["batch"], res["served"], res["naive"]
    factor, served = nv["seconds"] / b["seconds"], nv["seconds"] / sv["seconds"]
    rep.line(f"one task per lead vs batch, {n} leads, {a.db}, offline enrichment")
    rep.line(f"  batch (lead-pipeline flow)  {n / b['seconds']:>8,.0f} leads/s  {b['seconds']:>7.1f} s  "
             f"(routed {b['routed']}, {len(b['stages'])} stages; a process's first run: {_stages(b)})")
    rep.line(f"  batch, served               {n / sv['seconds']:>8,.0f} leads/s  {sv['seconds']:>7.1f} s  "
             f"(routed {sv['routed']}; validation process warm: {_stages(sv)})")
    rep.line(f"  one task run per lead       {n / nv['seconds']:>8,.0f} leads/s  {nv['seconds']:>7.1f} s  "
             f"({', '.join(f'{k} {v}' for k, v in sorted(nv['outcomes'].items()))}); "
             f"{1000 * nv['seconds'] / n:.1f} ms per lead")
    pl = res["plain"]
    rep.line(f"  the same per-lead function  {n / pl['seconds']:>8,.0f} leads/s  {pl['seconds']:>7.1f} s  without Prefect: "
             f"{1000 * (nv['seconds'] - pl['seconds']) / n:.1f} ms per lead is Prefect's task run")
    rep.line(f"  factor                      {factor:>8.1f}x faster in batches, {served:.1f}x served (target: at least 50x)")
    rep.add(f"naive/{a.db}/{n}", factor, better="higher", batch_leads_per_s=round(n / b["seconds"]),
            naive_leads_per_s=round(n / nv["seconds"]), plain_leads_per_s=round(n / pl["seconds"]))
    rep.add(f"naive/{a.db}/{n}/served", served, better="higher", batch_leads_per_s=round(n / sv["seconds"]),
            naive_leads_per_s=round(n / nv["seconds"]))
    rep.finish()


def _stages(r: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items() if v >= 0.05)


if __name__ == "__main__":
    main()
