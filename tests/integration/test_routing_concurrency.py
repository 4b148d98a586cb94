"""Routing under concurrency, fairness across runs, manual reassignment and explanations."""
import threading
from datetime import datetime, timedelta, UTC

import pytest
from sqlalchemy import func, select, update

from leadops.db.bulk import bulk_insert
from leadops.db.models import Account, Assignment, Lead, Notification, RoutingPosition, Sdr, SlaClock, SlaEvent
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.services.route import explain, reassign, route_pending
from tests.support.parallel import at_once

MONDAY_10_PARIS = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def add_mqls(session, n: int, country: str = "FR") -> list[int]:
    now = MONDAY_10_PARIS - timedelta(hours=1)
    rows = [dict(email=f"mql{i}@firm{i}.fr", email_domain=f"firm{i}.fr", source="demo_request", country=country,
                 is_free_email=False, is_competitor=False, is_hand_raiser=True, lifecycle_stage="mql",
                 stage_changed_at=now, arrived_at=now + timedelta(seconds=i), created_at=now, updated_at=now, grade="B2")
            for i in range(n)]
    bulk_insert(session.connection(), Lead.__table__, rows)
    session.commit()
    return list(session.scalars(select(Lead.id).order_by(Lead.id)))


def route_watching_sql(session, rules, settings) -> tuple[object, list[tuple[str, object, bool]]]:
    """Route pending leads (committed); returns the summary and every statement the pass sent:
    (SQL, parameters, executemany)."""
    from sqlalchemy import event

    sent: list[tuple[str, object, bool]] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters, executemany))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", watch)
    try:
        out = route_pending(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY_10_PARIS)
        session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    return out, sent


def test_two_routers_in_parallel_never_assign_twice_nor_exceed_a_cap(session, settings, rules, roster):
    add_mqls(session, 60)
    session.execute(update(Sdr).values(daily_cap=4))
    session.commit()
    results = at_once(settings.database_url,
                      lambda s: route_pending(SqlUnitOfWork.around(s), rules, settings.company_time_zone, now=MONDAY_10_PARIS))
    active = session.execute(select(Assignment.lead_id, Assignment.sdr_id).where(Assignment.active)).all()
    per_lead = {}
    for lead_id, _ in active:
        per_lead[lead_id] = per_lead.get(lead_id, 0) + 1
    assert max(per_lead.values()) == 1
    per_sdr = dict(session.execute(select(Assignment.sdr_id, func.count()).where(Assignment.active)
                                   .group_by(Assignment.sdr_id)).all())
    from leadops.services.route import sdr_states

    states, _ = sdr_states(SqlUnitOfWork.around(session), MONDAY_10_PARIS - timedelta(days=1), settings.company_time_zone)
    available = sum(1 for s in states.values() if s.active and s.weight > 0 and not s.out_of_office)
    assert max(per_sdr.values()) <= 4 and len(active) == min(60, 4 * available)
    assert sum(r.assigned for r in results) == len(active)  # each assignment made by exactly one router
    unroutable = session.scalar(select(func.count()).select_from(Assignment).where(Assignment.status == "unroutable"))
    assert unroutable == 60 - len(active)  # each left-over lead audited once, not once per router


