"""A routing chunk large enough for the set-based writes (owners by UPDATE ... FROM, notifications by INSERT ...
SELECT) leaves the same facts as the row-by-row path: each routed lead's owner is its active assignment's SDR, one
clock and one keyed message per assignment; rerouting writes nothing twice. Both backends."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from leadops.db import bulk_update
from leadops.db.models import Assignment, Lead, Notification, SlaClock
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.intake.files import ingest_file
from leadops.services.route import route_pending
from leadops.services.score import score_open_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEADS = 2 * bulk_update.SET_BASED_FROM  # one chunk; more than the threshold of them assigned


def _csv(n: int) -> str:
    rows = [f"p{i}@firm{i % 40}.fr,Ana{i},Lopez,Firm {i % 40},CTO,France,demo_request" for i in range(n)]
    return "Email,First Name,Last Name,Company,Job Title,Country,Source\n" + "\n".join(rows) + "\n"


def _route(session, settings, rules) -> int:
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    (settings.inbox_dir / "big.csv").write_text(_csv(LEADS), encoding="utf-8")
    ingest_file(SqlUnitOfWork.around(session), settings.inbox_dir / "big.csv", rules, settings)
    score_open_leads(SqlUnitOfWork.around(session), rules, now=MONDAY)
    summary = route_pending(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY)
    session.commit()
    return summary.assigned


def _facts(session) -> dict[str, object]:
    active = dict(session.execute(select(Assignment.lead_id, Assignment.sdr_id).where(Assignment.active)).all())
    owners = dict(session.execute(select(Lead.id, Lead.owner_sdr_id).where(Lead.owner_sdr_id.is_not(None))).all())
    status = dict(session.execute(select(Lead.id, Lead.routing_status).where(Lead.owner_sdr_id.is_not(None))).all())
    clocks = session.scalar(select(func.count()).select_from(SlaClock))
    keys = set(session.scalars(select(Notification.key).where(Notification.kind == "assignment")))
    return {"active": active, "owners": owners, "status": set(status.values()), "clocks": clocks, "keys": keys,
            "assignment_ids": set(session.scalars(select(Assignment.id).where(Assignment.active)))}


@pytest.mark.parametrize("path", ["set", "row"])
def test_a_large_chunk_leaves_the_facts_of_the_row_path(session, settings, rules, roster, monkeypatch, path):
    rules = rules.model_copy(update={"roster": rules.roster.model_copy(update={"people": [
        p.model_copy(update={"daily_cap": 10_000, "open_cap": 10_000}) for p in rules.roster.people]})})
    from leadops.services.roster import apply_roster

    apply_roster(SqlUnitOfWork.around(session), rules.roster)
    session.commit()
    if path == "row":  # the per-row statements a single reassignment uses
        for module in ("leadops.db.repositories.routing", "leadops.db.repositories.outbox"):
            monkeypatch.setattr(f"{module}.SET_BASED_FROM", 10**9)
    assigned = _route(session, settings, rules)
    assert assigned >= bulk_update.SET_BASED_FROM
    facts = _facts(session)
    assert len(facts["active"]) == assigned
    assert facts["owners"] == facts["active"]
    assert facts["status"] == {"assigned"}
    assert facts["clocks"] == assigned
    assert facts["keys"] == {f"assignment:{i}" for i in facts["assignment_ids"]}
    # a second pass finds nothing to route and writes nothing
    route_pending(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY)
    session.commit()
    assert _facts(session) == facts


def test_the_queue_gives_each_column_as_its_type_reads_it(session, settings, rules, roster):
    """The queue is read untyped through the driver: booleans (integers on SQLite) and datetimes asked for
    come back as SQLAlchemy would give them, in arrival order, a chunk after another."""
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    (settings.inbox_dir / "few.csv").write_text(_csv(7), encoding="utf-8")
    ingest_file(SqlUnitOfWork.around(session), settings.inbox_dir / "few.csv", rules, settings)
    score_open_leads(SqlUnitOfWork.around(session), rules, now=MONDAY)
    uow = SqlUnitOfWork.around(session)
    chunks = list(uow.routing.queue(["is_hand_raiser", "do_not_contact", "arrived_at", "email"], 3))
    leads = [q.columns for chunk in chunks for q in chunk]
    typed = {row.id: row for row in session.execute(
        select(Lead.id, Lead.is_hand_raiser, Lead.do_not_contact, Lead.arrived_at, Lead.email, Lead.routing_status)
        .where(Lead.lifecycle_stage == "mql", Lead.owner_sdr_id.is_(None)).order_by(Lead.arrived_at, Lead.id))}
    assert [len(c) for c in chunks] == [3, 3, 1] and [le["id"] for le in leads] == list(typed)
    for le in leads:
        row = typed[le["id"]]
        assert le == {"id": row.id, "is_hand_raiser": row.is_hand_raiser, "do_not_contact": row.do_not_contact,
                      "arrived_at": row.arrived_at, "email": row.email, "routing_status": row.routing_status}
        assert type(le["is_hand_raiser"]) is bool and le["arrived_at"].tzinfo is not None
