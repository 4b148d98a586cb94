"""A routing chunk large enough for the set-based writes (owners by UPDATE ... FROM, notifications by INSERT ...
SELECT) leaves the same facts as the row-by-row path: each routed lead's owner is its active assignment's SDR, one
clock and one keyed message per assignment; rerouting writes nothing twice. Both backends."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leadops.db import bulk_update
from leadops.db.models import Assignment, Lead, Notification, Sdr, SlaClock, SlaEvent
from leadops.db.repositories.routing import AssignmentEmail, NewAssignment, assignment_email
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


def _written(session, lead_ids: list[int]) -> dict[str, object]:
    """Return every row an assignment chunk wrote, in id order, each table's references by lead (ids aside)."""
    assignments = session.execute(select(
        Assignment.lead_id, Assignment.sdr_id, Assignment.ae_id, Assignment.previous_sdr_id, Assignment.kind,
        Assignment.status, Assignment.rule, Assignment.reason, Assignment.candidates, Assignment.active,
        Assignment.assigned_at, Assignment.ended_at, Assignment.flow_run_id).order_by(Assignment.id)).all()
    clocks = session.execute(select(
        SlaClock.lead_id, SlaClock.sdr_id, Assignment.lead_id, SlaClock.policy, SlaClock.kind, SlaClock.target_seconds,
        SlaClock.started_at, SlaClock.due_at, SlaClock.status, SlaClock.elapsed_seconds, SlaClock.met_at,
        SlaClock.evaluated_at, SlaClock.touches_required).join(Assignment, Assignment.id == SlaClock.assignment_id)
        .order_by(SlaClock.id)).all()
    events = session.execute(select(SlaClock.lead_id, SlaEvent.step, SlaEvent.at, SlaEvent.elapsed_seconds,
                                    SlaEvent.detail).join(SlaClock, SlaClock.id == SlaEvent.clock_id)
                             .order_by(SlaEvent.id)).all()
    leads = session.execute(select(Lead.id, Lead.owner_sdr_id, Lead.routing_status, Lead.updated_at)
                            .where(Lead.id.in_(lead_ids)).order_by(Lead.id)).all()
    assignment_of = dict(session.execute(select(Assignment.lead_id, Assignment.id).where(Assignment.active)).tuples().all())
    notes = [(n.key == f"assignment:{assignment_of[n.lead_id]}", n.lead_id, n.kind, n.channel, n.recipient, n.subject,
              n.body, n.status, n.attempts, n.created_at, n.sent_at, n.lease_until, n.claimed_by)
             for n in session.scalars(select(Notification).order_by(Notification.id))]
    return {"assignments": assignments, "clocks": clocks, "events": events, "leads": leads, "notes": notes}


def test_a_chunk_written_from_one_temporary_table_writes_the_rows_of_the_row_path(session, settings, rules, roster,
                                                                                   monkeypatch):
    """A chunk's assignments, clocks, "started" events, email announcements and owners chained in the database from
    one temporary table are the rows the per-table path writes (and the announcements those Python keys by the ids
    returned), ids allocated in the order given (not the leads')."""
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    (settings.inbox_dir / "big.csv").write_text(_csv(LEADS), encoding="utf-8")
    ingest_file(SqlUnitOfWork.around(session), settings.inbox_dir / "big.csv", rules, settings)
    session.commit()
    lead_ids = sorted(session.scalars(select(Lead.id)), reverse=True)
    sdr_ids = sorted(session.scalars(select(Sdr.id)))
    chunk = [NewAssignment(
        lead_id=lead, sdr_id=sdr_ids[i % len(sdr_ids)], ae_id=sdr_ids[0] if i % 3 else None,
        previous_sdr_id=sdr_ids[-1] if i % 5 == 0 else None, kind="initial", rule=None if i % 4 == 0 else f"rule-{i % 2}",
        reason=f"reason {i % 7}", candidates=({"sdr": "x", "skipped": "cap"},) if i % 2 else (),
        policy=f"policy-{i % 2}", target_seconds=3600 * (1 + i % 2), due_at=MONDAY + timedelta(hours=i % 3))
        for i, lead in enumerate(lead_ids)]
    emails = [AssignmentEmail(f"sdr{i % 3}@example.com", f"New lead {i}", f"Lead #{a.lead_id} is yours; 100% 'sure'?")
              for i, a in enumerate(chunk)]
    written = {}
    for path in ("set", "set, emails from the ids", "row"):
        if path == "row":
            monkeypatch.setattr("leadops.db.repositories.routing.SET_BASED_FROM", 10**9)
        uow = SqlUnitOfWork.around(session)
        if path == "set, emails from the ids":
            ids = uow.routing.assign(chunk, MONDAY, "flow-run")
            uow.outbox.enqueue_many([assignment_email(i, a.lead_id, e) for i, a, e in zip(ids, chunk, emails, strict=True)],
                                    MONDAY)
        else:
            ids = uow.routing.assign(chunk, MONDAY, "flow-run", emails)
        assert ids == sorted(ids)
        by_id = dict(session.execute(select(Assignment.id, Assignment.lead_id)).tuples().all())
        assert by_id == dict(zip(ids, lead_ids, strict=True))
        written[path] = _written(session, lead_ids)
        session.rollback()
    assert written["set"] == written["row"] == written["set, emails from the ids"]
    assert all(note[0] for note in written["set"]["notes"]) and len(written["set"]["notes"]) == len(chunk)
    assert len(written["set"]["events"]) == len(chunk) >= bulk_update.SET_BASED_FROM


