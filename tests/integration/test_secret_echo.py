"""No echoed secret anywhere (issue 19, item 3): loopback servers that repeat the credentials they
receive in every encoding (raw, JSON-escaped, percent-encoded, base64 of the token, of the header and
of user:password) in the bodies and headers of 401/403/429/500 answers and of a 200 that is not JSON.

Per channel (CRM API reader, enrichment providers, SMTP, webhook), the services run directly on
SQLite and PostgreSQL; then every error text, every column of every table and ``explain``'s output
are searched for each encoding of the secret: nothing is found, and the errors still say what failed.
"""
import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
import requests
from sqlalchemy import select

from leadops.config import ApiSource, ProviderConfig
from leadops.db.models import EnrichmentLookup, Lead, Notification, ProviderCircuit
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.intake.api import ingest_api
from leadops.services.enrich import enrich_pending
from leadops.sources.api import ApiError, iter_pages
from tests.integration.test_enrich_http import add_leads, with_providers
from tests.support.crm_server import FakeCrm
from tests.support.echo import TOKEN, USER, database_text, echo_body, forms, leaks
from tests.support.firmo_server import FirmoServer

#: (status, Content-Type) of each echoing answer: refused credentials, rate limit, server error, not JSON
ECHOES = [(401, "application/json"), (403, "application/json"), (429, "application/json"),
          (500, "application/json"), (200, "text/html")]


def expected_words(status: int, content_type: str) -> str:
    """What the error must still say for an answer (the redaction keeps the message useful)."""
    return "not JSON" if content_type != "application/json" else f"HTTP {status}"


@pytest.fixture
def crm():
    with FakeCrm(TOKEN) as server:
        server.add(3)
        yield server


def api_cfg(crm, **over):
    return ApiSource(**{"name": "crm", "url": crm.url, "source": "web_form", "page_size": 100, "max_retries": 1,
                        "records_path": "data", **over})


def test_the_echo_servers_really_repeat_every_encoding(crm):
    """The control: an unredacted answer of the test servers holds every form the tests look for."""
    crm.echo(401)
    resp = requests.get(crm.url, headers={"Authorization": "Bearer " + TOKEN}, timeout=10)
    everything = resp.text + json.dumps(dict(resp.headers))
    assert resp.status_code == 401 and set(leaks(everything, TOKEN)) >= set(forms(TOKEN)) - {"percent-lower"}
    with FirmoServer(TOKEN) as srv:
        srv.echo(500)
        resp = requests.get(f"{srv.base}/v5/company/enrich?website=a.fr", headers={"X-Api-Key": TOKEN}, timeout=10)
        assert resp.status_code == 500 and "raw" in leaks(resp.text, TOKEN) and "base64" in leaks(resp.text, TOKEN)


# --------------------------------------------------------------------------- CRM API reader


@pytest.mark.parametrize("status,content_type", ECHOES)
def test_api_reader_error_names_the_failure_and_no_encoding_of_the_token(crm, status, content_type):
    crm.echo(status, content_type)
    with pytest.raises(ApiError) as caught:
        list(iter_pages(api_cfg(crm), None, token=TOKEN, sleep=lambda s: None))
    message = str(caught.value)
    assert leaks(message, TOKEN) == [], message
    assert expected_words(status, content_type) in message and "source crm" in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None  # no unredacted original attached


def test_api_reader_with_basic_auth_hides_the_password_and_the_pair(crm):
    token = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    crm.echo(401)
    with pytest.raises(ApiError) as caught:
        list(iter_pages(api_cfg(crm, auth_prefix="Basic "), None, token=token, sleep=lambda s: None))
    assert leaks(str(caught.value), TOKEN) == [] and leaks(str(caught.value), token) == []


def test_api_ingest_stores_no_secret_on_any_database(session, settings, rules, crm):
    cfg = api_cfg(crm)
    # a clean read first: pages and a watermark
    out = ingest_api(lambda: SqlUnitOfWork.around(session), cfg, rules, settings, token=TOKEN)
    assert out.error is None and out.totals()["inserted"] == 3
    crm.add(2, start=3, updated_at="2026-11-21T10:00:00+00:00")
    for status, content_type in ECHOES:
        crm.echo(status, content_type)
        out = ingest_api(lambda: SqlUnitOfWork.around(session), cfg, rules, settings, token=TOKEN)
        assert out.error and expected_words(status, content_type) in out.error
        assert leaks(out.error, TOKEN) == [], out.error
    assert leaks(database_text(settings.database_url), TOKEN) == []


# --------------------------------------------------------------------------- enrichment providers


@pytest.fixture
def firmo(monkeypatch):
    monkeypatch.setenv("FIRMO_KEY", TOKEN)
    with FirmoServer(TOKEN) as srv:
        yield srv


def providers(srv, failures: int):
    common = {"base_url": srv.base, "token_env": "FIRMO_KEY", "max_retries": 1, "circuit_failures": failures,
              "circuit_cooldown_seconds": 3600}
    # clearbit sends "Authorization: Bearer <key>", People Data Labs "X-Api-Key: <key>"
    return [ProviderConfig(name="clearbit", preset="clearbit", **common),
            ProviderConfig(name="pdl", preset="peopledatalabs", **common)]


