"""Enrich leads' companies by email domain through the configured providers (waterfall).

One lookup per distinct domain and provider (cached in enrichment_lookups), never one per lead.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from leadops.config import Rules
from leadops.db.models import EnrichmentLookup, EnrichmentRecord, Lead, utcnow
from leadops.providers.base import REQUIRED, EnrichmentProvider, LookupResult
from leadops.providers.offline import OfflineProvider

LEAD_FIELDS = ("industry", "employee_count", "employee_band", "revenue_band")


@dataclass
class EnrichSummary:
    """Counts of one enrichment pass: leads by outcome and calls per provider."""

    domains: int = 0
    enriched: int = 0
    partial: int = 0
    not_enriched: int = 0
    skipped: int = 0
    providers: dict[str, dict[str, int]] = field(default_factory=dict)


def providers_from(rules: Rules) -> list[EnrichmentProvider]:
    """Return the providers of sources.yaml, in waterfall order."""
    return [OfflineProvider(p.name, p.path) for p in rules.sources.providers]


def _cached(session: Session, domain: str, provider: str, ttl: timedelta, now: datetime) -> LookupResult | None:
    row = session.scalar(select(EnrichmentLookup).where(EnrichmentLookup.domain == domain, EnrichmentLookup.provider == provider))
    if row is None or row.status == "error" or row.fetched_at < now - ttl:
        return None
    fields = dict(session.execute(select(EnrichmentRecord.field, EnrichmentRecord.value).where(
        EnrichmentRecord.domain == domain, EnrichmentRecord.provider == provider)).all())
    return LookupResult(row.status, fields)


def _store(session: Session, domain: str, provider: str, res: LookupResult, now: datetime) -> None:
    session.execute(delete(EnrichmentLookup).where(EnrichmentLookup.domain == domain, EnrichmentLookup.provider == provider))
    session.add(EnrichmentLookup(domain=domain, provider=provider, status=res.status, error=res.error, fetched_at=now))
    if res.status != "hit":
        return  # an emptier answer never erases what a provider said before
    session.execute(delete(EnrichmentRecord).where(EnrichmentRecord.domain == domain, EnrichmentRecord.provider == provider))
    session.add_all(EnrichmentRecord(domain=domain, provider=provider, field=k, value=v, confidence=res.confidence,
                                     fetched_at=now) for k, v in res.fields.items())


def enrich_pending(session: Session, rules: Rules, providers: list[EnrichmentProvider] | None = None, *,
                   ttl: timedelta = timedelta(days=90), now: datetime | None = None) -> EnrichSummary:
    """Enrich every lead not enriched yet; returns counts (grain: leads, and calls per provider)."""
    now = now or utcnow()
    providers = providers if providers is not None else providers_from(rules)
    summary = EnrichSummary(providers={p.name: Counter() for p in providers})
    skipped = session.execute(
        update(Lead).where(Lead.enrichment_status.is_(None), Lead.is_free_email.is_(True))
        .values(enrichment_status="skipped", enriched_at=now)
    ).rowcount
    summary.skipped = skipped or 0
    pending = or_(Lead.enrichment_status.is_(None), Lead.enrichment_status == "error")  # errors retry next run
    per_domain = Counter(d for (d,) in session.execute(select(Lead.email_domain).where(pending)))
    summary.domains = len(per_domain)
    for domain, n_leads in sorted(per_domain.items()):
        merged: dict[str, Any] = {}
        status = "miss"
        for p in providers:  # waterfall: first provider's value wins per field; stop when required filled
            res = _cached(session, domain, p.name, ttl, now)
            if res is None:
                res = p.lookup(domain)
                summary.providers[p.name]["calls"] += 1
                _store(session, domain, p.name, res, now)
            else:
                summary.providers[p.name]["cache_hits"] += 1
            summary.providers[p.name][res.status] += 1
            if res.status == "error" and status == "miss":
                status = "error"
            for k, v in res.fields.items():
                merged.setdefault(k, v)
            if all(merged.get(k) for k in REQUIRED):
                break
        if merged:
            status = "enriched" if all(merged.get(k) for k in REQUIRED) else "partial"
        values: dict[str, Any] = {k: merged[k] for k in LEAD_FIELDS if merged.get(k) is not None}
        session.execute(update(Lead).where(Lead.email_domain == domain, pending)
                        .values(enrichment_status=status, enriched_at=now, **values))
        if status == "enriched":
            summary.enriched += n_leads
        elif status == "partial":
            summary.partial += n_leads
        else:
            summary.not_enriched += n_leads
    summary.providers = {k: dict(v) for k, v in summary.providers.items()}
    return summary
