"""Set-based writes through a temporary table (leadops/db/bulk_update.py), on SQLite and PostgreSQL: what they
store is what the ORM would store, row-dependent expressions see the old row, keyed inserts skip existing keys."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, select

from leadops.db.bulk_update import insert_from, update_from
from leadops.db.models import Lead, Notification, ScoreHistory
from leadops.db.session import session_scope

T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _leads(session, n: int) -> list[int]:
    leads = [Lead(email=f"p{i}@acme{i}.fr", email_domain=f"acme{i}.fr", source="web_form", arrived_at=T0,
                  stage_changed_at=T0, score=float(i)) for i in range(n)]
    session.add_all(leads)
    session.flush()
    return [lead.id for lead in leads]


def test_update_from_sets_typed_values_and_keeps_what_the_expressions_keep(db_url):
    later = T0 + timedelta(hours=3)
    with session_scope(db_url) as session:
        ids = _leads(session, 4)
        table = Lead.__table__
        assert isinstance(table, Table)
        # leads 0 and 1 move (stage and its time), 2 keeps its stage; 3 is not given and must not change
        update_from(session.connection(), table, "id", {
            "id": ids[:3], "lifecycle_stage": ["mql", "disqualified", None],
            "stage_changed_at": [later, later, None], "score": [50.5, None, 7.25]},
            set_sql={"lifecycle_stage": "COALESCE(t.lifecycle_stage, leads.lifecycle_stage)",
                     "stage_changed_at": "CASE WHEN t.lifecycle_stage IS NULL THEN leads.stage_changed_at "
                                         "ELSE t.stage_changed_at END"},
            fixed={"routing_status": "assigned", "updated_at": later})
    with session_scope(db_url) as session:
        rows = {r.id: r for r in session.scalars(select(Lead).order_by(Lead.id))}
        got = [(rows[i].lifecycle_stage, rows[i].stage_changed_at, rows[i].score, rows[i].routing_status) for i in ids]
    assert got == [("mql", later, 50.5, "assigned"), ("disqualified", later, None, "assigned"),
                   ("new", T0, 7.25, "assigned"), ("new", T0, 3.0, None)]


def test_insert_from_stores_json_text_as_json_and_skips_existing_keys(db_url):
    with session_scope(db_url) as session:
        ids = _leads(session, 2)
        conn = session.connection()
        history = ScoreHistory.__table__
        assert isinstance(history, Table)
        insert_from(conn, history, {
            "lead_id": ids, "fit_score": [10.0, 20.0], "engagement_score": [1.0, 2.0], "score": [11.0, 22.0],
            "grade": ["C3", "B2"],
            "breakdown": ['[{"group": "fit", "rule": "industry=So\\"ft", "points": 10.0}]', "[]"]},
            json_text=("breakdown",), fixed={"model_version": "v1", "scored_at": T0, "flow_run_id": None})
        outbox = Notification.__table__
        assert isinstance(outbox, Table)
        columns = {"key": ["a", "b"], "kind": ["assignment"] * 2, "channel": ["email"] * 2, "recipient": ["x@y.fr"] * 2,
                   "subject": ["s", "t"], "body": ["b", "c"], "lead_id": ids, "status": ["pending"] * 2,
                   "attempts": [0, 0], "created_at": [T0, T0]}
        insert_from(conn, outbox, columns, skip_conflicts_on="key")
        insert_from(conn, outbox, columns | {"key": ["b", "c"], "subject": ["changed", "new"]}, skip_conflicts_on="key")
    with session_scope(db_url) as session:
        stored = session.scalars(select(ScoreHistory).order_by(ScoreHistory.lead_id)).all()
        notes = session.execute(select(Notification.key, Notification.subject, Notification.created_at)
                                .order_by(Notification.key)).all()
    assert [h.breakdown for h in stored] == [[{"group": "fit", "rule": 'industry=So"ft', "points": 10.0}], []]
    assert [(h.model_version, h.scored_at, h.grade) for h in stored] == [("v1", T0, "C3"), ("v1", T0, "B2")]
    assert [tuple(n) for n in notes] == [("a", "s", T0), ("b", "t", T0), ("c", "new", T0)]


def test_update_from_with_nothing_given_changes_nothing(db_url):
    with session_scope(db_url) as session:
        ids = _leads(session, 1)
        table = Lead.__table__
        assert isinstance(table, Table)
        assert update_from(session.connection(), table, "id", {"id": [], "score": []}) == 0
        assert session.scalar(select(Lead.score).where(Lead.id == ids[0])) == 0.0


def test_an_old_sqlite_library_is_refused_in_one_line():
    import pytest

    from leadops.db.session import check_sqlite_version

    check_sqlite_version((3, 40, 1))
    with pytest.raises(RuntimeError, match=r"SQLite 3\.31\.1 is too old for leadops \(it needs 3\.35 or later"):
        check_sqlite_version((3, 31, 1))


def test_sqlite_looks_the_updated_rows_up_by_key(tmp_path):
    """Not a scan of the whole table per statement: routing a million leads in chunks was quadratic."""
    from sqlalchemy import event

    from leadops.db.migrate import upgrade
    from leadops.db.session import get_engine

    url = f"sqlite:///{tmp_path / 'plan.db'}"
    upgrade(url)
    plans: list[str] = []

    def explain(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE leads SET"):
            plans.extend(str(r) for r in cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters))

    event.listen(get_engine(url), "before_cursor_execute", explain)
    try:
        with session_scope(url) as session:
            ids = _leads(session, 3)
            table = Lead.__table__
            assert isinstance(table, Table)
            update_from(session.connection(), table, "id", {"id": ids, "score": [1.0, 2.0, 3.0]})
    finally:
        event.remove(get_engine(url), "before_cursor_execute", explain)
    assert plans and not any("SCAN leads" in p for p in plans), plans
    assert any("SEARCH leads USING INTEGER PRIMARY KEY" in p for p in plans), plans
