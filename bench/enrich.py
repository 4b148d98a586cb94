"""Enrichment benchmark: N leads over D domains (some already cached) against a loopback
firmographics API with a fixed latency and an enforced rate limit. Checks that lookups equal the
domains not cached and reports the achieved request rate against the provider's limit.

    .venv/bin/python bench/enrich.py [--leads 100000 --domains 5000 --cached 1000 --latency 0.02 --limit 50]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from results import Reporter, add_arguments  # noqa: E402 - bench/ is the script's folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--domains", type=int, default=5_000)
    ap.add_argument("--cached", type=int, default=1_000, help="domains with a fresh cached answer before the run")
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--limit", type=float, default=50.0, help="the provider's rate limit (requests/s)")
    ap.add_argument("--client-rate", type=float, default=None,
                    help="rate_limit_per_second configured in leadops (default: 96%% of --limit)")
    add_arguments(ap)
    a = ap.parse_args()
    rep = Reporter.from_args(a, "enrich")

    import os

    os.environ["FIRMO_KEY"] = "bench-key"
    from leadops.config import ProviderConfig, load_rules
    from leadops.db.bulk import bulk_insert
    from leadops.db.migrate import upgrade
    from leadops.db.models import EnrichmentLookup, EnrichmentRecord, Lead, utcnow
    from leadops.db.session import session_scope
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.enrich import enrich_pending, providers_from
    from tests.support.firmo_server import FirmoServer

    client_rate = a.client_rate or round(a.limit * 0.96, 2)
    with tempfile.TemporaryDirectory() as d, FirmoServer("bench-key") as srv:
        srv.latency, srv.rate_limit = a.latency, a.limit
        url = f"sqlite:///{Path(d) / 'bench.db'}"
        upgrade(url)
        domains = [f"company{i}.example" for i in range(a.domains)]
        for i, dom in enumerate(domains):
            if i % 10:  # 10% unknown to the provider
                srv.add(dom, name=f"Company {i}", industry="Software", employees=10 + i % 3000, country="FR")
        now = utcnow()
        rows = [dict(email=f"p{i}@{domains[i % a.domains]}", email_domain=domains[i % a.domains], source="import",
                     is_free_email=False, is_competitor=False, is_hand_raiser=False, lifecycle_stage="new",
                     stage_changed_at=now, arrived_at=now, created_at=now, updated_at=now) for i in range(a.leads)]
        with session_scope(url) as s:
            bulk_insert(s.connection(), Lead.__table__, rows)
            bulk_insert(s.connection(), EnrichmentLookup.__table__, [
                dict(domain=dom, provider="clearbit", status="hit", error=None, fetched_at=now - timedelta(days=1))
                for dom in domains[:a.cached]])
            bulk_insert(s.connection(), EnrichmentRecord.__table__, [
                dict(domain=dom, provider="clearbit", field=f, value=v, confidence=0.9, fetched_at=now)
                for dom in domains[:a.cached] for f, v in (("industry", "Software"), ("employee_band", "11-50"))])
        rules = load_rules(ROOT / "config")
        cfg = ProviderConfig(name="clearbit", preset="clearbit", base_url=srv.base, token_env="FIRMO_KEY",  # noqa: S106 - an environment variable's name
                             rate_limit_per_second=client_rate, concurrency=8)
        rules = rules.model_copy(update={"sources": rules.sources.model_copy(update={"providers": [cfg]})})
        started = time.perf_counter()
        with SqlUnitOfWork(url) as uow:
            out = enrich_pending(uow, rules, providers_from(rules, uow), checkpoint=lambda done, total: uow.commit())
        seconds = time.perf_counter() - started
    p = out.providers["clearbit"]
    http = [r for r in srv.log if r["status"] != "dropped"]
    span = (max(r["t"] for r in http) - min(r["t"] for r in http)) if len(http) > 1 else 0.0
    achieved = (len(http) - 1) / span if span else 0.0
    refused = sum(r["status"] == 429 for r in http)
    not_cached = a.domains - a.cached
    rep.line(f"enrichment, {a.leads} leads over {a.domains} domains ({a.cached} cached), provider latency "
          f"{a.latency * 1000:.0f} ms, limit {a.limit:g} req/s (leadops configured at {client_rate:g})")
    rep.line(f"  lookups       {p['lookups']:>7}  (domains not cached: {not_cached}; equal: {p['lookups'] == not_cached})")
    rep.line(f"  cache hits    {p['cache_hits']:>7}")
    rep.line(f"  HTTP requests {len(http):>7}  ({refused} refused with 429 and retried)")
    rep.line(f"  achieved rate {achieved:>7.1f} req/s = {100 * achieved / a.limit:.0f}% of the limit")
    rep.line(f"  latency       p50 {p['p50_ms']} ms, p95 {p['p95_ms']} ms")
    rep.line(f"  leads         {out.enriched} enriched, {out.partial} partial, {out.not_enriched} not enriched "
          f"(of {a.leads}; every lead accounted: {out.enriched + out.partial + out.not_enriched == a.leads})")
    rep.line(f"  wall time     {seconds:.1f} s; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    # the compared figure: the achieved share of the provider's limit (higher is better)
    rep.add(f"enrich/{a.leads}", achieved / a.limit, better="higher", lookups=p["lookups"], not_cached=not_cached)
    rep.finish()


if __name__ == "__main__":
    main()