def test_a_returning_sdr_joins_the_rotation_without_being_flooded(session, settings, rules, roster):
    ids = dict(session.execute(select(Sdr.code, Sdr.id)).tuples().all())
    recent, long_ago = MONDAY_10_PARIS - timedelta(hours=2), MONDAY_10_PARIS - timedelta(days=20)
    session.add_all([RoutingPosition(pool="france", sdr_id=ids["s.dubois"], virtual_time=50, updated_at=recent),
                     RoutingPosition(pool="france", sdr_id=ids["s.lefevre"], virtual_time=50, updated_at=recent),
                     # back from leave: far behind in the france pool
                     RoutingPosition(pool="france", sdr_id=ids["s.moreau"], virtual_time=3, updated_at=long_ago),
                     # Dubois' turn in another pool is that pool's business
                     RoutingPosition(pool="southern", sdr_id=ids["s.dubois"], virtual_time=500, updated_at=recent)])
    session.commit()
    add_mqls(session, 6)
    out = route_pending(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY_10_PARIS)
    session.commit()
    # Moreau is raised to one turn behind the pace (49): she takes the next lead, then her turns, instead of
    # all six; Lefèvre has weight 1.5 (the tie at 52 between Lefèvre and Dubois goes to the float sum's side)
    assert out.per_sdr == {"s.dubois": 1, "s.lefevre": 3, "s.moreau": 2}
    positions = {(p.pool, p.sdr_id): p.virtual_time for p in session.scalars(select(RoutingPosition))}
    assert positions[("france", ids["s.moreau"])] == 51 and positions[("france", ids["s.dubois"])] == 51
    assert positions[("france", ids["s.lefevre"])] == pytest.approx(52)
    assert positions[("southern", ids["s.dubois"])] == 500  # kept for the next run, untouched by France


def add_leads(session, tag: str, countries: list[str], arrived: list[datetime]) -> None:
    """Add one MQL per (country, arrival), e-mails keyed by ``tag`` (one call per batch of a test)."""
    rows = [dict(email=f"{tag}{i}@{tag}{i}.example", email_domain=f"{tag}{i}.example", source="demo_request",
                 country=country, is_free_email=False, is_competitor=False, is_hand_raiser=True, lifecycle_stage="mql",
                 stage_changed_at=at, arrived_at=at, created_at=at, updated_at=at, grade="B2")
            for i, (country, at) in enumerate(zip(countries, arrived, strict=True))]
    bulk_insert(session.connection(), Lead.__table__, rows)
    session.commit()


def per_rule_and_sdr(session, since: datetime) -> dict[str, dict[str, int]]:
    """Return the assignments made since ``since``: rule -> SDR code -> count."""
    out: dict[str, dict[str, int]] = {}
    for rule, code in session.execute(select(Assignment.rule, Sdr.code).join(Sdr, Sdr.id == Assignment.sdr_id)
                                      .where(Assignment.status == "assigned", Assignment.assigned_at >= since)):
        out.setdefault(rule, {}).setdefault(code, 0)
        out[rule][code] += 1
    return out


def test_a_pass_a_weekend_a_return_and_a_pass_keep_each_pools_rotation_from_the_stored_positions(
        session, settings, rules, roster):
    """Friday: Moreau is away, Dubois and Lefèvre share the French leads, Dubois and García the Spanish ones.
    Nothing is routed over the weekend. Monday: Moreau is back and joins the france pool at its pace (the
    positions Friday stored, not a restart, not a flood); Dubois' French leads cost him no turn in southern."""
    from leadops.db.models import OutOfOffice

    uow = SqlUnitOfWork.around(session)
    ids = dict(session.execute(select(Sdr.code, Sdr.id)).tuples().all())
    friday = MONDAY_10_PARIS - timedelta(days=3)
    session.add(OutOfOffice(sdr_id=ids["s.moreau"], starts_at=friday - timedelta(days=1),
                            ends_at=MONDAY_10_PARIS - timedelta(hours=2), reason="leave"))
    session.commit()
    countries = ["FR", "FR", "FR", "ES"] * 10  # 30 French, 10 Spanish
    add_leads(session, "fri", countries, [friday - timedelta(minutes=40 - i) for i in range(40)])
    route_pending(uow, rules, settings.company_time_zone, now=friday)
    session.commit()
    assert per_rule_and_sdr(session, friday) == {"france-benelux": {"s.dubois": 12, "s.lefevre": 18},
                                                 "southern-europe": {"s.dubois": 5, "s.garcia": 5}}
    stored = {(p.pool, p.sdr_id): p.virtual_time for p in session.scalars(select(RoutingPosition))}
    assert stored == pytest.approx({("france", ids["s.dubois"]): 12, ("france", ids["s.lefevre"]): 12,  # 18 x 1/1.5
                                    ("southern", ids["s.dubois"]): 5, ("southern", ids["s.garcia"]): 5})

    countries = ["FR"] * 35 + ["ES"] * 10
    add_leads(session, "mon", countries, [MONDAY_10_PARIS - timedelta(minutes=45 - i) for i in range(45)])
    route_pending(uow, rules, settings.company_time_zone, now=MONDAY_10_PARIS)
    session.commit()
    monday = per_rule_and_sdr(session, MONDAY_10_PARIS)
    france = monday["france-benelux"]
    # her share of 35 is 10 (weights 1, 1.5, 1); the bound allows 35/3.5 + 1 + 1/3.5; she was 12 behind
    assert sum(france.values()) == 35 and 9 <= france["s.moreau"] <= 11, france
    assert monday["southern-europe"] == {"s.dubois": 5, "s.garcia": 5}
    after = {(p.pool, p.sdr_id): p.virtual_time for p in session.scalars(select(RoutingPosition))}
    # Friday's positions carried on; Moreau's was raised to one turn behind the pace (11) before her turns
    assert after[("france", ids["s.dubois"])] == pytest.approx(12 + france["s.dubois"])
    assert after[("france", ids["s.lefevre"])] == pytest.approx(12 + france["s.lefevre"] / 1.5)
    assert after[("france", ids["s.moreau"])] == pytest.approx(11 + france["s.moreau"])
    assert after[("southern", ids["s.dubois"])] == after[("southern", ids["s.garcia"])] == 10


