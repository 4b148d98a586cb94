"""Enrichment as a repository: the answers cache, the leads an enrichment pass updates, and the providers'
state shared through the database (circuit breakers; on PostgreSQL, the rate-limit slot).

Answers are stored per subject and provider: a subject is a domain, or ``email:<address>`` for a
person lookup. ``enrichment_lookups`` holds each subject's last status, ``enrichment_records`` the
fields of its last hit. Leads are updated by ``UPDATE ... FROM`` a temporary table of per-domain values.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import Column, ColumnElement, Integer, String, and_, case, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from leadops.db.bulk import bulk_insert, refresh_statistics, table_of
from leadops.db.bulk_update import load_columns, temporary
from leadops.db.models import EnrichmentLookup, EnrichmentRecord, Lead, ProviderCircuit, utcnow
from leadops.db.session import get_engine
from leadops.domain.enrichment import (
    PERSON_FIELDS, RANK, REFRESHABLE, EnrichmentStatus, LookupResult, LookupStatus,
)
from leadops.providers.limits import CircuitState, DatabaseRateLimiter, RateLimiter, shared_limiter
from leadops.redact import redact

#: the combined fields a lead keeps in its own columns (scoring and routing read them)
LEAD_FIELDS = ("industry", "employee_count", "employee_band", "revenue_band")
#: longest stored text of a provider's last error
LAST_ERROR_CHARS = 2000
_IN_LIST = 1000  # subjects per IN list when reading the cache
#: SQLite: leads are updated by one scan of the table once they are at least 1/SCAN_SHARE of its rows (a row
#: scanned costs ~0.3 us, a lead found through the domain index ~10 us more, its page read back from the WAL)
SCAN_SHARE = 25


@dataclass(frozen=True)
class Pending:
    """The leads an enrichment pass takes: never enriched, or left in error (retried); with
    ``stale_before``, also those enriched, partially enriched or missed before that instant."""

    stale_before: datetime | None = None


@dataclass(frozen=True)
class DomainOutcome:
    """What a domain's leads take from its answers: the combined status and the values of LEAD_FIELDS found."""

    domain: str
    status: EnrichmentStatus
    values: Mapping[str, Any]
    leads: int = 0  # the domain's pending leads when the pass began: how the repository plans the update


class EnrichmentRepository(Protocol):
    """Where an enrichment pass reads the cache and pending leads and writes answers, leads and provider state."""

    @property
    def defers_lead_updates(self) -> bool:
        """True when a pass should update its leads once, after its last lookup, rather than at each checkpoint."""
        ...

    def skip_personal(self, now: datetime) -> int:
        """Mark the not-yet-enriched leads with a free (personal) email address ``skipped``; returns how many."""
        ...

    def pending_domains(self, pending: Pending) -> dict[str, int]:
        """Return domain -> number of ``pending`` leads with that email domain."""
        ...

    def cached(self, subjects: Sequence[str], fresh_since: datetime) -> dict[tuple[str, str], LookupResult]:
        """Return (subject, provider) -> stored answer fetched since ``fresh_since`` for ``subjects`` (a hit with
        its fields, or a miss; errors are never answers from the cache)."""
        ...

    def store_answers(self, answers: Sequence[tuple[str, str, LookupResult]], now: datetime) -> None:
        """Store fresh answers, (subject, provider, result) each: a subject's stored lookup is replaced by the
        fresh one, its fields only by a hit (an emptier answer never erases what a provider said before)."""
        ...

    def update_leads(self, outcomes: Sequence[DomainOutcome], pending: Pending, now: datetime) -> None:
        """Give each outcome's ``pending`` leads (by email domain) its status and values, enriched at ``now``.

        A lead is never moved to a worse status; a field without a value keeps the lead's own.
        """
        ...

    def people_to_look_up(self) -> dict[str, dict[str, Any]]:
        """Return email -> PERSON_FIELDS values of the looked-up (not skipped) leads lacking seniority or
        department, by email."""
        ...

    def fill_person(self, email: str, values: Mapping[str, Any]) -> None:
        """Set ``values`` (person fields) on the lead with ``email`` and mark it for scoring again."""
        ...

    def circuits(self) -> dict[str, CircuitState]:
        """Return each provider's stored circuit-breaker state, by provider name."""
        ...

    def save_circuit(self, provider: str, state: CircuitState) -> None:
        """Store ``provider``'s circuit-breaker state (its ``last_error`` already redacted)."""
        ...

    def rate_slot(self, provider: str, rate_per_second: float) -> Callable[[], float] | None:
        """Return a function reserving ``provider``'s next request slot across processes (seconds to wait),
        or None when the database cannot share one (SQLite)."""
        ...


