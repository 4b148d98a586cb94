"""Score -> route -> SLA -> outbox on a real database (both backends), with time travel."""
import re
import socket
from pathlib import Path
from datetime import datetime, timedelta, UTC
from email import message_from_bytes

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from leadops.db.models import Activity, Assignment, Lead, Notification, Sdr, SlaClock, SlaEvent
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.notify.outbox import deliver, enqueue
from leadops.notify.senders import FileSender, SmtpSender
from tests.support.units import units_for
from leadops.services.enrich import enrich_pending
from leadops.intake.files import ingest_file
from leadops.services.route import route_pending
from leadops.services.score import score_open_leads
from leadops.services.sla import enforce

MONDAY_10_PARIS = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CSV = (
    "Email,First Name,Last Name,Company,Job Title,Country,Source\n"
    "lea@atelier-numerique.fr,Léa,Martin,Atelier Numérique SAS,DSI,France,demo_request\n"
    "tom@example-nowhere.fr,Tom,Petit,Nowhere,Stagiaire,France,white_paper\n"
)


@pytest.fixture
def routed(session, settings, rules, roster):
    return route_sample(session, settings, rules)


def route_sample(session, settings, rules):
    """Ingest, enrich, score and route the two-lead sample at MONDAY_10_PARIS, committed; returns the routing summary."""
    settings.inbox_dir.mkdir(parents=True)
    (settings.inbox_dir / "webform.csv").write_text(CSV, encoding="utf-8")
    ingest_file(SqlUnitOfWork.around(session), settings.inbox_dir / "webform.csv", rules, settings)
    enrich_pending(SqlUnitOfWork.around(session), rules)
    score_open_leads(SqlUnitOfWork.around(session), rules, now=MONDAY_10_PARIS)
    summary = route_pending(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY_10_PARIS)
    session.commit()
    return summary


def lead_of(session, email):
    return session.scalar(select(Lead).where(Lead.email == email))


def test_hand_raiser_is_routed_with_clock_and_notification(session, routed):
    assert (routed.considered, routed.assigned) == (1, 1)  # the intern's white paper is not an MQL
    lea = lead_of(session, "lea@atelier-numerique.fr")
    a = session.scalar(select(Assignment).where(Assignment.lead_id == lea.id))
    assert a.active and a.rule == "france-benelux" and a.sdr_id == lea.owner_sdr_id
    assert any(c.get("sdr") for c in a.candidates)  # the candidates considered are stored
    clock = session.scalar(select(SlaClock).where(SlaClock.lead_id == lea.id))
    assert clock.policy == "hand-raiser" and clock.target_seconds == 3600
    assert clock.due_at == MONDAY_10_PARIS + timedelta(hours=1)  # Monday 10:00 Paris is a working hour
    note = session.scalar(select(Notification))
    assert note.key == f"assignment:{a.id}" and note.status == "pending"


def test_rerouting_assigns_nobody_twice(session, settings, rules, routed):
    again = route_pending(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY_10_PARIS)
    session.commit()
    assert again.assigned == 0
    assert session.scalar(select(func.count()).select_from(Assignment)) == 1


def test_database_refuses_a_second_active_assignment(session, routed):
    a = session.scalar(select(Assignment))
    session.add(Assignment(lead_id=a.lead_id, sdr_id=a.sdr_id, status="assigned", reason="race", active=True))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_sla_reminds_breaches_then_reassigns_each_exactly_once(session, settings, rules, routed):
    tz = settings.company_time_zone
    lea = lead_of(session, "lea@atelier-numerique.fr")
    first_owner = lea.owner_sdr_id

    s = enforce(SqlUnitOfWork.around(session), rules, tz, now=MONDAY_10_PARIS + timedelta(minutes=30))
    assert (s.open, s.reminded, s.breached) == (1, 0, 0)
    s = enforce(SqlUnitOfWork.around(session), rules, tz, now=MONDAY_10_PARIS + timedelta(minutes=46))
    assert (s.reminded, s.breached) == (1, 0)
    s = enforce(SqlUnitOfWork.around(session), rules, tz, now=MONDAY_10_PARIS + timedelta(minutes=46))
    assert (s.reminded, s.notifications_queued) == (0, 0)  # a rerun sends nothing again
    s = enforce(SqlUnitOfWork.around(session), rules, tz, now=MONDAY_10_PARIS + timedelta(minutes=61))
    assert s.breached == 1 and s.breaches[0]["policy"] == "hand-raiser"
    assert s.notifications_queued == 2  # the SDR and their manager
    s = enforce(SqlUnitOfWork.around(session), rules, tz, now=MONDAY_10_PARIS + timedelta(hours=2, minutes=1))
    assert s.reassigned == 1
    session.commit()

    session.refresh(lea)
    assert lea.owner_sdr_id != first_owner
    rows = session.scalars(select(Assignment).where(Assignment.lead_id == lea.id).order_by(Assignment.id)).all()
    assert [(r.kind, r.active) for r in rows] == [("initial", False), ("reassign", True)]
    assert rows[1].previous_sdr_id == first_owner
    steps = session.scalars(select(SlaEvent.step).order_by(SlaEvent.id)).all()
    assert steps == ["started", "reminder", "breach", "reassign", "started"]