def test_a_backtest_lets_an_sdr_back_in_the_middle_of_the_replay_join_at_the_pace(session, settings, rules, roster):
    """The backtest replays lead by lead with each SDR's availability at the lead's arrival: Moreau, away until
    13:00, takes her share of the afternoon, not the whole morning's worth of leads on top of it."""
    from leadops.db.models import OutOfOffice
    from leadops.services.backtest import backtest

    moreau = session.scalar(select(Sdr.id).where(Sdr.code == "s.moreau"))
    nine_thirty = MONDAY_10_PARIS - timedelta(minutes=30)
    back_at = MONDAY_10_PARIS + timedelta(hours=3)  # 13:00 in Paris
    session.add(OutOfOffice(sdr_id=moreau, starts_at=nine_thirty - timedelta(days=2), ends_at=back_at, reason="leave"))
    session.commit()
    arrivals = [nine_thirty + timedelta(minutes=6 * i) for i in range(70)]  # 35 before 13:00, 35 after
    assert sum(at >= back_at for at in arrivals) == 35
    for i, at in enumerate(arrivals):  # routed as each arrives, as the real-time intake does
        add_leads(session, f"day{i}x", ["FR"], [at])
        route_pending(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=at)
        session.commit()
    report = backtest(SqlUnitOfWork.around(session), rules.routing, nine_thirty - timedelta(hours=1),
                      settings.company_time_zone)
    assert report.leads == 70 and sum(report.simulated.values()) == 70
    assert report.changed == 0  # the rules in force, replayed lead by lead, give back what routing did
    # 35 afternoon leads at weights 1, 1.5, 1: 10 each for her and Dubois; she was 14 behind at 13:00
    assert 9 <= report.simulated["s.moreau"] <= 11, report.simulated


def test_manual_reassignment_keeps_history_and_explain_tells_it_all(session, settings, rules, roster):
    uow = SqlUnitOfWork.around(session)
    [lead_id] = add_mqls(session, 1)
    route_pending(uow, rules, settings.company_time_zone, now=MONDAY_10_PARIS)
    session.commit()
    lead = session.get(Lead, lead_id)
    first_owner = session.get(Sdr, lead.owner_sdr_id).code
    target = "s.moreau" if first_owner != "s.moreau" else "s.dubois"
    later = MONDAY_10_PARIS + timedelta(minutes=30)
    decision = reassign(uow, lead_id, rules, settings.company_time_zone, later, to=target)
    session.commit()
    assert decision.status == "assigned" and decision.sdr == target
    story = explain(uow, lead_id)
    assert [d["kind"] for d in story["decisions"]] == ["initial", "manual"] and story["owner"] == target
    first, second = story["decisions"]
    assert first["active"] is False and first["ended_at"] and first["sdr"] == first_owner and first["candidates"]
    assert second["previous_sdr"] == first_owner and "by hand" in second["reason"]
    clocks = session.execute(select(SlaClock.sdr_id, SlaClock.status).where(SlaClock.lead_id == lead_id)
                             .order_by(SlaClock.id)).all()
    assert [c.status for c in clocks] == ["reassigned", "open"]
    assert session.scalar(select(func.count()).select_from(Notification)) == 2  # one per assignment

    import pytest

    with pytest.raises(ValueError, match=r"no SDR 's\.nobody'"):
        reassign(uow, lead_id, rules, settings.company_time_zone, later, to="s.nobody")
    same = reassign(uow, lead_id, rules, settings.company_time_zone, later, to=target)
    assert same.status == "unroutable" and "already owns" in same.reason
    auto = reassign(uow, lead_id, rules, settings.company_time_zone, later)  # by the rules, without the owner
    session.commit()
    assert auto.status == "assigned" and auto.sdr != target


