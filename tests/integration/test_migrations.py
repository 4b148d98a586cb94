"""The Alembic migrations build exactly the schema the models describe (on both backends)."""
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from leadops.db.models import Base
from leadops.db.session import get_engine


def test_migrated_schema_matches_the_models(db_url):
    with get_engine(db_url).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], diff