# One statement: create or advance the provider's slot and return how long this caller waits.
# GREATEST(next_at, now()) keeps an idle limiter from banking a burst; the row lock taken by the
# upsert serializes concurrent reservations from any number of processes.
_RESERVE = text("""
INSERT INTO provider_rate_slots (provider, next_at) VALUES (:provider, clock_timestamp() + make_interval(secs => :interval))
ON CONFLICT (provider) DO UPDATE
   SET next_at = GREATEST(provider_rate_slots.next_at, clock_timestamp()) + make_interval(secs => :interval)
RETURNING EXTRACT(EPOCH FROM (next_at - clock_timestamp())) - :interval
""")


def slot_reserver(url: str, provider: str, rate_per_second: float) -> Callable[[], float] | None:
    """Return a function reserving the provider's next request slot (seconds to wait), or None off PostgreSQL.

    Each reservation commits at once on its own pooled connection, outside any caller's transaction.
    """
    engine = get_engine(url)
    if engine.dialect.name != "postgresql":
        return None
    interval = 1.0 / rate_per_second

    def reserve() -> float:
        with engine.begin() as conn:
            return max(0.0, float(conn.execute(_RESERVE, {"provider": provider, "interval": interval}).scalar_one()))

    return reserve


def limiter_for(database_url: str | None, key: str, rate_per_second: float) -> RateLimiter | DatabaseRateLimiter:
    """Return the limiter of ``key``: one ``provider_rate_slots`` row shared by every process on PostgreSQL, else the
    process's own (:func:`leadops.providers.limits.shared_limiter`)."""
    reserve = slot_reserver(database_url, key, rate_per_second) if database_url else None
    return DatabaseRateLimiter(reserve) if reserve is not None else shared_limiter(key, rate_per_second)


def _pending(pending: Pending) -> ColumnElement[bool]:
    cond = or_(Lead.enrichment_status.is_(None), Lead.enrichment_status == EnrichmentStatus.ERROR.value)  # retried
    if pending.stale_before is None:
        return cond
    refreshable = or_(*(Lead.enrichment_status == st.value for st in REFRESHABLE))
    return or_(cond, and_(refreshable, Lead.enriched_at < pending.stale_before))


