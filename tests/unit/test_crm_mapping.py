"""CRM records to leadops rows and activities, owners to SDRs, and the write-back's choice of what to send."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from leadops.crm.config import HubSpotConnector, SalesforceConnector
from leadops.crm.mapping import (
    hubspot_activity, lead_row, owner_codes, page_digest, parse_time, read_properties, salesforce_activity, seen_values,
)
from leadops.crm.read import prefetch
from leadops.crm.records import CrmRecord
from leadops.crm.writeback import PlanReport, desired, message_for, same
from leadops.db.repositories.crm import Decision, Link

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def hs(**over):
    return HubSpotConnector(**{"name": "hs", "kind": "hubspot", **over})


def rec(obj="contacts", id_="1", **props):
    return CrmRecord(obj, id_, T0, props)


def test_a_contact_becomes_an_intake_row_with_the_default_mapping_and_its_crm_id():
    row = lead_row(rec(email=" Ana@Acme.io ", firstname="Ana", jobtitle="CTO", hs_lead_status="NEW"), hs(), 3, "import")
    assert row.row_number == 3 and row.raw["_crm_id"] == "1" and row.raw["hs_lead_status"] == "NEW"
    assert row.fields == {"email": "Ana@Acme.io", "first_name": "Ana", "job_title": "CTO", "source": "import"}


def test_the_lead_source_comes_from_a_crm_property_through_source_values_else_the_constant():
    cfg = hs(source="web_form", source_property="hs_analytics_source", source_values={"OFFLINE": "trade_show"})
    assert lead_row(rec(email="a@b.io", hs_analytics_source="OFFLINE"), cfg, 1, "import").fields["source"] == "trade_show"
    assert lead_row(rec(email="a@b.io", hs_analytics_source="DIRECT"), cfg, 1, "import").fields["source"] == "web_form"
    assert "hs_analytics_source" in read_properties(cfg, "contacts")


def test_read_properties_include_the_write_back_properties_so_a_write_back_knows_what_the_crm_holds():
    props = read_properties(hs(), "contacts")
    assert {"email", "hubspot_owner_id", "leadops_score", "leadops_sla_status"} <= set(props)
    assert seen_values(rec(hubspot_owner_id="77"), hs())["hubspot_owner_id"] == "77"


def test_salesforce_contacts_use_their_own_columns():
    sf = SalesforceConnector(name="sf", kind="salesforce", objects=["Lead", "Contact"])
    assert "MailingCountry" in read_properties(sf, "Contact") and "Country" in read_properties(sf, "Lead")


def test_page_digest_depends_on_content_not_on_object_identity():
    assert page_digest([rec(email="a@b.io")]) == page_digest([rec(email="a@b.io")]) != page_digest([rec(email="c@b.io")])


@pytest.mark.parametrize("text", ["2026-12-01T09:00:00Z", "2026-12-01T09:00:00.000+0000", "2026-12-01T10:00:00+01:00",
                                  "1796115600000"])
def test_crm_timestamps_parse_to_utc(text):
    assert parse_time(text) == T0


def test_hubspot_engagements_map_to_touches_and_open_tasks_are_not_touches():
    call = hubspot_activity("calls", rec("calls", hs_timestamp="2026-12-01T09:00:00Z", hs_call_status="COMPLETED"))
    assert (call.kind, call.outcome, call.occurred_at) == ("call", "completed", T0)
    reply = hubspot_activity("emails", rec("emails", hs_email_direction="INCOMING_EMAIL"))
    assert (reply.kind, reply.outcome) == ("email", "replied")
    assert hubspot_activity("tasks", rec("tasks", hs_task_status="NOT_STARTED", hs_task_type="CALL")) is None
    done = hubspot_activity("tasks", rec("tasks", hs_task_status="COMPLETED", hs_task_type="LINKED_IN"))
    assert done.kind == "linkedin"
    meeting = hubspot_activity("meetings", rec("meetings", hs_meeting_start_time="2026-12-02T09:00:00Z"))
    assert meeting.kind == "meeting" and meeting.scheduled_for == datetime(2026, 12, 2, 9, tzinfo=UTC)


def test_salesforce_tasks_and_events_map_to_touches():
    call = salesforce_activity("Task", rec("Task", TaskSubtype="Call", Status="Completed", IsClosed="true"))
    assert call.kind == "call"
    assert salesforce_activity("Task", rec("Task", TaskSubtype="Task", Status="Not Started", IsClosed="false")) is None
    assert salesforce_activity("Event", rec("Event", StartDateTime="2026-12-02T09:00:00.000+0000")).kind == "meeting"


def test_owners_map_by_the_id_in_sdrs_yaml_first_then_by_email(rules):
    people = rules.roster.people
    first = next(p for p in people if p.role == "sdr")
    owners = {"10": first.email.upper(), "11": "stranger@example.com"}
    assert owner_codes("hs", people, owners) == {"10": first.code}
    other = people[-1].model_copy(update={"crm_ids": {"hs": "99"}})
    assert owner_codes("hs", [first, other], owners) == {"10": first.code, "99": other.code}


def decision(seen=None, written=None, **over):
    link = Link(1, "contacts", "501", 42, T0, seen or {}, written or {})
    values = dict(owner="s.dubois", score=87.4, grade="A", lifecycle_stage="mql", routing_reason="r: why", sla_status="open")
    return Decision(link, **{**values, **over})


FIELDS = hs().write_back.fields


def test_desired_sends_only_what_differs_from_the_crm_and_compares_numbers_as_numbers():
    report = PlanReport()
    assert desired(decision(), FIELDS, {"s.dubois": "77"}, report) == {
        "hubspot_owner_id": "77", "leadops_score": "87", "leadops_grade": "A", "leadops_stage": "mql",
        "leadops_routing_reason": "r: why", "leadops_sla_status": "open"}
    seen = {"hubspot_owner_id": "77", "leadops_score": "87.0", "leadops_grade": "A", "leadops_stage": "mql",
            "leadops_routing_reason": "r: why", "leadops_sla_status": "open"}
    assert desired(decision(seen), FIELDS, {"s.dubois": "77"}, report) == {}
    assert same("87.0", 87) and same(None, "") and not same("A", "B")


def test_an_owner_set_in_the_crm_by_someone_else_is_kept_and_one_leadops_wrote_is_replaced():
    report = PlanReport()
    theirs = desired(decision({"hubspot_owner_id": "55"}), FIELDS, {"s.dubois": "77"}, report)
    assert "hubspot_owner_id" not in theirs and report.owner_kept == 1
    ours = desired(decision({"hubspot_owner_id": "55"}, {"hubspot_owner_id": "55"}), FIELDS, {"s.dubois": "77"}, report)
    assert ours["hubspot_owner_id"] == "77"


def test_an_sdr_without_a_crm_owner_is_counted_and_nothing_is_blanked():
    report = PlanReport()
    out = desired(decision(score=None, grade=None), FIELDS, {}, report)
    assert "hubspot_owner_id" not in out and "leadops_score" not in out and "leadops_grade" not in out
    assert report.owner_unmapped == 1


def test_the_message_key_changes_with_the_values_and_with_the_stamp_they_were_decided_against():
    a = message_for("hs", decision(), {"leadops_grade": "A"})
    assert a.key == message_for("hs", decision(), {"leadops_grade": "A"}).key
    assert a.key != message_for("hs", decision(), {"leadops_grade": "B"}).key
    later = Decision(Link(1, "contacts", "501", 42, datetime(2026, 12, 2, tzinfo=UTC), {}, {}), None, None, None,
                     "mql", None, None)
    assert a.key != message_for("hs", later, {"leadops_grade": "A"}).key
    assert a.channel == "crm" and a.recipient == "hs:contacts:501"


def test_prefetch_yields_in_order_and_raises_the_fetch_error_after_the_pages_before_it():
    def pages():
        yield 1
        yield 2
        raise RuntimeError("boom")

    got = []

    def consume():
        got.extend(prefetch(pages()))

    with pytest.raises(RuntimeError, match="boom"):
        consume()
    assert got == [1, 2]


def test_prefetch_stops_its_thread_when_the_consumer_stops_early():
    def pages():
        yield from range(1000)

    it = prefetch(pages(), depth=2)
    assert next(it) == 0
    it.close()
    for t in threading.enumerate():
        if t.name == "crm-prefetch":
            t.join(timeout=5)
    assert not any(t.name == "crm-prefetch" and t.is_alive() for t in threading.enumerate())


def test_an_open_salesforce_call_task_is_planned_not_a_touch():
    assert salesforce_activity("Task", rec("Task", TaskSubtype="Call", Status="Not Started", IsClosed="false")) is None


def test_on_postgresql_the_crm_limiters_are_shared_through_the_database(monkeypatch):
    from leadops.crm.connection import connect
    from leadops.providers.limits import DatabaseRateLimiter, RateLimiter
    from tests.conftest import PG_URL

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-limiter-test")
    shared = connect(hs(base_url="http://127.0.0.1:9"), PG_URL).client.transport.limiters
    assert {k: type(v) for k, v in shared.items()} == {"default": DatabaseRateLimiter, "search": DatabaseRateLimiter}
    local = connect(hs(base_url="http://127.0.0.1:9"), "sqlite:///:memory:").client.transport.limiters
    assert all(isinstance(v, RateLimiter) for v in local.values())
    assert local["search"].interval == 1 / 4 and local["default"].interval == 10 / 190


def test_pages_waiting_for_intake_are_gathered_up_to_the_limit_and_a_slow_crm_gives_one_page_at_a_time():
    from leadops.crm.read import gathered

    fetched = threading.Event()

    def fast():
        yield from ([i] * 100 for i in range(10))
        fetched.set()  # every page is queued (depth 16): they all wait for intake

    runs = []
    for run in gathered(fast(), limit=300, depth=16):
        runs.append([p[0] for p in run])
        assert fetched.wait(30)
    assert [p for run in runs for p in run] == list(range(10))  # every page, in order
    assert max(len(r) for r in runs) == 3 and all(len(r) <= 3 for r in runs)

    asked = [threading.Event() for _ in range(3)]

    def slow():
        for i in range(3):
            yield [i]
            assert asked[i].wait(30)  # the next page is fetched only once intake took this one

    out = []
    for i, run in enumerate(gathered(slow(), limit=300)):
        out.append(run)
        asked[i].set()
    assert out == [[[0]], [[1]], [[2]]]
