"""SQLAlchemy 2.x models: the system of record for leads and everything done to them.

Every timestamp is stored in UTC (``UTCDateTime``); grains are stated per table.
"""
from __future__ import annotations

from functools import lru_cache
from datetime import datetime, UTC
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from leadops.domain.lifecycle import Stage, check_sql

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: leadops stores aware UTC datetimes only")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text: store them naive and uniform.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Any):
        inner = super().bind_processor(dialect)
        if inner is None:
            return None
        # Bulk inserts bind the same few instants (the batch's "now") hundreds of thousands of
        # times; converting each distinct value once is a measurable part of intake time.
        cached = lru_cache(maxsize=1024)(inner)

        def process(value: datetime | None) -> Any:
            return None if value is None else cached(value)

        return process

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012 - SQLAlchemy's hook


class IngestBatch(Base):
    """One row per file (by content hash) or API page ingested."""

    __tablename__ = "ingest_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    origin: Mapped[str] = mapped_column(String(1000))  # file path or API page URL
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20))  # running | done | rejected
    error: Mapped[str | None] = mapped_column(Text)
    rows_read: Mapped[int] = mapped_column(default=0)
    inserted: Mapped[int] = mapped_column(default=0)
    merged: Mapped[int] = mapped_column(default=0)
    quarantined: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    flow_run_id: Mapped[str | None] = mapped_column(String(64))


