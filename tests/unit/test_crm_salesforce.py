"""The Salesforce client against the loopback org (tests/support/crm/salesforce_server.py): SOQL reads and their
paging, sObject Collections and Bulk API 2.0 writes with per-record results, the daily API allocation, sessions."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from leadops.crm.credentials import SalesforceAuth
from leadops.crm.http import CrmAuthError, CrmError
from leadops.crm.salesforce import SalesforceClient, soql_datetime, soql_string
from tests.support.crm.salesforce_server import SalesforceServer, parse_soql

T0 = "2026-12-06T10:00:00.000+0000"


@pytest.fixture
def sf():
    with SalesforceServer(batch_size=3) as server:
        yield server


def client(sf: SalesforceServer, *, token: str | None = "live", app: bool = False, refresh_token: str | None = None,
           sleeps: list[float] | None = None, **options) -> SalesforceClient:
    auth = SalesforceAuth(sf.url, sf.token if token == "live" else token,
                          client_id=sf.client_id if app else None, client_secret=sf.client_secret if app else None,
                          refresh_token=refresh_token)
    record = sleeps if sleeps is not None else []
    return SalesforceClient("sf-test", auth, sleep=record.append, **options)


def queries(sf: SalesforceServer) -> list[str]:
    return [parse_qs(urlsplit(target).query)["q"][0] for method, target in sf.log if "/query?" in target]


def stamp_at(second: int, ms: int = 0) -> str:
    return f"2026-12-06T10:00:{second:02d}.{ms:03d}+0000"


# --------------------------------------------------------------------------- reads


def test_query_modified_follows_next_records_url_and_types_values(sf):
    ids = [sf.add("Lead", {"Email": f"p{i}@x.com", "NumberOfEmployees": 40 + i, "IsConverted": False},
                  modstamp=stamp_at(i)) for i in range(7)]
    sf.add("Lead", {"Email": None, "NumberOfEmployees": None}, modstamp=stamp_at(8))
    pages = list(client(sf).query_modified("Lead", ["Email", "NumberOfEmployees", "IsConverted"], None))
    assert [len(p) for p in pages] == [3, 3, 2]
    records = [r for p in pages for r in p]
    assert [r.id for r in records[:7]] == ids
    first = records[0]
    assert first.object == "Lead" and first.modified_at == datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)
    assert first.properties == {"Email": "p0@x.com", "NumberOfEmployees": "40", "IsConverted": "false"}
    assert records[-1].properties == {"Email": None, "NumberOfEmployees": None, "IsConverted": None}
    assert sf.stats["query"] == 1 and sf.stats["query_more"] == 2
    assert queries(sf) == [("SELECT Id, SystemModstamp, Email, NumberOfEmployees, IsConverted FROM Lead "
                            "ORDER BY SystemModstamp, Id")]


def test_query_modified_reads_since_the_watermark_with_the_configured_condition(sf):
    sf.add("Lead", {"Email": "old@x.com", "IsConverted": False}, modstamp=stamp_at(0))
    edge = sf.add("Lead", {"Email": "edge@x.com", "IsConverted": False}, modstamp=stamp_at(5, 500))
    new = sf.add("Lead", {"Email": "new@x.com", "IsConverted": False}, modstamp=stamp_at(6))
    sf.add("Lead", {"Email": "converted@x.com", "IsConverted": True}, modstamp=stamp_at(7))
    since = datetime(2026, 12, 6, 10, 0, 5, 900_000, tzinfo=UTC)  # cut to the second: the record at 5.5 s is read
    got = [r.id for p in client(sf).query_modified("Lead", ["Email"], since, where="IsConverted = false") for r in p]
    assert got == [edge, new]
    assert queries(sf) == [("SELECT Id, SystemModstamp, Email FROM Lead WHERE SystemModstamp >= 2026-12-06T10:00:05Z "
                            "AND (IsConverted = false) ORDER BY SystemModstamp, Id")]


def test_a_crm_side_edit_is_read_by_the_next_incremental_read(sf):
    lead = sf.add("Lead", {"Email": "a@x.com"}, modstamp=T0)
    sf.add("Lead", {"Email": "b@x.com"}, modstamp=T0)
    sf_client = client(sf)
    [page] = list(sf_client.query_modified("Lead", ["Email", "Status"], None))
    watermark = max(r.modified_at for r in page)
    sf.touch("Lead", lead, Status="Working")
    [[record]] = list(sf_client.query_modified("Lead", ["Status"], watermark + timedelta(seconds=1)))
    assert record.id == lead and record.properties["Status"] == "Working" and record.modified_at > watermark


def test_relationship_fields_are_read_from_the_nested_record(sf):
    sf.add("Contact", {"Email": "c@x.com", "Account.Name": "Acme"}, modstamp=T0)
    sf.add("Contact", {"Email": "d@x.com"}, modstamp=T0)
    records = [r for p in client(sf).query_modified("Contact", ["Email", "Account.Name"], None) for r in p]
    assert [r.properties["Account.Name"] for r in records] == ["Acme", None]


def test_read_modified_at_in_chunks_keyed_by_the_ids_given(sf):
    ids = sf.add_many("Lead", ({"Email": f"l{i}@x.com"} for i in range(250)), modstamp=T0)
    sf.touch("Lead", ids[3], Status="Working")
    unknown = "00QFk0000009999AAA"
    asked = [ids[0][:15], *ids[1:], unknown]
    stamps = client(sf).read_modified_at("Lead", asked)
    assert set(stamps) == set(asked) - {unknown}
    assert stamps[ids[0][:15]] == datetime(2026, 12, 6, 10, tzinfo=UTC)
    assert stamps[ids[3]] > stamps[ids[4]]
    assert sf.stats["query"] == 2  # 200 ids per query


def test_users_are_the_active_ones_with_lowercased_emails(sf):
    active = sf.add("User", {"Email": "Ana.Ruiz@Example.com", "IsActive": True})
    sf.add("User", {"Email": "gone@example.com", "IsActive": False})
    assert client(sf).users() == {active: "ana.ruiz@example.com"}


def test_soql_injection_through_an_id_or_a_name_is_refused_before_any_request(sf):
    lead = sf.add("Lead", {"Email": "a@x.com"})
    sf_client = client(sf)
    with pytest.raises(CrmError, match="not a Salesforce record id"):
        sf_client.read_modified_at("Lead", [lead, "00Q' OR Email != '"])
    with pytest.raises(CrmError, match="not a Salesforce object name"):
        sf_client.read_modified_at("Lead WHERE Id != null", [lead])
    with pytest.raises(CrmError, match="not a Salesforce field name"):
        next(sf_client.query_modified("Lead", ["Email FROM User --"], None))
    [result] = sf_client.update("Lead", {"00Q') OR (Id != '": {"Status": "x"}})
    assert not result.ok and result.error.startswith("MALFORMED_ID") and not result.retryable
    assert sf.stats["api"] == 0


def test_literals_the_client_writes_parse_as_soql():
    assert soql_datetime(datetime(2026, 12, 6, 11, 0, 5, 999_000, tzinfo=UTC)) == "2026-12-06T11:00:05Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        soql_datetime(datetime(2026, 12, 6))  # noqa: DTZ001 - the point of the test
    tricky = "O'Brien \\ 'x' OR Id != ''"
    query = parse_soql(f"SELECT Id FROM Lead WHERE LastName = {soql_string(tricky)}")
    assert query.where == ("cmp", "LastName", "=", ("str", tricky))


# --------------------------------------------------------------------------- sObject Collections


def test_collection_update_returns_one_result_per_record_in_input_order(sf):
    ok, locked, deleted = (sf.add("Lead", {"Email": f"{n}@x.com"}, modstamp=T0) for n in ("ok", "locked", "deleted"))
    sf.delete("Lead", deleted)
    sf.lock(locked)
    unknown = "00QFk0000009999AAA"
    results = client(sf).update("Lead", {ok: {"LeadOps_Score__c": 87, "OwnerId": "005Fk0000000001AAA"},
                                         unknown: {"LeadOps_Score__c": 10},
                                         locked: {"LeadOps_Score__c": 55},
                                         deleted: {"LeadOps_Score__c": 1}})
    assert [r.id for r in results] == [ok, unknown, locked, deleted]
    assert results[0].ok and results[0].error is None
    assert results[1].error.startswith("INVALID_CROSS_REFERENCE_KEY: ") and not results[1].retryable
    assert results[2].error.startswith("UNABLE_TO_LOCK_ROW: ") and results[2].retryable
    assert results[3].error == "ENTITY_IS_DELETED: entity is deleted" and not results[3].retryable
    assert sf.get("Lead", ok)["LeadOps_Score__c"] == 87 and sf.get("Lead", ok)["SystemModstamp"] > T0
    assert sf.stats["composite_update"] == 1


def test_a_field_the_org_lacks_fails_the_records_writing_it_and_the_others_are_written(sf):
    a, b = sf.add("Lead", {"Email": "a@x.com"}), sf.add("Lead", {"Email": "b@x.com"})
    results = client(sf).update("Lead", {a: {"Region__c": "EMEA", "Status": "Working"}, b: {"Status": "Working"}})
    assert not results[0].ok and not results[0].retryable
    assert results[0].error == "INVALID_FIELD: No such column 'Region__c' on sobject of type Lead"
    assert results[1].ok and sf.get("Lead", b)["Status"] == "Working" and sf.get("Lead", a).get("Status") is None
    assert sf.stats["composite_update"] == 2  # the whole request is refused once, then sent without that record
    sf.define_field("Lead", "Region__c")
    assert client(sf).update("Lead", {a: {"Region__c": "EMEA"}})[0].ok


def test_a_value_refusing_the_whole_request_is_isolated_to_its_record(sf):
    ids = sf.add_many("Lead", ({"Email": f"l{i}@x.com"} for i in range(5)))
    updates = {i: {"Status": "Working"} for i in ids}
    updates[ids[3]] = {"Status": {"not": "text"}}
    results = client(sf).update("Lead", updates)
    assert [r.ok for r in results] == [True, True, True, False, True]
    assert results[3].error.startswith("JSON_PARSER_ERROR: ") and not results[3].retryable


def test_collections_take_200_records_a_call(sf):
    ids = sf.add_many("Lead", ({"Email": f"l{i}@x.com"} for i in range(450)))
    results = client(sf).update("Lead", {i: {"Status": "Working"} for i in ids})
    assert all(r.ok for r in results) and sf.stats["composite_update"] == 3 and sf.stats["bulk_create"] == 0


def test_an_outage_mid_update_raises_with_the_results_already_decided(sf):
    ids = sf.add_many("Lead", ({"Email": f"l{i}@x.com"} for i in range(250)))
    sf_client = client(sf, max_retries=1)
    sf_client.update("Lead", {ids[0]: {"Status": "Open"}})
    sf.fail_next(2, 503, after=1)  # the second call and its one retry
    with pytest.raises(CrmError) as caught:
        sf_client.update("Lead", {i: {"Status": "Working"} for i in ids}, bulk_above=1000)
    assert caught.value.retryable and caught.value.status == 503
    assert len(caught.value.results) == 200 and all(r.ok for r in caught.value.results)


# --------------------------------------------------------------------------- Bulk API 2.0


def test_bulk_update_above_the_threshold_maps_successes_and_failures_back(sf):
    ids = sf.add_many("Lead", ({"Email": f"l{i}@x.com"} for i in range(12)), modstamp=T0)
    sf.delete("Lead", ids[1])
    sf.lock(ids[2])
    unknown = "00QFk0000009999AAA"
    odd = {"LeadOps_Routing_Reason__c": '=HYPERLINK("x"), "quoted", line\nbreak', "LeadOps_Grade__c": "-A+"}
    updates = {i: {"LeadOps_Score__c": n} for n, i in enumerate(ids)}
    updates[ids[0]] = odd
    updates[ids[3]] = {"LeadOps_Score__c": None}
    updates[unknown] = {"LeadOps_Score__c": 5}
    results = client(sf).update("Lead", updates, bulk_above=10)
    assert [r.id for r in results] == list(updates)
    by_id = {r.id: r for r in results}
    assert by_id[ids[1]].error.startswith("ENTITY_IS_DELETED: entity is deleted") and not by_id[ids[1]].retryable
    assert by_id[ids[2]].error.startswith("UNABLE_TO_LOCK_ROW: ") and by_id[ids[2]].retryable
    assert by_id[unknown].error.startswith("INVALID_CROSS_REFERENCE_KEY") and not by_id[unknown].retryable
    assert sum(r.ok for r in results) == 10
    stored = sf.get("Lead", ids[0])
    assert {k: stored[k] for k in odd} == odd  # quoted as CSV, never altered
    assert sf.get("Lead", ids[3])["LeadOps_Score__c"] is None and sf.get("Lead", ids[5])["LeadOps_Score__c"] == "5"
    assert sf.stats["bulk_create"] == 1 and sf.stats["composite_update"] == 0 and sf.stats["bulk_results"] == 2


def test_bulk_job_is_polled_until_it_completes(sf):
    sf.bulk_delay = 0.05
    ids = sf.add_many("Lead", ({"Email": f"l{i}@x.com"} for i in range(5)))
    sleeps: list[float] = []

    def nap(seconds: float) -> None:  # the job finishes 50 ms after its upload: wait a little, record the backoff
        sleeps.append(seconds)
        time.sleep(0.02)

    auth = SalesforceAuth(sf.url, sf.token)
    results = SalesforceClient("sf-test", auth, sleep=nap).update("Lead", {i: {"Status": "Working"} for i in ids},
                                                                  bulk_above=2)
    assert all(r.ok for r in results) and sf.stats["bulk_info"] == len(sleeps) + 1
    assert sleeps[:3] == [0.5, 1.0, 2.0][:len(sleeps)]


def test_a_failed_bulk_job_leaves_every_record_retryable(sf):
    ids = sf.add_many("Lead", ({"Email": f"l{i}@x.com"} for i in range(5)))
    sf.fail_next_job("InternalServerError : try again later")
    results = client(sf).update("Lead", {i: {"Status": "Working"} for i in ids}, bulk_above=2)
    assert all(not r.ok and r.retryable for r in results)
    assert results[0].error == "bulk job Failed: InternalServerError : try again later"


def test_a_bulk_column_the_org_lacks_fails_its_records_and_the_rest_are_written(sf):
    ids = sf.add_many("Lead", ({"Email": f"l{i}@x.com"} for i in range(6)))
    updates = {i: {"Status": "Working"} for i in ids}
    updates[ids[0]] = {"Region__c": "EMEA"}
    results = client(sf).update("Lead", updates, bulk_above=3)
    assert not results[0].ok and not results[0].retryable and "Field name not found : Region__c" in results[0].error
    assert all(r.ok for r in results[1:]) and sf.get("Lead", ids[5])["Status"] == "Working"
    assert sf.stats["bulk_create"] == 2


# --------------------------------------------------------------------------- the daily allocation


def test_sforce_limit_info_is_read_and_the_reserve_stops_the_client_first(sf):
    sf.used, sf.daily_max = 13_495, 15_000
    sf_client = client(sf)  # daily_reserve 0.1: stop at 13,500 of 15,000
    sf_client.users()
    assert sf_client.api_usage == (13_496, 15_000)
    for _ in range(3):
        sf_client.users()
    assert sf.used == 13_499
    sf_client.users()  # sent at 13,499: the answer says 13,500 of 15,000, the reserve
    with pytest.raises(CrmError) as caught:
        sf_client.users()
    assert caught.value.retryable and sf.used == 13_500
    assert "daily API allocation is nearly used (13500 of 15000 requests)" in str(caught.value)
    assert sf.stats["limit_exceeded"] == 0


def test_request_limit_exceeded_stops_at_once_without_retries_or_the_token(sf):
    sf.echo_auth = True
    sf.used = sf.daily_max
    with pytest.raises(CrmError) as caught:
        client(sf).users()
    assert caught.value.retryable and caught.value.status == 403 and "REQUEST_LIMIT_EXCEEDED" in str(caught.value)
    assert sf.stats["limit_exceeded"] == 1 and sf.token not in str(caught.value)


# --------------------------------------------------------------------------- sessions, faults, limiter


def test_an_expired_session_is_renewed_with_client_credentials(sf):
    sf_client = client(sf, app=True)
    sf.expire(sf.token)
    assert client(sf, token=None, app=True).users() == {}  # no token at all: one is got first
    assert sf_client.users() == {}
    assert sf.stats["unauthorized"] == 1 and sf.stats["tokens_issued"] == 2


def test_a_refresh_token_is_used_when_configured(sf):
    sf.refresh_tokens.add("5Aep861.fake-refresh-token")
    sf.expire()
    assert client(sf, app=True, refresh_token="5Aep861.fake-refresh-token").users() == {}
    sf.echo_auth = True
    with pytest.raises(CrmAuthError) as caught:
        client(sf, token=None, app=True, refresh_token="5Aep861.revoked-refresh").users()
    assert "invalid_grant" in str(caught.value) and "revoked-refresh" not in str(caught.value)


def test_an_expired_session_without_an_app_is_an_auth_error_that_never_quotes_the_token(sf):
    sf.echo_auth = True
    sf.expire(sf.token)
    with pytest.raises(CrmAuthError) as caught:
        client(sf).users()
    message = str(caught.value)
    assert "session expired or is invalid" in message and "sf-test" in message and "/query" in message
    assert sf.token not in message and sf.token not in repr(caught.value.body)


def test_a_wrong_client_secret_is_an_auth_error_without_the_secret(sf):
    sf.echo_auth = True
    auth = SalesforceAuth(sf.url, None, client_id=sf.client_id, client_secret="wrong-secret-0042")
    with pytest.raises(CrmAuthError) as caught:
        SalesforceClient("sf-test", auth, sleep=lambda s: None).users()
    assert "invalid_client" in str(caught.value) and "wrong-secret-0042" not in str(caught.value)


def test_503_is_retried(sf):
    sleeps: list[float] = []
    sf.add("User", {"Email": "a@x.com", "IsActive": True})
    sf.fail_next(2, 503)
    assert len(client(sf, sleeps=sleeps).users()) == 1
    assert len(sleeps) == 2 and sf.stats["faults"] == 2


def test_every_request_passes_the_limiter(sf):
    class Counting:
        n = 0

        def acquire(self) -> float:
            self.n += 1
            return 0.0

    gate = Counting()
    ids = sf.add_many("Lead", ({"Email": f"l{i}@x.com"} for i in range(7)))
    sf_client = client(sf, limiters={"default": gate})
    list(sf_client.query_modified("Lead", ["Email"], None))
    sf_client.update("Lead", {i: {"Status": "Working"} for i in ids}, bulk_above=3)
    assert gate.n == sf_client.transport.requests["default"] == sf.stats["api"]