def test_enrichment_errors_circuits_and_explain_hold_no_secret_on_any_database(session, settings, rules, firmo):
    from leadops.services.route import explain
    from leadops.services.timeline import timeline

    add_leads(session, settings, rules, ["acme.fr", "forge.de"])
    for status, content_type in ECHOES:
        firmo.echo(status, content_type)
        out = enrich_pending(SqlUnitOfWork.around(session), with_providers(rules, *providers(firmo, failures=100)))
        session.commit()
        assert out.errors == 2, (status, out)
        errors = session.scalars(select(EnrichmentLookup.error)).all()
        assert len(errors) == 4 and all(leaks(e, TOKEN) == [] for e in errors), errors
        words = "refused the credentials" if status in (401, 403) else expected_words(status, content_type)
        assert all(words in e for e in errors), errors
    # the circuit opens on the echoed 500 and keeps its last error; the next pass quotes that error
    firmo.echo(500)
    enrich_pending(SqlUnitOfWork.around(session), with_providers(rules, *providers(firmo, failures=1)))
    session.commit()
    circuits = session.scalars(select(ProviderCircuit)).all()
    assert {c.state for c in circuits} == {"open"} and all("HTTP 500" in c.last_error for c in circuits)
    enrich_pending(SqlUnitOfWork.around(session), with_providers(rules, *providers(firmo, failures=1)))
    session.commit()
    assert all("circuit open" in e for e in session.scalars(select(EnrichmentLookup.error)))
    lead_id = session.scalar(select(Lead.id).where(Lead.email_domain == "acme.fr"))
    events = timeline(SqlUnitOfWork.around(session), lead_id)
    shown = json.dumps({**explain(SqlUnitOfWork.around(session), lead_id), "timeline": events}, default=str)
    assert "circuit open" in shown and leaks(shown, TOKEN) == []
    assert leaks(database_text(settings.database_url), TOKEN) == []


# --------------------------------------------------------------------------- notifications

SMTP_PASSWORD = 'smtp/"pa+ss=&% \\word-42x-long'  # ASCII: smtplib encodes AUTH as ASCII


@pytest.fixture
def echoing_smtp():
    """An SMTP server refusing every login with a 535 reply that repeats the credentials in every encoding."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def authenticator(server, session, envelope, mechanism, auth_data):
        login, password = auth_data.login.decode(), auth_data.password.decode()
        b64 = base64.b64encode
        echoed = " ".join([f"{login}:{password}", b64(f"\0{login}\0{password}".encode()).decode(),
                           b64(f"{login}:{password}".encode()).decode(), b64(password.encode()).decode(),
                           quote(password, safe=""), json.dumps(password)])
        return AuthResult(success=False, handled=False, message=f"535 5.7.8 bad credentials {echoed}")

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - the name aiosmtpd calls
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctl = Controller(Sink(), hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False)
    ctl.start()
    yield port
    ctl.stop()


def test_smtp_auth_failure_echoing_the_password_is_stored_redacted(session, settings, echoing_smtp):
    from pydantic import SecretStr

    from leadops.notify.outbox import deliver, enqueue
    from leadops.notify.senders import SmtpSender
    from tests.support.units import units_for

    assert enqueue(session, key="k-smtp", kind="test", recipient="sdr@example.com", subject="s", body="b")
    session.commit()
    s = settings.model_copy(update={"smtp_port": echoing_smtp, "smtp_username": USER,
                                    "smtp_password": SecretStr(SMTP_PASSWORD)})
    assert deliver(units_for(session), SmtpSender(s)).failed == 1
    error = session.scalar(select(Notification.last_error))
    assert "SMTPAuthenticationError" in error and "535" in error, error
    assert leaks(error, SMTP_PASSWORD) == [], error
    assert leaks(database_text(settings.database_url), SMTP_PASSWORD) == []


@pytest.fixture
def echoing_webhook():
    """A webhook receiver answering 500 with the URL it was called at and the credentials, in every encoding."""
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received = self.path + " " + self.headers.get("Authorization", "")
            body = echo_body(received, self.path).encode()
            self.send_response(500)
            self.send_header("Content-Type", "text/plain")
            self.send_header("X-Echo", self.path)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_webhook_error_echoing_the_url_is_stored_without_it(session, settings, echoing_webhook):
    from pydantic import SecretStr

    from leadops.notify.outbox import deliver, enqueue
    from leadops.notify.senders import WebhookSender
    from tests.support.units import units_for

    path = "/services/T0/B0/" + quote(TOKEN, safe="")
    url = f"http://{USER}:{quote(SMTP_PASSWORD, safe='')}@127.0.0.1:{echoing_webhook}{path}?token={quote(TOKEN, safe='')}"
    assert enqueue(session, key="k-hook", kind="test", recipient="#sales", subject="s", body="b", channel="webhook")
    session.commit()
    assert deliver(units_for(session), WebhookSender(settings.model_copy(update={"webhook_url": SecretStr(url)}))).failed == 1
    error = session.scalar(select(Notification.last_error))
    assert "HTTP 500" in error, error
    stored = database_text(settings.database_url)
    for secret in (TOKEN, SMTP_PASSWORD, url, path):
        assert leaks(stored, secret) == [], secret
