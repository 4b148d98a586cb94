"""Enrichment against a real HTTP server on loopback: presets, waterfall, cache, retries, rate limit,
circuit breaker, stale refresh; no lead is ever lost."""
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from leadops.config import ProviderConfig
from leadops.db.models import EnrichmentLookup, EnrichmentRecord, Lead, ProviderCircuit, utcnow
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.providers.http import HttpProvider
from leadops.services.enrich import enrich_pending, providers_from
from leadops.intake.files import ingest_file
from tests.support.firmo_server import FirmoServer

KEY = "firmo-s3cret-key"
KNOWN = {
    "acme.fr": dict(name="Acme", legal_name="Acme SAS", industry="Software", employees=120, size="51-250",
                    revenue="$10M-$50M", country="FR", city="Lyon", tech=["Salesforce", "HubSpot"], linkedin="company/acme"),
    "forge.de": dict(name="Forge", industry="Manufacturing", size="1K-5K", country="DE", city="Köln"),
    "nordic.se": dict(name="Nordic", industry="Logistics", employees=40, country="SE"),
}
FIRST = ["Ana", "Bruno", "Chloé", "Dmitri", "Eva", "Farid"]
LAST = ["Martin", "Okafor", "Lindqvist", "Tanaka", "Dubois", "Kowalski", "Haddad"]


@pytest.fixture
def srv():
    with FirmoServer(KEY) as s:
        for domain, company in KNOWN.items():
            s.add(domain, **company)
        yield s


def with_providers(rules, *providers: ProviderConfig, **enrichment):
    sources = rules.sources.model_copy(update={
        "providers": list(providers),
        "enrichment": rules.sources.enrichment.model_copy(update=enrichment)})
    return rules.model_copy(update={"sources": sources})


def clearbit(srv, **kw) -> ProviderConfig:
    return ProviderConfig(**{"name": "clearbit", "preset": "clearbit", "base_url": srv.base, "token_env": "FIRMO_KEY",
                             "max_retries": 2, **kw})


def pdl(srv, **kw) -> ProviderConfig:
    return ProviderConfig(**{"name": "pdl", "preset": "peopledatalabs", "base_url": srv.base, "token_env": "FIRMO_KEY",
                             "max_retries": 2, **kw})


def add_leads(session, settings, rules, domains: list[str], per_domain: int = 1, name: str = "leads-1.csv") -> None:
    tag = name.split(".", maxsplit=1)[0].replace("-", "")
    # distinct names: fuzzy dedupe would merge "Name1" and "Name2" at the same company
    k = int(tag[-1])
    lines = ["Email,First Name,Last Name"] + [f"{tag}p{i}@{d},{FIRST[(i + k) % len(FIRST)]},{LAST[(i + 3 * k) % len(LAST)]}"
                                              for d in domains for i in range(per_domain)]
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    path = settings.inbox_dir / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = ingest_file(SqlUnitOfWork.around(session), path, rules, settings)
    session.commit()
    assert out.inserted == len(domains) * per_domain


def by_status(session) -> dict[str, int]:
    return dict(session.execute(select(Lead.enrichment_status, func.count()).group_by(Lead.enrichment_status)).all())


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("FIRMO_KEY", KEY)


