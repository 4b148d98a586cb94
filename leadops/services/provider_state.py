"""Provider state shared through the database: the cross-process rate-limit slot (PostgreSQL)."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from leadops.db.session import get_engine

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

    Each reservation commits at once on its own pooled connection, outside the caller's transaction.
    """
    engine = get_engine(url)
    if engine.dialect.name != "postgresql":
        return None
    interval = 1.0 / rate_per_second

    def reserve() -> float:
        with engine.begin() as conn:
            return max(0.0, float(conn.execute(_RESERVE, {"provider": provider, "interval": interval}).scalar_one()))

    return reserve