def test_hold_for_owner_keeps_the_lead_for_an_absent_owner_then_lets_it_go(session, settings, rules, roster):
    uow = SqlUnitOfWork.around(session)
    from leadops.db.models import Account, OutOfOffice

    hold_rules = rules.model_copy(update={"routing": rules.routing.model_copy(update={"pools": {
        **rules.routing.pools,
        "france": rules.routing.pools["france"].model_copy(update={"policy": "hold_for_owner", "hold_max_hours": 4})}})})
    [lead_id] = add_mqls(session, 1)
    moreau = session.scalar(select(Sdr).where(Sdr.code == "s.moreau"))
    account = Account(domain="firm0.fr", name="Firm", owner_sdr_id=moreau.id)
    session.add(account)
    session.flush()
    session.execute(update(Lead).where(Lead.id == lead_id).values(account_id=account.id))
    session.add(OutOfOffice(sdr_id=moreau.id, starts_at=MONDAY_10_PARIS - timedelta(days=1),
                            ends_at=MONDAY_10_PARIS + timedelta(days=3), reason="sick"))
    session.commit()
    out = route_pending(uow, hold_rules, settings.company_time_zone, now=MONDAY_10_PARIS)
    session.commit()
    assert (out.held, out.assigned) == (1, 0) and session.get(Lead, lead_id).routing_status == "held"
    again = route_pending(uow, hold_rules, settings.company_time_zone, now=MONDAY_10_PARIS + timedelta(hours=1))
    session.commit()
    assert again.held == 1  # still held, audited once
    assert session.scalar(select(func.count()).select_from(Assignment).where(Assignment.status == "held")) == 1
    late = route_pending(uow, hold_rules, settings.company_time_zone, now=MONDAY_10_PARIS + timedelta(hours=5))
    session.commit()
    assert late.assigned == 1 and late.per_sdr.keys() <= {"s.dubois", "s.lefevre"}  # the hold expired
    # with the default policy the lead would have gone to someone else at once
    add_mqls_named(session, "firm0.fr", account.id)
    now_rules = route_pending(uow, rules, settings.company_time_zone, now=MONDAY_10_PARIS + timedelta(hours=5))
    assert now_rules.held == 0 and now_rules.assigned == 1


def add_mqls_named(session, domain, account_id):
    now = MONDAY_10_PARIS
    bulk_insert(session.connection(), Lead.__table__, [dict(
        email=f"second@{domain}", email_domain=domain, source="demo_request", country="FR", is_free_email=False,
        is_competitor=False, is_hand_raiser=True, lifecycle_stage="mql", stage_changed_at=now, arrived_at=now,
        created_at=now, updated_at=now, grade="B2", account_id=account_id)])
    session.commit()
    return [session.scalar(select(Lead.id).where(Lead.email == f"second@{domain}"))]


