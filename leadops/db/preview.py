"""The unit of work of a preview (``--dry-run``): the real service code runs in one transaction that is
always rolled back, so a preview shows exactly what a run would decide and leaves every table as it was.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from leadops.db.models import Notification
from leadops.db.session import get_engine


class PreviewCommitted(RuntimeError):
    """Raised when code running inside a preview tries to commit (services must never commit)."""


def _refuse_commit(*_args) -> None:
    raise PreviewCommitted("a dry run tried to commit: the service it runs must leave transactions to its caller")


@contextmanager
def preview_scope(url: str) -> Iterator[Session]:
    """Yield a session whose work is rolled back when the block ends, whatever happens in it.

    A commit inside the block (by the session or on its connection, e.g. a bulk COPY's connection)
    raises :class:`PreviewCommitted` instead of writing: a preview that wrote would be worse than
    no preview, so it is refused by the unit of work rather than trusted to every service.
    """
    factory = sessionmaker(get_engine(url), expire_on_commit=False)
    with factory() as session:
        event.listen(session, "before_commit", _refuse_commit)
        # the connection of this session's transaction: a commit issued on it directly (not through
        # the session) must be refused too; listened on this Connection only, not on the engine
        conn = session.connection()
        event.listen(conn, "commit", _refuse_commit)
        try:
            yield session
        finally:
            session.rollback()
            event.remove(conn, "commit", _refuse_commit)


def outbox_size(session: Session) -> int:
    """Return the number of rows in the notification outbox (grain: one message), as this session sees it.

    A preview counts it before and after the service: the difference is what the run would queue,
    whoever queued it (SLA messages, and the assignment messages of reassignments).
    """
    return session.scalar(select(func.count()).select_from(Notification)) or 0