def test_waterfall_caches_per_domain_and_maps_preset_fields(session, settings, rules, srv):
    rules = with_providers(rules, clearbit(srv), pdl(srv))
    add_leads(session, settings, rules, ["acme.fr", "forge.de", "nordic.se", "unknown.io"], per_domain=5)
    out = enrich_pending(SqlUnitOfWork.around(session), rules)
    session.commit()
    # one lookup per domain (not per lead); the unknown domain falls through to the second provider
    assert out.providers["clearbit"]["lookups"] == 4 and out.providers["pdl"]["lookups"] == 1
    assert srv.requests_for("unknown.io") == 2 and srv.requests_for("acme.fr") == 1
    assert (out.enriched, out.partial, out.not_enriched) == (15, 0, 5)
    assert out.providers["clearbit"]["p50_ms"] is not None and out.providers["clearbit"]["p95_ms"] is not None
    acme = session.scalar(select(Lead).where(Lead.email_domain == "acme.fr").limit(1))
    assert (acme.industry, acme.employee_count, acme.employee_band, acme.enrichment_status) == (
        "Software", 120, "51-200", "enriched")
    forge = session.scalar(select(Lead).where(Lead.email_domain == "forge.de").limit(1))
    assert forge.employee_band == "1001-5000"  # from the range "1K-5K", no head count given
    records = {r.field: r for r in session.scalars(select(EnrichmentRecord).where(EnrichmentRecord.domain == "acme.fr"))}
    assert records["linkedin_url"].value == "https://www.linkedin.com/company/acme"
    assert records["technologies"].value == ["HubSpot", "Salesforce"] and records["hq_city"].value == "Lyon"
    assert {r.provider for r in records.values()} == {"clearbit"} and records["industry"].fetched_at is not None

    # new leads of the same companies: answered from the cache, no request
    before = len(srv.log)
    add_leads(session, settings, rules, ["acme.fr", "forge.de"], per_domain=2, name="leads-2.csv")
    again = enrich_pending(SqlUnitOfWork.around(session), rules)
    session.commit()
    assert len(srv.log) == before and again.providers["clearbit"]["cache_hits"] == 2
    assert again.providers["clearbit"]["lookups"] == 0 and again.enriched == 4


def test_retries_honour_retry_after_and_survive_garbage_without_losing_a_lead(session, settings, rules, srv):
    waits: list[float] = []
    cfg = clearbit(srv)
    provider = HttpProvider(cfg, KEY, sleep=waits.append)
    rules = with_providers(rules, cfg)
    add_leads(session, settings, rules, ["acme.fr", "forge.de", "nordic.se"], per_domain=2)
    srv.fail(429, headers={"Retry-After": "3"}, domain="acme.fr")
    srv.fail(503, domain="forge.de")
    srv.fail(200, "<html><body>Service Unavailable</body></html>", headers={"Content-Type": "text/html"},
             domain="nordic.se")
    out = enrich_pending(SqlUnitOfWork.around(session), rules, providers=[provider])
    session.commit()
    assert 3.0 in waits  # Retry-After honoured
    assert srv.requests_for("acme.fr") == 2 and srv.requests_for("forge.de") == 2
    assert srv.requests_for("nordic.se") == 1  # not JSON: not retried, an error at once
    assert by_status(session) == {"enriched": 4, "error": 2}
    err = session.scalar(select(EnrichmentLookup.error).where(EnrichmentLookup.domain == "nordic.se"))
    assert "response is not JSON (text/html)" in err and KEY not in err
    # the next run retries the errors only, and they go through now
    out = enrich_pending(SqlUnitOfWork.around(session), rules, providers=[HttpProvider(cfg, KEY, sleep=waits.append)])
    session.commit()
    assert out.providers["clearbit"]["lookups"] == 1 and by_status(session) == {"enriched": 6}


def test_timeouts_and_dropped_connections_are_retried_with_backoff(session, settings, rules, srv):
    waits: list[float] = []
    cfg = clearbit(srv, timeout_seconds=1.0, max_retries=2)  # generous: a loaded CI machine answers slowly
    rules = with_providers(rules, cfg)
    add_leads(session, settings, rules, ["acme.fr", "forge.de"])
    srv.fail(200, delay=2.5, domain="acme.fr")  # slower than the timeout
    srv.fail(None, domain="forge.de")  # connection dropped
    srv.fail(None, domain="forge.de")
    srv.fail(None, domain="forge.de")  # ...on every attempt
    enrich_pending(SqlUnitOfWork.around(session), rules, providers=[HttpProvider(cfg, KEY, sleep=waits.append)])
    session.commit()
    assert by_status(session) == {"enriched": 1, "error": 1}
    assert srv.requests_for("forge.de") == 3 and len(waits) == 3  # 1 backoff for acme, 2 for forge
    assert all(0.25 <= w <= 2.0 for w in waits)  # 0.5 s * 2^attempt with jitter
    err = session.scalar(select(EnrichmentLookup.error).where(EnrichmentLookup.domain == "forge.de"))
    assert "connection failed" in err and "after 3 attempts" in err


