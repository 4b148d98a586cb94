"""CRM API intake against a real loopback HTTP server: pagination, auth, retries, watermark, idempotence."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from leadops.config import ApiSource
from leadops.db.models import IngestBatch, Lead, SourceWatermark
from leadops.services.api_ingest import ingest_api
from leadops.sources.api import ApiError, iter_pages, resolve_token
from tests.support.crm_server import FakeCrm

TOKEN = "s3cret-token"


@pytest.fixture
def crm():
    with FakeCrm(TOKEN) as server:
        yield server


def cfg(crm, **over):
    return ApiSource(name="crm", url=crm.url, source="web_form", page_size=100, max_retries=2, **over)


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def test_page_pagination_reads_every_record(crm):
    crm.add(250)
    pages = list(iter_pages(cfg(crm), None, token=TOKEN))
    assert [len(p.rows) for p in pages] == [100, 100, 50] and len(crm.log) == 3
    assert pages[0].rows[0].fields["email"] == "lead0@forge0.fr" and pages[0].rows[0].raw["id"] == "0"


def test_cursor_pagination_reads_every_record(crm):
    crm.add(250)
    pages = list(iter_pages(cfg(crm, pagination="cursor", next_cursor_path="meta.next_cursor"), None, token=TOKEN))
    assert sum(len(p.rows) for p in pages) == 250 and len(crm.log) == 3


def test_since_asks_only_for_newer_records(crm):
    crm.add(3, updated_at="2026-11-01T00:00:00+00:00")
    crm.add(2, start=3, updated_at="2026-11-21T00:00:00+00:00")
    pages = list(iter_pages(cfg(crm), datetime(2026, 11, 10, tzinfo=timezone.utc), token=TOKEN))
    assert [r.fields["email"] for r in pages[0].rows] == ["lead3@forge3.fr", "lead4@forge4.fr"]
    assert crm.log[0]["params"]["updated_since"] == "2026-11-10T00:00:00+00:00"
    assert pages[0].max_updated_at == datetime(2026, 11, 21, tzinfo=timezone.utc)


def test_wrong_token_says_so_without_leaking_it(crm):
    with pytest.raises(ApiError) as e:
        list(iter_pages(cfg(crm), None, token="wrong-token-value"))
    assert "HTTP 401" in str(e.value) and "check the token" in str(e.value)
    assert "wrong-token-value" not in str(e.value) and TOKEN not in str(e.value)


def test_server_errors_are_retried_with_backoff_and_retry_after(crm):
    crm.add(5)
    crm.faults.extend([(500, {}, "boom", 0), (429, {"Retry-After": "2"}, "slow down", 0)])
    sleeps = Sleeps()
    pages = list(iter_pages(cfg(crm), None, token=TOKEN, sleep=sleeps))
    assert len(pages[0].rows) == 5 and len(crm.log) == 3 and sleeps == [0.5, 2.0]


def test_html_error_page_and_persistent_failure_are_clear_errors(crm):
    crm.faults.append((200, {"Content-Type": "text/html"}, "<html>maintenance</html>", 0))
    with pytest.raises(ApiError, match="response is not JSON"):
        list(iter_pages(cfg(crm), None, token=TOKEN, sleep=Sleeps()))
    crm.faults.extend([(503, {}, "down", 0)] * 3)
    with pytest.raises(ApiError, match="HTTP 503"):
        list(iter_pages(cfg(crm), None, token=TOKEN, sleep=Sleeps()))


def test_timeouts_are_retried_then_reported(crm):
    crm.faults.extend([(200, {}, "{}", 1.0)] * 3)
    sleeps = Sleeps()
    with pytest.raises(ApiError, match="ReadTimeout after 3 attempts"):
        list(iter_pages(cfg(crm, timeout_seconds=0.2), None, token=TOKEN, sleep=sleeps))
    assert sleeps == [0.5, 1.0]


def test_page_key_follows_content(crm):
    crm.add(5)
    a = list(iter_pages(cfg(crm), None, token=TOKEN))[0].key
    b = list(iter_pages(cfg(crm), None, token=TOKEN))[0].key
    crm.records[0]["first_name"] = "Changed"
    c = list(iter_pages(cfg(crm), None, token=TOKEN))[0].key
    assert a == b != c


def test_token_comes_from_the_environment_or_a_clear_error(monkeypatch, crm):
    c = cfg(crm, token_env="LEADOPS_CRM_TOKEN")
    monkeypatch.delenv("LEADOPS_CRM_TOKEN", raising=False)
    with pytest.raises(ApiError, match="set the environment variable LEADOPS_CRM_TOKEN"):
        resolve_token(c)
    monkeypatch.setenv("LEADOPS_CRM_TOKEN", TOKEN)
    assert resolve_token(c) == TOKEN


def test_api_intake_is_incremental_and_idempotent(crm, session, settings, rules):
    crm.add(150, updated_at="2026-11-20T10:00:00+00:00")
    first = ingest_api(session, cfg(crm), rules, settings, token=TOKEN)
    assert first.error is None and first.totals()["inserted"] == 150 and len(first.pages) == 2
    assert session.get(SourceWatermark, "crm").watermark == datetime(2026, 11, 20, 10, tzinfo=timezone.utc)

    crm.log.clear()
    again = ingest_api(session, cfg(crm), rules, settings, token=TOKEN)
    assert again.pages == [] and crm.log[0]["params"]["updated_since"].startswith("2026-11-20T10:00:00")

    crm.add(2, start=150, updated_at="2026-11-21T09:00:00+00:00")
    crm.records[0].update(updated_at="2026-11-21T09:00:00+00:00", last_name="Martin-Dupont")
    third = ingest_api(session, cfg(crm), rules, settings, token=TOKEN)
    assert third.totals() == {"rows_read": 3, "inserted": 2, "merged": 1, "quarantined": 0}
    assert session.scalar(select(func.count()).select_from(Lead)) == 152
    assert session.scalar(select(IngestBatch.origin).where(IngestBatch.source == "crm").limit(1)).startswith(crm.url)


def test_a_failed_read_keeps_the_watermark_and_the_pages_already_stored(crm, session, settings, rules):
    crm.add(150)
    crm.faults.extend([(200, {}, '{"data": ' + __import__("json").dumps(crm.records[:100]) + "}", 0)]
                      + [(503, {}, "down", 0)] * 3)
    out = ingest_api(session, cfg(crm), rules, settings, token=TOKEN)
    assert out.error and "HTTP 503" in out.error and out.totals()["inserted"] == 100
    assert session.get(SourceWatermark, "crm") is None
    retry = ingest_api(session, cfg(crm), rules, settings, token=TOKEN)
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
    out = ingest_api(session, api, api_rules, settings, token=TOKEN)
    assert out.totals() == {"rows_read": 2, "inserted": 1, "merged": 0, "quarantined": 1}
    [q] = list_rows(session)
    [res] = release(session, [q.id], api_rules, settings, {"email": "zoe@nordlys.no"})
    session.commit()
    assert res.status == "released"
    zoe = session.scalar(select(Lead).where(Lead.email == "zoe@nordlys.no"))
    assert zoe.first_name == "Zoé" and zoe.source == "web_form"
