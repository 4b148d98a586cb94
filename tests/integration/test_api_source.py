"""CRM API intake against a real loopback HTTP server: pagination, auth, retries, watermark, idempotence.

The reader tests (``iter_pages``, ``resolve_token``, ``dig``) need no database; the ``ingest_api``
tests at the end run on every configured database.
"""
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leadops.config import ApiSource
from leadops.db.models import IngestBatch, Lead, SourceWatermark
from leadops.db.unit_of_work import SqlUnitOfWork, UnitOfWorkFactory, sql_units
from leadops.intake.api import ingest_api
from leadops.sources.api import ApiError, ApiPage, backoff, dig, iter_pages, resolve_token
from tests.support.crm_server import FakeCrm

TOKEN = "s3cret-token"


@pytest.fixture
def crm():
    with FakeCrm(TOKEN) as server:
        yield server


def units(session) -> UnitOfWorkFactory:
    """The units of work ingest_api opens (one per page), here over the test's session: it commits each."""
    return lambda: SqlUnitOfWork.around(session)


def cfg(crm, **over):
    return ApiSource(**{"name": "crm", "url": crm.url, "source": "web_form", "page_size": 100, "max_retries": 2,
                        **over})


def cursor_cfg(crm, **over):
    return cfg(crm, pagination="cursor", next_cursor_path="meta.next_cursor", **over)


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def read(c, since=None, token=TOKEN, **kw):
    kw.setdefault("sleep", Sleeps())
    return list(iter_pages(c, since, token=token, **kw))


# --------------------------------------------------------------------------- pagination


def test_page_pagination_reads_every_record(crm):
    crm.add(250)
    pages = read(cfg(crm))
    assert [len(p.rows) for p in pages] == [100, 100, 50] and len(crm.log) == 3
    assert [e["params"]["page"] for e in crm.log] == ["1", "2", "3"]
    assert all(e["params"]["per_page"] == "100" for e in crm.log)
    assert pages[0].rows[0].fields["email"] == "lead0@forge0.fr" and pages[0].rows[0].raw["id"] == "0"
    assert [p.number for p in pages] == [1, 2, 3] and {p.source for p in pages} == {"crm"}
    assert pages[1].url == f"{crm.url}?per_page=100&page=2"
    ids = [int(r.raw["id"]) for p in pages for r in p.rows]
    assert ids == list(range(250))


def test_page_pagination_with_an_exact_multiple_asks_once_more_and_yields_no_empty_page(crm):
    crm.add(200)
    pages = read(cfg(crm))
    assert [len(p.rows) for p in pages] == [100, 100] and len(crm.log) == 3


def test_empty_source_yields_no_page(crm):
    assert read(cfg(crm)) == [] and len(crm.log) == 1
    assert read(cursor_cfg(crm)) == []


def test_cursor_pagination_reads_every_record(crm):
    crm.add(250)
    pages = read(cursor_cfg(crm))
    assert [len(p.rows) for p in pages] == [100, 100, 50] and len(crm.log) == 3
    assert "cursor" not in crm.log[0]["params"]
    assert crm.log[1]["params"]["cursor"] and crm.log[1]["params"]["cursor"] != crm.log[2]["params"]["cursor"]
    assert [int(r.raw["id"]) for p in pages for r in p.rows] == list(range(250))


def test_records_path_can_be_nested_or_the_body_itself(crm):
    crm.respond({"result": {"items": [{"id": 1, "email": "a@b.fr"}]}})
    [page] = read(cfg(crm, records_path="result.items"))
    assert page.rows[0].fields["email"] == "a@b.fr"
    crm.respond([{"id": 2, "email": "c@d.fr"}])
    [page] = read(cfg(crm, records_path=""))
    assert page.rows[0].raw == {"id": "2", "email": "c@d.fr"}


def test_missing_records_path_is_a_clear_error(crm):
    crm.respond({"items": []})
    with pytest.raises(ApiError, match=r"source crm: GET .*expected a list of records at 'data', found nothing"):
        read(cfg(crm))


