"""The unit of work: one transaction, the repositories that work inside it, and who commits.

Services receive a unit of work and never commit: whoever opened it (a task, a CLI command, a test)
decides. ``with SqlUnitOfWork(url) as uow:`` commits when the block ends cleanly and rolls back when
it raises; a service that needs several transactions (delivery of the outbox, enrichment with
checkpoints) receives a factory of units of work and opens one per step.

Repositories are attributes (``uow.sla``, ``uow.roster``, ``uow.outbox``): the SQL, set-based, lives
in leadops/db/repositories/; tests/support/fakes.py holds in-memory ones behind the same Protocols,
so most service tests run without a database.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy.orm import Session

from leadops.db.session import session_factory

if TYPE_CHECKING:  # the repositories import models; keep this module cheap to import
    from leadops.db.repositories.crm import CrmRepository
    from leadops.db.repositories.enrichment import EnrichmentRepository
    from leadops.db.repositories.intake import IntakeRepository
    from leadops.db.repositories.leads import LeadRepository
    from leadops.db.repositories.notices import NoticeRepository
    from leadops.db.repositories.outbox import OutboxRepository
    from leadops.db.repositories.quarantine import QuarantineRepository
    from leadops.db.repositories.realtime import RealtimeRepository
    from leadops.db.repositories.reporting import ReportingRepository
    from leadops.db.repositories.roster import RosterRepository
    from leadops.db.repositories.routing import RoutingRepository
    from leadops.db.repositories.scoring import ScoringRepository
    from leadops.db.repositories.sla import SlaRepository


class UnitOfWork(ABC):
    """One transaction over the repositories; a context manager that commits on a clean exit."""

    sla: SlaRepository
    roster: RosterRepository
    routing: RoutingRepository
    outbox: OutboxRepository
    reporting: ReportingRepository
    leads: LeadRepository
    scoring: ScoringRepository
    enrichment: EnrichmentRepository
    intake: IntakeRepository
    quarantine: QuarantineRepository
    crm: CrmRepository
    notices: NoticeRepository
    realtime: RealtimeRepository

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    @abstractmethod
    def commit(self) -> None:
        """Make everything done through this unit durable."""

    @abstractmethod
    def rollback(self) -> None:
        """Discard everything done through this unit since the last commit."""

    @abstractmethod
    def savepoint(self) -> AbstractContextManager[None]:
        """Return a nested transaction inside this unit: ``with uow.savepoint():`` keeps what the block did
        when it ends cleanly and undoes only that (then raises on) when it raises; nothing is committed."""


#: what a service that needs one transaction per step receives: a new unit of work on each call
UnitOfWorkFactory = Callable[[], UnitOfWork]


class SqlUnitOfWork(UnitOfWork):
    """A unit of work over one SQLAlchemy session (SQLite or PostgreSQL).

    Built from a database URL (it opens and closes its own session) or around an existing session
    (``SqlUnitOfWork.around(session)``: the session's owner keeps the transaction; commit and
    rollback still act on it).
    """

    def __init__(self, url: str | None = None, *, session: Session | None = None) -> None:
        if (url is None) == (session is None):
            raise TypeError("SqlUnitOfWork takes a database URL or a session, not both and not neither")
        self._owns_session = session is None
        self.session: Session = session if session is not None else \
            session_factory(url or "")()

    @classmethod
    def around(cls, session: Session) -> SqlUnitOfWork:
        """Return a unit of work over ``session`` (which its owner closes)."""
        return cls(session=session)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
        finally:
            if self._owns_session:
                self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with self.session.begin_nested():  # SAVEPOINT; RELEASE on a clean exit, ROLLBACK TO it on an error
            yield

    @cached_property
    def sla(self) -> SlaRepository:  # type: ignore[override]
        from leadops.db.repositories.sla import SqlSlaRepository

        return SqlSlaRepository(self.session)

    @cached_property
    def roster(self) -> RosterRepository:  # type: ignore[override]
        from leadops.db.repositories.roster import SqlRosterRepository

        return SqlRosterRepository(self.session)

    @cached_property
    def outbox(self) -> OutboxRepository:  # type: ignore[override]
        from leadops.db.repositories.outbox import SqlOutboxRepository

        return SqlOutboxRepository(self.session)

    @cached_property
    def routing(self) -> RoutingRepository:  # type: ignore[override]
        from leadops.db.repositories.routing import SqlRoutingRepository

        return SqlRoutingRepository(self.session)

    @cached_property
    def quarantine(self) -> QuarantineRepository:  # type: ignore[override]
        from leadops.db.repositories.quarantine import SqlQuarantineRepository

        return SqlQuarantineRepository(self.session)

    @cached_property
    def reporting(self) -> ReportingRepository:  # type: ignore[override]
        from leadops.db.repositories.reporting import SqlReportingRepository

        return SqlReportingRepository(self.session)

    @cached_property
    def realtime(self) -> RealtimeRepository:  # type: ignore[override]
        from leadops.db.repositories.realtime import SqlRealtimeRepository

        return SqlRealtimeRepository(self.session)

    @cached_property
    def notices(self) -> NoticeRepository:  # type: ignore[override]
        from leadops.db.repositories.notices import SqlNoticeRepository

        return SqlNoticeRepository(self.session)

    @cached_property
    def leads(self) -> LeadRepository:  # type: ignore[override]
        from leadops.db.repositories.leads import SqlLeadRepository

        return SqlLeadRepository(self.session)

    @cached_property
    def scoring(self) -> ScoringRepository:  # type: ignore[override]
        from leadops.db.repositories.scoring import SqlScoringRepository

        return SqlScoringRepository(self.session)

    @cached_property
    def enrichment(self) -> EnrichmentRepository:  # type: ignore[override]
        from leadops.db.repositories.enrichment import SqlEnrichmentRepository

        return SqlEnrichmentRepository(self.session)

    @cached_property
    def intake(self) -> IntakeRepository:  # type: ignore[override]
        from leadops.db.repositories.intake import SqlIntakeRepository

        return SqlIntakeRepository(self.session)

    @cached_property
    def crm(self) -> CrmRepository:  # type: ignore[override]
        from leadops.db.repositories.crm import SqlCrmRepository

        return SqlCrmRepository(self.session)


def sql_units(url: str) -> UnitOfWorkFactory:
    """Return a factory of :class:`SqlUnitOfWork` on ``url`` (one new session per unit)."""
    return lambda: SqlUnitOfWork(url)
