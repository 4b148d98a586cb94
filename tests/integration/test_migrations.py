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


def test_the_database_refuses_a_lifecycle_stage_outside_the_enum(db_url):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    insert = text("INSERT INTO leads (email, email_domain, source, lifecycle_stage, is_free_email, is_competitor, "
                  "is_hand_raiser, do_not_contact, stage_changed_at, arrived_at, created_at, updated_at) "
                  "VALUES (:e, 'x.com', 'web', :stage, false, false, false, false, :t, :t, :t, :t)")
    t = "2026-12-01 00:00:00"
    with get_engine(db_url).begin() as conn:
        conn.execute(insert, {"e": "a@x.com", "stage": "mql", "t": t})
    with pytest.raises(IntegrityError, match=r"(?i)check"), get_engine(db_url).begin() as conn:
        conn.execute(insert, {"e": "b@x.com", "stage": "MQL ", "t": t})
    with pytest.raises(IntegrityError, match=r"(?i)check"), get_engine(db_url).begin() as conn:
        conn.execute(text("INSERT INTO lead_stage_history (lead_id, from_stage, to_stage, cause, changed_at) "
                          "SELECT id, 'new', 'qualified', 'typo', :t FROM leads"), {"t": t})


def test_upgrading_to_the_stage_check_names_unknown_stages_and_keeps_the_routing_index(tmp_path):
    import pytest
    from sqlalchemy import text

    from leadops.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0009")
    with get_engine(url).begin() as conn:
        conn.execute(text("INSERT INTO leads (email, email_domain, source, lifecycle_stage, is_free_email, "
                          "is_competitor, is_hand_raiser, do_not_contact, stage_changed_at, arrived_at, created_at, "
                          "updated_at) VALUES ('a@x.com', 'x.com', 'web', 'qualified', 0, 0, 0, 0, :t, :t, :t, :t)"),
                     {"t": "2026-12-01 00:00:00"})
    with pytest.raises(RuntimeError, match=r"leads\.lifecycle_stage holds stages leadops does not know: 'qualified'"):
        upgrade(url)
    with get_engine(url).begin() as conn:
        conn.execute(text("UPDATE leads SET lifecycle_stage = 'sql'"))
    assert upgrade(url) == _head()
    with get_engine(url).connect() as conn:
        sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'ix_leads_routing_queue'")).scalar_one()
    assert "WHERE lifecycle_stage = 'mql' AND owner_sdr_id IS NULL" in sql
    get_engine(url).dispose()


def _head() -> str:
    """Return the newest migration's revision, as Alembic's script folder says."""
    from alembic.script import ScriptDirectory

    from leadops.db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None and head >= "0012"
    return head