def test_a_repeated_cursor_stops_the_read(crm):
    page = {"data": [{"id": 1}], "meta": {"next_cursor": "abc"}}
    crm.respond(page)
    crm.respond(page | {"data": [{"id": 2}]})
    with pytest.raises(ApiError, match="cursor 'abc' a second time"):
        read(cursor_cfg(crm))
    assert len(crm.log) == 2 and crm.log[1]["params"]["cursor"] == "abc"


def test_a_page_served_twice_stops_the_read(crm):
    body = {"data": [{"id": i} for i in range(100)]}
    crm.respond(body)
    crm.respond(body)
    with pytest.raises(ApiError, match="page 2 is identical to page 1"):
        read(cfg(crm))


def test_max_pages_stops_the_read(crm):
    crm.add(250)
    with pytest.raises(ApiError, match="more than 2 pages"):
        read(cfg(crm), max_pages=2)
    with pytest.raises(ApiError, match="more than 2 pages"):
        read(cursor_cfg(crm), max_pages=2)
    assert len(read(cfg(crm), max_pages=3)) == 3


# --------------------------------------------------------------------------- since, rows, keys


def test_since_asks_only_for_newer_records(crm):
    crm.add(3, updated_at="2026-11-01T00:00:00+00:00")
    crm.add(2, start=3, updated_at="2026-11-21T00:00:00+00:00")
    pages = read(cfg(crm), datetime(2026, 11, 10, tzinfo=UTC))
    assert [r.fields["email"] for r in pages[0].rows] == ["lead3@forge3.fr", "lead4@forge4.fr"]
    assert crm.log[0]["params"]["updated_since"] == "2026-11-10T00:00:00+00:00"
    assert pages[0].max_updated_at == datetime(2026, 11, 21, tzinfo=UTC)
    read(cfg(crm))
    assert "updated_since" not in crm.log[-1]["params"]


def test_max_updated_at_ignores_missing_naive_and_unparsable_times(crm):
    crm.respond({"data": [
        {"id": 1, "updated_at": "2026-11-20T10:00:00Z"},
        {"id": 2, "updated_at": "2026-11-20T12:00:00+02:00"},  # 10:00Z: not newer
        {"id": 3, "updated_at": "2026-12-25T00:00:00"},  # naive: ignored
        {"id": 4, "updated_at": "yesterday"},
        {"id": 5, "updated_at": None},
        {"id": 6, "updated_at": 1764000000},
        {"id": 7},
        {"id": 8, "updated_at": "2026-11-20T09:30:00-01:00"},  # 10:30Z: newest
    ]})
    [page] = read(cfg(crm))
    assert page.max_updated_at == datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    crm.respond({"data": [{"id": 1, "modified": "2026-01-01T00:00:00+00:00"}]})
    [page] = read(cfg(crm))
    assert page.max_updated_at is None
    crm.respond({"data": [{"id": 1, "modified": "2026-01-01T00:00:00+00:00"}]})
    [page] = read(cfg(crm, updated_at_field="modified"))
    assert page.max_updated_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_rows_map_canonical_fields_clean_values_and_keep_raw(crm):
    crm.respond({"data": [
        {"id": 7, "Email": "  ana@forge.fr ", "First Name": "Ana\u00a0 Maria", "Nom": "n/a",
         "company": "-", "Pays": "FR", "score": 4.5, "consent": True, "tags": ["a", "b"],
         "address": {"city": "Lyon"}, "phone": None},
        "not an object",
        {"mail": "b@forge.fr", "given": "Bo"},
    ]})
    [page] = read(cfg(crm, columns={"mail": "email", "given": "first_name"}))
    first, bad, third = page.rows
    assert [r.row_number for r in page.rows] == [1, 2, 3]
    assert first.fields == {"email": "ana@forge.fr", "first_name": "Ana Maria", "last_name": None,
                            "company": None, "country": "FR", "consent": "true", "phone": None}
    assert first.raw == {"id": "7", "Email": "  ana@forge.fr ", "First Name": "Ana\u00a0 Maria", "Nom": "n/a",
                         "company": "-", "Pays": "FR", "score": "4.5", "consent": "true", "tags": '["a", "b"]',
                         "address": '{"city": "Lyon"}', "phone": None}
    assert bad.fields == {} and bad.raw["_line"] == '"not an object"' and "not a JSON object" in bad.raw["_error"]
    assert third.fields == {"email": "b@forge.fr", "first_name": "Bo"}