def test_circuit_opens_after_repeated_failures_and_closes_after_cooldown(session, settings, rules, srv):
    cfg = clearbit(srv, max_retries=0, circuit_failures=3, circuit_cooldown_seconds=600, concurrency=1)
    rules = with_providers(rules, cfg)
    domains = [f"down{i}.fr" for i in range(8)]
    for _ in range(20):
        srv.fail(500)
    add_leads(session, settings, rules, domains)
    out = enrich_pending(SqlUnitOfWork.around(session), rules)
    session.commit()
    assert len(srv.log) == 3  # three failures, then the circuit stops the calls
    assert out.providers["clearbit"]["circuit"] == "open" and out.providers["clearbit"]["errors"] == 8
    assert by_status(session) == {"error": 8}  # nobody lost: all retried next run
    circuit = session.get(ProviderCircuit, "clearbit")
    assert circuit.state == "open" and circuit.failures == 3 and "HTTP 500" in circuit.last_error

    enrich_pending(SqlUnitOfWork.around(session), rules)  # still cooling down (state read from the database): no call
    session.commit()
    assert len(srv.log) == 3

    srv.faults.clear()
    for d in domains:
        srv.add(d, name=d, industry="Retail", employees=20)
    session.execute(update(ProviderCircuit).values(opened_until=utcnow() - timedelta(seconds=1)))
    session.commit()
    out = enrich_pending(SqlUnitOfWork.around(session), rules)
    session.commit()
    assert out.providers["clearbit"]["circuit"] == "closed" and by_status(session) == {"enriched": 8}


def test_rate_limit_spaces_requests_below_the_providers_limit(session, settings, rules, srv):
    srv.rate_limit = 20
    cfg = clearbit(srv, rate_limit_per_second=17, concurrency=6)
    rules = with_providers(rules, cfg)
    domains = [f"shop{i}.fr" for i in range(30)]
    add_leads(session, settings, rules, domains)
    out = enrich_pending(SqlUnitOfWork.around(session), rules, providers=[HttpProvider(cfg, KEY)])
    session.commit()
    statuses = [r["status"] for r in srv.log]
    assert 429 not in statuses and len(statuses) == 30
    times = sorted(r["t"] for r in srv.log)
    # spaced by the limiter (1/17 s apart: 29 gaps), not sent in bursts by the 6 threads; the bound
    # leaves room for arrival jitter on a loaded machine, a burst would take a few milliseconds
    assert times[-1] - times[0] > 0.8 * 29 / 17
    assert out.providers["clearbit"]["misses"] == 30 and by_status(session) == {"miss": 30}


def test_bad_key_and_missing_key_are_errors_that_name_the_setting_not_the_key(session, settings, rules, srv, monkeypatch):
    add_leads(session, settings, rules, ["acme.fr"])
    monkeypatch.setenv("FIRMO_KEY", "wrong-key")
    out = enrich_pending(SqlUnitOfWork.around(session), with_providers(rules, clearbit(srv)))
    session.commit()
    err = session.scalar(select(EnrichmentLookup.error))
    assert "HTTP 401" in err and "FIRMO_KEY" in err and "wrong-key" not in err and out.errors == 1
    monkeypatch.delenv("FIRMO_KEY")
    out = enrich_pending(SqlUnitOfWork.around(session), with_providers(rules, clearbit(srv)))
    session.commit()
    assert out.errors == 1 and "FIRMO_KEY" in session.scalar(select(EnrichmentLookup.error))


def test_field_precedence_and_provenance_across_providers(session, settings, rules, srv):
    rules = with_providers(rules, clearbit(srv), pdl(srv), required_fields=["industry", "employee_band", "hq_city"],
                           field_precedence={"industry": ["pdl", "clearbit"]})
    srv.add("nordic.se", name="Nordic", industry="Logistics", pdl_industry="transportation/trucking/railroad",
            employees=40, country="SE", city=None)  # no city: clearbit cannot fill a required field
    srv.companies["nordic.se"]["city"] = None
    add_leads(session, settings, rules, ["nordic.se"])
    out = enrich_pending(SqlUnitOfWork.around(session), rules)
    session.commit()
    assert out.providers["pdl"]["lookups"] == 1  # clearbit lacked hq_city (required): the waterfall went on
    recs = {(r.provider, r.field): r.value for r in session.scalars(select(EnrichmentRecord))}
    assert recs[("clearbit", "industry")] == "Logistics"
    assert recs[("pdl", "industry")] == "transportation/trucking/railroad"
    lead = session.scalar(select(Lead))
    assert lead.industry == "transportation/trucking/railroad"  # precedence: pdl first for industry
    assert lead.employee_count == 40 and lead.enrichment_status == "partial"  # hq_city missing everywhere
    assert session.scalar(select(EnrichmentRecord.confidence).where(EnrichmentRecord.provider == "pdl")) == 0.8