def test_backtest_replays_history_through_candidate_rules_and_writes_nothing(session, settings, rules, roster):
    from leadops.services.backtest import backtest

    add_mqls(session, 12)
    route_pending(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY_10_PARIS)
    session.commit()
    before = session.scalar(select(func.count()).select_from(Assignment))
    same = backtest(SqlUnitOfWork.around(session), rules.routing, MONDAY_10_PARIS - timedelta(days=1), settings.company_time_zone)
    assert same.leads == 12 and sum(same.simulated.values()) == 12 and same.actual == same.simulated
    assert same.changed == 0 and same.per_rule == {"france-benelux": 12}
    # candidate: everything French goes to Dubois alone
    candidate = rules.routing.model_copy(update={"rules": [
        rules.routing.rules[0].model_copy(update={"name": "all-dubois", "when": {"country": ["FR"]},
                                                   "to": rules.routing.rules[0].to.model_copy(
                                                       update={"account_owner": False, "sdr": "s.dubois"})})]})
    moved = backtest(SqlUnitOfWork.around(session), candidate, MONDAY_10_PARIS - timedelta(days=1), settings.company_time_zone)
    assert moved.simulated == {"s.dubois": 12} and moved.changed == 12 - same.actual.get("s.dubois", 0)
    # the france pool's rotation, judged on its own 12 leads: the replay gives back what happened
    assert same.pools["france"]["leads"] == 12 and same.pools["france"] == same.actual_pools["france"]
    assert sum(m["got"] for m in same.pools["france"]["per_member"]) == 12
    # the candidate's rule sends them to one SDR, not through a pool: no rotation to judge
    assert all(p["leads"] == 0 for p in moved.pools.values()) and moved.rules[0] == {
        "rule": "all-dubois", "to": "sdr s.dubois", "leads": 12, "assigned": 12, "held": 0, "unroutable": 0,
        "passed_on": 0, "fairness": None, "unbounded": False}
    assert {m["to"] for m in moved.moves} == {"s.dubois"}
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Assignment)) == before


class Receiver:
    """A loopback webhook receiver: records every POST; can be told to fail the next N."""

    def __init__(self):
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.posts, self.fail_next = [], 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.fail_next:
                    outer.fail_next -= 1
                    self.send_response(503)
                else:
                    outer.posts.append((self.headers["X-Leadops-Key"], body))
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/leadops?token=hook-secret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_assignments_reach_the_webhook_exactly_once_and_unroutable_leads_alert_managers(session, settings, rules, roster):
    uow = SqlUnitOfWork.around(session)
    from pydantic import SecretStr

    from leadops.notify.outbox import deliver
    from leadops.notify.senders import sender_for
    from tests.support.units import units_for

    receiver = Receiver()
    try:
        hook_rules = rules.model_copy(update={"routing": rules.routing.model_copy(update={"notify_webhook": True})})
        add_mqls(session, 3)
        session.execute(update(Sdr).values(daily_cap=0))
        session.execute(update(Sdr).where(Sdr.code == "s.dubois").values(daily_cap=2))
        session.commit()
        out = route_pending(uow, hook_rules, settings.company_time_zone, now=MONDAY_10_PARIS)
        session.commit()
        assert (out.assigned, out.unroutable) == (2, 1)
        sender = sender_for(settings.model_copy(update={"webhook_url": SecretStr(receiver.url)}))
        receiver.fail_next = 1
        first = deliver(units_for(session), sender)
        assert first.failed == 1  # the webhook answered 503: kept pending, retried next pass
        second = deliver(units_for(session), sender)
        third = deliver(units_for(session), sender)
        assert third.sent == 0 and first.sent + second.sent == session.scalar(
            select(func.count()).select_from(Notification))
        keys = [k for k, _ in receiver.posts]
        assert sorted(keys) == sorted(set(keys)) and len(keys) == 2  # one POST per assignment, none twice
        assert all(body["kind"] == "assignment" and body["recipient"] == "s.dubois" for _, body in receiver.posts)
        alerts = session.scalars(select(Notification).where(Notification.kind == "unroutable_alert")).all()
        managers = session.scalar(select(func.count()).select_from(Sdr).where(Sdr.role == "manager"))
        assert len(alerts) == managers and "leadops explain" in alerts[0].body
        route_pending(uow, hook_rules, settings.company_time_zone, now=MONDAY_10_PARIS + timedelta(minutes=5))
        session.commit()
        assert session.scalar(select(func.count()).select_from(Notification).where(
            Notification.kind == "unroutable_alert")) == managers  # still unroutable: no second alert
        errors = session.scalars(select(Notification.last_error).where(Notification.last_error.is_not(None))).all()
        assert not any("hook-secret" in (e or "") for e in errors)
    finally:
        receiver.close()