def test_an_invalid_columns_mapping_is_an_api_error(crm):
    with pytest.raises(ApiError, match="source crm: columns mapping targets unknown field"):
        read(cfg(crm, columns={"mail": "e_mail"}))
    assert crm.log == []


def test_page_key_follows_content(crm):
    crm.add(5)
    a = read(cfg(crm))[0].key
    b = read(cfg(crm))[0].key
    crm.records[0]["first_name"] = "Changed"
    c = read(cfg(crm))[0].key
    assert a == b != c and len(a) == 64


def test_page_repr_stays_short_and_the_page_is_frozen(crm):
    crm.add(3)
    [page] = read(cfg(crm))
    assert "rows" not in repr(page) and TOKEN not in repr(page)
    with pytest.raises(AttributeError):
        page.number = 2  # type: ignore[misc]
    assert isinstance(page, ApiPage)


# --------------------------------------------------------------------------- auth


def test_the_token_is_sent_in_the_configured_header_and_never_logged(crm):
    crm.add(1)
    read(cfg(crm))
    assert crm.log[0]["authorized"] and crm.log[0]["headers"]["Authorization"] == "<token>"
    crm.respond({"data": []})
    read(cfg(crm, auth_header="X-Api-Key", auth_prefix=""))
    assert crm.log[-1]["headers"]["X-Api-Key"] == "<token>" and "Authorization" not in crm.log[-1]["headers"]
    with pytest.raises(ApiError, match="HTTP 401"):
        read(cfg(crm), token=None)  # no token: no header at all
    assert "Authorization" not in crm.log[-1]["headers"]


def test_wrong_token_says_so_without_leaking_it(crm):
    with pytest.raises(ApiError) as e:
        read(cfg(crm), token="wrong-token-value")
    assert "HTTP 401" in str(e.value) and "check the token" in str(e.value)
    assert "wrong-token-value" not in str(e.value) and TOKEN not in str(e.value)
    assert len(crm.log) == 1  # not retried


def test_forbidden_and_not_found_fail_at_once(crm):
    crm.fail(403, '{"error": "forbidden"}')
    with pytest.raises(ApiError, match=r"HTTP 403: .*check the token"):
        read(cfg(crm))
    crm.fail(404, "no such endpoint")
    with pytest.raises(ApiError) as e:
        read(cfg(crm))
    assert str(e.value) == f"source crm: GET {crm.url}?per_page=100&page=1: HTTP 404: 'no such endpoint'"
    assert len(crm.log) == 2


# --------------------------------------------------------------------------- retries


def test_server_errors_are_retried_with_backoff_and_retry_after(crm):
    crm.add(5)
    crm.fail(500, "boom")
    crm.fail(429, "slow down", headers={"Retry-After": "2"})
    sleeps = Sleeps()
    pages = read(cfg(crm), sleep=sleeps)
    assert len(pages[0].rows) == 5 and len(crm.log) == 3 and sleeps == [0.5, 2.0]


def test_backoff_doubles_then_caps_at_30_seconds(crm):
    crm.add(1)
    for _ in range(10):
        crm.fail(503, "down")
    sleeps = Sleeps()
    assert len(read(cfg(crm, max_retries=10), sleep=sleeps)) == 1
    assert sleeps == [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30] == [backoff(i) for i in range(10)]


