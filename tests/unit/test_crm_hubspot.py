"""The HubSpot client against the loopback HubSpot server: paging past the search cap, associations, stamps, batch
writes with per-record outcomes, rate limits, token expiry and refresh, faults, and no token in any error."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from leadops.crm.credentials import HubSpotAuth
from leadops.crm.hubspot import HubSpotClient, modified_property
from leadops.crm.http import CrmAuthError, CrmError
from leadops.providers.limits import RateLimiter
from leadops.redact import registered
from tests.support.crm.hubspot_server import HubSpotServer, iso
from tests.support.echo import TOKEN as ECHO_TOKEN
from tests.support.echo import leaks

TOKEN = "pat-na1-0c3f9a7e-unit-test-token"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def fast_sleep(seconds: float) -> None:
    """Retries wait, but briefly: the tests check behaviour, not HubSpot's backoff."""
    time.sleep(min(seconds, 0.02))


def client(hs: HubSpotServer, token: str = TOKEN, **kw) -> HubSpotClient:
    kw.setdefault("limiters", {})
    kw.setdefault("sleep", fast_sleep)
    return HubSpotClient("hs-test", hs.url, HubSpotAuth(token), **kw)


def server(**kw) -> HubSpotServer:
    """A portal whose rate limits stay out of the way unless a test sets them."""
    kw.setdefault("tokens", {TOKEN})
    kw.setdefault("search_per_second", 10_000)
    kw.setdefault("window_limit", 10_000)
    kw.setdefault("window_seconds", 0.5)
    return HubSpotServer(**kw)


@pytest.fixture
def hs():
    with server() as hs:
        yield hs


def stamp(i: int) -> datetime:
    return T0 + timedelta(seconds=i)


def searches(hs: HubSpotServer) -> list[dict]:
    return [e for e in hs.log if e["path"].endswith("/search")]


# ----------------------------------------------------------------------------------------------- search


