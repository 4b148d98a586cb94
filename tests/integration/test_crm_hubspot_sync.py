"""A HubSpot portal both ways, on SQLite and PostgreSQL, against the loopback HubSpot server: contacts read
incrementally into leads, scored and routed by the real services, decisions written back in batches; a call
logged in HubSpot stops the first-touch clock; edits made in HubSpot are never overwritten blindly."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leadops.crm import sync
from leadops.crm.config import HubSpotConnector
from leadops.crm.connection import connect
from leadops.db.models import Activity, CrmLink, Lead, Notification, SlaClock, SourceWatermark
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.services import route, score
from leadops.services import sla as sla_service
from tests.support.crm.hubspot_server import HubSpotServer
from tests.support.units import units_for

TOKEN = "pat-na1-0b9e3c1d-secret"


@pytest.fixture
def portal(monkeypatch, roster, rules):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    with HubSpotServer(tokens=[TOKEN], window_seconds=1.0, window_limit=1000, search_per_second=1000) as server:
        server.owners_of = {p.code: server.add_owner(p.email) for p in rules.roster.people if p.role == "sdr"}
        yield server


def cfg(portal, **over):
    return HubSpotConnector(**{"name": "hubspot", "kind": "hubspot", "base_url": portal.url, "source": "demo_request",
                               "page_size": 100, "activities": ["calls", "tasks"],
                               # the portal allows far more here: the rate limits are the client tests' subject
                               "search_per_second": 500, "requests_per_10s": 5000, **over})


def conn_of(portal, settings, **over):
    return connect(cfg(portal, **over), settings.database_url)


def contact(portal, i, **props):
    # a domain each: people of one company with near names would be merged by the fuzzy dedupe
    return portal.add("contacts", {"email": f"buyer{i}@acme-industrial{i}.de", "firstname": "Jane", "lastname": f"Doe{i}",
                                   "company": f"Acme Industrial {i}", "jobtitle": "VP Engineering", "country": "Germany",
                                   **props})


def run_pipeline(session, rules, settings):
    """What crm-sync runs between read and write-back: score, then route (enrichment is not needed here)."""
    with SqlUnitOfWork.around(session) as uow:
        score.score_open_leads(uow, rules)
    with SqlUnitOfWork.around(session) as uow:
        route.route_pending(uow, rules, settings.company_time_zone)


def test_contacts_are_read_incrementally_and_a_reread_changes_nothing(portal, session, settings, rules):
    for i in range(250):
        contact(portal, i, modified_at=datetime(2026, 12, 1, 9, tzinfo=UTC) + timedelta(seconds=i))
    contact(portal, 999, email="not-an-address")
    conn = conn_of(portal, settings)
    units = units_for(session)
    first = sync.read(units, conn, rules, settings)
    leads = first.objects[0]
    assert first.error is None and (leads.read, leads.created, leads.quarantined) == (251, 250, 1) and leads.pages >= 3
    assert session.scalar(select(func.count()).select_from(CrmLink)) == 251
    mark = session.get(SourceWatermark, "hubspot:contacts").watermark
    assert mark >= datetime(2026, 12, 1, 9, 4, 9, tzinfo=UTC)
    # the second read starts overlap_seconds before the watermark: it sees the last records again, changes nothing
    again = sync.read(units, conn, rules, settings).objects[0]
    session.commit()
    assert again.created == 0 and again.read >= 1 and again.since == mark - timedelta(seconds=120)
    assert session.scalar(select(func.count()).select_from(Lead)) == 250
    # an edit in HubSpot is read and merged into the same lead
    cid = portal.ids("contacts")[0]
    portal.touch("contacts", cid, phone="+49 30 1234567")
    third = sync.read(units, conn, rules, settings).objects[0]
    assert third.created == 0 and third.merged >= 1
    session.commit()  # a new snapshot (SQLite): see what the sync's units committed
    lead = session.scalar(select(Lead).where(Lead.email == "buyer0@acme-industrial0.de"))
    assert lead.phone and lead.phone.startswith("+49")


def test_more_contacts_than_the_search_cap_are_all_read_by_keyset_paging(monkeypatch, roster, session, settings, rules):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    with HubSpotServer(tokens=[TOKEN], search_cap=40, search_per_second=1000, window_limit=1000,
                       window_seconds=1.0) as small:
        for i in range(130):
            contact(small, i, modified_at=datetime(2026, 12, 1, 9, tzinfo=UTC) + timedelta(seconds=i // 3))
        out = sync.read(units_for(session), connect(cfg(small, page_size=20), settings.database_url), rules, settings)
    assert out.error is None and out.objects[0].created == 130
    assert session.scalar(select(func.count()).select_from(Lead)) == 130


def test_decisions_go_back_once_a_logged_call_stops_the_clock_and_crm_edits_win(portal, roster, session, settings, rules):
    cid = contact(portal, 1, country="France")
    conn = conn_of(portal, settings)
    units = units_for(session)
    assert sync.read(units, conn, rules, settings).error is None
    run_pipeline(session, rules, settings)
    lead = session.scalar(select(Lead).where(Lead.email == "buyer1@acme-industrial1.de"))
    assert lead.owner_sdr_id is not None, "the sample rules route this hand-raiser"
    code = next(c for c, i in roster.items() if i == lead.owner_sdr_id)

    out = sync.write_back(units_for(session), conn, rules)
    assert out.error is None and out.plan.queued == 1 and out.delivery.written == 1
    props = portal.get("contacts", cid)["properties"]
    assert props["hubspot_owner_id"] == portal.owners_of[code]
    assert props["leadops_stage"] == "mql" and props["leadops_grade"] == lead.grade
    assert float(props["leadops_score"]) == round(lead.score) and props["leadops_sla_status"] == "open"
    assert props["leadops_routing_reason"]
    # exactly once: nothing changed, nothing queued or sent again
    again = sync.write_back(units_for(session), conn, rules)
    assert again.plan.queued == 0 and again.delivery.written == 0

    # the SDR logs a call in HubSpot: the next read stores it as their touch and the SLA sweep sees it met
    call = portal.add("calls", {"hs_timestamp": datetime.now(UTC).isoformat(), "hubspot_owner_id": portal.owners_of[code],
                                "hs_call_status": "COMPLETED", "hs_call_title": "Intro call"})
    portal.associate("calls", call, "contacts", cid)
    portal.add("tasks", {"hs_task_status": "NOT_STARTED", "hs_task_type": "CALL", "hubspot_owner_id": portal.owners_of[code]})
    acts = {o.object: o for o in sync.read(units_for(session), conn, rules, settings).objects}
    assert acts["calls"].created == 1 and acts["tasks"].skipped == 1
    stored = session.scalar(select(Activity).where(Activity.external_key == f"hubspot:calls:{call}"))
    assert stored.sdr_id == lead.owner_sdr_id and stored.kind == "call"
    with SqlUnitOfWork.around(session) as uow:
        sla_service.enforce(uow, rules, settings.company_time_zone, now=datetime.now(UTC) + timedelta(minutes=1))
    assert session.scalar(select(SlaClock.status).where(SlaClock.lead_id == lead.id, SlaClock.kind == "first_touch")) == "met"
    met = sync.write_back(units_for(session), conn, rules)
    assert met.delivery.written == 1 and portal.get("contacts", cid)["properties"]["leadops_sla_status"] == "met"

    # a rep edits the record in HubSpot after leadops read it: a changed decision is not written over it...
    portal.touch("contacts", cid, leadops_grade="Z", hubspot_owner_id="424242")
    session.execute(Lead.__table__.update().where(Lead.id == lead.id).values(grade="B" if lead.grade != "B" else "C"))
    conflict = sync.write_back(units_for(session), conn, rules)
    assert conflict.delivery.conflicts == 1 and conflict.delivery.written == 0
    assert portal.get("contacts", cid)["properties"]["leadops_grade"] == "Z"
    assert session.scalar(select(Notification.status).where(Notification.channel == "crm")
                          .order_by(Notification.id.desc()).limit(1)) == "superseded"
    # ...it is read again, then decided against what the CRM holds now: the grade is leadops', the owner the rep's
    sync.read(units_for(session), conn, rules, settings)
    after = sync.write_back(units_for(session), conn, rules)
    assert after.delivery.written == 1 and after.plan.owner_kept == 1
    props = portal.get("contacts", cid)["properties"]
    assert props["leadops_grade"] in ("B", "C") and props["hubspot_owner_id"] == "424242"


def test_a_per_record_error_is_kept_with_the_record_and_not_retried(portal, session, settings, rules):
    contact(portal, 1, country="France")
    fields = {"owner": "hubspot_owner_id", "grade": "leadops_grade", "lifecycle_stage": "no_such_property"}
    conn = conn_of(portal, settings, write_back={"fields": fields})
    sync.read(units_for(session), conn, rules, settings)
    run_pipeline(session, rules, settings)
    out = sync.write_back(units_for(session), conn, rules)
    assert out.delivery.failed == 1 and out.delivery.written == 0 and out.delivery.errors
    row = session.scalar(select(Notification).where(Notification.channel == "crm"))
    session.refresh(row)
    assert row.status == "failed" and "no_such_property" in row.last_error and row.attempts == 1
    assert json.loads(row.body)["properties"]["no_such_property"] == "mql"
    # failed for good: the next pass does not send it again...
    assert sync.write_back(units_for(session), conn, rules).delivery.failed == 0
    # ...until ops fix the cause (the property is created) and queue it again (`leadops crm resend-failed`)
    portal.define_property("contacts", "no_such_property")
    with SqlUnitOfWork.around(session) as uow:
        assert uow.outbox.requeue_failed("hubspot") == 1 and uow.outbox.requeue_failed("other") == 0
    resent = sync.write_back(units_for(session), conn, rules)
    assert resent.delivery.written == 1 and resent.delivery.failed == 0


def test_an_expired_token_stops_the_read_with_one_line_and_no_token(portal, session, settings, rules):
    contact(portal, 1)
    portal.expire(TOKEN)
    out = sync.read(units_for(session), conn_of(portal, settings), rules, settings)
    assert out.error and "401" in out.error and TOKEN not in out.error and "\n" not in out.error
    assert session.get(SourceWatermark, "hubspot:contacts") is None


def test_an_engagement_about_a_contact_not_read_yet_is_held_then_stored(portal, session, settings, rules):
    from leadops.crm.read import read_activities

    cid = contact(portal, 7)
    call = portal.add("calls", {"hs_timestamp": "2026-12-01T10:00:00Z", "hs_call_status": "COMPLETED"})
    portal.associate("calls", call, "contacts", cid)
    orphan = portal.add("calls", {"hs_timestamp": "2026-12-01T10:00:00Z"})  # about nobody: not a lead's touch
    conn = conn_of(portal, settings)
    # the race: the calls are read before the contact they are about (created between the two reads of a sync)
    first = read_activities(units_for(session), conn, "calls", {})
    assert (first.unmatched, first.skipped, first.created) == (1, 1, 0)
    out = {o.object: o for o in sync.read(units_for(session), conn, rules, settings).objects}
    assert out["contacts"].created == 1 and out["calls"].released == 1 and out["calls"].created == 0
    session.commit()
    stored = session.scalar(select(Activity).where(Activity.external_key == f"hubspot:calls:{call}"))
    assert stored is not None and stored.occurred_at == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert session.scalar(select(func.count()).select_from(Activity)) == 1
    assert orphan
    # released once: the next read stores nothing more
    again = {o.object: o for o in sync.read(units_for(session), conn, rules, settings).objects}
    assert again["calls"].released == 0 and again["calls"].created == 0


def test_the_leads_object_is_read_as_its_contact_and_written_back_on_the_lead_record(portal, session, settings, rules):
    contacts = [contact(portal, i, country="France") for i in range(4)]
    records = []
    for i, cid in enumerate(contacts):
        records.append(portal.add("leads", {"hs_lead_name": f"Jane Doe{i} - inbound"}))
        portal.associate("leads", records[-1], "contacts", cid)
    portal.add("leads", {"hs_lead_name": "no contact"})  # no person: no email, quarantined (1 of 5 passes the gate)
    call = portal.add("calls", {"hs_timestamp": datetime.now(UTC).isoformat(), "hs_call_status": "COMPLETED"})
    portal.associate("calls", call, "contacts", contacts[0])
    conn = conn_of(portal, settings, objects=["leads"], activities=["calls"])
    out = {o.object: o for o in sync.read(units_for(session), conn, rules, settings).objects}
    assert (out["leads"].read, out["leads"].created, out["leads"].quarantined) == (5, 4, 1)
    assert out["calls"].created == 1  # found through the lead record's contact
    run_pipeline(session, rules, settings)
    wrote = sync.write_back(units_for(session), conn, rules)
    assert wrote.delivery.written == 4
    assert portal.get("leads", records[0])["properties"]["leadops_stage"] == "mql"
    assert "leadops_stage" not in portal.get("contacts", contacts[0])["properties"]


def test_contacts_without_email_are_quarantined_one_by_one_and_can_be_released(portal, session, settings, rules):
    from leadops.services.quarantine import release

    for i in range(2):
        contact(portal, i)
    for i in range(3):
        portal.add("contacts", {"firstname": "Walk", "lastname": f"In{i}", "company": "Acme", "phone": "+33 1 23 45 67 89"})
    out = sync.read(units_for(session), conn_of(portal, settings), rules, settings)
    leads = out.objects[0]
    assert out.error is None and (leads.created, leads.quarantined) == (2, 3) and leads.reasons
    session.commit()
    assert session.get(SourceWatermark, "hubspot:contacts") is not None  # the page did not stop the sync
    from leadops.db.models import Quarantine

    q = session.scalar(select(Quarantine).where(Quarantine.source == "hubspot").limit(1))
    assert q.raw["_crm_id"] and q.raw["lastname"].startswith("In")
    with SqlUnitOfWork.around(session) as uow:
        [done] = release(uow, [q.id], rules, settings, {"email": "walk.in@acme-corp.fr"})
    assert done.status == "released", done
    session.commit()
    assert session.scalar(select(Lead.last_name).where(Lead.email == "walk.in@acme-corp.fr")).startswith("In")


def test_leadops_own_write_back_read_again_adds_no_touch_and_no_score(portal, session, settings, rules):
    """Writing back moves the record's modification stamp: the next read sees it again. That version is leadops'
    own (or an edit of a record that is already a lead): merged without a touch, so the score does not climb."""
    cid = contact(portal, 1, country="France")
    conn = conn_of(portal, settings)
    sync.read(units_for(session), conn, rules, settings)
    run_pipeline(session, rules, settings)
    assert sync.write_back(units_for(session), conn, rules).delivery.written == 1
    session.commit()
    score_before = session.scalar(select(Lead.score).where(Lead.email == "buyer1@acme-industrial1.de"))
    touches = session.scalar(select(func.count()).select_from(Activity))
    for _ in range(2):
        again = sync.read(units_for(session), conn, rules, settings).objects[0]
        assert again.created == 0 and again.merged == 0  # the version leadops wrote is not admitted again
        run_pipeline(session, rules, settings)
        assert sync.write_back(units_for(session), conn, rules).plan.queued == 0
    portal.touch("contacts", cid, jobtitle="Chief Technology Officer", phone="+33 1 23 45 67 89")  # a rep's edit
    edited = sync.read(units_for(session), conn, rules, settings).objects[0]
    assert edited.merged == 1
    run_pipeline(session, rules, settings)
    session.commit()
    row = session.scalar(select(Lead).where(Lead.email == "buyer1@acme-industrial1.de"))
    assert row.phone and session.scalar(select(func.count()).select_from(Activity)) == touches
    assert row.score == score_before


def test_a_contact_the_fuzzy_dedupe_merges_into_a_file_lead_is_linked_to_that_lead(portal, session, settings, rules):
    """The same person from a file and from HubSpot under another address of the same company is one lead: the
    contact is linked to it, so decisions go back to the contact."""
    from leadops.db.models import IngestBatch

    batch = IngestBatch(source="import", origin="leads.csv", content_hash="f" * 64, status="done")
    session.add(batch)
    session.flush()
    session.add(Lead(email="jane.doe@acme-industrial9.de", email_domain="acme-industrial9.de", first_name="Jane",
                     last_name="Doe", company="Acme Industrial 9", company_key="acme industrial 9", source="import",
                     ingest_batch_id=batch.id, source_row=1))
    session.commit()
    cid = portal.add("contacts", {"email": "j.doe@acme-industrial9.de", "firstname": "Jane", "lastname": "Doe",
                                  "company": "Acme Industrial 9"})
    out = sync.read(units_for(session), conn_of(portal, settings), rules, settings).objects[0]
    assert (out.created, out.merged) == (0, 1)
    session.commit()
    link = session.scalar(select(CrmLink).where(CrmLink.external_id == cid))
    assert link.lead_id == session.scalar(select(Lead.id).where(Lead.email == "jane.doe@acme-industrial9.de"))