def test_retry_after_as_an_http_date_is_honoured(crm):
    crm.add(1)
    when = datetime.now(UTC) + timedelta(seconds=20)
    crm.fail(503, "", headers={"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    sleeps = Sleeps()
    read(cfg(crm), sleep=sleeps)
    assert len(sleeps) == 1 and 15 < sleeps[0] <= 20


def test_a_dropped_connection_is_retried(crm):
    crm.add(3)
    crm.drop()
    sleeps = Sleeps()
    [page] = read(cfg(crm), sleep=sleeps)
    assert len(page.rows) == 3 and sleeps == [0.5] and len(crm.log) == 2


def test_html_error_page_and_persistent_failure_are_clear_errors(crm):
    crm.fail(200, "<html>maintenance</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(ApiError, match=r"response is not JSON \(text/html\): '<html>maintenance</html>'"):
        read(cfg(crm))
    for _ in range(3):
        crm.fail(503, "down")
    with pytest.raises(ApiError, match="HTTP 503 after 3 attempts: 'down'"):
        read(cfg(crm))
    assert len(crm.log) == 4


def test_timeouts_are_retried_then_reported(crm):
    for _ in range(3):
        crm.delay(1.0)
    sleeps = Sleeps()
    with pytest.raises(ApiError, match=r"timed out \(ReadTimeout\) after 3 attempts"):
        read(cfg(crm, timeout_seconds=0.2), sleep=sleeps)
    assert sleeps == [0.5, 1.0] and len(crm.log) == 3


def test_a_slow_answer_within_the_timeout_is_fine(crm):
    crm.add(2)
    crm.delay(0.2)
    assert len(read(cfg(crm, timeout_seconds=5))[0].rows) == 2


def test_connection_refused_is_retried_then_reported():
    with FakeCrm(TOKEN) as gone:
        url = gone.url
    sleeps = Sleeps()
    with pytest.raises(ApiError, match=r"connection failed \(ConnectionError\) after 2 attempts"):
        read(ApiSource(name="crm", url=url, max_retries=1), sleep=sleeps)
    assert sleeps == [0.5]


# --------------------------------------------------------------------------- the token never leaks


def _echo(crm, status):
    def script():
        for _ in range(3):
            crm.fail(status, f"bad header: Authorization: Bearer {TOKEN}")
    return script


ERROR_PATHS = {
    "401": lambda crm: crm.fail(401, '{"error": "unauthorized"}'),
    "401 echoing the token": lambda crm: crm.fail(401, f"invalid token {TOKEN}"),
    "403": lambda crm: crm.fail(403, "forbidden"),
    "404": lambda crm: crm.fail(404, "not found"),
    "400 echoing the token": lambda crm: crm.fail(400, f"bad request, headers: Bearer {TOKEN}"),
    "500 x3 echoing the token": lambda crm: [crm.fail(500, f"trace: Bearer {TOKEN}") for _ in range(3)],
    "429 x3": lambda crm: [crm.fail(429, "slow", headers={"Retry-After": "1"}) for _ in range(3)],
    "html": lambda crm: crm.fail(200, f"<html>{TOKEN}</html>", headers={"Content-Type": "text/html"}),
    "timeout": lambda crm: [crm.delay(1.0) for _ in range(3)],
    "dropped": lambda crm: [crm.drop() for _ in range(3)],
    "no records": lambda crm: crm.respond({"error": TOKEN}),
    "cursor or page loop": lambda crm: [crm.respond({"data": [{"id": 1}] * 100, "meta": {"next_cursor": "c"}})
                                        for _ in range(2)],
}


@pytest.mark.parametrize("script", ERROR_PATHS.values(), ids=ERROR_PATHS.keys())
@pytest.mark.parametrize("pagination", ["page", "cursor"])
def test_no_error_path_leaks_the_token(crm, caplog, script, pagination):
    script(crm)
    caplog.set_level(logging.DEBUG)
    c = cfg(crm, timeout_seconds=0.2, pagination=pagination, next_cursor_path="meta.next_cursor")
    with pytest.raises(ApiError) as e:
        read(c)
    assert str(e.value).startswith("source crm: ")
    for text in (str(e.value), repr(e.value), caplog.text, repr(e.value.__cause__), repr(e.value.__context__)):
        assert TOKEN not in text


def test_token_errors_do_not_leak_a_secret(monkeypatch, crm):
    from prefect.blocks.system import Secret

    def broken(cls, name, *a, **kw):
        raise RuntimeError(f"backend said no to {TOKEN}")

    monkeypatch.setattr(Secret, "load", classmethod(broken))
    with pytest.raises(ApiError, match=r"cannot load the Prefect Secret block 'crm-token' \(RuntimeError\)") as e:
        resolve_token(cfg(crm, token_secret_block="crm-token"))
    assert TOKEN not in str(e.value) and TOKEN not in repr(e.value)


# --------------------------------------------------------------------------- resolve_token


def test_token_comes_from_the_environment_or_a_clear_error(monkeypatch, crm):
    c = cfg(crm, token_env="LEADOPS_CRM_TOKEN")
    monkeypatch.delenv("LEADOPS_CRM_TOKEN", raising=False)
    with pytest.raises(ApiError, match=r"set the environment variable LEADOPS_CRM_TOKEN .*not set"):
        resolve_token(c)
    monkeypatch.setenv("LEADOPS_CRM_TOKEN", "   ")
    with pytest.raises(ApiError, match=r"set the environment variable LEADOPS_CRM_TOKEN .*empty"):
        resolve_token(c)
    monkeypatch.setenv("LEADOPS_CRM_TOKEN", f" {TOKEN}\n")
    assert resolve_token(c) == TOKEN
    assert resolve_token(cfg(crm)) is None  # no token configured: an open API


def test_token_falls_back_to_a_prefect_secret_block(monkeypatch, crm):
    from prefect.blocks.system import Secret

    class Block:
        def __init__(self, value):
            self.value = value

        def get(self):
            return self.value

    loaded = []
    monkeypatch.setattr(Secret, "load", classmethod(lambda cls, name, *a, **kw: loaded.append(name) or Block(TOKEN)))
    monkeypatch.delenv("LEADOPS_CRM_TOKEN", raising=False)
    assert resolve_token(cfg(crm, token_secret_block="crm-token")) == TOKEN
    assert resolve_token(cfg(crm, token_env="LEADOPS_CRM_TOKEN", token_secret_block="crm-token")) == TOKEN
    monkeypatch.setenv("LEADOPS_CRM_TOKEN", "from-env")
    assert resolve_token(cfg(crm, token_env="LEADOPS_CRM_TOKEN", token_secret_block="crm-token")) == "from-env"
    assert loaded == ["crm-token", "crm-token"]
    monkeypatch.setattr(Secret, "load", classmethod(lambda cls, name, *a, **kw: Block("")))
    with pytest.raises(ApiError, match="Secret block 'crm-token' is empty"):
        resolve_token(cfg(crm, token_secret_block="crm-token"))


# --------------------------------------------------------------------------- dig


def test_dig_follows_dotted_paths():
    doc = {"data": [1], "meta": {"next": {"cursor": "x"}, "n": 0}, "list": [{"a": 1}]}
    assert dig(doc, "data") == [1]
    assert dig(doc, "meta.next.cursor") == "x"
    assert dig(doc, "meta.n") == 0
    assert dig(doc, "") is doc
    assert dig([1, 2], "") == [1, 2]
    assert dig(doc, "meta.missing.deeper") is None
    assert dig(doc, "data.x") is None and dig(doc, "list.a") is None and dig(None, "a") is None


# --------------------------------------------------------------------------- ingest_api (database)


def test_api_intake_is_incremental_and_idempotent(crm, session, settings, rules):
    crm.add(150, updated_at="2026-11-20T10:00:00+00:00")
    first = ingest_api(units(session), cfg(crm), rules, settings, token=TOKEN)
    assert first.error is None and first.totals()["inserted"] == 150 and len(first.pages) == 2
    assert session.get(SourceWatermark, "crm").watermark == datetime(2026, 11, 20, 10, tzinfo=UTC)

    crm.log.clear()
    again = ingest_api(units(session), cfg(crm), rules, settings, token=TOKEN)
    assert again.pages == [] and crm.log[0]["params"]["updated_since"].startswith("2026-11-20T10:00:00")

    crm.add(2, start=150, updated_at="2026-11-21T09:00:00+00:00")
    crm.records[0].update(updated_at="2026-11-21T09:00:00+00:00", last_name="Martin-Dupont")
    third = ingest_api(units(session), cfg(crm), rules, settings, token=TOKEN)
    assert third.totals() == {"rows_read": 3, "inserted": 2, "merged": 1, "quarantined": 0}
    assert session.scalar(select(func.count()).select_from(Lead)) == 152
    assert session.scalar(select(IngestBatch.origin).where(IngestBatch.source == "crm").limit(1)).startswith(crm.url)


def test_a_failed_read_keeps_the_watermark_and_the_pages_already_stored(crm, session, settings, rules):
    crm.add(150)
    crm.respond({"data": crm.records[:100]})
    for _ in range(3):
        crm.fail(503, "down")
    out = ingest_api(units(session), cfg(crm), rules, settings, token=TOKEN)
    assert out.error and "HTTP 503" in out.error and out.totals()["inserted"] == 100
    assert session.get(SourceWatermark, "crm") is None
    retry = ingest_api(units(session), cfg(crm), rules, settings, token=TOKEN)
    assert retry.error is None and retry.totals()["inserted"] == 50
    assert session.scalar(select(func.count()).select_from(Lead)) == 150


def test_quarantined_api_record_is_released_with_the_api_mapping(crm, session, settings, rules):
    from leadops.services.quarantine import list_rows, release

    crm.records.append({"id": 1, "mail": "not-an-address", "given": "Zoé", "company": "Nordlys AS",
                        "updated_at": "2026-11-20T10:00:00+00:00"})
    crm.records.append({"id": 2, "mail": "ok@nordlys.no", "given": "Ola", "company": "Nordlys AS",
                        "updated_at": "2026-11-20T10:00:00+00:00"})
    api = cfg(crm, columns={"mail": "email", "given": "first_name"})
    api_rules = rules.model_copy(update={"sources": rules.sources.model_copy(update={"apis": [api]})})
    out = ingest_api(units(session), api, api_rules, settings, token=TOKEN)
    assert out.totals() == {"rows_read": 2, "inserted": 1, "merged": 0, "quarantined": 1}
    [q] = list_rows(SqlUnitOfWork.around(session))
    [res] = release(SqlUnitOfWork.around(session), [q.id], api_rules, settings, {"email": "zoe@nordlys.no"})
    session.commit()
    assert res.status == "released"
    zoe = session.scalar(select(Lead).where(Lead.email == "zoe@nordlys.no"))
    assert zoe.first_name == "Zoé" and zoe.source == "web_form"


def test_each_api_page_is_committed_in_a_unit_of_work_of_its_own(crm, settings, rules):
    from leadops.db.session import session_scope

    crm.add(150)
    crm.respond({"data": crm.records[:100]})
    for _ in range(3):
        crm.fail(503, "down")
    opened = []

    def counted():
        opened.append(1)
        return sql_units(settings.database_url)()

    out = ingest_api(counted, cfg(crm), rules, settings, token=TOKEN)
    assert out.error and out.totals()["inserted"] == 100
    assert len(opened) == 2  # the watermark read, the one page stored; none for the watermark (not moved)
    with session_scope(settings.database_url) as other:  # stored for good, seen from another session
        assert other.scalar(select(func.count()).select_from(Lead)) == 100
        assert other.get(SourceWatermark, "crm") is None
    retry = ingest_api(sql_units(settings.database_url), cfg(crm), rules, settings, token=TOKEN)
    assert retry.error is None and retry.totals()["inserted"] == 50
    with session_scope(settings.database_url) as other:
        assert other.scalar(select(func.count()).select_from(Lead)) == 150
        assert other.get(SourceWatermark, "crm").pages_read == 2  # the pages of the complete read