class SourceWatermark(Base):
    """One row per API source: the updated-since watermark of its last complete read."""

    __tablename__ = "source_watermarks"
    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    watermark: Mapped[datetime | None]
    pages_read: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Account(Base):
    """One row per company account, keyed by its primary web domain."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    name_key: Mapped[str | None] = mapped_column(String(255), index=True)
    owner_sdr_id: Mapped[int | None] = mapped_column(ForeignKey("sdrs.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sdr(Base):
    """One row per person on the sales-development roster (SDRs, AEs and managers)."""

    __tablename__ = "sdrs"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="sdr")  # sdr | ae | manager
    team: Mapped[str | None] = mapped_column(String(100))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    work_start: Mapped[str] = mapped_column(String(5), default="09:00")
    work_end: Mapped[str] = mapped_column(String(5), default="18:00")
    work_days: Mapped[list[Any]] = mapped_column(default=lambda: [0, 1, 2, 3, 4])
    holiday_country: Mapped[str | None] = mapped_column(String(2))
    daily_cap: Mapped[int] = mapped_column(default=40)
    open_cap: Mapped[int] = mapped_column(default=200)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    territories: Mapped[list[Any]] = mapped_column(default=list)
    segments: Mapped[list[Any]] = mapped_column(default=list)
    languages: Mapped[list[Any]] = mapped_column(default=list)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("sdrs.id"))
    paired_ae_id: Mapped[int | None] = mapped_column(ForeignKey("sdrs.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    out_of_office: Mapped[list[OutOfOffice]] = relationship(
        back_populates="sdr", cascade="all, delete-orphan", order_by="OutOfOffice.starts_at"
    )


class OutOfOffice(Base):
    """One row per out-of-office period of one roster member."""

    __tablename__ = "sdr_out_of_office"
    id: Mapped[int] = mapped_column(primary_key=True)
    sdr_id: Mapped[int] = mapped_column(ForeignKey("sdrs.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(String(200))
    sdr: Mapped[Sdr] = relationship(back_populates="out_of_office")


#: the predicate of the owner index (leads without an owner are never looked up by owner)
OWNED = "owner_sdr_id IS NOT NULL"
#: PostgreSQL: percent of each leads page filled by inserts; the rest is room for a lead's later rewrites
#: (enrichment, scoring) to stay on their page without new index entries (HOT updates)
LEADS_FILLFACTOR = 80

#: the predicate of the routing queue's partial index (route_pending's WHERE must repeat it literally)
ROUTING_QUEUE = f"lifecycle_stage = '{Stage.MQL.value}' AND owner_sdr_id IS NULL"


class Lead(Base):
    """One row per distinct person (by normalized email); current state of the lead."""

    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    email_domain: Mapped[str] = mapped_column(String(255), index=True)
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(255))
    company_key: Mapped[str | None] = mapped_column(String(255))
    job_title: Mapped[str | None] = mapped_column(String(255))
    seniority: Mapped[str | None] = mapped_column(String(50))
    department: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(32))
    country: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(50))
    campaign: Mapped[str | None] = mapped_column(String(200))
    is_free_email: Mapped[bool] = mapped_column(Boolean, default=False)
    is_competitor: Mapped[bool] = mapped_column(Boolean, default=False)
    is_hand_raiser: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # lifecycle
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default=Stage.NEW.value, index=True)
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    disqualified_reason: Mapped[str | None] = mapped_column(String(50))
    # enrichment (denormalized current values; provenance in enrichment_records)
    industry: Mapped[str | None] = mapped_column(String(100))
    employee_count: Mapped[int | None]
    employee_band: Mapped[str | None] = mapped_column(String(20))
    revenue_band: Mapped[str | None] = mapped_column(String(20))
    enrichment_status: Mapped[str | None] = mapped_column(String(20))  # enriched|partial|miss|error|skipped
    enriched_at: Mapped[datetime | None]
    # scoring (current; history in score_history)
    fit_score: Mapped[float | None] = mapped_column(Float)
    engagement_score: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    grade: Mapped[str | None] = mapped_column(String(2))
    score_version: Mapped[str | None] = mapped_column(String(64))
    scored_at: Mapped[datetime | None]
    # ownership
    # not indexed: nothing looks leads up by account (routing reads the account by its own key), and accounts are
    # never deleted; the index cost an entry per insert and per non-HOT rewrite (migration 0016)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    owner_sdr_id: Mapped[int | None] = mapped_column(ForeignKey("sdrs.id"))
    routing_status: Mapped[str | None] = mapped_column(String(20))  # assigned|held|unroutable
    # provenance of first arrival
    arrived_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ingest_batch_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_batches.id"))
    source_row: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    __table_args__ = (
        # The routing queue: MQLs without owner in arrival order. A pass reads it in keyset chunks;
        # through the lifecycle_stage index each chunk rescanned and sorted every MQL (quadratic:
        # routing 800k MQLs took 270 s instead of ~60).
        Index("ix_leads_routing_queue", "arrived_at", "id",
              sqlite_where=text(ROUTING_QUEUE), postgresql_where=text(ROUTING_QUEUE)),
        # owned leads only: the sdrs foreign key's checks and every read by owner look for owners, and a
        # lead's row is written three times before routing gives it one (entries for nothing)
        Index("ix_leads_owner_sdr_id", "owner_sdr_id",
              sqlite_where=text(OWNED), postgresql_where=text(OWNED)),
        CheckConstraint(check_sql("lifecycle_stage"), name="lifecycle_stage"),
        # room on each page for rewrites in place: see LEADS_FILLFACTOR
        {"postgresql_with": {"fillfactor": LEADS_FILLFACTOR}},
    )


class LeadMerge(Base):
    """One row per input row merged into an existing lead (duplicates are kept, not lost)."""

    __tablename__ = "lead_merges"
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    ingest_batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id"))
    source_row: Mapped[int]
    fields_filled: Mapped[list[Any]] = mapped_column(default=list)
    matched_by: Mapped[str] = mapped_column(String(50), default="email")  # email | fuzzy NN (score)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("ingest_batch_id", "source_row"),)


class LeadStageChange(Base):
    """One row per lifecycle transition of one lead, with its cause."""

    __tablename__ = "lead_stage_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    cause: Mapped[str] = mapped_column(String(500))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    __table_args__ = (
        CheckConstraint(check_sql("to_stage"), name="to_stage"),
        CheckConstraint(f"from_stage IS NULL OR {check_sql('from_stage')}", name="from_stage"),
    )


class Quarantine(Base):
    """One row per input row that failed validation, with every reason; nothing is dropped."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(primary_key=True)
    ingest_batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batches.id"), index=True)
    source: Mapped[str] = mapped_column(String(100))
    origin: Mapped[str] = mapped_column(String(1000))
    source_row: Mapped[int]
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | reprocessed | discarded
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("ingest_batch_id", "source_row"),)