def test_a_routing_pass_binds_no_parameter_per_pending_lead(session, settings, rules, roster, monkeypatch):
    """A backlog of 80k MQLs (one 100k-lead file) failed to route on PostgreSQL, which takes at most
    65,535 parameters per statement: no statement of a pass may grow with the number of pending leads
    (a chunk's statements bind at most one parameter per lead of the chunk)."""
    import leadops.services.route as route

    monkeypatch.setattr(route, "ROUTE_CHUNK", 40)
    add_mqls(session, 150)
    out, sent = route_watching_sql(session, rules, settings)
    widest = [len(params) for _, params, many in sent if params and not many]
    assert out.considered == 150 and out.assigned > 0
    assert max(widest) <= 40 + 10


def test_a_backlog_larger_than_a_chunk_is_routed_in_rounds_each_lead_once_accounts_kept_together(
        session, settings, rules, roster, monkeypatch):
    import leadops.services.route as route

    monkeypatch.setattr(route, "ROUTE_CHUNK", 4)  # 23 leads: six rounds, unroutable leads left pending between them
    monkeypatch.setattr(route, "ASSIGNMENTS_SHOWN", 5)
    ids = add_mqls(session, 23)
    acme, globex = Account(domain="acme.fr", name="Acme"), Account(domain="globex.fr", name="Globex")
    session.add_all([acme, globex])
    session.flush()
    # two new accounts (no owner yet) whose leads fall in different chunks
    session.execute(update(Lead).where(Lead.id.in_(ids[1::6])).values(account_id=acme.id))
    session.execute(update(Lead).where(Lead.id.in_(ids[4::6])).values(account_id=globex.id))
    # American leads nobody can take (no catch-all, the Americas at their cap) stay pending between rounds
    session.execute(update(Lead).where(Lead.id.in_(ids[2::3])).values(country="US"))
    session.execute(update(Sdr).where(Sdr.code.in_(["s.brooks", "s.nguyen"])).values(daily_cap=0))
    session.commit()
    no_catch_all = rules.model_copy(update={"routing": rules.routing.model_copy(update={
        "rules": [r for r in rules.routing.rules if r.name != "catch-all"]})})
    out = route_pending(SqlUnitOfWork.around(session), no_catch_all, settings.company_time_zone, now=MONDAY_10_PARIS)
    session.commit()
    assigned = dict(session.execute(select(Assignment.lead_id, Assignment.sdr_id).where(Assignment.active)).all())
    assert out.considered == 23 and out.assigned == len(assigned) == 16 and out.unroutable == 7
    assert len(out.assignments) == 5 and sum(out.per_sdr.values()) == 16
    audits = session.scalars(select(Assignment.lead_id).where(Assignment.status == "unroutable")).all()
    assert sorted(audits) == sorted(set(ids) - set(assigned))  # every lead decided once: none skipped, none twice
    for account in (acme, globex):
        session.refresh(account)
        owned = [lead for lead in session.scalars(select(Lead).where(Lead.account_id == account.id))
                 if lead.owner_sdr_id is not None]
        assert owned and {lead.owner_sdr_id for lead in owned} == {account.owner_sdr_id}
    # each assignment has its clock, its "started" event and its notification naming its lead
    clocks = session.execute(select(SlaClock.assignment_id, SlaClock.lead_id, SlaClock.sdr_id)).all()
    active = {a.id: a for a in session.scalars(select(Assignment).where(Assignment.active))}
    assert sorted(c.assignment_id for c in clocks) == sorted(active)
    assert all((active[c.assignment_id].lead_id, active[c.assignment_id].sdr_id) == (c.lead_id, c.sdr_id) for c in clocks)
    assert session.scalar(select(func.count()).select_from(SlaEvent).where(SlaEvent.step == "started")) == 16
    notes = {n.key: n for n in session.scalars(select(Notification).where(Notification.kind == "assignment"))}
    assert set(notes) == {f"assignment:{a}" for a in active}
    emails = dict(session.execute(select(Sdr.id, Sdr.email)).all())
    for a in active.values():
        note = notes[f"assignment:{a.id}"]
        assert note.lead_id == a.lead_id and note.recipient == emails[a.sdr_id] and f"Lead #{a.lead_id} is yours" in note.body
    again = route_pending(SqlUnitOfWork.around(session), no_catch_all, settings.company_time_zone, now=MONDAY_10_PARIS)
    assert (again.assigned, again.unroutable, again.considered) == (0, 7, 7)  # a rerun audits nothing twice
    assert session.scalar(select(func.count()).select_from(Assignment)) == 23


