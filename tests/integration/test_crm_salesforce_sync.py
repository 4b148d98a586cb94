"""A Salesforce org both ways, on SQLite and PostgreSQL, against the loopback org: Leads read by SOQL on
SystemModstamp into leads, routed by the real services, decisions written back through sObject Collections; a
Task logged by the owner stops the first-touch clock; the daily allocation stops a run cleanly."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leadops.crm import sync
from leadops.crm.config import SalesforceConnector
from leadops.crm.connection import connect
from leadops.db.models import Activity, CrmLink, Lead, SlaClock, SourceWatermark
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.services import route, score
from leadops.services import sla as sla_service
from tests.support.crm.salesforce_server import SalesforceServer
from tests.support.units import units_for

TOKEN = "00DTEST0000000001!AQ4AQ.secret.session"


@pytest.fixture
def org(monkeypatch, roster, rules):
    with SalesforceServer(TOKEN, batch_size=50) as server:
        monkeypatch.setenv("SALESFORCE_INSTANCE_URL", server.url)
        monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", TOKEN)
        server.users_of = {p.code: server.add("User", {"Email": p.email, "IsActive": True, "Name": p.name})
                           for p in rules.roster.people if p.role == "sdr"}
        yield server


def conn_of(settings, **over):
    cfg = SalesforceConnector(**{"name": "salesforce", "kind": "salesforce", "source": "demo_request", **over})
    return connect(cfg, settings.database_url)


def lead(org, i, modstamp=None, **fields):
    return org.add("Lead", {"Email": f"buyer{i}@nordwind{i}.de", "FirstName": "Jonas", "LastName": f"Weber{i}",
                            "Company": f"Nordwind {i}", "Title": "Head of Operations", "Country": "Germany",
                            "IsConverted": False, **fields}, modstamp=modstamp)


def test_leads_are_read_by_soql_pages_incrementally_and_converted_ones_are_left_out(org, session, settings, rules):
    for i in range(120):
        lead(org, i, modstamp=datetime(2026, 12, 1, 9, tzinfo=UTC) + timedelta(seconds=i))
    lead(org, 500, IsConverted=True)
    conn = conn_of(settings)
    first = sync.read(units_for(session), conn, rules, settings)
    leads = first.objects[0]
    assert first.error is None and (leads.read, leads.created, leads.pages) == (120, 120, 3)
    mark = session.get(SourceWatermark, "salesforce:Lead").watermark
    assert mark == datetime(2026, 12, 1, 9, 1, 59, tzinfo=UTC)
    again = sync.read(units_for(session), conn, rules, settings).objects[0]
    assert again.created == 0 and again.since == mark - timedelta(seconds=120)
    assert session.scalar(select(func.count()).select_from(Lead)) == 120
    assert session.scalar(select(func.count()).select_from(CrmLink)) == 120


def test_owner_and_decisions_are_written_back_and_a_task_by_the_owner_stops_the_clock(org, roster, session, settings,
                                                                                      rules):
    lid = lead(org, 1, Country="France")
    conn = conn_of(settings)
    assert sync.read(units_for(session), conn, rules, settings).error is None
    with SqlUnitOfWork.around(session) as uow:
        score.score_open_leads(uow, rules)
    with SqlUnitOfWork.around(session) as uow:
        route.route_pending(uow, rules, settings.company_time_zone)
    row = session.scalar(select(Lead).where(Lead.email == "buyer1@nordwind1.de"))
    code = next(c for c, i in roster.items() if i == row.owner_sdr_id)

    out = sync.write_back(units_for(session), conn, rules)
    assert out.error is None and out.delivery.written == 1
    written = org.get("Lead", lid)
    assert written["OwnerId"] == org.users_of[code] and written["LeadOps_Stage__c"] == "mql"
    assert written["LeadOps_SLA_Status__c"] == "open" and float(written["LeadOps_Score__c"]) == round(row.score)
    assert sync.write_back(units_for(session), conn, rules).plan.queued == 0

    task = org.add("Task", {"WhoId": lid, "OwnerId": org.users_of[code], "Subject": "Call", "TaskSubtype": "Call",
                            "Status": "Completed", "IsClosed": True,
                            "CreatedDate": (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")})
    org.add("Task", {"WhoId": lid, "OwnerId": org.users_of[code], "Subject": "Send deck", "TaskSubtype": "Task",
                     "Status": "Not Started", "IsClosed": False})
    acts = {o.object: o for o in sync.read(units_for(session), conn, rules, settings).objects}
    assert acts["Task"].created == 1 and acts["Task"].skipped == 1
    assert session.scalar(select(Activity.sdr_id).where(Activity.external_key == f"salesforce:Task:{task}")) == \
        row.owner_sdr_id
    with SqlUnitOfWork.around(session) as uow:
        sla_service.enforce(uow, rules, settings.company_time_zone, now=datetime.now(UTC) + timedelta(minutes=1))
    assert session.scalar(select(SlaClock.status).where(SlaClock.lead_id == row.id)) == "met"
    assert sync.write_back(units_for(session), conn, rules).delivery.written == 1
    assert org.get("Lead", lid)["LeadOps_SLA_Status__c"] == "met"


def test_a_deleted_record_fails_for_good_with_its_reason(org, session, settings, rules):
    lid = lead(org, 1, Country="France")
    conn = conn_of(settings)
    sync.read(units_for(session), conn, rules, settings)
    with SqlUnitOfWork.around(session) as uow:
        score.score_open_leads(uow, rules)
    org.delete("Lead", lid)
    out = sync.write_back(units_for(session), conn, rules)
    assert out.delivery.failed == 1 and any("no longer in the CRM" in e for e in out.delivery.errors)


def test_the_daily_reserve_stops_the_read_cleanly_and_keeps_the_watermark(org, session, settings, rules):
    for i in range(5):
        lead(org, i)
    org.daily_max, org.used = 1000, 950
    out = sync.read(units_for(session), conn_of(settings, daily_reserve=0.1), rules, settings)
    assert out.error and "daily" in out.error.lower() and TOKEN not in out.error
    assert session.get(SourceWatermark, "salesforce:Lead") is None


def test_a_large_write_back_goes_through_one_bulk_api_job(org, session, settings, rules):
    for i in range(230):
        lead(org, i)
    conn = conn_of(settings, bulk_above=200)
    assert conn.cfg.write_back.batch_size == 200
    sync.read(units_for(session), conn, rules, settings)
    with SqlUnitOfWork.around(session) as uow:
        score.score_open_leads(uow, rules)
    out = sync.write_back(units_for(session), conn, rules)
    assert out.delivery.written == 230 and out.delivery.failed == 0
    # 230 pending > bulk_above: one Bulk API 2.0 job, no sObject Collections call
    assert org.stats["bulk_create"] == 1 and org.stats["composite_update"] == 0
    session.commit()
    links = list(session.scalars(select(CrmLink)))
    assert len(links) == 230 and all(link.written.get("LeadOps_Stage__c") for link in links)
    assert all(org.get("Lead", link.external_id)["LeadOps_Stage__c"] == link.written["LeadOps_Stage__c"] for link in links)


def test_contacts_are_read_with_their_account_name_and_tasks_on_contacts_are_theirs(org, session, settings, rules):
    cid = org.add("Contact", {"Email": "eva@fjord-data.no", "FirstName": "Eva", "LastName": "Berg", "Title": "CTO",
                              "MailingCountry": "Norway", "Account.Name": "Fjord Data AS"})
    lead(org, 1)
    task = org.add("Task", {"WhoId": cid, "Subject": "Call", "TaskSubtype": "Call", "Status": "Completed",
                            "IsClosed": True})
    only_leads = sync.read(units_for(session), conn_of(settings), rules, settings)
    assert {o.object: o.skipped for o in only_leads.objects}["Task"] == 1  # a Contact's task: not a lead's
    both = conn_of(settings, objects=["Lead", "Contact"])
    out = {o.object: o for o in sync.read(units_for(session), both, rules, settings).objects}
    assert out["Contact"].created == 1
    session.commit()
    assert session.scalar(select(Lead.company).where(Lead.email == "eva@fjord-data.no")) == "Fjord Data AS"
    # the task (read before, about a Contact not read then) comes again in the overlap or once it changes: stored once
    org.touch("Task", task, Subject="Call back")
    again = {o.object: o for o in sync.read(units_for(session), both, rules, settings).objects}
    assert out["Task"].created + again["Task"].created == 1
    session.commit()
    eva = session.scalar(select(Lead.id).where(Lead.email == "eva@fjord-data.no"))
    assert session.scalar(select(Activity.lead_id).where(Activity.external_key == f"salesforce:Task:{task}")) == eva