class EnrichmentRecord(Base):
    """One row per (company domain, field, provider): a firmographic value with provenance."""

    __tablename__ = "enrichment_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), index=True)
    provider: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(100))
    value: Mapped[Any] = mapped_column(JSON)
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("domain", "field", "provider"),)


class EnrichmentLookup(Base):
    """One row per (domain, provider) lookup outcome: the cache and the miss/error memory."""

    __tablename__ = "enrichment_lookups"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))  # hit | miss | error
    error: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("domain", "provider"),)


class ProviderCircuit(Base):
    """One row per enrichment provider: its circuit breaker, remembered between runs and workers."""

    __tablename__ = "provider_circuits"
    provider: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), default="closed")  # closed | open | half_open
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failed lookups
    opened_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProviderRateSlot(Base):
    """One row per rate-limited provider: the next free request slot, shared by every worker (PostgreSQL)."""

    __tablename__ = "provider_rate_slots"
    provider: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_at: Mapped[datetime] = mapped_column()


class RoutingLock(Base):
    """A row routers lock for the length of their transaction, so concurrent routing passes (two
    pipeline runs, two workers, the SLA sweep reassigning) read SDR loads and caps one after another."""

    __tablename__ = "routing_locks"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    locked_at: Mapped[datetime | None]


class RoutingPosition(Base):
    """One row per pool per SDR: the SDR's place in that pool's weighted round robin (virtual time), kept
    across runs; a row moves when the pool's rotation picks the SDR or raises them to its pace."""

    __tablename__ = "routing_positions"
    pool: Mapped[str] = mapped_column(String(100), primary_key=True)
    sdr_id: Mapped[int] = mapped_column(ForeignKey("sdrs.id", ondelete="CASCADE"), primary_key=True)
    virtual_time: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScoreHistory(Base):
    """One row per lead per scoring change (a rescore that changes nothing writes nothing)."""

    __tablename__ = "score_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    fit_score: Mapped[float] = mapped_column(Float)
    engagement_score: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(2))
    breakdown: Mapped[list[Any]] = mapped_column(default=list)
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))


