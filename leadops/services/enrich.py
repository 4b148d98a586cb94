"""Enrich leads' companies by email domain through the configured providers (waterfall).

One lookup per distinct domain and provider, never one per lead, and none at all while a
cached answer is fresh (``enrichment_lookups`` + ``enrichment_records``, TTL in sources.yaml).
HTTP lookups run concurrently in threads (bounded by the providers' ``concurrency``, spaced by
their rate limits); the database is written from the calling thread only. A provider outage
never fails the pass: its leads end ``error`` and are retried on the next run.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from leadops.config import ProviderConfig, Rules
from leadops.db.bulk import bulk_insert, refresh_statistics
from leadops.db.models import EnrichmentLookup, EnrichmentRecord, Lead, ProviderCircuit, utcnow
from leadops.domain.enrichment import (
    PERSON_FIELDS, PERSON_REQUIRED, REFRESHABLE, Answer, EnrichmentStatus, LookupResult, LookupStatus, combine, first_values,
    person_fields_to_fill, replaceable_by, waterfall,
)
from leadops.domain.metrics import percentile
from leadops.providers.base import EnrichmentProvider
from leadops.providers.limits import CircuitBreaker, CircuitState
from leadops.providers.offline import OfflineProvider
from leadops.redact import redact

#: the combined fields a lead keeps in its own columns (scoring and routing read them)
LEAD_FIELDS = ("industry", "employee_count", "employee_band", "revenue_band")


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
                   database_url: str | None = None) -> EnrichmentProvider:
    """Return the provider object for one sources.yaml entry (HTTP key from the environment or a Secret block).

    On PostgreSQL (``database_url``) the provider's rate limit is shared with every other
    process enriching against the same database; otherwise with every thread of this process.
    """
    if cfg.kind == "offline":
        return OfflineProvider(cfg.name, cfg.path)
    from leadops.providers.http import HttpProvider
    from leadops.providers.limits import DatabaseRateLimiter
    from leadops.services.provider_state import slot_reserver
    from leadops.sources.api import ApiError, resolve_token

    try:
        token = resolve_token(cfg)  # type: ignore[arg-type] - same token_env/token_secret_block fields
    except ApiError as exc:
        return MisconfiguredProvider(cfg.name, str(exc).replace(f"source {cfg.name}: ", ""))
    limiter = None
    if cfg.rate_limit_per_second and database_url:
        reserve = slot_reserver(database_url, cfg.name, cfg.rate_limit_per_second)
        limiter = DatabaseRateLimiter(reserve) if reserve else None
    return HttpProvider(cfg, token, breaker=breaker, limiter=limiter)


def _load_breakers(session: Session, rules: Rules) -> dict[str, CircuitBreaker]:
    stored = {c.provider: c for c in session.scalars(select(ProviderCircuit))}
    out = {}
    for cfg in rules.sources.providers:
        c = stored.get(cfg.name)
        state = CircuitState(c.state, c.failures, c.opened_until.timestamp() if c.opened_until else None,
                             c.last_error) if c else CircuitState()
        out[cfg.name] = CircuitBreaker(cfg.circuit_failures, cfg.circuit_cooldown_seconds, state)
    return out


def save_breakers(session: Session, providers: list[EnrichmentProvider]) -> None:
    """Store the circuit state of the providers that have a breaker (so the next run, or another worker, knows)."""
    for p in providers:
        breaker: CircuitBreaker | None = getattr(p, "breaker", None)
        if breaker is None:
            continue
        s = breaker.state
        row = session.get(ProviderCircuit, p.name) or ProviderCircuit(provider=p.name)
        # redacted before the cut: a cut secret would no longer be recognised
        last_error = redact(s.last_error, getattr(p, "secrets", ()))
        row.state, row.failures, row.last_error = s.state, s.failures, (last_error or "")[:2000] or None
        row.opened_until = datetime.fromtimestamp(s.opened_until, timezone.utc) if s.opened_until else None
        row.updated_at = utcnow()
        session.add(row)


def providers_from(rules: Rules, session: Session | None = None) -> list[EnrichmentProvider]:
    """Return the providers of sources.yaml in waterfall order (circuit states loaded from the database)."""
    breakers = _load_breakers(session, rules) if session is not None else {}
    url = session.get_bind().url.render_as_string(hide_password=False) if session is not None else None
    return [build_provider(cfg, breakers.get(cfg.name), url) for cfg in rules.sources.providers]


def _cache(session: Session, domains: list[str], ttl: timedelta, now: datetime) -> dict[tuple[str, str], LookupResult]:
    """Return (domain, provider) -> fresh cached answer for ``domains`` (errors and stale answers are not cached)."""
    out: dict[tuple[str, str], LookupResult] = {}
    fields: dict[tuple[str, str], dict[str, Any]] = {}
    conf: dict[tuple[str, str], float] = {}
    for i in range(0, len(domains), 1000):
        chunk = domains[i:i + 1000]
        for d, p, f, v, c in session.execute(select(EnrichmentRecord.domain, EnrichmentRecord.provider, EnrichmentRecord.field,
                                                    EnrichmentRecord.value, EnrichmentRecord.confidence)
                                             .where(EnrichmentRecord.domain.in_(chunk))):
            fields.setdefault((d, p), {})[f] = v
            conf[(d, p)] = c
        for d, p, status, at in session.execute(select(EnrichmentLookup.domain, EnrichmentLookup.provider,
                                                       EnrichmentLookup.status, EnrichmentLookup.fetched_at)
                                                .where(EnrichmentLookup.domain.in_(chunk))):
            if status != "error" and at >= now - ttl:
                found = fields.get((d, p), {}) if status == "hit" else {}
                out[(d, p)] = LookupResult(cast(LookupStatus, status), found, conf.get((d, p), 1.0))  # stored as written
    return out


def _store_answers(session: Session, answers: list[tuple[str, str, LookupResult]], now: datetime) -> None:
    """Store fresh answers, (subject, provider, result) each: a domain, or ``email:<address>`` for a person.

    A subject's stored lookup is replaced by the fresh one; its records only by a hit (an emptier
    answer never erases what a provider said before). A few multi-row statements per provider.
    """
    by_provider: dict[str, list[tuple[str, LookupResult]]] = {}
    for subject, name, res in answers:
        by_provider.setdefault(name, []).append((subject, res))
    lookups, records = EnrichmentLookup.__table__, EnrichmentRecord.__table__
    conn = session.connection()
    stored = {lookups: 0, records: 0}
    for name, items in by_provider.items():
        session.execute(delete(lookups).where(lookups.c.provider == name, lookups.c.domain.in_([d for d, _ in items])))
        # COPY on PostgreSQL: one INSERT per answer and field cost the server ~0.3 ms each (80 s for 50k domains)
        # errors come redacted from the providers; the process's registered secrets are taken out again here
        stored[lookups] += bulk_insert(conn, lookups, [dict(domain=d, provider=name, status=r.status,
                                                            error=redact(r.error), fetched_at=now) for d, r in items])
        hits = [(d, r) for d, r in items if r.status == "hit"]
        if hits:
            session.execute(delete(records).where(records.c.provider == name, records.c.domain.in_([d for d, _ in hits])))
            stored[records] += bulk_insert(conn, records, [
                dict(domain=d, provider=name, field=k, value=v, confidence=r.confidence, fetched_at=now)
                for d, r in hits for k, v in r.fields.items()])
    if conn.dialect.name == "postgresql":
        for table, n in stored.items():
            if n:
                refresh_statistics(conn, n, table)


def _write_domains(session: Session,
                   answered: list[tuple[str, list[tuple[str, LookupResult]], EnrichmentStatus, dict[str, Any]]],
                   pending: Any, now: datetime) -> None:
    """Store a batch of domains' fresh answers (see :func:`_store_answers`) and update their leads.

    ``answered``: (domain, fresh answers (provider, result), combined status, lead field values).
    A lead is updated only while still pending and never to a worse status; a field without a
    value keeps the lead's own.
    """
    if not answered:
        return
    _store_answers(session, [(domain, name, res) for domain, fresh, _, _ in answered for name, res in fresh], now)
    leads = Lead.__table__
    for status in {st for _, _, st, _ in answered}:
        no_worse = replaceable_by(status)
        stmt = (update(leads)
                .where(leads.c.email_domain == bindparam("b_domain"), pending,
                       or_(leads.c.enrichment_status.is_(None), *(leads.c.enrichment_status == st.value for st in no_worse)))
                .values(enrichment_status=status.value, enriched_at=now,
                        **{k: func.coalesce(bindparam(f"b_{k}", type_=leads.c[k].type), leads.c[k]) for k in LEAD_FIELDS}))
        session.execute(stmt, [{"b_domain": d, **{f"b_{k}": values.get(k) for k in LEAD_FIELDS}}
                               for d, _, st, values in answered if st == status])


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

    A bounded number of items is in flight, so memory stays flat on 100k-lead runs.
    """
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