def test_rules_and_sla_policies_match_any_lead_column(session, settings, rules, roster):
    from leadops.config import RoutingRule, SlaPolicy

    [webinar, other] = add_mqls(session, 2)
    session.execute(update(Lead).where(Lead.id == webinar).values(campaign="webinar-q4", source="webinar"))
    session.commit()
    by_campaign = RoutingRule.model_validate({"name": "q4-webinar", "when": {"campaign": ["webinar-q4"]},
                                             "to": {"sdr": "s.garcia"}})
    by_source = SlaPolicy.model_validate({"name": "webinar-day", "when": {"source": ["webinar"]}, "first_touch": "1d"})
    custom = rules.model_copy(update={
        "routing": rules.routing.model_copy(update={"rules": [by_campaign, *rules.routing.rules]}),
        "sla": rules.sla.model_copy(update={"policies": [by_source, *rules.sla.policies]})})
    out = route_pending(SqlUnitOfWork.around(session), custom, settings.company_time_zone, now=MONDAY_10_PARIS)
    session.commit()
    assert out.assigned == 2 and out.per_rule.get("q4-webinar") == 1
    garcia = session.scalar(select(Sdr.id).where(Sdr.code == "s.garcia"))
    assert session.get(Lead, webinar).owner_sdr_id == garcia and session.get(Lead, other).owner_sdr_id != garcia
    policies = dict(session.execute(select(SlaClock.lead_id, SlaClock.policy)).all())
    assert policies[webinar] == "webinar-day" and policies[other] != "webinar-day"


def test_the_routing_queue_is_read_through_its_partial_index_in_order(session, settings, rules, roster, monkeypatch):
    """Each chunk of a pass must start where the last ended, not rescan and sort every MQL: on SQLite
    the planner picked the lifecycle_stage index (routing 800k MQLs took 4.5x longer than 80k x 10)."""
    import leadops.services.route as route

    monkeypatch.setattr(route, "ROUTE_CHUNK", 5)
    add_mqls(session, 12)
    out, sent = route_watching_sql(session, rules, settings)
    engine = session.get_bind()
    reads = [(sql, params) for sql, params, _ in sent if "FROM leads" in sql and "LIMIT" in sql]
    # after the first chunk, before the second
    analyzed = [sum(1 for sql, _, _ in sent[:i] if "FROM leads" in sql and "LIMIT" in sql) == 1
                for i, (sql, _, _) in enumerate(sent) if sql.startswith("ANALYZE leads")]
    assert out.considered == 12 and len(reads) == 4  # 5 + 5 + 2, then an empty chunk
    assert all("lifecycle_stage = 'mql' AND leads.owner_sdr_id IS NULL" in sql for sql, _ in reads)
    if engine.dialect.name == "postgresql":
        # a backlog of more than one chunk refreshes the planner's statistics first (taken at intake,
        # they said no lead was an MQL, and every chunk scanned and sorted all of them)
        assert analyzed == [True]
    if engine.dialect.name == "sqlite":
        for sql, params in reads:
            plan = " | ".join(str(row[-1]) for row in session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
            assert "ix_leads_routing_queue" in plan and "TEMP B-TREE" not in plan, plan