@pytest.mark.parametrize("path", ["set", "row"])
def test_claiming_accounts_gives_an_owner_only_to_accounts_without_one(session, roster, monkeypatch, path):
    """``claim_accounts`` of a routing chunk's new accounts (one UPDATE ... FROM from SET_BASED_FROM accounts on,
    one UPDATE per account below): an account that has an owner by now keeps it."""
    from leadops.db.models import Account
    from leadops.db.repositories.routing import SqlRoutingRepository

    if path == "row":
        monkeypatch.setattr("leadops.db.repositories.routing.SET_BASED_FROM", 10**9)
    sdr_ids = sorted(session.scalars(select(Sdr.id).where(Sdr.role == "sdr")))
    first, other = sdr_ids[0], sdr_ids[1]
    n = bulk_update.SET_BASED_FROM + 10
    session.add_all([Account(domain=f"firm{i}.fr", name=f"Firm {i}", owner_sdr_id=first if i % 7 == 0 else None)
                     for i in range(n)])
    session.flush()
    ids = sorted(session.scalars(select(Account.id)))
    SqlRoutingRepository(session).claim_accounts(dict.fromkeys(ids, other))
    session.commit()
    owners = dict(session.execute(select(Account.domain, Account.owner_sdr_id)).tuples().all())
    assert owners == {f"firm{i}.fr": first if i % 7 == 0 else other for i in range(n)}


def test_a_chunk_the_database_refuses_fails_the_pass_and_leaves_nothing(session, settings, rules, roster):
    """A lead of the chunk already holding an active assignment (the partial unique index's case): the pass
    raises the database's IntegrityError, on PostgreSQL too where the chunk's statements were sent ahead and
    failed while the next chunk was read, and after the rollback nothing of the pass is written."""
    from sqlalchemy.exc import IntegrityError

    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    (settings.inbox_dir / "big.csv").write_text(_csv(LEADS), encoding="utf-8")
    ingest_file(SqlUnitOfWork.around(session), settings.inbox_dir / "big.csv", rules, settings)
    score_open_leads(SqlUnitOfWork.around(session), rules, now=MONDAY)
    last = session.scalar(select(Lead.id).where(Lead.lifecycle_stage == "mql").order_by(Lead.id.desc()))
    session.add(Assignment(lead_id=last, status="assigned", reason="planted", active=True, assigned_at=MONDAY))
    session.commit()
    with pytest.raises(IntegrityError, match=r"uq_assignments_active_lead|assignments\.lead_id"):
        route_pending(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Assignment)) == 1  # the planted one
    assert session.scalar(select(func.count()).select_from(SlaClock)) == 0
    assert session.scalar(select(func.count()).select_from(Notification)) == 0
    assert session.scalar(select(func.count()).select_from(Lead).where(Lead.owner_sdr_id.is_not(None))) == 0