def test_touch_by_owner_meets_the_clock_in_business_time(session, settings, rules, routed):
    lea = lead_of(session, "lea@atelier-numerique.fr")
    session.add(Activity(lead_id=lea.id, sdr_id=lea.owner_sdr_id, kind="call", outcome="connected",
                         occurred_at=MONDAY_10_PARIS + timedelta(minutes=20)))
    session.commit()
    s = enforce(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY_10_PARIS + timedelta(hours=3))
    assert (s.met, s.breached) == (1, 0)
    clock = session.scalar(select(SlaClock))
    assert clock.status == "met" and clock.elapsed_seconds == 20 * 60


def test_out_of_hours_lead_gets_due_time_on_the_next_business_morning(session, settings, rules, roster):
    friday_2359_paris = datetime(2026, 11, 27, 22, 59, tzinfo=UTC)
    settings.inbox_dir.mkdir(parents=True)
    (settings.inbox_dir / "late.csv").write_text(CSV, encoding="utf-8")
    ingest_file(SqlUnitOfWork.around(session), settings.inbox_dir / "late.csv", rules, settings)
    score_open_leads(SqlUnitOfWork.around(session), rules, now=friday_2359_paris)
    route_pending(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=friday_2359_paris)
    clock = session.scalar(select(SlaClock))
    owner = session.get(Sdr, clock.sdr_id)
    local_due = clock.due_at.astimezone(__import__("zoneinfo").ZoneInfo(owner.time_zone))
    assert local_due.weekday() == 0 and local_due.hour == int(owner.work_start[:2]) + 1


# --------------------------------------------------------------------------- outbox


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - the name aiosmtpd calls
            self.messages.append(message_from_bytes(envelope.content))
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = Inbox()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    yield port, handler
    ctl.stop()


def test_outbox_sends_each_key_exactly_once_over_smtp(session, settings, smtp_server):
    port, inbox = smtp_server
    assert enqueue(session, key="k1", kind="test", recipient="sdr@example.com", subject="Bonjour é", body="hi")
    assert not enqueue(session, key="k1", kind="test", recipient="sdr@example.com", subject="again", body="hi")
    session.commit()
    smtp = SmtpSender(settings.model_copy(update={"smtp_port": port}))
    assert deliver(units_for(session), smtp).sent == 1
    assert deliver(units_for(session), smtp).sent == 0
    assert len(inbox.messages) == 1
    assert inbox.messages[0]["X-Leadops-Key"] == "k1" and inbox.messages[0]["To"] == "sdr@example.com"


def test_two_deliverers_at_once_send_each_message_exactly_once_over_smtp(session, settings, smtp_server):
    from tests.support.parallel import at_once

    port, inbox = smtp_server
    for i in range(120):  # more than one claim batch each
        enqueue(session, key=f"m{i}", kind="test", recipient=f"sdr{i}@example.com", subject="s", body="b")
    session.commit()
    smtp = SmtpSender(settings.model_copy(update={"smtp_port": port}))
    reports = at_once(settings.database_url, lambda s: deliver(units_for(s), smtp))
    assert sum(r.sent for r in reports) == 120 and sum(r.failed for r in reports) == 0
    keys = sorted(m["X-Leadops-Key"] for m in inbox.messages)
    assert keys == sorted(f"m{i}" for i in range(120))  # none twice, none lost
    assert session.scalar(select(func.count()).select_from(Notification).where(Notification.status == "sent")) == 120


