"""Units of work on the database of a test's session, for the services that open their own (outbox delivery)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from leadops.db.unit_of_work import UnitOfWorkFactory, sql_units


def units_for(session: Session) -> UnitOfWorkFactory:
    """Commit ``session`` (what it wrote becomes visible; on SQLite its read snapshot ends, so it sees what the
    units commit) and return a factory of units of work on its database, each with a connection of its own."""
    session.commit()
    return sql_units(session.get_bind().engine.url.render_as_string(hide_password=False))