def test_stale_refresh_never_replaces_an_answer_with_an_emptier_one(session, settings, rules, srv):
    rules = with_providers(rules, clearbit(srv))
    add_leads(session, settings, rules, ["acme.fr", "forge.de"])
    enrich_pending(SqlUnitOfWork.around(session), rules)
    session.commit()
    old = utcnow() - timedelta(days=400)
    session.execute(update(Lead).values(enriched_at=old))
    session.execute(update(EnrichmentLookup).values(fetched_at=old))
    session.commit()
    assert enrich_pending(SqlUnitOfWork.around(session), rules).domains == 0  # without --stale, enriched leads are left alone
    del srv.companies["acme.fr"]  # the provider forgot acme
    srv.companies["forge.de"]["industry"] = "Industrial Machinery"
    out = enrich_pending(SqlUnitOfWork.around(session), rules, stale=True)
    session.commit()
    assert out.domains == 2 and out.providers["clearbit"]["lookups"] == 2
    acme = session.scalar(select(Lead).where(Lead.email_domain == "acme.fr"))
    forge = session.scalar(select(Lead).where(Lead.email_domain == "forge.de"))
    assert (acme.industry, acme.enrichment_status) == ("Software", "enriched")  # the miss erased nothing
    assert forge.industry == "Industrial Machinery" and forge.enriched_at > old
    assert session.scalar(select(EnrichmentRecord.value).where(EnrichmentRecord.domain == "acme.fr",
                                                               EnrichmentRecord.field == "industry")) == "Software"


def test_providers_from_config_reads_the_key_from_the_environment(rules, srv, session):
    [p] = providers_from(with_providers(rules, pdl(srv)), SqlUnitOfWork.around(session))
    assert isinstance(p, HttpProvider) and p.lookup("acme.fr").fields["industry"] == "Software"
    assert srv.log[-1]["path"] == "/v5/company/enrich"


