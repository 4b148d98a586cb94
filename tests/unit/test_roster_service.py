"""The roster sync service on an in-memory unit of work: what it counts, writes and hands to routing."""
from __future__ import annotations

from leadops.config import Roster
from leadops.db.models import Lead
from leadops.domain.roster import member_from_person
from leadops.domain.routing import Decision
from leadops.services.roster import apply_roster, sync
from tests.support.fake_roster import FakeRosterRepository
from tests.support.fakes import FakeUnitOfWork

SAM = {"code": "s.sam", "name": "Sam", "email": "sam@example.com"}
LEA = {"code": "s.lea", "name": "Léa", "email": "lea@example.com"}
MAX = {"code": "s.max", "name": "Max", "email": "max@example.com"}
ZOE = {"code": "s.zoe", "name": "Zoé", "email": "zoe@example.com", "active": False}


def with_people(rules, *people: dict):
    return rules.model_copy(update={"roster": Roster.model_validate({"people": list(people)})})


def in_database(*people: dict) -> FakeRosterRepository:
    return FakeRosterRepository([member_from_person(p) for p in Roster.model_validate({"people": list(people)}).people])


class Routing:
    """A fake routing service: gives every lead to ``to`` (or to no one), and moves it in the repository."""

    def __init__(self, repo: FakeRosterRepository, to: str | None) -> None:
        self.repo, self.to = repo, to
        self.calls: list[tuple[int, str]] = []

    def __call__(self, lead: Lead, reason: str) -> Decision:
        self.calls.append((lead.id, reason))
        if self.to is None:
            return Decision(lead.id, "unroutable", None, None, "no one can take it")
        self.repo.own(lead.id, self.to)
        return Decision(lead.id, "assigned", self.to, "round_robin", reason)


def test_a_dry_run_counts_the_changes_and_the_leads_that_would_move_and_writes_nothing(rules):
    repo = in_database(SAM, LEA)
    repo.own(1, "s.lea")
    repo.own(2, "s.lea")
    before = repo.members()
    uow = FakeUnitOfWork(roster=repo)
    routing = Routing(repo, "s.sam")
    out = sync(uow, with_people(rules, dict(SAM, daily_cap=3), MAX), reassign=routing, dry_run=True)
    assert {k: n for k, n in out.counts().items() if n} == {"added": 1, "changed": 1, "deactivated": 1}
    assert out.to_reassign == {"s.lea": 2}
    assert "would reassign 2 open lead(s) of s.lea by the routing rules" in out.lines()
    assert repo.members() == before and repo.applied == [] and routing.calls == []
    assert uow.commits == 0


def test_a_sync_counts_added_changed_deactivated_and_reactivated_and_never_commits(rules):
    repo = in_database(SAM, LEA, dict(MAX, active=False))
    uow = FakeUnitOfWork(roster=repo)
    out = sync(uow, with_people(rules, dict(SAM, daily_cap=3), MAX, ZOE), reassign=Routing(repo, None))
    assert out.counts() == {"added": 1, "changed": 1, "deactivated": 1, "reactivated": 1,
                            "reassigned": 0, "not_reassigned": 0}
    assert repo.members()["s.sam"].daily_cap == 3
    assert repo.members()["s.lea"].active is False and repo.members()["s.max"].active is True
    assert set(repo.members()) == {"s.sam", "s.lea", "s.max", "s.zoe"}  # deactivated, not deleted
    assert (uow.commits, uow.rollbacks) == (0, 0)


def test_open_leads_of_people_who_left_go_to_routing_and_a_second_sync_finds_nothing(rules):
    repo = in_database(SAM, LEA, dict(MAX, active=False))
    repo.own(7, "s.lea")
    repo.own(8, "s.max")  # inactive already: a lead no one could take before is tried again
    repo.own(9, "s.sam")
    routing = Routing(repo, "s.sam")
    uow = FakeUnitOfWork(roster=repo)
    out = sync(uow, with_people(rules, SAM, dict(MAX, active=False)), reassign=routing)
    assert routing.calls == [(7, "s.lea is no longer on the roster"), (8, "s.max is no longer on the roster")]
    assert out.reassigned == [{"lead_id": 7, "from": "s.lea", "to": "s.sam", "rule": "round_robin"},
                              {"lead_id": 8, "from": "s.max", "to": "s.sam", "rule": "round_robin"}]
    again = sync(uow, with_people(rules, SAM, dict(MAX, active=False)), reassign=routing)
    assert again.changes == [] and again.reassigned == [] and len(routing.calls) == 2
    assert uow.commits == 0


def test_a_lead_no_one_can_take_is_reported_with_the_reason(rules):
    repo = in_database(SAM, LEA)
    repo.own(3, "s.lea")
    out = sync(FakeUnitOfWork(roster=repo), with_people(rules, SAM), reassign=Routing(repo, None))
    assert out.not_reassigned == [{"lead_id": 3, "from": "s.lea", "reason": "no one can take it"}]
    assert out.lines()[-1] == "lead 3 of s.lea not reassigned: no one can take it"


def test_apply_roster_writes_only_what_differs_and_returns_every_id(rules):
    repo = in_database(SAM)
    uow = FakeUnitOfWork(roster=repo)
    ids = apply_roster(uow, with_people(rules, SAM, LEA).roster)
    assert set(ids) == {"s.sam", "s.lea"}
    assert [[(c.code, c.kind) for c in changes] for changes in repo.applied] == [[("s.lea", "added")]]
    assert uow.commits == 0