def test_positions_move_to_one_row_per_pool_and_sdr_and_back_each_rotation_restarting_even(db_url, session, roster):
    """0014: the old per-SDR positions mixed every pool in one number, no pool's position: they are not
    carried over, every pool restarts even (the router raises laggards to the pace anyway); the
    downgrade starts the old per-SDR rotation even too. Both directions, with rows, on both backends."""
    from alembic import command
    from sqlalchemy import inspect, text

    from leadops.db.migrate import alembic_config, current, upgrade

    def downgrade(revision: str) -> None:
        cfg = alembic_config(db_url)
        with get_engine(db_url).begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)

    def shape() -> tuple[list[str], list[str]]:
        with get_engine(db_url).connect() as conn:
            found = inspect(conn)
            return ([c["name"] for c in found.get_columns("routing_positions")],
                    found.get_pk_constraint("routing_positions")["constrained_columns"])

    session.close()
    engine = get_engine(db_url)
    with engine.begin() as conn:
        sdr_id = conn.execute(text("SELECT id FROM sdrs WHERE code = 's.dubois'")).scalar_one()
        conn.execute(text("INSERT INTO routing_positions (pool, sdr_id, virtual_time, updated_at) "
                          "VALUES ('france', :s, 12.5, :t)"), {"s": sdr_id, "t": "2026-12-01 00:00:00"})
    try:
        downgrade("0013")
        assert shape() == (["sdr_id", "virtual_time", "updated_at"], ["sdr_id"])
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM routing_positions")).scalar_one() == 0
            conn.execute(text("INSERT INTO routing_positions (sdr_id, virtual_time, updated_at) VALUES (:s, 40, :t)"),
                         {"s": sdr_id, "t": "2026-12-01 00:00:00"})
    finally:
        upgrade(db_url)
    assert current(db_url) == _head()
    assert shape() == (["pool", "sdr_id", "virtual_time", "updated_at"], ["pool", "sdr_id"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM routing_positions")).scalar_one() == 0


def test_leads_pages_keep_room_for_rewrites_and_only_owned_leads_are_indexed_by_owner(db_url):
    """0015: PostgreSQL fills leads pages to LEADS_FILLFACTOR percent (a lead's later rewrites can stay on their
    page); the owner index holds owned leads only and still serves a look-up by owner (the sdrs foreign key's
    check); company_key has no index (nothing looks leads up by it)."""
    from sqlalchemy import inspect, text

    from leadops.db.models import LEADS_FILLFACTOR

    engine = get_engine(db_url)
    with engine.connect() as conn:
        names = {ix["name"] for ix in inspect(conn).get_indexes("leads")}
        assert "ix_leads_owner_sdr_id" in names and "ix_leads_company_key" not in names
        if engine.dialect.name == "sqlite":
            sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'ix_leads_owner_sdr_id'")).scalar_one()
            assert sql.endswith("WHERE owner_sdr_id IS NOT NULL"), sql
            plan = " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN SELECT id FROM leads "
                                                                  "WHERE owner_sdr_id = 3")))
        else:
            options = conn.execute(text("SELECT reloptions FROM pg_class WHERE oid = 'leads'::regclass")).scalar_one()
            assert options == [f"fillfactor={LEADS_FILLFACTOR}"]
            sql = conn.execute(text("SELECT pg_get_indexdef('ix_leads_owner_sdr_id'::regclass)")).scalar_one()
            assert sql.endswith("WHERE (owner_sdr_id IS NOT NULL)"), sql
            conn.execute(text("SET enable_seqscan = off"))
            conn.execute(text("PREPARE by_owner (int) AS SELECT 1 FROM ONLY leads x WHERE owner_sdr_id = $1 "
                              "FOR KEY SHARE OF x"))  # the foreign key's check, as a generic plan
            conn.execute(text("SET plan_cache_mode = force_generic_plan"))
            plan = " ".join(r[0] for r in conn.execute(text("EXPLAIN EXECUTE by_owner(3)")))
            conn.execute(text("DEALLOCATE by_owner"))
            conn.rollback()
        assert "ix_leads_owner_sdr_id" in plan, plan


def test_leads_have_no_account_index_and_keep_the_account_foreign_key(db_url):
    """0016: nothing looks leads up by account_id, so it has no index; the foreign key to accounts stays."""
    from sqlalchemy import inspect

    with get_engine(db_url).connect() as conn:
        insp = inspect(conn)
        indexed = {c for ix in insp.get_indexes("leads") for c in ix["column_names"]}
        assert "account_id" not in indexed
        keys = {(tuple(fk["constrained_columns"]), fk["referred_table"]) for fk in insp.get_foreign_keys("leads")}
        assert (("account_id",), "accounts") in keys


def test_downgrading_0016_puts_the_account_index_back(db_url):
    from alembic import command
    from sqlalchemy import inspect

    from leadops.db.migrate import alembic_config, current, upgrade

    def names() -> set[str]:
        with get_engine(db_url).connect() as conn:
            return {ix["name"] for ix in inspect(conn).get_indexes("leads")}

    cfg = alembic_config(db_url)
    try:
        with get_engine(db_url).begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0015")
        assert "ix_leads_account_id" in names()
    finally:
        upgrade(db_url)
    assert current(db_url) == _head()
    assert "ix_leads_account_id" not in names()
