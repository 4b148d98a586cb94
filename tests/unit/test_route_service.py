"""The routing service (leadops/services/route.py) on an in-memory unit of work.

Two SDRs of Paris, Anna and Ben, share one pool; the leads are French hand-raisers (config/sla.yaml's
hand-raiser policy: first touch within 1 business hour), routed on Monday at 10:00 in Paris.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadops.config import RoutingRules
from leadops.db.repositories.routing import Manager, RoutingSdr
from leadops.domain.business_time import WorkCalendar
from leadops.services.route import explain, reassign, route_pending
from tests.support.fake_routing import FakeRoutingRepository, StoredLead
from tests.support.fakes import FakeUnitOfWork

MONDAY_10_PARIS = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TZ = "Europe/Paris"
ANNA, BEN, ACCOUNT = 1, 2, 30


def sdr(sdr_id: int, code: str, name: str, **values) -> RoutingSdr:
    return RoutingSdr(id=sdr_id, code=code, name=name, email=f"{code[2:]}@example.com", time_zone=TZ,
                      weight=1.0, daily_cap=values.pop("daily_cap", 40), open_cap=200, active=True,
                      calendar=WorkCalendar.build(TZ), **values)


def mql(lead_id: int, minutes_ago: int, **values) -> StoredLead:
    columns = {"email_domain": f"firm{lead_id}.fr", "company": f"Firm {lead_id}", "first_name": "Jane",
               "last_name": f"Doe{lead_id}", "job_title": "CTO", "country": "FR", "grade": "B2",
               "employee_band": "51-200", "is_hand_raiser": True}
    return StoredLead(lead_id, MONDAY_10_PARIS - timedelta(minutes=minutes_ago), columns=columns, **values)


def pair_rules(rules, policy: str = "next_available"):
    """config/'s rules with routing to the pool of Anna and Ben (after the account owner)."""
    routing = RoutingRules.model_validate({
        "rules": [{"name": "account-owner", "to": {"account_owner": True}},
                  {"name": "pair", "to": {"pool": "pair"}}],
        "pools": {"pair": {"members": ["s.anna", "s.ben"], "policy": policy, "hold_max_hours": 4}}})
    return rules.model_copy(update={"routing": routing})


@pytest.fixture
def routing():
    return FakeRoutingRepository(
        roster={"s.anna": sdr(ANNA, "s.anna", "Anna"), "s.ben": sdr(BEN, "s.ben", "Ben")},
        leads={7: mql(7, 30), 8: mql(8, 20)},
        managers_on_roster=[Manager("m.maria", "Maria", "maria@example.com")],
    )


@pytest.fixture
def uow(routing):
    return FakeUnitOfWork(routing=routing, outbox=routing.outbox)


def test_two_mqls_go_one_to_each_sdr_under_the_routing_lock_and_nothing_is_committed(uow, rules):
    out = route_pending(uow, pair_rules(rules), TZ, now=MONDAY_10_PARIS)
    assert (out.considered, out.assigned, out.held, out.unroutable) == (2, 2, 0, 0)
    assert out.per_sdr == {"s.anna": 1, "s.ben": 1} and out.per_rule == {"pair": 2}
    assert [a["lead_id"] for a in out.assignments] == [7, 8]  # arrival order
    owners = {lead_id: uow.routing.code_of(uow.routing.leads[lead_id].owner_sdr_id) for lead_id in (7, 8)}
    assert owners == {7: "s.anna", 8: "s.ben"}
    assert uow.routing.locked_at == [MONDAY_10_PARIS]
    assert uow.commits == 0 and uow.rollbacks == 0


def test_each_assignment_queues_one_message_to_its_sdr_keyed_by_the_assignment(uow, rules):
    route_pending(uow, pair_rules(rules), TZ, now=MONDAY_10_PARIS)
    first = uow.routing.active_assignment(7)
    second = uow.routing.active_assignment(8)
    assert set(uow.outbox.messages) == {f"assignment:{first.id}", f"assignment:{second.id}"}
    note = uow.outbox.messages[f"assignment:{first.id}"]
    assert (note.kind, note.recipient, note.lead_id, note.channel) == ("assignment", "anna@example.com", 7, "email")
    assert "Lead #7 is yours" in note.body and "policy hand-raiser" in note.body


