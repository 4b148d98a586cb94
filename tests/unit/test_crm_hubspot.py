"""The HubSpot client against the loopback HubSpot server: keyset paging of searches (records edited during a read,
shared and over-full stamps, the search cap), associations, stamps, batch writes with per-record outcomes, rate
limits, token expiry and refresh, faults, and no token in any error."""
from __future__ import annotations

import random
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


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def read_all(hs: HubSpotServer, object_type: str = "contacts", since: datetime | None = None, *, page_size: int,
             between=None, **kw) -> list:
    """Every record one read yields, in order; ``between(n)`` runs after the n-th page was received (before the
    next query is sent: the read is lazy), as a CRM user editing records during the read."""
    out = []
    for n, page in enumerate(client(hs, **kw).search_modified(object_type, [], since, page_size=page_size), 1):
        assert page, "an empty page was yielded"
        out.extend(page)
        if between is not None:
            between(n)
    return out


def test_search_pages_oldest_first_each_page_a_new_query_from_the_last_stamp(hs):
    ids = [hs.add("contacts", {"email": f"p{i}@forge{i}.fr"}, modified_at=stamp(i)) for i in range(250)]
    hs.add("contacts", {"email": "old@forge.fr"}, modified_at=T0 - timedelta(days=1))  # before `since`
    pages = list(client(hs).search_modified("contacts", ["email"], T0, page_size=100))
    # the record at each page's last stamp comes back with the next query: skipped, not yielded twice
    assert [len(p) for p in pages] == [100, 99, 51]
    records = [r for p in pages for r in p]
    assert [r.id for r in records] == ids
    assert all(r.object == "contacts" and r.modified_at.tzinfo is not None for r in records)
    assert records[0].modified_at == T0 and records[-1].modified_at == stamp(249)
    assert records[7].properties["email"] == "p7@forge7.fr"
    assert records[7].properties["lastmodifieddate"] == iso(ms(stamp(7)))
    bodies = [e["body"] for e in searches(hs)]
    assert all("after" not in b and b["limit"] == 100 for b in bodies)
    # keyset: GTE since, then GTE the last stamp read; the last query finds nothing new and ends the read
    assert [b["filterGroups"] for b in bodies] == [[{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(ms(s))}]}]
        for s in (T0, stamp(99), stamp(198), stamp(249))]
    assert bodies[0]["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert "lastmodifieddate" in bodies[0]["properties"]


def test_search_activities_use_hs_lastmodifieddate_and_never_yield_an_empty_page(hs):
    assert modified_property("calls") == "hs_lastmodifieddate"
    assert list(client(hs).search_modified("calls", ["hs_call_status"], None)) == []
    assert len(searches(hs)) == 1
    call = hs.add("calls", {"hs_call_status": "COMPLETED"}, modified_at=T0)
    hs.log.clear()
    [page] = list(client(hs).search_modified("calls", ["hs_call_status"], None))
    assert [r.id for r in page] == [call] and page[0].properties["hs_lastmodifieddate"].endswith("Z")
    first, last = (e["body"] for e in searches(hs))
    assert not first["filterGroups"]  # since=None: no filter
    assert last["filterGroups"][0]["filters"][0] == {"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                                     "value": str(ms(T0))}


def test_a_record_edited_during_the_read_is_not_lost_and_none_is_skipped(hs):
    # 45 records, three per stamp: page boundaries fall inside stamps
    ids = [hs.add("contacts", {}, modified_at=stamp(i // 3)) for i in range(45)]
    read, boundary, unread = ids[2], ids[9], ids[30]  # ids[9]: the last of page 1, its stamp shared with 10 and 11

    # the hazard is real on this server: paging one query with `after`, the same edit skips a record
    def after_page(srv: HubSpotServer, after: int) -> list[str]:
        body = {"sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], "limit": 10,
                **({"after": str(after)} if after else {})}
        answer = requests.post(f"{srv.url}/crm/v3/objects/contacts/search", json=body, timeout=5,
                               headers={"Authorization": f"Bearer {TOKEN}"})
        return [r["id"] for r in answer.json()["results"]]

    with server() as old:
        old_ids = [old.add("contacts", {}, modified_at=stamp(i // 3)) for i in range(45)]
        got = after_page(old, 0)
        old.touch("contacts", old_ids[2])
        got += after_page(old, 10)
        assert got == old_ids[:10] + old_ids[11:21]  # the 11th moved to place 10, already read: skipped

    def edit(n):
        if n == 1:
            hs.touch("contacts", read, firstname="Ana")
            hs.touch("contacts", boundary, firstname="Bo")
            hs.touch("contacts", unread, firstname="Cy")

    records = read_all(hs, page_size=10, between=edit)
    got = [r.id for r in records]
    assert set(got) == set(ids)  # every record at least once: none lost, none skipped
    assert {i: got.count(i) for i in ids if got.count(i) != 1} == {read: 2, boundary: 2}  # the edited ones again
    assert got.count(unread) == 1 and got[-3:] == [read, boundary, unread]
    assert [r.properties.get("lastmodifieddate") for r in records[-3:]] == [hs.get("contacts", i)["properties"][
        "lastmodifieddate"] for i in (read, boundary, unread)]  # the new versions
    stamps = [r.modified_at for r in records]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(("per_stamp", "page_size"), [(3, 20), (7, 10), (2, 1)])
def test_no_id_twice_when_records_share_a_boundary_stamp(hs, per_stamp, page_size):
    ids = [hs.add("calls", {}, modified_at=stamp(i // per_stamp)) for i in range(61)]
    records = read_all(hs, "calls", T0, page_size=page_size)
    assert [r.id for r in records] == ids  # each once, oldest first
    assert all("after" not in e["body"] for e in searches(hs))


def test_each_record_once_whatever_order_ties_come_in(hs, monkeypatch):
    # HubSpot does not promise an order among records of one stamp: here each query shuffles them
    ids = [hs.add("calls", {}, modified_at=stamp(i // 7)) for i in range(70)]
    ids += hs.generate("calls", 45, first_modified=stamp(20), step_ms=0)
    select, tie = hs._select, random.Random(7)

    def any_tie_order(obj, groups, sort, after, limit):
        total, page = select(obj, groups, sort, 0, 10_000)
        if sort[0] != "hs_object_id":
            page.sort(key=lambda rid: (hs._records[obj][rid].updated, tie.random()))
        return total, page[after:after + limit]
    monkeypatch.setattr(hs, "_select", any_tie_order)
    got = [r.id for r in read_all(hs, "calls", page_size=10)]
    assert sorted(got) == sorted(ids)


@pytest.mark.parametrize("client_cap", [50, 10_000])
def test_a_search_cap_smaller_than_the_read_is_never_hit(client_cap):
    with server(search_cap=50) as hs:
        ids = [hs.add("calls", {}, modified_at=stamp(i // 3)) for i in range(173)]
        records = read_all(hs, "calls", page_size=20, search_cap=client_cap)
        assert [r.id for r in records] == ids
        assert all(e["status"] == 200 and "after" not in e["body"] for e in searches(hs))
        assert len(records) > hs.search_cap  # more than one query could page through, no query paged


def test_more_records_at_one_stamp_than_a_page(hs):
    before = [hs.add("contacts", {}, modified_at=T0 - timedelta(seconds=5 - i)) for i in range(5)]
    crowd = hs.generate("contacts", 130, first_modified=T0, step_ms=0)  # 130 records at one stamp
    after = [hs.add("contacts", {}, modified_at=stamp(5 + i)) for i in range(3)]
    early, late = crowd[0], crowd[-1]

    def edit(n):
        if n == 4:  # reading the crowd by id: one of it already read and one not yet read are edited
            hs.touch("contacts", early, firstname="Ana")
            hs.touch("contacts", late, firstname="Bo")

    # page 1 ends inside the crowd: its first 15 are yielded before the crowd is read by id
    records = read_all(hs, page_size=20, between=edit)
    got = [r.id for r in records]
    assert set(got) == {*before, *crowd, *after}
    assert got[:5] == before and got[-5:] == [*after, early, late]
    assert got.count(early) == 2 and len(got) == len(set(got)) + 1  # only the edited read record comes twice
    stamps = [r.modified_at for r in records]
    assert stamps == sorted(stamps)
    queries = [(e["body"]["sorts"][0]["propertyName"], [(f["operator"], f["value"]) for g in e["body"]["filterGroups"]
                                                         for f in g["filters"]]) for e in searches(hs)]
    mod, t0 = "lastmodifieddate", str(ms(T0))
    # the crowd by id from its start (the 15 read are skipped), 20 at a time, then after its stamp
    assert queries[:3] == [(mod, []), (mod, [("GTE", t0)]), ("hs_object_id", [("EQ", t0)])]
    assert queries[3:9] == [("hs_object_id", [("EQ", t0), ("GT", crowd[i])]) for i in range(19, 130, 20)]
    assert queries[9:] == [(mod, [("GT", t0)]), (mod, [("GTE", str(ms(records[-1].modified_at)))])]
    assert all(e["status"] == 200 for e in searches(hs))


def test_search_stops_instead_of_looping_when_the_server_ignores_the_window(hs, monkeypatch):
    hs.generate("contacts", 60, first_modified=T0)
    select = hs._select
    monkeypatch.setattr(hs, "_select", lambda obj, groups, sort, after, limit: select(obj, [], sort, after, limit))
    with pytest.raises(CrmError, match="same window again"):
        list(client(hs).search_modified("contacts", [], None, page_size=10))


def test_search_stops_instead_of_looping_when_the_server_ignores_the_last_id(hs, monkeypatch):
    hs.generate("contacts", 40, first_modified=T0, step_ms=0)  # one stamp: read by id
    select = hs._select

    def without_id(obj, groups, sort, after, limit):
        groups = [{"filters": [f for f in g["filters"] if f["propertyName"] != "hs_object_id"]} for g in groups]
        return select(obj, groups, sort, after, limit)
    monkeypatch.setattr(hs, "_select", without_id)
    pages = []
    with pytest.raises(CrmError, match="same window again"):
        pages.extend(client(hs).search_modified("contacts", [], T0, page_size=10))
    assert [len(p) for p in pages] == [10]  # the first page only, never the same records twice


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
        # 5, then 4 new a query (the last stamp read comes again), then a query with nothing new
        assert hs.stats["SECONDLY"]["served"] == 51 and hs.stats["SECONDLY"]["throttled"] == 0
        assert paced.transport.requests["search"] == 51 and paced.transport.throttled["search"] == 0
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
    assert [e["status"] for e in hs.log] == [200, 200, 200] and len(hs.issued) == 1  # the token, two searches


def test_oauth_refused_refresh_token_is_an_auth_error(hs):
    auth = HubSpotAuth("stale-access-token", client_id="client-id", client_secret="client-secret",
                       refresh_token="revoked-refresh-token")
    with pytest.raises(CrmAuthError) as err:
        HubSpotClient("hs-test", hs.url, auth, limiters={}, sleep=fast_sleep).owners()
    text = str(err.value)
    assert "hs-test" in text and "OAuth token refresh" in text and "BAD_REFRESH_TOKEN" in text
    assert "revoked-refresh-token" not in text and "client-secret" not in text and "stale-access-token" not in text
