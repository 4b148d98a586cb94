"""sdrs.yaml is the truth: `leadops roster sync` and every flow run make the database's roster follow it."""
from datetime import datetime, UTC

import pytest
from sqlalchemy import func, select

from leadops.config import Roster
from leadops.db.models import Assignment, Lead, Notification, OutOfOffice, Sdr
from leadops.db.repositories.roster import SqlRosterRepository
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.services.roster import by_routing_rules
from leadops.services.roster import sync as sync_service
from tests.integration.test_route_sla import MONDAY_10_PARIS, route_sample

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def sync(session, rules, company_tz, now, *, dry_run=False):
    """The sync in the test's session, reassigning by the routing rules as the task does."""
    uow = SqlUnitOfWork.around(session)
    return sync_service(uow, rules, dry_run=dry_run, reassign=by_routing_rules(uow, rules, company_tz, now))


def with_roster(rules, people):
    return rules.model_copy(update={"roster": Roster.model_validate({"people": people})})


def dump(rules):
    return [p.model_dump() for p in rules.roster.people]


def counts(session):
    return {m.__tablename__: session.scalar(select(func.count()).select_from(m))
            for m in (Sdr, OutOfOffice, Assignment, Notification)}


def test_a_fresh_database_gets_the_roster_and_a_second_sync_changes_nothing(session, rules):
    first = sync(session, rules, "Europe/Paris", NOW)
    session.commit()
    assert first.counts()["added"] == len(rules.roster.people)
    assert set(SqlRosterRepository(session).members()) == {p.code for p in rules.roster.people}
    before = counts(session)
    again = sync(session, rules, "Europe/Paris", NOW)
    session.commit()
    assert again.changes == [] and again.reassigned == []
    assert counts(session) == before


def test_a_dry_run_shows_the_changes_and_writes_nothing(session, rules):
    preview = sync(session, rules, "Europe/Paris", NOW, dry_run=True)
    session.rollback()
    assert preview.counts()["added"] == len(rules.roster.people)
    assert session.scalar(select(func.count()).select_from(Sdr)) == 0


def test_an_edit_reaches_the_database(session, rules, roster):
    people = dump(rules)
    for p in people:
        if p["code"] == "s.dubois":
            p["daily_cap"] = 3
            p["out_of_office"] = [{"start": "2026-12-21", "end": "2026-12-31", "reason": "holidays"}]
    edited = with_roster(rules, people)
    out = sync(session, edited, "Europe/Paris", NOW)
    session.commit()
    [change] = out.changes
    assert (change.code, change.kind) == ("s.dubois", "changed")
    sdr = session.scalar(select(Sdr).where(Sdr.code == "s.dubois"))
    assert sdr.daily_cap == 3
    assert [o.reason for o in sdr.out_of_office] == ["holidays"]


def test_a_removed_sdr_is_deactivated_with_history_kept_and_open_leads_reassigned_by_the_rules(
        session, settings, rules, routed):
    owners = dict(session.execute(select(Sdr.code, func.count()).join(Lead, Lead.owner_sdr_id == Sdr.id)
                                  .group_by(Sdr.code)).all())
    leaving = max(owners, key=owners.get)
    before_assignments = session.scalar(select(func.count()).select_from(Assignment))
    people = [p for p in dump(rules) if p["code"] != leaving]
    people = [dict(p, manager=None if p.get("manager") == leaving else p.get("manager"),
                   paired_ae=None if p.get("paired_ae") == leaving else p.get("paired_ae")) for p in people]
    # copies, not edits: `rules` is shared by the whole test session
    pools = {k: v.model_copy(update={"members": [m for m in v.members if m != leaving]})
             for k, v in rules.routing.pools.items()}
    edited = with_roster(rules, people).model_copy(update={"routing": rules.routing.model_copy(update={"pools": pools})})
    preview = sync(session, edited, "Europe/Paris", MONDAY_10_PARIS, dry_run=True)
    session.rollback()
    assert preview.to_reassign == {leaving: owners[leaving]}
    out = sync(session, edited, "Europe/Paris", MONDAY_10_PARIS)
    session.commit()
    assert [(c.code, c.kind) for c in out.changes] == [(leaving, "deactivated")]
    gone = session.scalar(select(Sdr).where(Sdr.code == leaving))
    assert gone is not None and gone.active is False  # kept, not deleted
    assert len(out.reassigned) + len(out.not_reassigned) == owners[leaving]
    assert out.reassigned, "someone in the pools can take them"
    assert all(r["to"] != leaving for r in out.reassigned)
    # the old assignments stay in the history, ended; one active assignment per lead, to someone else
    ended = session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.sdr_id == gone.id, Assignment.active.is_(False)))
    assert ended == len(out.reassigned)
    assert session.scalar(select(func.count()).select_from(Assignment)) == before_assignments + len(out.reassigned)
    # idempotent: nothing left to do
    again = sync(session, edited, "Europe/Paris", MONDAY_10_PARIS)
    assert again.changes == [] and again.reassigned == []


@pytest.fixture
def routed(session, settings, rules, roster):
    return route_sample(session, settings, rules)