def test_the_webhook_hears_of_each_assignment_too_when_routing_says_so(uow, rules):
    hooked = pair_rules(rules)
    hooked = hooked.model_copy(update={"routing": hooked.routing.model_copy(update={"notify_webhook": True})})
    route_pending(uow, hooked, TZ, now=MONDAY_10_PARIS)
    a = uow.routing.active_assignment(7)
    hook = uow.outbox.messages[f"assignment:{a.id}:webhook"]
    assert (hook.channel, hook.recipient) == ("webhook", "s.anna")


def test_each_assignment_starts_its_first_touch_clock_in_the_owners_business_time(uow, rules):
    route_pending(uow, pair_rules(rules), TZ, now=MONDAY_10_PARIS)
    clocks = {c.lead_id: c for c in uow.routing.clocks}
    assert set(clocks) == {7, 8}
    clock = clocks[7]
    assert (clock.policy, clock.target_seconds, clock.status) == ("hand-raiser", 3600, "open")
    assert clock.assignment_id == uow.routing.active_assignment(7).id and clock.sdr_id == ANNA
    assert clock.started_at == MONDAY_10_PARIS and clock.due_at == MONDAY_10_PARIS + timedelta(hours=1)
    assert clock.started_detail == f"policy hand-raiser, due {clock.due_at.isoformat()}"


def test_the_round_robin_positions_of_the_sdrs_who_took_leads_are_saved_per_pool(uow, rules):
    route_pending(uow, pair_rules(rules), TZ, now=MONDAY_10_PARIS)
    assert set(uow.routing.stored_positions) == {("pair", ANNA), ("pair", BEN)}
    assert all(p.updated_at == MONDAY_10_PARIS and p.virtual_time > 0 for p in uow.routing.stored_positions.values())


def test_a_new_account_goes_to_the_sdr_of_its_first_lead_and_its_next_lead_follows(uow, rules):
    uow.routing.account_owners[ACCOUNT] = None
    uow.routing.leads[7].account_id = uow.routing.leads[8].account_id = ACCOUNT
    out = route_pending(uow, pair_rules(rules), TZ, now=MONDAY_10_PARIS)
    assert out.per_sdr == {"s.anna": 2}
    assert uow.routing.account_owners[ACCOUNT] == ANNA


def test_a_lead_whose_owner_is_away_is_held_for_them_audited_once_and_announced_to_nobody(uow, routing, rules):
    away = sdr(BEN, "s.ben", "Ben", absences=((MONDAY_10_PARIS - timedelta(days=1), MONDAY_10_PARIS + timedelta(days=2)),))
    routing.roster["s.ben"] = away
    routing.account_owners[ACCOUNT] = BEN
    routing.leads = {7: mql(7, 30, account_id=ACCOUNT)}
    hold = pair_rules(rules, policy="hold_for_owner")
    out = route_pending(uow, hold, TZ, now=MONDAY_10_PARIS)
    assert (out.considered, out.held, out.assigned) == (1, 1, 0)
    assert out.not_assigned[0]["status"] == "held" and "held for account owner s.ben" in out.not_assigned[0]["reason"]
    assert routing.leads[7].routing_status == "held" and routing.leads[7].owner_sdr_id is None
    assert uow.outbox.messages == {} and routing.clocks == []
    again = route_pending(uow, hold, TZ, now=MONDAY_10_PARIS + timedelta(hours=1))
    assert again.held == 1 and len(routing.audits("held")) == 1  # still held, audited once


def test_a_held_lead_goes_to_someone_else_once_the_hold_runs_out(uow, routing, rules):
    routing.roster["s.ben"] = sdr(BEN, "s.ben", "Ben",
                                  absences=((MONDAY_10_PARIS - timedelta(days=1), MONDAY_10_PARIS + timedelta(days=2)),))
    routing.account_owners[ACCOUNT] = BEN
    routing.leads = {7: mql(7, 30, account_id=ACCOUNT)}
    hold = pair_rules(rules, policy="hold_for_owner")
    route_pending(uow, hold, TZ, now=MONDAY_10_PARIS)
    late = route_pending(uow, hold, TZ, now=MONDAY_10_PARIS + timedelta(hours=5))
    assert late.per_sdr == {"s.anna": 1}