def _enrich_people(session: Session, providers: list[Any], ttl: timedelta, now: datetime,
                   stats: dict[str, Counter]) -> int:
    """Look people up by email for leads lacking seniority or department; returns the leads that gained a field.

    Answers are cached like company lookups under the subject ``email:<address>``; a lead's own
    values (from its job title) are never replaced, only blanks are filled.
    """
    missing = or_(Lead.seniority.is_(None), Lead.department.is_(None))
    looked_up = Lead.enrichment_status != EnrichmentStatus.SKIPPED.value
    emails = sorted(e for (e,) in session.execute(select(Lead.email).where(missing, looked_up)))
    cached = _cache(session, [f"email:{e}" for e in emails], ttl, now)
    todo = [e for e in emails if not all((f"email:{e}", p.name) in cached for p in providers)]

    by_name = {p.name: p for p in providers}
    names = [p.name for p in providers]

    def work(email: str) -> list[Answer]:
        return waterfall(names, lambda name: Answer(name, by_name[name].lookup_person(email)), PERSON_REQUIRED)

    gained = 0

    def apply(email: str, answers: list[Answer]) -> None:
        nonlocal gained
        _store_answers(session, [(f"email:{email}", a.provider, a.result) for a in answers], now)
        for a in answers:
            stats[a.provider]["person_lookups"] += 1
            stats[a.provider]["person_hits"] += a.result.status == "hit"
        lead = session.scalar(select(Lead).where(Lead.email == email))
        fill = person_fields_to_fill({k: getattr(lead, k) for k in PERSON_FIELDS}, first_values(answers))
        for k, v in fill.items():
            setattr(lead, k, v)
        if fill:
            lead.scored_at = None  # seniority and department count in the fit score
            gained += 1

    workers = max(getattr(p.cfg, "concurrency", 1) for p in providers)
    _in_parallel(todo, work, apply, workers)
    return gained