def test_search_pages_with_after_oldest_first(hs):
    ids = [hs.add("contacts", {"email": f"p{i}@forge{i}.fr"}, modified_at=stamp(i)) for i in range(250)]
    hs.add("contacts", {"email": "old@forge.fr"}, modified_at=T0 - timedelta(days=1))  # before `since`
    pages = list(client(hs).search_modified("contacts", ["email"], T0, page_size=100))
    assert [len(p) for p in pages] == [100, 100, 50]
    records = [r for p in pages for r in p]
    assert [r.id for r in records] == ids
    assert all(r.object == "contacts" and r.modified_at.tzinfo is not None for r in records)
    assert records[0].modified_at == T0 and records[-1].modified_at == stamp(249)
    assert records[7].properties["email"] == "p7@forge7.fr"
    assert records[7].properties["lastmodifieddate"] == iso(int(stamp(7).timestamp() * 1000))
    bodies = [e["body"] for e in searches(hs)]
    assert [b.get("after") for b in bodies] == [None, "100", "200"]
    assert bodies[0]["filterGroups"] == [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(int(T0.timestamp() * 1000))}]}]
    assert bodies[0]["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert "lastmodifieddate" in bodies[0]["properties"]


def test_search_activities_use_hs_lastmodifieddate_and_never_yield_an_empty_page(hs):
    assert modified_property("calls") == "hs_lastmodifieddate"
    assert list(client(hs).search_modified("calls", ["hs_call_status"], None)) == []
    call = hs.add("calls", {"hs_call_status": "COMPLETED"}, modified_at=T0)
    [page] = list(client(hs).search_modified("calls", ["hs_call_status"], None))
    assert [r.id for r in page] == [call] and page[0].properties["hs_lastmodifieddate"].endswith("Z")
    assert all(not e["body"]["filterGroups"] for e in searches(hs))  # since=None: no filter


@pytest.mark.parametrize("client_cap", [50, 10_000])  # moves before the cap / after the server's 400
def test_search_crosses_the_cap_by_moving_the_window(client_cap):
    with server(search_cap=50) as hs:
        # 173 records, three per stamp: a window ends in the middle of a stamp
        ids = [hs.add("calls", {}, modified_at=stamp(i // 3)) for i in range(173)]
        pages = list(client(hs, search_cap=client_cap).search_modified("calls", [], None, page_size=20))
        records = [r for p in pages for r in p]
        assert set(ids) == {r.id for r in records}  # every record read at least once
        stamps = [r.modified_at for r in records]
        assert stamps == sorted(stamps)  # in order (a record at a window's edge is read again)
        assert len(records) < 2 * len(ids)
        assert max(int(e["body"].get("after", 0)) for e in searches(hs) if e["status"] == 200) < 50
        refused = [e for e in searches(hs) if e["status"] == 400]
        assert (len(refused) > 0) == (client_cap > 50)


def test_more_records_at_one_stamp_than_a_query_can_page(hs):
    hs.search_cap = 50
    before = hs.add("contacts", {}, modified_at=T0 - timedelta(seconds=1))
    crowd = hs.generate("contacts", 130, first_modified=T0, step_ms=0)  # 130 records at one stamp
    after = [hs.add("contacts", {}, modified_at=stamp(5 + i)) for i in range(3)]
    pages = list(client(hs, search_cap=50).search_modified("contacts", ["email"], None, page_size=20))
    records = [r for p in pages for r in p]
    assert {r.id for r in records} == {before, *crowd, *after}
    assert [r.id for r in records][-3:] == after
    stamps = [r.modified_at for r in records]
    assert stamps == sorted(stamps)
    by_id = [e["body"] for e in searches(hs) if e["body"]["sorts"][0]["propertyName"] == "hs_object_id"]
    assert by_id and all(b["filterGroups"][0]["filters"][0]["operator"] == "EQ" for b in by_id)
    assert all(e["status"] == 200 for e in searches(hs))


def test_search_stops_instead_of_looping_when_the_server_ignores_the_window(hs, monkeypatch):
    hs.search_cap = 20
    hs.generate("contacts", 60, first_modified=T0)
    select = hs._select
    monkeypatch.setattr(hs, "_select", lambda obj, groups, sort, after, limit: select(obj, [], sort, after, limit))
    with pytest.raises(CrmError, match="same window again"):
        list(client(hs, search_cap=20).search_modified("contacts", [], None, page_size=10))


# ----------------------------------------------------------------------------------------------- reads


def test_associations_batches_and_follows_paging():
    with server(association_page_size=3) as hs:
        people = [hs.add("contacts", {}) for _ in range(5)]
        busy = hs.add("calls", {})
        for p in people:
            hs.associate("calls", busy, "contacts", p)
        single = hs.add("calls", {})
        hs.associate("calls", single, "contacts", people[0])
        lonely = hs.add("calls", {})
        many = hs.generate("calls", 1200, associate_with=("contacts", people))
        linked = client(hs).associations("calls", "contacts", [busy, single, lonely, *many])
        assert linked[busy] == people
        assert linked[single] == [people[0]] and linked[lonely] == []
        assert linked[many[7]] == [people[7 % 5]]
        assert len(linked) == 1203
        posts = [e for e in hs.log if "/associations/" in e["path"]]
        assert [len(e["body"]["inputs"]) for e in posts] == [1000, 1, 203]  # 1,000 ids a request; the next page of one
        assert posts[1]["body"]["inputs"] == [{"id": busy, "after": "3"}]
        assert client(hs).associations("contacts", "calls", [people[1]])[people[1]] == [busy, many[1], many[6]] + [
            many[i] for i in range(11, 1200, 5)]


def test_read_modified_at_chunks_and_skips_missing_records(hs):
    ids = hs.generate("leads", 150, first_modified=T0)
    hs.remove("leads", ids[3])
    stamps = client(hs).read_modified_at("leads", [*ids, "999999"])
    assert set(stamps) == set(ids) - {ids[3]}
    assert stamps[ids[10]] == T0 + timedelta(seconds=10) and stamps[ids[10]].tzinfo is not None
    reads = [e for e in hs.log if e["path"] == "/crm/v3/objects/leads/batch/read"]
    assert [len(e["body"]["inputs"]) for e in reads] == [100, 51] and reads[0]["body"]["properties"] == ["hs_lastmodifieddate"]
    assert [e["status"] for e in reads] == [207, 207]


def test_owners_pages_and_lowercases_emails(hs):
    ids = [hs.add_owner(f"SDR{i}@Forge.fr") for i in range(501)]
    hs.add_owner("gone@forge.fr", archived=True)
    owners = client(hs).owners()
    assert owners == {oid: f"sdr{i}@forge.fr" for i, oid in enumerate(ids)}
    assert len([e for e in hs.log if e["path"] == "/crm/v3/owners"]) == 2


# ----------------------------------------------------------------------------------------------- writes


def test_update_applies_in_chunks_and_returns_the_new_stamps(hs):
    ids = hs.generate("contacts", 230, first_modified=T0)
    hs.touch("contacts", ids[0], leadops_grade="B")
    updates = {rid: {"leadops_score": str(i), "leadops_grade": None} for i, rid in enumerate(reversed(ids))}
    results = client(hs).update("contacts", updates)
    assert [r.id for r in results] == list(reversed(ids))  # input order
    assert all(r.ok and r.error is None for r in results)
    assert [len(e["body"]["inputs"]) for e in hs.log if e["path"].endswith("/batch/update")] == [100, 100, 30]
    first = hs.get("contacts", ids[0])
    assert first["properties"]["leadops_score"] == "229" and first["properties"]["leadops_grade"] is None
    by_id = {r.id: r for r in results}
    assert by_id[ids[0]].modified_at == datetime.fromisoformat(first["updatedAt"])
    assert by_id[ids[0]].modified_at > T0 + timedelta(hours=1)  # bumped to now


@pytest.mark.parametrize("mode", ["batch", "record"])  # HubSpot rejects the batch whole / a portal failing per record
def test_update_maps_per_record_errors(mode):
    with server(invalid_property=mode) as hs:
        a, b, c = (hs.add("contacts", {"email": f"{x}@forge.fr"}, modified_at=T0) for x in "abc")
        results = client(hs).update("contacts", {a: {"leadops_score": "80"}, "404404": {"leadops_score": "1"},
                                                 b: {"leadops_score": "70", "no_such_property": "x"},
                                                 c: {"leadops_grade": "A"}})
        by_id = {r.id: r for r in results}
        assert [r.id for r in results] == [a, "404404", b, c]
        assert by_id[a].ok and by_id[c].ok and by_id[a].modified_at is not None
        assert not by_id["404404"].ok and not by_id["404404"].retryable
        assert by_id["404404"].error.startswith("OBJECT_NOT_FOUND: Could not get some CONTACT objects")
        assert not by_id[b].ok and not by_id[b].retryable
        assert by_id[b].error == 'VALIDATION_ERROR: Property "no_such_property" does not exist (PROPERTY_DOESNT_EXIST)'
        assert "\n" not in by_id[b].error
        assert hs.get("contacts", a)["properties"]["leadops_score"] == "80"
        assert hs.get("contacts", b)["properties"].get("leadops_score") is None  # nothing of b was applied
        statuses = [e["status"] for e in hs.log if e["path"].endswith("/batch/update")]
        assert statuses == ([400, 207] if mode == "batch" else [207])


def test_update_undefined_property_then_defined(hs):
    rid = hs.add("contacts", {}, modified_at=T0)
    [r] = client(hs).update("contacts", {rid: {"leadops_custom": "1"}})
    assert not r.ok and "PROPERTY_DOESNT_EXIST" in r.error
    hs.define_property("contacts", "leadops_custom")
    [r] = client(hs).update("contacts", {rid: {"leadops_custom": "1"}})
    assert r.ok


def test_update_outage_after_retries_is_retryable_for_every_record(hs):
    ids = [hs.add("contacts", {}) for _ in range(3)]
    hs.fail_next(3, status=503)
    results = client(hs, max_retries=2).update("contacts", {i: {"leadops_score": "1"} for i in ids})
    assert all(not r.ok and r.retryable and r.error.startswith("HTTP 503") for r in results)
    assert all(hs.get("contacts", i)["properties"].get("leadops_score") is None for i in ids)


# ----------------------------------------------------------------------------------------------- rate limits, faults


def test_429_with_policy_name_is_retried_until_done():
    with server(window_limit=3, window_seconds=0.3) as hs:
        ids = hs.generate("contacts", 600, first_modified=T0)
        raw = [requests.post(f"{hs.url}/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": ids[0]}]},
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) for _ in range(4)]
        assert raw[0].headers["X-HubSpot-RateLimit-Max"] == "3" and "Retry-After" not in raw[-1].headers
        body = raw[-1].json()
        assert raw[-1].status_code == 429 and body["errorType"] == "RATE_LIMIT"
        assert body["policyName"] == "TEN_SECONDLY_ROLLING" and "ten_secondly_rolling" in body["message"]
        c = client(hs, max_retries=30)
        stamps = c.read_modified_at("contacts", ids)
        assert len(stamps) == 600
        assert hs.stats["TEN_SECONDLY_ROLLING"]["throttled"] > 1 and c.transport.throttled["default"] > 0


def test_retry_after_is_off_by_default_but_honoured_when_sent():
    with server(search_per_second=5, search_burst=1, retry_after=0.25) as hs:
        hs.add("contacts", {})
        waits: list[float] = []
        c = client(hs, sleep=lambda s: (waits.append(s), time.sleep(s)))
        for _ in range(2):
            assert len([r for p in c.search_modified("contacts", [], None) for r in p]) == 1
        assert waits and set(waits) == {0.25}
        assert hs.stats["SECONDLY"]["throttled"] == len(waits)


def test_search_limiter_at_the_server_rate_is_never_refused():
    with server(search_per_second=50, search_burst=5) as hs:
        hs.generate("contacts", 200, first_modified=T0)
        paced = client(hs, limiters={"search": RateLimiter(50), "default": RateLimiter(1000)})
        assert sum(len(p) for p in paced.search_modified("contacts", [], None, page_size=5)) == 200
        assert hs.stats["SECONDLY"]["served"] == 40 and hs.stats["SECONDLY"]["throttled"] == 0
        assert paced.transport.requests["search"] == 40 and paced.transport.throttled["search"] == 0
        assert 0 < hs.used_share("SECONDLY") <= 1.0
        hs.reset_stats()
        unpaced = client(hs, max_retries=50)  # the same read without the limiter is refused, and retried
        assert sum(len(p) for p in unpaced.search_modified("contacts", [], None, page_size=5)) == 200
        assert hs.stats["SECONDLY"]["throttled"] > 0 and unpaced.transport.throttled["search"] > 0
        assert hs.stats["TEN_SECONDLY_ROLLING"]["served"] == 0  # searches count apart


def test_5xx_is_retried(hs):
    hs.add_owner("ana@forge.fr")
    hs.fail_next(2, status=502)
    assert list(client(hs).owners().values()) == ["ana@forge.fr"]
    assert [e["status"] for e in hs.log] == [502, 502, 200]
    hs.fail_next(3, status=500)
    with pytest.raises(CrmError) as err:
        client(hs, max_retries=2).owners()
    assert err.value.retryable and err.value.status == 500
    assert "hs-test" in str(err.value) and "list owners" in str(err.value)


# ----------------------------------------------------------------------------------------------- tokens


def test_expired_token_stops_with_an_auth_error_without_the_token(hs):
    hs.add("contacts", {})
    hs.expire(TOKEN)
    with pytest.raises(CrmAuthError) as err:
        list(client(hs).search_modified("contacts", [], None))
    text = str(err.value)
    assert "hs-test" in text and "search contacts" in text and "EXPIRED_AUTHENTICATION" in text
    assert "expired or revoked" in text and TOKEN not in text
    with pytest.raises(CrmAuthError):  # a write stops the run too: no per-record result
        client(hs).update("contacts", {"1": {"leadops_score": "1"}})


@pytest.mark.parametrize("status", [401, 400, 503])
def test_no_token_in_errors_even_when_the_server_echoes_it(status):
    with server(tokens={ECHO_TOKEN}) as hs:
        rid = hs.add("contacts", {})
        hs.fail_next(10, status=status, echo=True)
        c = client(hs, token=ECHO_TOKEN, max_retries=1)
        with pytest.raises(CrmError) as err:
            list(c.search_modified("contacts", [], None))
        assert "hs-test" in str(err.value) and "search contacts" in str(err.value)
        assert leaks(str(err.value), ECHO_TOKEN) == []
        assert leaks(repr(err.value.body), ECHO_TOKEN) == []
        if status != 401:
            [result] = c.update("contacts", {rid: {"leadops_score": "1"}})
            assert not result.ok and leaks(result.error, ECHO_TOKEN) == []


def test_oauth_refresh_on_401_then_success(hs):
    hs.add_owner("ana@forge.fr")
    auth = HubSpotAuth("stale-access-token", client_id="client-id", client_secret="client-secret",
                       refresh_token="refresh-token")
    c = HubSpotClient("hs-test", hs.url, auth, limiters={}, sleep=fast_sleep)
    assert list(c.owners().values()) == ["ana@forge.fr"]
    assert len(hs.issued) == 1 and hs.issued[0] in registered()
    assert [(e["path"], e["status"]) for e in hs.log] == [("/crm/v3/owners", 401), ("/oauth/v1/token", 200),
                                                         ("/crm/v3/owners", 200)]
    hs.expire(hs.issued[0])  # HubSpot's tokens last 30 minutes
    assert c.owners()
    assert len(hs.issued) == 2 and hs.stats["oauth"] == 2


def test_oauth_without_an_access_token_gets_one_first(hs):
    hs.add("contacts", {})
    auth = HubSpotAuth(None, client_id="client-id", client_secret="client-secret", refresh_token="refresh-token")
    c = HubSpotClient("hs-test", hs.url, auth, limiters={}, sleep=fast_sleep)
    assert len([r for p in c.search_modified("contacts", [], None) for r in p]) == 1
    assert [e["status"] for e in hs.log] == [200, 200] and len(hs.issued) == 1


def test_oauth_refused_refresh_token_is_an_auth_error(hs):
    auth = HubSpotAuth("stale-access-token", client_id="client-id", client_secret="client-secret",
                       refresh_token="revoked-refresh-token")
    with pytest.raises(CrmAuthError) as err:
        HubSpotClient("hs-test", hs.url, auth, limiters={}, sleep=fast_sleep).owners()
    text = str(err.value)
    assert "hs-test" in text and "OAuth token refresh" in text and "BAD_REFRESH_TOKEN" in text
    assert "revoked-refresh-token" not in text and "client-secret" not in text and "stale-access-token" not in text