def test_rate_limit_is_shared_by_workers_through_postgresql(pg_schema_url, srv):
    """Two workers (threads with separate limiters, as two processes would have) stay under one limit together."""
    import threading

    from leadops.db.migrate import upgrade
    from leadops.db.session import get_engine
    from leadops.providers.limits import DatabaseRateLimiter
    from leadops.db.repositories.enrichment import slot_reserver
    from sqlalchemy import text

    upgrade(pg_schema_url)
    with get_engine(pg_schema_url).begin() as conn:
        conn.execute(text("DELETE FROM provider_rate_slots"))
    srv.rate_limit = 20
    cfg = clearbit(srv, rate_limit_per_second=17)
    workers = [HttpProvider(cfg, KEY, limiter=DatabaseRateLimiter(slot_reserver(pg_schema_url, "clearbit", 17)))
               for _ in range(2)]
    threads = [threading.Thread(target=lambda w=w, n=n: [w.lookup(f"w{n}-{i}.fr") for i in range(12)])
               for n, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [r["status"] for r in srv.log]
    assert len(statuses) == 24 and 429 not in statuses
    times = sorted(r["t"] for r in srv.log)
    assert times[-1] - times[0] > 0.8 * 23 / 17  # one shared pace for both workers, not 2 x 17/s
    assert slot_reserver("sqlite:///unused.db", "clearbit", 17) is None  # SQLite: the in-process limiter


def test_person_lookup_fills_seniority_and_department_only_where_blank(session, settings, rules, srv):
    rules = with_providers(rules, pdl(srv, person_lookup=True))
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    path = settings.inbox_dir / "people-1.csv"
    path.write_text("Email,First Name,Last Name,Job Title\nana@acme.fr,Ana,Lopez,\n"
                    "bob@acme.fr,Bob,Martin,Comptable\ncid@acme.fr,Cid,Tanaka,\n", encoding="utf-8")
    ingest_file(SqlUnitOfWork.around(session), path, rules, settings)
    session.commit()
    srv.people["ana@acme.fr"] = {"job_title": "VP Engineering", "job_title_levels": ["vp", "senior"],
                                 "job_title_role": "engineering"}
    srv.people["bob@acme.fr"] = {"job_title": "CFO", "job_title_levels": ["cxo"], "job_title_role": "finance"}
    out = enrich_pending(SqlUnitOfWork.around(session), rules)
    session.commit()
    leads = {lead.email: lead for lead in session.scalars(select(Lead))}
    assert (leads["ana@acme.fr"].seniority, leads["ana@acme.fr"].department, leads["ana@acme.fr"].job_title) == (
        "vp", "engineering", "VP Engineering")
    assert leads["ana@acme.fr"].scored_at is None  # rescored with its new fit
    # bob's own title said individual/finance: kept as is (only blanks are filled)
    assert (leads["bob@acme.fr"].seniority, leads["bob@acme.fr"].job_title) == ("individual", "Comptable")
    assert leads["cid@acme.fr"].seniority is None  # unknown to the provider: a miss, nothing invented
    assert out.people_enriched == 1 and out.providers["pdl"]["person_lookups"] == 2  # bob had both already
    requests = len(srv.log)
    enrich_pending(SqlUnitOfWork.around(session), rules)  # answers are cached: no new person request
    assert len(srv.log) == requests
    stored = session.scalars(select(EnrichmentLookup.domain).where(EnrichmentLookup.domain.like("email:%"))).all()
    assert sorted(stored) == ["email:ana@acme.fr", "email:cid@acme.fr"]


def test_person_lookup_is_off_unless_asked(session, settings, rules, srv):
    rules = with_providers(rules, pdl(srv))
    add_leads(session, settings, rules, ["acme.fr"])
    enrich_pending(SqlUnitOfWork.around(session), rules)
    assert not [r for r in srv.log if r["path"] == "/v5/person/enrich"]


def test_a_pass_stopped_after_a_checkpoint_is_finished_by_the_next_run_without_asking_again(session, settings, rules,
                                                                                              srv):
    """The answers committed at a checkpoint survive a crash; on SQLite the leads' columns are set only at the end of
    a pass, so the next run sets them from the stored answers, and asks the provider only for the domains after."""
    rules = with_providers(rules, clearbit(srv))
    add_leads(session, settings, rules, ["acme.fr", "forge.de", "nordic.se", "unknown.io"], per_domain=2)
    calls = 0

    def crash_at_the_second(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("worker killed")
        session.commit()

    with pytest.raises(RuntimeError, match="worker killed"):
        enrich_pending(SqlUnitOfWork.around(session), rules, checkpoint=crash_at_the_second, checkpoint_every=2)
    session.rollback()
    domains = [*KNOWN, "unknown.io"]
    kept = set(session.scalars(select(EnrichmentLookup.domain)))  # the first checkpoint's (lookups run in parallel)
    assert len(kept) == 2 and kept <= set(domains)
    # PostgreSQL sets the leads at each checkpoint, SQLite once at the end of the pass
    sqlite = session.get_bind().dialect.name == "sqlite"
    set_early = Counter("enriched" if d in KNOWN else "miss" for d in kept for _ in range(2))
    assert by_status(session) == ({None: 8} if sqlite else {None: 4, **set_early})

    out = enrich_pending(SqlUnitOfWork.around(session), rules)
    session.commit()
    # the two domains after the committed checkpoint are asked again; on SQLite the two before it are pending still
    # and come from the cache (on PostgreSQL their leads were set at the checkpoint)
    assert out.providers["clearbit"]["cache_hits"] == (2 if sqlite else 0)
    assert out.providers["clearbit"]["lookups"] == 2
    assert {d: srv.requests_for(d) for d in domains} == {d: 1 if d in kept else 2 for d in domains}
    assert by_status(session) == {"enriched": 6, "miss": 2}
