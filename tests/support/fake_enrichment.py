"""An in-memory enrichment repository: leads as dicts, stored answers by (subject, provider), circuit states.

It keeps the stored repository's contract: errors are never cache answers; a fresh answer replaces
a subject's lookup, and its fields only when it is a hit; a lead is updated only while pending and
never to a worse status, and a field without a value keeps the lead's own.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from leadops.db.repositories.enrichment import LEAD_FIELDS, DomainOutcome, Pending
from leadops.domain.enrichment import PERSON_FIELDS, REFRESHABLE, EnrichmentStatus, LookupResult, replaceable_by
from leadops.providers.limits import CircuitState


def lead(email: str, **values: Any) -> dict[str, Any]:
    """Return a lead's columns: not enriched yet, nothing known but its email (and domain)."""
    row: dict[str, Any] = dict.fromkeys((*LEAD_FIELDS, *PERSON_FIELDS, "enrichment_status", "enriched_at", "scored_at"))
    row.update(email=email, email_domain=email.split("@", 1)[1], is_free_email=False)
    row.update(values)
    return row


@dataclass
class FakeEnrichmentRepository:
    leads: list[dict[str, Any]] = field(default_factory=list)
    lookups: dict[tuple[str, str], tuple[LookupResult, datetime]] = field(default_factory=dict)
    records: dict[tuple[str, str], LookupResult] = field(default_factory=dict)  # the last hit
    circuit_states: dict[str, CircuitState] = field(default_factory=dict)
    reads: list[tuple[str, ...]] = field(default_factory=list)  # subjects asked of the cache, in order
    defers_lead_updates: bool = False

    def _pending(self, row: dict[str, Any], pending: Pending) -> bool:
        status = row["enrichment_status"]
        if status in (None, EnrichmentStatus.ERROR.value):
            return True
        return (pending.stale_before is not None and status in {s.value for s in REFRESHABLE}
                and row["enriched_at"] < pending.stale_before)

    def skip_personal(self, now: datetime) -> int:
        skipped = [r for r in self.leads if r["enrichment_status"] is None and r["is_free_email"]]
        for r in skipped:
            r.update(enrichment_status=EnrichmentStatus.SKIPPED.value, enriched_at=now)
        return len(skipped)

    def pending_domains(self, pending: Pending) -> dict[str, int]:
        return dict(Counter(r["email_domain"] for r in self.leads if self._pending(r, pending)))

    def cached(self, subjects: Sequence[str], fresh_since: datetime) -> dict[tuple[str, str], LookupResult]:
        self.reads.append(tuple(subjects))
        wanted = set(subjects)
        out = {}
        for (subject, provider), (res, at) in self.lookups.items():
            if subject in wanted and res.status != "error" and at >= fresh_since:
                hit = self.records.get((subject, provider))
                out[(subject, provider)] = hit if res.status == "hit" and hit else LookupResult(res.status)
        return out

    def store_answers(self, answers: Sequence[tuple[str, str, LookupResult]], now: datetime) -> None:
        for subject, provider, res in answers:
            self.lookups[(subject, provider)] = (res, now)
            if res.status == "hit":
                self.records[(subject, provider)] = res

    def update_leads(self, outcomes: Sequence[DomainOutcome], pending: Pending, now: datetime) -> None:
        for o in outcomes:
            allowed = {None, *(s.value for s in replaceable_by(o.status))}
            for r in self.leads:
                if r["email_domain"] == o.domain and self._pending(r, pending) and r["enrichment_status"] in allowed:
                    r.update(enrichment_status=o.status.value, enriched_at=now,
                             **{k: o.values[k] for k in LEAD_FIELDS if o.values.get(k) is not None})

    def people_to_look_up(self) -> dict[str, dict[str, Any]]:
        return {r["email"]: {k: r[k] for k in PERSON_FIELDS}
                for r in sorted(self.leads, key=lambda r: r["email"])
                if (r["seniority"] is None or r["department"] is None)
                and r["enrichment_status"] not in (None, EnrichmentStatus.SKIPPED.value)}

    def fill_person(self, email: str, values: Mapping[str, Any]) -> None:
        for r in self.leads:
            if r["email"] == email:
                r.update(values, scored_at=None)

    def circuits(self) -> dict[str, CircuitState]:
        return {name: replace(s) for name, s in self.circuit_states.items()}

    def save_circuit(self, provider: str, state: CircuitState) -> None:
        self.circuit_states[provider] = replace(state)

    def rate_slot(self, provider: str, rate_per_second: float) -> Callable[[], float] | None:
        return None