def enrich_pending(session: Session, rules: Rules, providers: list[EnrichmentProvider] | None = None, *,
                   stale: bool = False, now: datetime | None = None,
                   checkpoint: Callable[[int, int], None] | None = None, checkpoint_every: int = 200) -> EnrichSummary:
    """Enrich every lead not enriched yet (and, with ``stale``, those enriched longer than the TTL ago).

    Returns counts (grain: leads; per provider: lookups, HTTP requests, hits, misses, errors,
    cache hits, p50/p95 latency, circuit state). ``checkpoint(done, total)`` is called every
    ``checkpoint_every`` domains with the work so far flushed (the task commits and reports
    progress there), so a crash loses at most that much.
    """
    now = now or utcnow()
    cfg = rules.sources.enrichment
    ttl = timedelta(days=cfg.ttl_days)
    providers = providers if providers is not None else providers_from(rules, session)
    stats = {p.name: Counter() for p in providers}
    summary = EnrichSummary()
    summary.skipped = session.execute(
        update(Lead).where(Lead.enrichment_status.is_(None), Lead.is_free_email.is_(True))
        .values(enrichment_status=EnrichmentStatus.SKIPPED.value, enriched_at=now)
    ).rowcount or 0
    pending = or_(Lead.enrichment_status.is_(None), Lead.enrichment_status == EnrichmentStatus.ERROR.value)  # retried
    if stale:
        # equalities, not IN: an IN list expands per execution, which the bulk UPDATE (executemany) cannot
        refreshable = or_(*(Lead.enrichment_status == st.value for st in REFRESHABLE))
        pending = or_(pending, and_(refreshable, Lead.enriched_at < now - ttl))
    per_domain = Counter(d for (d,) in session.execute(select(Lead.email_domain).where(pending)))
    domains = sorted(per_domain)
    summary.domains = len(domains)
    cached = _cache(session, domains, ttl, now)
    workers = max([getattr(getattr(p, "cfg", None), "concurrency", 1) for p in providers] + [1])
    done = 0

    # not yet in the database
    written: list[tuple[str, list[tuple[str, LookupResult]], EnrichmentStatus, dict[str, Any]]] = []

    def apply(domain: str, answers: list[Answer]) -> None:
        nonlocal done
        fresh = []
        for a in answers:
            stats[a.provider]["cache_hits" if a.from_cache else "lookups"] += 1
            stats[a.provider][{"hit": "hits", "miss": "misses", "error": "errors"}[a.result.status]] += 1
            if not a.from_cache:
                fresh.append((a.provider, a.result))
        out = combine(answers, cfg.field_precedence, cfg.required_fields)
        written.append((domain, fresh, out.status, {k: out.values[k] for k in LEAD_FIELDS if out.values.get(k) is not None}))
        n = per_domain[domain]
        if out.status == EnrichmentStatus.ENRICHED:
            summary.enriched += n
        elif out.status == EnrichmentStatus.PARTIAL:
            summary.partial += n
        else:
            summary.not_enriched += n
            summary.errors += n if out.status == EnrichmentStatus.ERROR else 0
        done += 1
        if done % checkpoint_every == 0:
            _write_domains(session, written, pending, now)
            written.clear()
            if checkpoint is not None:
                session.flush()
                save_breakers(session, providers)
                checkpoint(done, len(domains))

    required = cfg.required_fields
    names, by_name = [p.name for p in providers], {p.name: p for p in providers}
    _in_parallel(domains, lambda d: waterfall(names, _ask(d, by_name, cached), required), apply, workers)
    _write_domains(session, written, pending, now)
    people = [p for p in providers if getattr(getattr(p, "cfg", None), "person_lookup", False)]
    if people:
        summary.people_enriched = _enrich_people(session, people, ttl, now, stats)
    session.flush()
    save_breakers(session, providers)
    if checkpoint is not None and done % checkpoint_every:
        checkpoint(done, len(domains))
    for p in providers:
        st = stats[p.name]
        lat = [x * 1000 for x in getattr(p, "latencies", [])]
        breaker = getattr(p, "breaker", None)
        summary.providers[p.name] = {
            "lookups": st["lookups"], "requests": getattr(p, "requests", st["lookups"]), "hits": st["hits"],
            "misses": st["misses"], "errors": st["errors"], "cache_hits": st["cache_hits"],
            "p50_ms": round(percentile(lat, 50), 1) if lat else None,
            "p95_ms": round(percentile(lat, 95), 1) if lat else None,
            "person_lookups": st["person_lookups"], "person_hits": st["person_hits"],
            "circuit": breaker.state.state if breaker else None,
            "circuit_opened": breaker.opened if breaker else 0,
        }
    return summary
