"""Enrich leads' companies by email domain through the configured providers (waterfall).

One lookup per distinct domain and provider, never one per lead, and none at all while a
cached answer is fresh (``enrichment_lookups`` + ``enrichment_records``, TTL in sources.yaml).
HTTP lookups run concurrently in threads (bounded by the providers' ``concurrency``, spaced by
their rate limits); the database is written through ``uow.enrichment`` from the calling thread
only. A provider outage never fails the pass: its leads end ``error`` and are retried on the
next run. The service never commits: the caller does, at the checkpoints it is given and at the end.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from leadops.config import ProviderConfig, Rules
from leadops.db.models import utcnow
from leadops.db.repositories.enrichment import LEAD_FIELDS, DomainOutcome, EnrichmentRepository, Pending
from leadops.db.unit_of_work import UnitOfWork
from leadops.domain.enrichment import (
    PERSON_REQUIRED, Answer, EnrichmentStatus, LookupResult, combine, first_values, person_fields_to_fill, waterfall,
)
from leadops.domain.metrics import percentile
from leadops.providers.base import EnrichmentProvider
from leadops.providers.limits import CircuitBreaker, CircuitState
from leadops.providers.offline import OfflineProvider
from leadops.redact import redact
from leadops.services.collector import in_fewer_passes


@dataclass
class EnrichSummary:
    """Counts of one enrichment pass: leads by outcome (grain: lead) and numbers per provider."""

    domains: int = 0
    enriched: int = 0
    partial: int = 0
    not_enriched: int = 0
    errors: int = 0  # leads left in error (retried next run); included in not_enriched
    skipped: int = 0
    people_enriched: int = 0  # leads that gained seniority, department or job title from a person lookup
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)


class MisconfiguredProvider:
    """Stands in for a provider that cannot run (e.g. its API key is missing): every lookup is an error."""

    def __init__(self, name: str, problem: str) -> None:
        self.name, self.problem = name, problem

    def lookup(self, domain: str) -> LookupResult:
        return LookupResult("error", error=f"provider {self.name}: {self.problem}")


def build_provider(cfg: ProviderConfig, breaker: CircuitBreaker | None = None,
                   shared: EnrichmentRepository | None = None) -> EnrichmentProvider:
    """Return the provider object for one sources.yaml entry (HTTP key from the environment or a Secret block).

    With ``shared`` (the enrichment repository of a unit of work) on PostgreSQL, the provider's rate
    limit is shared with every other process enriching against the same database; otherwise with
    every thread of this process.
    """
    if cfg.kind == "offline":
        return OfflineProvider(cfg.name, cfg.path)
    from leadops.providers.http import HttpProvider
    from leadops.providers.limits import DatabaseRateLimiter
    from leadops.sources.api import ApiError, resolve_token

    try:
        # resolve_token is typed for an ApiSource; it reads name, token_env and token_secret_block, which a
        # ProviderConfig has too
        token = resolve_token(cfg)  # type: ignore[arg-type]
    except ApiError as exc:
        return MisconfiguredProvider(cfg.name, str(exc).replace(f"source {cfg.name}: ", ""))
    limiter = None
    if cfg.rate_limit_per_second and shared is not None:
        reserve = shared.rate_slot(cfg.name, cfg.rate_limit_per_second)
        limiter = DatabaseRateLimiter(reserve) if reserve else None
    return HttpProvider(cfg, token, breaker=breaker, limiter=limiter)


def _load_breakers(uow: UnitOfWork, rules: Rules) -> dict[str, CircuitBreaker]:
    stored = uow.enrichment.circuits()
    return {cfg.name: CircuitBreaker(cfg.circuit_failures, cfg.circuit_cooldown_seconds,
                                     stored.get(cfg.name) or CircuitState())
            for cfg in rules.sources.providers}


def save_breakers(uow: UnitOfWork, providers: list[EnrichmentProvider]) -> None:
    """Store the circuit state of the providers that have a breaker (so the next run, or another worker, knows)."""
    for p in providers:
        breaker: CircuitBreaker | None = getattr(p, "breaker", None)
        if breaker is None:
            continue
        s = breaker.state
        # redacted before the repository cuts it: a cut secret would no longer be recognised
        uow.enrichment.save_circuit(p.name, replace(s, last_error=redact(s.last_error, getattr(p, "secrets", ()))))


def providers_from(rules: Rules, uow: UnitOfWork | None = None) -> list[EnrichmentProvider]:
    """Return the providers of sources.yaml in waterfall order (circuit states loaded through ``uow``)."""
    breakers = _load_breakers(uow, rules) if uow is not None else {}
    shared = uow.enrichment if uow is not None else None
    return [build_provider(cfg, breakers.get(cfg.name), shared) for cfg in rules.sources.providers]


def _ask(domain: str, providers: dict[str, EnrichmentProvider],
         cached: dict[tuple[str, str], LookupResult]) -> Callable[[str], Answer]:
    """Return ``ask(provider)`` for :func:`leadops.domain.enrichment.waterfall`: the fresh cached answer
    for ``domain``, else the provider's lookup (a provider's exception becomes an ``error`` answer).

    Runs in a worker thread: it reads the pre-loaded cache and calls providers, never the database.
    """
    def ask(name: str) -> Answer:
        res = cached.get((domain, name))
        if res is not None:
            return Answer(name, res, from_cache=True)
        p = providers[name]
        try:
            return Answer(name, p.lookup(domain))
        except Exception as exc:  # noqa: BLE001 - a provider bug must not lose the domain's leads
            return Answer(name, LookupResult("error", error=redact(f"provider {p.name}: {type(exc).__name__}: {exc}",
                                                                   getattr(p, "secrets", ()))))

    return ask


def _in_parallel(items: list[str], work: Callable[[str], Any], apply: Callable[[str, Any], None], workers: int) -> None:
    """Run ``work(item)`` in a thread pool and ``apply(item, result)`` in this thread as results come.

    A bounded number of items is in flight, so memory stays flat on 100k-lead runs. With one worker
    everything runs in this thread: a pool's hand-over cost ~60 us per item (3 s for 50k offline lookups).
    """
    if workers <= 1:
        for item in items:
            apply(item, work(item))
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="enrich") as pool:
        todo = iter(items)
        running: dict[Future, str] = {}
        for item in todo:
            running[pool.submit(work, item)] = item
            if len(running) >= workers * 2:
                break
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                apply(running.pop(fut), fut.result())
                nxt = next(todo, None)
                if nxt is not None:
                    running[pool.submit(work, nxt)] = nxt


def _enrich_people(uow: UnitOfWork, providers: list[Any], ttl: timedelta, now: datetime,
                   stats: dict[str, Counter[str]]) -> int:
    """Look people up by email for leads lacking seniority or department; returns the leads that gained a field.

    Answers are cached like company lookups under the subject ``email:<address>``; a lead's own
    values (from its job title) are never replaced, only blanks are filled.
    """
    current = uow.enrichment.people_to_look_up()
    emails = list(current)
    cached = uow.enrichment.cached([f"email:{e}" for e in emails], now - ttl)
    todo = [e for e in emails if not all((f"email:{e}", p.name) in cached for p in providers)]

    by_name = {p.name: p for p in providers}
    names = [p.name for p in providers]

    def work(email: str) -> list[Answer]:
        return waterfall(names, lambda name: Answer(name, by_name[name].lookup_person(email)), PERSON_REQUIRED)

    gained = 0

    def apply(email: str, answers: list[Answer]) -> None:
        nonlocal gained
        uow.enrichment.store_answers([(f"email:{email}", a.provider, a.result) for a in answers], now)
        for a in answers:
            stats[a.provider]["person_lookups"] += 1
            stats[a.provider]["person_hits"] += a.result.status == "hit"
        fill = person_fields_to_fill(current[email], first_values(answers))
        if fill:
            uow.enrichment.fill_person(email, fill)
            gained += 1

    workers = max(getattr(p.cfg, "concurrency", 1) for p in providers)
    _in_parallel(todo, work, apply, workers)
    return gained


def commit_due(repo: EnrichmentRepository, done: int, total: int, since_commit: float, least_seconds: float) -> bool:
    """Return whether a ``checkpoint(done, total)`` caller should commit now, ``since_commit`` seconds after its last
    commit: at the end; at every checkpoint where the leads were written there (``repo.defers_lead_updates`` false:
    PostgreSQL); otherwise once ``least_seconds`` have passed.

    On PostgreSQL each checkpoint's lead updates leave old row versions behind in pages all over the table; only once
    they are committed can the next checkpoint's updates prune them and take their room in the same page (HOT: no new
    entry in any of the ~10 indexes of leads). Committed every 2 s instead, a 100k-lead pass committed once or twice:
    20k of 90k updates were HOT against ~60k, and leads grew to 6.2k pages against 4.5k. A PostgreSQL commit is one
    WAL flush; on SQLite, where only lookups are written before the end, a commit after a large intake checkpoints
    its WAL (~60 ms), hence the spacing there.
    """
    return done >= total or not repo.defers_lead_updates or since_commit >= least_seconds


@in_fewer_passes
def enrich_pending(uow: UnitOfWork, rules: Rules, providers: list[EnrichmentProvider] | None = None, *,
                   stale: bool = False, now: datetime | None = None,
                   checkpoint: Callable[[int, int], None] | None = None, checkpoint_every: int = 200) -> EnrichSummary:
    """Enrich every lead not enriched yet (and, with ``stale``, those enriched longer than the TTL ago).

    Returns counts (grain: leads; per provider: lookups, HTTP requests, hits, misses, errors,
    cache hits, p50/p95 latency, circuit state). ``checkpoint(done, total)`` is called every
    ``checkpoint_every`` domains with the answers so far (lookups and their per-field records), the
    circuit states and, unless the repository defers them (``defers_lead_updates``), the leads of those
    domains written through ``uow``; and at the end with everything written. The caller commits the
    unit of work there (``uow.commit()``, as often as it likes) and reports progress, so a crash loses
    at most one checkpoint's lookups (a rerun finds the others' answers in the cache). The service
    itself never commits.
    """
    now = now or utcnow()
    cfg = rules.sources.enrichment
    ttl = timedelta(days=cfg.ttl_days)
    providers = providers if providers is not None else providers_from(rules, uow)
    stats: dict[str, Counter[str]] = {p.name: Counter() for p in providers}
    summary = EnrichSummary()
    repo = uow.enrichment
    summary.skipped = repo.skip_personal(now)
    pending = Pending(stale_before=now - ttl if stale else None)
    per_domain = repo.pending_domains(pending)
    domains = sorted(per_domain)
    summary.domains = len(domains)
    cached = repo.cached(domains, now - ttl)
    workers = max([getattr(getattr(p, "cfg", None), "concurrency", 1) for p in providers] + [1])
    done = 0

    # not in the database yet: fresh answers, (domain, provider, result), and the outcomes of domains
    unstored: list[tuple[str, str, LookupResult]] = []
    outcomes: list[DomainOutcome] = []

    def flush(last: bool) -> None:
        repo.store_answers(unstored, now)
        unstored.clear()
        if last or not repo.defers_lead_updates:
            repo.update_leads(outcomes, pending, now)
            outcomes.clear()

    def apply(domain: str, answers: list[Answer]) -> None:
        nonlocal done
        for a in answers:
            stats[a.provider]["cache_hits" if a.from_cache else "lookups"] += 1
            stats[a.provider][{"hit": "hits", "miss": "misses", "error": "errors"}[a.result.status]] += 1
            if not a.from_cache:
                unstored.append((domain, a.provider, a.result))
        out = combine(answers, cfg.field_precedence, cfg.required_fields)
        n = per_domain[domain]
        outcomes.append(DomainOutcome(domain, out.status,
                                      {k: out.values[k] for k in LEAD_FIELDS if out.values.get(k) is not None}, n))
        if out.status == EnrichmentStatus.ENRICHED:
            summary.enriched += n
        elif out.status == EnrichmentStatus.PARTIAL:
            summary.partial += n
        else:
            summary.not_enriched += n
            summary.errors += n if out.status == EnrichmentStatus.ERROR else 0
        done += 1
        if done % checkpoint_every == 0 and done < len(domains):
            flush(last=False)
            if checkpoint is not None:
                save_breakers(uow, providers)
                checkpoint(done, len(domains))

    required = cfg.required_fields
    names, by_name = [p.name for p in providers], {p.name: p for p in providers}
    _in_parallel(domains, lambda d: waterfall(names, _ask(d, by_name, cached), required), apply, workers)
    flush(last=True)
    people = [p for p in providers if getattr(getattr(p, "cfg", None), "person_lookup", False)]
    if people:
        summary.people_enriched = _enrich_people(uow, people, ttl, now, stats)
    save_breakers(uow, providers)
    if checkpoint is not None and done:
        checkpoint(done, len(domains))
    for p in providers:
        st = stats[p.name]
        lat = [x * 1000 for x in getattr(p, "latencies", [])]
        p50, p95 = percentile(lat, 50), percentile(lat, 95)  # None without any request
        breaker = getattr(p, "breaker", None)
        summary.providers[p.name] = {
            "lookups": st["lookups"], "requests": getattr(p, "requests", st["lookups"]), "hits": st["hits"],
            "misses": st["misses"], "errors": st["errors"], "cache_hits": st["cache_hits"],
            "p50_ms": round(p50, 1) if p50 is not None else None,
            "p95_ms": round(p95, 1) if p95 is not None else None,
            "person_lookups": st["person_lookups"], "person_hits": st["person_hits"],
            "circuit": breaker.state.state if breaker else None,
            "circuit_opened": breaker.opened if breaker else 0,
        }
    return summary