def test_a_lead_nobody_can_take_is_unroutable_and_each_manager_is_alerted_once(uow, routing, rules):
    routing.roster = {code: sdr(s.id, code, s.name, daily_cap=0) for code, s in routing.roster.items()}
    out = route_pending(uow, pair_rules(rules), TZ, now=MONDAY_10_PARIS)
    assert (out.assigned, out.unroutable) == (0, 2)
    audits = routing.audits("unroutable")
    assert set(uow.outbox.messages) == {f"unroutable:{a.id}:m.maria" for a in audits}
    alert = uow.outbox.messages[f"unroutable:{audits[0].id}:m.maria"]
    assert (alert.kind, alert.recipient) == ("unroutable_alert", "maria@example.com")
    assert "leadops explain 7" in alert.body
    again = route_pending(uow, pair_rules(rules), TZ, now=MONDAY_10_PARIS + timedelta(minutes=5))
    assert again.unroutable == 2 and len(routing.audits("unroutable")) == 2 and len(uow.outbox.messages) == 2


def test_progress_is_told_after_each_chunk_with_the_queue_length(uow, rules, monkeypatch):
    import leadops.services.route as route

    monkeypatch.setattr(route, "ROUTE_CHUNK", 1)
    seen: list[tuple[int, int]] = []
    route_pending(uow, pair_rules(rules), TZ, now=MONDAY_10_PARIS, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]


def test_reassigning_by_hand_ends_the_assignment_and_its_clock_and_starts_new_ones(uow, routing, rules):
    route_pending(uow, pair_rules(rules), TZ, now=MONDAY_10_PARIS)
    later = MONDAY_10_PARIS + timedelta(minutes=30)
    decision = reassign(uow, 7, pair_rules(rules), TZ, later, to="s.ben")
    assert (decision.status, decision.sdr, decision.reason) == ("assigned", "s.ben", "reassigned by hand to s.ben")
    first, second = [a for a in routing.assignments if a.lead_id == 7]
    assert (first.active, first.ended_at) == (False, later)
    assert (second.active, second.sdr_id, second.previous_sdr_id, second.kind) == (True, BEN, ANNA, "manual")
    assert [c.status for c in routing.clocks if c.lead_id == 7] == ["reassigned", "open"]
    assert f"assignment:{second.id}" in uow.outbox.messages and uow.commits == 0
    story = explain(uow, 7)
    assert story["owner"] == "s.ben" and [d["kind"] for d in story["decisions"]] == ["initial", "manual"]


def test_reassigning_to_the_current_owner_or_an_unknown_sdr_changes_nothing(uow, routing, rules):
    route_pending(uow, pair_rules(rules), TZ, now=MONDAY_10_PARIS)
    before = list(routing.assignments)
    same = reassign(uow, 7, pair_rules(rules), TZ, MONDAY_10_PARIS, to="s.anna")
    assert same.status == "unroutable" and same.reason == "s.anna already owns lead 7"
    with pytest.raises(ValueError, match=r"no SDR 's\.nobody' on the roster"):
        reassign(uow, 7, pair_rules(rules), TZ, MONDAY_10_PARIS, to="s.nobody")
    assert routing.assignments == before


def test_reassigning_by_the_rules_leaves_the_current_owner_out(uow, routing, rules):
    route_pending(uow, pair_rules(rules), TZ, now=MONDAY_10_PARIS)
    decision = reassign(uow, 8, pair_rules(rules), TZ, MONDAY_10_PARIS, kind="reassign", reason="SLA missed")
    assert decision.sdr == "s.anna" and decision.reason.startswith("SLA missed: rule pair")


def test_explaining_a_lead_that_does_not_exist_says_so(uow):
    with pytest.raises(ValueError, match="no lead 99"):
        explain(uow, 99)
