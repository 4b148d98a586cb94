"""The enrichment pass (leadops/services/enrich.py) on an in-memory unit of work and providers that count
their calls; config/sources.yaml's rules (required fields: industry and employee band, TTL 90 days)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from leadops.domain.enrichment import LookupResult
from leadops.providers.limits import CircuitBreaker, CircuitState
from leadops.services.enrich import commit_due, enrich_pending
from tests.support.fake_enrichment import FakeEnrichmentRepository, lead
from tests.support.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KNOWN = {"industry": "Software", "employee_band": "51-200"}


@dataclass
class CountingProvider:
    """Knows the companies of ``known`` (domain -> fields); fails for the domains of ``failing``."""

    name: str = "firmo"
    known: dict[str, dict[str, str]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)
    cfg: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(concurrency=2, person_lookup=False))

    def lookup(self, domain: str) -> LookupResult:
        self.asked.append(domain)
        if domain in self.failing:
            return LookupResult("error", error="HTTP 503")
        if domain in self.known:
            return LookupResult("hit", dict(self.known[domain]), 0.9)
        return LookupResult("miss")


@pytest.fixture
def enrichment():
    return FakeEnrichmentRepository(leads=[lead("ana@acme.fr"), lead("bob@acme.fr"), lead("cid@nobody.fr"),
                                           lead("dan@gmail.com", is_free_email=True)])


@pytest.fixture
def uow(enrichment):
    return FakeUnitOfWork(enrichment=enrichment)


def status(enrichment: FakeEnrichmentRepository) -> dict[str, str | None]:
    return {r["email"]: r["enrichment_status"] for r in enrichment.leads}


def test_a_fresh_cached_answer_is_used_before_the_providers_and_a_miss_is_stored(uow, enrichment, rules):
    enrichment.store_answers([("acme.fr", "firmo", LookupResult("hit", KNOWN, 0.8))], NOW - timedelta(days=1))
    provider = CountingProvider()

    out = enrich_pending(uow, rules, [provider], now=NOW)

    assert enrichment.reads[0] == ("acme.fr", "nobody.fr")  # one cache read for every pending domain
    assert provider.asked == ["nobody.fr"]  # acme.fr came from the cache
    assert enrichment.lookups[("nobody.fr", "firmo")] == (LookupResult("miss"), NOW)  # the miss is remembered
    assert status(enrichment) == {"ana@acme.fr": "enriched", "bob@acme.fr": "enriched", "cid@nobody.fr": "miss",
                                  "dan@gmail.com": "skipped"}
    assert enrichment.leads[0]["industry"] == "Software" and enrichment.leads[0]["employee_band"] == "51-200"
    assert (out.domains, out.enriched, out.not_enriched, out.skipped, out.errors) == (2, 2, 1, 1, 0)
    assert out.providers["firmo"]["cache_hits"] == 1 and out.providers["firmo"]["lookups"] == 1
    assert uow.commits == 0  # the caller commits


def test_a_stored_miss_is_not_asked_again_while_fresh(uow, enrichment, rules):
    provider = CountingProvider()
    enrich_pending(uow, rules, [provider], now=NOW)
    enrichment.leads.append(lead("eve@nobody.fr"))
    enrich_pending(uow, rules, [provider], now=NOW + timedelta(days=1))
    assert provider.asked == ["acme.fr", "nobody.fr"] and status(enrichment)["eve@nobody.fr"] == "miss"


def test_a_provider_error_leaves_the_leads_in_error_and_the_next_run_retries_them(uow, enrichment, rules):
    provider = CountingProvider(known={"acme.fr": KNOWN}, failing={"acme.fr"})
    out = enrich_pending(uow, rules, [provider], now=NOW)
    assert out.errors == 2 and status(enrichment)["ana@acme.fr"] == "error"
    assert ("acme.fr", "firmo") not in enrichment.cached(["acme.fr"], NOW - timedelta(days=1))  # errors are not answers

    provider.failing.clear()
    again = enrich_pending(uow, rules, [provider], now=NOW + timedelta(hours=1))
    assert again.enriched == 2 and status(enrichment)["ana@acme.fr"] == "enriched"


def test_checkpoints_come_with_the_work_so_far_written_and_the_caller_commits_there(enrichment, rules):
    enrichment.leads[:] = [lead(f"p{i}@firm{i}.fr") for i in range(5)]
    uow = FakeUnitOfWork(enrichment=enrichment)
    seen: list[tuple[int, int, int]] = []

    def checkpoint(done: int, total: int) -> None:
        written = sum(r["enrichment_status"] is not None for r in enrichment.leads)
        seen.append((done, total, written))
        uow.commit()

    enrich_pending(uow, rules, [CountingProvider()], now=NOW, checkpoint=checkpoint, checkpoint_every=2)
    assert seen == [(2, 5, 2), (4, 5, 4), (5, 5, 5)]  # every 2 domains, and the end
    assert uow.commits == 3  # the callback's, none of the service's own


def test_a_repository_deferring_lead_updates_gets_the_answers_at_checkpoints_and_the_leads_at_the_end(
        enrichment, rules):
    enrichment.leads[:] = [lead(f"p{i}@firm{i}.fr") for i in range(5)]
    enrichment.defers_lead_updates = True
    uow = FakeUnitOfWork(enrichment=enrichment)
    seen: list[tuple[int, int, int, int]] = []

    def checkpoint(done: int, total: int) -> None:
        seen.append((done, total, len(enrichment.lookups), sum(r["enrichment_status"] is not None
                                                               for r in enrichment.leads)))

    out = enrich_pending(uow, rules, [CountingProvider()], now=NOW, checkpoint=checkpoint, checkpoint_every=2)
    # a crash redoes no lookup before the last checkpoint; the leads are written in one pass at the end
    assert seen == [(2, 5, 2, 0), (4, 5, 4, 0), (5, 5, 5, 5)]
    assert out.enriched + out.not_enriched == 5


def test_a_checkpoint_commits_at_once_where_the_leads_were_written_there_else_once_the_seconds_have_passed(
        enrichment):
    enrichment.defers_lead_updates = False  # PostgreSQL: the leads of each checkpoint are written there
    assert commit_due(enrichment, 200, 5000, since_commit=0.0, least_seconds=2.0)
    enrichment.defers_lead_updates = True  # SQLite: only lookups before the end
    assert not commit_due(enrichment, 200, 5000, since_commit=1.9, least_seconds=2.0)
    assert commit_due(enrichment, 400, 5000, since_commit=2.0, least_seconds=2.0)
    assert commit_due(enrichment, 5000, 5000, since_commit=0.0, least_seconds=2.0)  # the end, always


def test_the_circuit_state_is_saved_redacted(uow, enrichment, rules):
    provider = CountingProvider()
    provider.breaker = CircuitBreaker(3, 60, CircuitState("open", 3, NOW.timestamp() + 60, "401 for key s3cr3t-key"))
    provider.secrets = ("s3cr3t-key",)
    enrich_pending(uow, rules, [provider], now=NOW)
    saved = enrichment.circuit_states["firmo"]
    assert saved.failures == 3 and "s3cr3t-key" not in (saved.last_error or "")
