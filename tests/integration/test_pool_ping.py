"""PostgreSQL connections are pinged when they leave the pool after idling there (leadops.db.ping), not when they
were used a moment ago; a connection the server closed while idle is replaced, as with SQLAlchemy's pre-ping."""
import pytest
from sqlalchemy import create_engine, text

from leadops.db.ping import ping_after_idle
from leadops.db.session import normalize_url
from tests.conftest import PG_URL


@pytest.fixture
def engine_of():
    made = []

    def make(idle_seconds):
        engine = ping_after_idle(create_engine(normalize_url(PG_URL)), idle_seconds)
        made.append(engine)
        pings = []
        ping = engine.dialect.do_ping

        def counted(dbapi_connection):
            pings.append(dbapi_connection)
            return ping(dbapi_connection)

        engine.dialect.do_ping = counted
        return engine, pings

    yield make
    for engine in made:
        engine.dispose()


def _backend(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_used_a_moment_ago_is_not_pinged(engine_of):
    engine, pings = engine_of(3600)
    assert len({_backend(engine) for _ in range(5)}) == 1  # the same pooled connection each time
    assert pings == []


def test_a_connection_that_idled_is_pinged_and_a_new_one_is_not(engine_of):
    engine, pings = engine_of(0)
    for _ in range(5):
        _backend(engine)
    assert len(pings) == 4  # every checkout but the first, whose connection was new


def test_a_connection_the_server_closed_while_idle_is_replaced(engine_of):
    engine, pings = engine_of(0)
    gone = _backend(engine)
    admin = create_engine(normalize_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            # (waits until the backend has exited, up to 60 s)
            assert c.execute(text("SELECT pg_terminate_backend(:pid, 60000)"), {"pid": gone}).scalar_one()
    finally:
        admin.dispose()
    assert _backend(engine) != gone  # the ping failed: the pool reconnected, the statement ran
    assert len(pings) == 1