class SqlEnrichmentRepository:
    """enrichment_lookups, enrichment_records, the enrichment columns of leads, provider_circuits and
    (PostgreSQL) provider_rate_slots."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def defers_lead_updates(self) -> bool:
        """True on SQLite: a domain's leads lie on pages all over the table, and updating them checkpoint by
        checkpoint rewrote every page many times (1M leads: 29 s against 7 s in one pass). False on
        PostgreSQL: each checkpoint's commit lets the next updates find room in their own pages and leave the
        ~10 indexes of leads alone (HOT updates: 62% of the rows against 6% in one pass at 300k leads)."""
        return self.session.get_bind().dialect.name == "sqlite"

    def skip_personal(self, now: datetime) -> int:
        result = self.session.execute(
            update(Lead).where(Lead.enrichment_status.is_(None), Lead.is_free_email.is_(True))
            .values(enrichment_status=EnrichmentStatus.SKIPPED.value, enriched_at=now))
        return int(getattr(result, "rowcount", 0) or 0)

    def pending_domains(self, pending: Pending) -> dict[str, int]:
        # counted here, not by GROUP BY: SQLite groups through the email_domain index, visiting the rows in
        # domain order (3 s at 1M leads); the driver's rows, as text needing no conversion, are read directly
        with self.session.connection().execute(select(table_of(Lead).c.email_domain).where(_pending(pending))) as result:
            return dict(Counter(map(itemgetter(0), result.cursor.fetchall())))

    def cached(self, subjects: Sequence[str], fresh_since: datetime) -> dict[tuple[str, str], LookupResult]:
        out: dict[tuple[str, str], LookupResult] = {}
        fields: dict[tuple[str, str], dict[str, Any]] = {}
        conf: dict[tuple[str, str], float] = {}
        for i in range(0, len(subjects), _IN_LIST):
            chunk = subjects[i:i + _IN_LIST]
            for d, p, f, v, c in self.session.execute(
                    select(EnrichmentRecord.domain, EnrichmentRecord.provider, EnrichmentRecord.field,
                           EnrichmentRecord.value, EnrichmentRecord.confidence)
                    .where(EnrichmentRecord.domain.in_(chunk))):
                fields.setdefault((d, p), {})[f] = v
                conf[(d, p)] = c
            for d, p, status, at in self.session.execute(
                    select(EnrichmentLookup.domain, EnrichmentLookup.provider, EnrichmentLookup.status,
                           EnrichmentLookup.fetched_at)
                    .where(EnrichmentLookup.domain.in_(chunk))):
                if status != "error" and at >= fresh_since:
                    found = fields.get((d, p), {}) if status == "hit" else {}
                    out[(d, p)] = LookupResult(cast(LookupStatus, status), found, conf.get((d, p), 1.0))  # as written
        return out

    def store_answers(self, answers: Sequence[tuple[str, str, LookupResult]], now: datetime) -> None:
        by_provider: dict[str, list[tuple[str, LookupResult]]] = {}
        for subject, name, res in answers:
            by_provider.setdefault(name, []).append((subject, res))
        lookups, records = table_of(EnrichmentLookup), table_of(EnrichmentRecord)
        conn = self.session.connection()
        stored = {lookups: 0, records: 0}
        for name, items in by_provider.items():
            self.session.execute(delete(lookups).where(lookups.c.provider == name,
                                                       lookups.c.domain.in_([d for d, _ in items])))
            # COPY on PostgreSQL: one INSERT per answer and field cost the server ~0.3 ms each (80 s for 50k domains)
            # errors come redacted from the providers; the process's registered secrets are taken out again here
            stored[lookups] += bulk_insert(conn, lookups, [dict(domain=d, provider=name, status=r.status,
                                                                error=redact(r.error), fetched_at=now) for d, r in items])
            hits = [(d, r) for d, r in items if r.status == "hit"]
            if hits:
                self.session.execute(delete(records).where(records.c.provider == name,
                                                           records.c.domain.in_([d for d, _ in hits])))
                stored[records] += bulk_insert(conn, records, [
                    dict(domain=d, provider=name, field=k, value=v, confidence=r.confidence, fetched_at=now)
                    for d, r in hits for k, v in r.fields.items()])
        if conn.dialect.name == "postgresql":
            for table, n in stored.items():
                if n:
                    refresh_statistics(conn, n, table)

    def update_leads(self, outcomes: Sequence[DomainOutcome], pending: Pending, now: datetime) -> None:
        if not outcomes:
            return
        conn = self.session.connection()
        leads = table_of(Lead)
        temp = temporary(conn, "_enrich_outcomes", [
            Column("domain", leads.c.email_domain.type, primary_key=True), Column("status", String(20)),
            Column("rank", Integer), *(Column(k, leads.c[k].type) for k in LEAD_FIELDS)])
        try:
            load_columns(conn, temp, {"domain": [o.domain for o in outcomes],
                                      "status": [o.status.value for o in outcomes],
                                      "rank": [RANK[o.status] for o in outcomes],
                                      **{k: [o.values.get(k) for o in outcomes] for k in LEAD_FIELDS}})
            # a skipped lead has no rank (NULL): never replaced
            stored_rank = case({st.value: rank for st, rank in RANK.items()}, value=leads.c.enrichment_status)
            stmt = (update(leads)
                    .where(leads.c.email_domain == temp.c.domain, _pending(pending),
                           or_(leads.c.enrichment_status.is_(None), stored_rank <= temp.c.rank))
                    .values(enrichment_status=temp.c.status, enriched_at=now,
                            **{k: func.coalesce(temp.c[k], leads.c[k]) for k in LEAD_FIELDS}))
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.format_table(temp)}")
                if len(outcomes) <= _IN_LIST:
                    # the checkpoint's domains as a list the planner can estimate from the leads' statistics: it
                    # then reads their leads through the email_domain index; joined to the temporary table alone,
                    # it often hashed the table and scanned every lead per checkpoint (100k leads, 200 domains:
                    # 15-30 ms against 47-113 ms a statement)
                    stmt = stmt.where(leads.c.email_domain.in_([o.domain for o in outcomes]))
            elif not self._scan_pays(sum(o.leads for o in outcomes)):
                # SQLite runs UPDATE ... FROM as a scan of every lead; for a few domains, looking their
                # leads up through the email_domain index is cheaper
                stmt = stmt.where(leads.c.email_domain.in_(select(temp.c.domain)))
            self.session.execute(stmt)
        finally:
            temp.drop(conn)

    def _scan_pays(self, expected: int) -> bool:
        """True when updating ``expected`` leads (SQLite) costs less as one scan of the table, in storage order,
        than as index look-ups by domain: a domain's leads lie on pages all over the table, and a pass over
        tens of thousands of domains by index rewrote each page many times (11 s against 4 s at 1M leads)."""
        rows = self.session.execute(select(func.max(Lead.id))).scalar() or 0
        return expected * SCAN_SHARE >= rows

    def people_to_look_up(self) -> dict[str, dict[str, Any]]:
        missing = or_(Lead.seniority.is_(None), Lead.department.is_(None))
        looked_up = Lead.enrichment_status != EnrichmentStatus.SKIPPED.value
        cols = [getattr(Lead, k) for k in PERSON_FIELDS]
        rows = self.session.execute(select(Lead.email, *cols).where(missing, looked_up).order_by(Lead.email))
        return {row[0]: dict(zip(PERSON_FIELDS, row[1:], strict=True)) for row in rows}

    def fill_person(self, email: str, values: Mapping[str, Any]) -> None:
        # seniority and department count in the fit score: the lead is scored again
        self.session.execute(update(Lead).where(Lead.email == email).values(**values, scored_at=None))

    def circuits(self) -> dict[str, CircuitState]:
        return {c.provider: CircuitState(c.state, c.failures, c.opened_until.timestamp() if c.opened_until else None,
                                         c.last_error)
                for c in self.session.scalars(select(ProviderCircuit))}

    def save_circuit(self, provider: str, state: CircuitState) -> None:
        row = self.session.get(ProviderCircuit, provider) or ProviderCircuit(provider=provider)
        row.state, row.failures = state.state, state.failures
        row.last_error = (state.last_error or "")[:LAST_ERROR_CHARS] or None
        row.opened_until = datetime.fromtimestamp(state.opened_until, UTC) if state.opened_until else None
        row.updated_at = utcnow()
        self.session.add(row)

    def rate_slot(self, provider: str, rate_per_second: float) -> Callable[[], float] | None:
        url = self.session.get_bind().engine.url.render_as_string(hide_password=False)
        return slot_reserver(url, provider, rate_per_second)