class Assignment(Base):
    """One row per assignment decision (audit log); at most one active row per lead."""

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    sdr_id: Mapped[int | None] = mapped_column(ForeignKey("sdrs.id"), index=True)
    ae_id: Mapped[int | None] = mapped_column(ForeignKey("sdrs.id"))
    previous_sdr_id: Mapped[int | None] = mapped_column(ForeignKey("sdrs.id"))
    kind: Mapped[str] = mapped_column(String(20), default="initial")  # initial|reassign|manual
    status: Mapped[str] = mapped_column(String(20))  # assigned | held | unroutable
    rule: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    candidates: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ended_at: Mapped[datetime | None]
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        # The database itself refuses a second active assignment for one lead,
        # whatever number of workers race (both backends support partial indexes).
        Index(
            "uq_assignments_active_lead",
            "lead_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )


class Activity(Base):
    """One row per sales touch or event (call, email, linkedin, meeting) by one person."""

    __tablename__ = "activities"
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    sdr_id: Mapped[int | None] = mapped_column(ForeignKey("sdrs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # call|email|linkedin|meeting|web
    outcome: Mapped[str | None] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    scheduled_for: Mapped[datetime | None]  # meetings: when the meeting is/was held
    detail: Mapped[str | None] = mapped_column(String(500))
    external_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class Opportunity(Base):
    """One row per sales-accepted opportunity (SAO) created from an SDR-booked meeting."""

    __tablename__ = "opportunities"
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    sdr_id: Mapped[int | None] = mapped_column(ForeignKey("sdrs.id"))
    ae_id: Mapped[int | None] = mapped_column(ForeignKey("sdrs.id"))
    created_at: Mapped[datetime] = mapped_column(index=True)
    stage: Mapped[str] = mapped_column(String(20), default="open")  # open | won | lost
    amount: Mapped[float] = mapped_column(Float, default=0.0)
    closed_at: Mapped[datetime | None]


class SlaClock(Base):
    """One row per SLA clock: one assignment's first-touch (or follow-up) obligation."""

    __tablename__ = "sla_clocks"
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    sdr_id: Mapped[int] = mapped_column(ForeignKey("sdrs.id"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    policy: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="first_touch")
    target_seconds: Mapped[int]
    started_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open|met|breached|reassigned|closed
    elapsed_seconds: Mapped[int] = mapped_column(default=0)
    met_at: Mapped[datetime | None]
    evaluated_at: Mapped[datetime | None]
    touches_required: Mapped[int] = mapped_column(default=1, server_default=text("1"))  # cadence clocks: N touches
    # one first-touch clock and one cadence clock per assignment
    __table_args__ = (UniqueConstraint("assignment_id", "kind", name="uq_sla_clocks_assignment_id"),)


class SlaEvent(Base):
    """One row per step on one clock (started, reminder, breach, escalation, reassign, met)."""

    __tablename__ = "sla_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    clock_id: Mapped[int] = mapped_column(ForeignKey("sla_clocks.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    elapsed_seconds: Mapped[int] = mapped_column(default=0)
    detail: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("clock_id", "step"),)


class Notification(Base):
    """One row per message to send (the outbox); ``key`` makes the row unique and travels with the message
    (Message-ID / Idempotency-Key) so a receiver can drop the one re-send a crash can cause.

    A claim (``sending``) is held by ``claimed_by`` until ``lease_until``, renewed while its sender lives:
    a sender killed mid-batch leaves claims that the next delivery pass takes back once the lease is past.
    """

    __tablename__ = "notification_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(50))
    channel: Mapped[str] = mapped_column(String(20), default="email")
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending|sending|sent|failed
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[datetime | None]
    # who holds the claim (host:pid:nonce) and until when; NULL on rows never claimed
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class CrmLink(Base):
    """One row per CRM record leadops has read (grain: connector, object, CRM id): the lead it became, its
    modification stamp when last read or written, and the values of the write-back properties as last seen
    in the CRM (what a write-back compares against, so an unchanged decision is never sent again)."""

    __tablename__ = "crm_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    connector: Mapped[str] = mapped_column(String(40))
    object: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    modified_at: Mapped[datetime]
    seen: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the values leadops last wrote (a CRM owner that still equals leadops' last write may be replaced; one set by
    # someone else in the CRM is kept)
    written: Mapped[dict[str, Any]] = mapped_column(default=dict)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)
    written_at: Mapped[datetime | None]
    __table_args__ = (UniqueConstraint("connector", "object", "external_id"),)


class IntakeRequest(Base):
    """One row per request the real-time intake service answered with its leads stored (grain: one request, by its
    idempotency key): the answer given, so a retried request gets the same answer and stores nothing twice."""

    __tablename__ = "intake_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    idem_key: Mapped[str] = mapped_column(String(300), unique=True)
    webhook: Mapped[str] = mapped_column(String(40))
    ingest_batch_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_batches.id"))
    first_row: Mapped[int] = mapped_column(default=1)  # its leads are rows first_row.. of the batch
    rows: Mapped[int] = mapped_column(default=0)
    http_status: Mapped[int] = mapped_column(default=202)
    answer: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlackUser(Base):
    """One row per email leadops looked up in Slack (users.lookupByEmail), found or not: the member id and the
    direct-message channel, kept ``user_cache_hours`` (notify.yaml) so each run does not ask again."""

    __tablename__ = "slack_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    user_id: Mapped[str | None] = mapped_column(String(32))  # NULL: Slack has no member with this email
    dm_channel: Mapped[str | None] = mapped_column(String(32))
    looked_up_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportRun(Base):
    """One row per weekly report build (a week can be rebuilt; each build is a row)."""

    __tablename__ = "report_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[str] = mapped_column(String(10), index=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    html_path: Mapped[str | None] = mapped_column(String(1000))
    csv_path: Mapped[str | None] = mapped_column(String(1000))
    headline: Mapped[dict[str, Any]] = mapped_column(default=dict)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