def test_outbox_keeps_messages_when_the_server_is_down(session, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    enqueue(session, key="k2", kind="test", recipient="sdr@example.com", subject="s", body="b")
    session.commit()
    report = deliver(units_for(session), SmtpSender(settings.model_copy(update={"smtp_port": closed_port})))
    assert (report.sent, report.failed) == (0, 1)
    note = session.scalar(select(Notification))
    assert note.status == "pending" and note.attempts == 1 and "Connection" in note.last_error
    assert deliver(units_for(session), FileSender(settings.outbox_dir, "x@y")).sent == 1  # a later pass delivers it


def test_first_touch_opens_a_follow_up_cadence_that_reminds_breaches_and_ends(session, settings, rules, routed):
    lea = lead_of(session, "lea@atelier-numerique.fr")
    touch = MONDAY_10_PARIS + timedelta(minutes=20)

    def call(at):
        session.add(Activity(lead_id=lea.id, sdr_id=lea.owner_sdr_id, kind="call", outcome="no_answer", occurred_at=at))
        session.commit()

    call(touch)
    enforce(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=touch + timedelta(minutes=5))
    session.commit()
    cadence = session.scalar(select(SlaClock).where(SlaClock.lead_id == lea.id, SlaClock.kind == "cadence"))
    assert cadence is not None and cadence.touches_required == 6 and cadence.status == "open"
    assert cadence.target_seconds == 10 * 8 * 3600 and cadence.started_at == touch
    # "10d" is 80 business hours (a duration day is 8 h); this SDR works 9 h a day: Friday Dec 4, 09:20 Paris
    assert cadence.due_at == datetime(2026, 12, 4, 8, 20, tzinfo=UTC)
    for day in (1, 2):
        call(touch + timedelta(days=day))
    # 80% of the window gone with 3 touches of 6: reminded once
    out = enforce(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=cadence.due_at - timedelta(days=2))
    session.commit()
    note = session.scalar(select(Notification).where(Notification.kind == "cadence_reminder"))
    assert out.reminded == 1 and "3 of 6 follow-up touches" in note.body
    out = enforce(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=cadence.due_at + timedelta(hours=1))
    session.commit()
    assert out.breached == 1 and out.reassigned == 0  # a cadence is escalated, never reassigned
    assert session.scalar(select(func.count()).select_from(Notification).where(Notification.kind == "cadence_breach")) == 2
    assert lead_of(session, "lea@atelier-numerique.fr").owner_sdr_id == lea.owner_sdr_id
    for hours in (2, 3, 4):
        call(cadence.due_at + timedelta(hours=hours))
    enforce(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=cadence.due_at + timedelta(days=1))
    session.commit()
    session.refresh(cadence)
    assert cadence.status == "met" and cadence.met_at == cadence.due_at + timedelta(hours=4)
    detail = session.scalar(select(SlaEvent.detail).where(SlaEvent.clock_id == cadence.id, SlaEvent.step == "met"))
    assert detail == "follow-up cadence late"


def test_a_cadence_ends_when_the_lead_moves_on(session, settings, rules, routed):
    lea = lead_of(session, "lea@atelier-numerique.fr")
    session.add(Activity(lead_id=lea.id, sdr_id=lea.owner_sdr_id, kind="email", outcome="sent",
                         occurred_at=MONDAY_10_PARIS + timedelta(minutes=10)))
    session.commit()
    enforce(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY_10_PARIS + timedelta(minutes=15))
    session.commit()
    lea.lifecycle_stage = "sql"
    session.commit()
    out = enforce(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY_10_PARIS + timedelta(days=30))
    session.commit()
    assert out.closed == 1 and out.breached == 0
    assert session.scalar(select(SlaClock.status).where(SlaClock.lead_id == lea.id, SlaClock.kind == "cadence")) == "closed"


def test_weekly_report_counts_the_weeks_breaches_and_reassignments(session, settings, rules, routed, tmp_path):
    from leadops.domain.metrics import week_of
    from leadops.services.report import build_weekly_report

    later = MONDAY_10_PARIS + timedelta(days=3)  # same ISO week: breached and reassigned by then
    out = enforce(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=later)
    session.commit()
    assert out.breached == 1 and out.reassigned == 1
    week = week_of(later, settings.company_time_zone)
    res = build_weekly_report(SqlUnitOfWork.around(session), week, settings.company_time_zone, tmp_path)
    html = Path(res.html_path).read_text(encoding="utf-8")
    assert re.search(r"<th[^>]*>Breaches</th><td[^>]*>1</td>", html)
    assert re.search(r"<th[^>]*>Reassignments</th><td[^>]*>1</td>", html)


def test_timeline_tells_the_whole_story_in_order(session, settings, rules, routed):
    from leadops.services.timeline import markdown, timeline

    lea = lead_of(session, "lea@atelier-numerique.fr")
    enforce(SqlUnitOfWork.around(session), rules, settings.company_time_zone, now=MONDAY_10_PARIS + timedelta(days=3))
    lea.arrived_at = MONDAY_10_PARIS - timedelta(minutes=5)  # the test routed it "at" Monday 10:00
    session.commit()
    events = timeline(SqlUnitOfWork.around(session), lea.id)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "arrived" and "webform.csv row 2" in events[0]["what"]
    for kind in ("enrichment", "scored", "stage", "routing", "sla", "notification"):
        assert kind in kinds, kind
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    routing = [e for e in events if e["kind"] == "routing"]
    assert any("reassign" in e["what"] for e in routing) and any("ended" in e["what"] for e in routing)
    assert any("breach" in e["what"] for e in events if e["kind"] == "sla")
    assert "| stage |" in markdown(lea.id, events)
