"""Pool pre-ping after idleness: a pooled PostgreSQL connection is tested before use only if it sat in the pool.

SQLAlchemy's ``pool_pre_ping`` sends a ``SELECT 1`` each time a connection leaves the pool, to replace one the
server or the network closed while it waited there. A pass that commits each outcome in a unit of work of its
own checks a connection out for each: notification delivery, 500 messages a run, paid a round trip per
message on top of the four of its own (~20% of its time on PostgreSQL). Here a connection is pinged, the same
way and with the same outcome on a failed ping (the pool's connections reconnected), when it comes out of the
pool after IDLE_SECONDS or more there; one checked in a moment ago is used at once (if the server went away in
that moment, the statement fails as any statement then would, and the pool reconnects).
"""
from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event, exc

#: a connection back in the pool for less than this is not pinged when it leaves it again
IDLE_SECONDS = 1.0
_IDLE_SINCE = "leadops_idle_since"


def ping_after_idle(engine: Engine, idle_seconds: float = IDLE_SECONDS) -> Engine:
    """Make ``engine``'s pool ping a connection leaving it after ``idle_seconds`` or more there; returns ``engine``.

    For an engine created without ``pool_pre_ping`` (which pings every time). A new connection is not pinged, as
    with pre-ping; the ``info`` a connection's idle time is kept in goes with it when it is closed or invalidated.
    """
    dialect = engine.dialect

    def checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_connection, None):
                # what a failed pre-ping does: this and every older pooled connection reconnect
                raise exc.InvalidatePoolError from err
            raise

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checked_out)
    return engine
