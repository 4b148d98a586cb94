"""The real-time intake service on loopback (uvicorn, a real database): authenticated posts are stored before they
are answered, invalid leads are answered 422 and quarantined, a retried request stores nothing twice, and an
accepted hand-raiser is routed and its SDR notified right after, without any Prefect run."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests
from sqlalchemy import func, select

from leadops.config import SourcesRules, WebhookSource
from leadops.db.models import Assignment, IntakeRequest, Lead, Notification, Quarantine
from leadops.intake.webhook import sign

SECRET = "intake-secret-0123456789abcdef"
LEA = {"email": "lea@atelier-numerique.fr", "first_name": "Léa", "last_name": "Martin",
       "company": "Atelier Numérique SAS", "job_title": "DSI", "country": "France", "source": "demo_request"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_webhooks(rules):
    """Return ``rules`` with two webhooks: bearer ``web-form`` and hmac ``signed``."""
    hooks = [WebhookSource(name="web-form"), WebhookSource(name="signed", auth="hmac", source="contact_sales"),
             WebhookSource(name="salesforce", shape="salesforce_outbound", auth="url_token", source="contact_sales")]
    return rules.model_copy(update={"sources": SourcesRules.model_validate(
        {**rules.sources.model_dump(), "webhooks": [h.model_dump() for h in hooks]})})


def serve(settings, rules):
    """Start the service on a free port in a thread; returns (its base URL, a function stopping it)."""
    import uvicorn

    from leadops.realtime.app import create_app

    app = create_app(settings, rules, {"web-form": SECRET, "signed": SECRET, "salesforce": SECRET},
                     router_idle_seconds=0.5)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started

    service = app.state.service

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=90)
        # nothing of the service goes on: a router left running would route and deliver in later tests' database
        assert not thread.is_alive() and not service.router._thread.is_alive() and not service.group._thread.is_alive()
    return f"http://127.0.0.1:{port}", stop


@pytest.fixture
def service(settings, rules, roster):
    """The service with two webhooks (bearer ``web-form``, hmac ``signed``) on a free port; yields its base URL."""
    url, stop = serve(settings, with_webhooks(rules))
    yield url
    stop()


def post(url, body, *, token=SECRET, **headers):
    return requests.post(url, data=json.dumps(body), timeout=30, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}", **headers})


def count(session, model) -> int:
    session.rollback()  # a new snapshot: what the service committed since
    return int(session.scalar(select(func.count()).select_from(model)))


def wait_for(check, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    return check()


def test_a_posted_hand_raiser_is_stored_answered_routed_and_notified(service, session):
    resp = post(f"{service}/v1/leads", LEA)
    assert resp.status_code == 202, resp.text
    [accepted] = resp.json()["accepted"]
    lead = session.get(Lead, accepted["lead_id"])
    assert lead.email == "lea@atelier-numerique.fr" and lead.source == "demo_request"  # stored before the answer

    def notified():
        session.rollback()  # a new snapshot: what the service committed since
        return session.scalar(select(Notification).where(Notification.lead_id == lead.id,
                                                         Notification.kind == "assignment",
                                                         Notification.status == "sent"))
    note = wait_for(notified)
    assert note is not None, requests.get(f"{service}/healthz", timeout=10).text
    assignment = session.scalar(select(Assignment).where(Assignment.lead_id == lead.id))
    assert assignment.rule == "france-benelux" and assignment.active
    health = requests.get(f"{service}/healthz", timeout=10).json()
    assert health["ok"] and health["requests_stored"] == 1 and health["router"]["routed"] >= 1


def test_wrong_credentials_are_refused_with_one_line_and_nothing_is_stored(service, session, caplog):
    caplog.set_level("WARNING", logger="leadops.intake")
    assert post(f"{service}/v1/leads", LEA, token="not-the-secret-at-all").json() == {"error": "wrong bearer token"}
    assert requests.post(f"{service}/v1/leads", json=LEA, timeout=10).status_code == 401
    body = json.dumps(LEA).encode()
    stamp = int(time.time())
    signed = {"Content-Type": "application/json", "X-Leadops-Timestamp": str(stamp)}
    bad = requests.post(f"{service}/v1/leads/signed", data=body, timeout=10,
                        headers={**signed, "X-Leadops-Signature": sign("another-secret-xxxxxxxx", stamp, body)})
    old = requests.post(f"{service}/v1/leads/signed", data=body, timeout=10, headers={
        **signed, "X-Leadops-Timestamp": str(stamp - 3600), "X-Leadops-Signature": sign(SECRET, stamp - 3600, body)})
    assert (bad.status_code, bad.json()["error"]) == (401, "wrong signature")
    assert old.status_code == 401 and "replayed or the sender's clock is wrong" in old.json()["error"]
    assert count(session, Lead) == 0
    assert "lea@" not in caplog.text and "refused a request to webhook signed from 127.0.0.1: HTTP 401" in caplog.text
    good = requests.post(f"{service}/v1/leads/signed", data=body, timeout=30,
                         headers={**signed, "X-Leadops-Signature": sign(SECRET, stamp, body)})
    assert good.status_code == 202, good.text


def test_an_invalid_lead_is_answered_422_naming_why_and_quarantined(service, session):
    resp = post(f"{service}/v1/leads", {**LEA, "email": "not-an-email"})
    assert resp.status_code == 422
    answer = resp.json()
    assert answer["accepted"] == [] and answer["quarantined"][0]["lead"] == 1
    assert any("email" in r for r in answer["quarantined"][0]["reasons"]), answer
    session.rollback()
    held = session.scalar(select(Quarantine))
    assert held.source == "web-form" and held.raw["email"] == "not-an-email"
    # a batch with one good and one bad lead: 202, each lead's fate in the answer
    mixed = post(f"{service}/v1/leads", [LEA, {"first_name": "No", "last_name": "Email"}])
    assert mixed.status_code == 202 and len(mixed.json()["accepted"]) == 1 and len(mixed.json()["quarantined"]) == 1


def test_a_retried_request_gets_the_same_answer_and_stores_nothing_twice(service, session):
    first = post(f"{service}/v1/leads", LEA, **{"Idempotency-Key": "form-42"})
    again = post(f"{service}/v1/leads", LEA, **{"Idempotency-Key": "form-42"})
    assert first.status_code == again.status_code == 202
    assert again.json() == {**first.json(), "replayed": True}
    assert count(session, IntakeRequest) == 1
    assert count(session, Lead) == 1
    # without a key, the same body posted twice is one submission too
    other = {**LEA, "email": "tom@example-nowhere.fr", "first_name": "Tom", "last_name": "Petit", "company": "Nowhere"}
    once, twice = post(f"{service}/v1/leads", other), post(f"{service}/v1/leads", other)
    assert twice.json() == {**once.json(), "replayed": True}
    assert count(session, Lead) == 2


def test_a_form_post_and_the_limits_of_a_request(service, session):
    form = requests.post(f"{service}/v1/leads", data=LEA, timeout=30, headers={"Authorization": f"Bearer {SECRET}"})
    assert form.status_code == 202, form.text
    too_many = post(f"{service}/v1/leads", [LEA] * 101)
    assert too_many.status_code == 413 and "at most 100" in too_many.json()["error"]
    assert requests.post(f"{service}/v1/leads", data=b"<xml/>", timeout=10, headers={
        "Authorization": f"Bearer {SECRET}", "Content-Type": "text/xml"}).status_code == 415
    assert post(f"{service}/v1/leads/nope", LEA).status_code == 404
    huge = requests.post(f"{service}/v1/leads", data=b"x" * 1_000_001, timeout=30, headers={
        "Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"})
    assert (huge.status_code, huge.json()) == (413, {"error": "body over 1000000 bytes"})

    def chunks():  # no Content-Length: read up to the limit only
        yield from (b"x" * 100_000 for _ in range(20))
    streamed = requests.post(f"{service}/v1/leads", data=chunks(), timeout=30, headers={
        "Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_leadops_intake_serve_as_documented(tmp_path):
    """The documented commands: a webhook in sources.yaml, its secret in the environment, `leadops intake serve`;
    a post is answered 202 and its SDR's email lands in the outbox; without the secret, one line and exit 2."""
    import shutil
    import subprocess

    import yaml

    from tests.conftest import ROOT
    from tests.e2e.test_demo_cli import LEADOPS, env_for

    cfg = tmp_path / "config"
    shutil.copytree(ROOT / "config", cfg)
    sources = yaml.safe_load((cfg / "sources.yaml").read_text(encoding="utf-8"))
    sources["webhooks"] = [{"name": "web-form", "source": "demo_request"}]
    (cfg / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
    port = _free_port()
    env = env_for(tmp_path, LEADOPS_CONFIG_DIR=str(cfg))
    missing = subprocess.run([LEADOPS, "intake", "serve", "--port", str(port)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == (
        "leadops: error: webhook web-form: no secret of at least 16 characters: set LEADOPS_INTAKE_SECRET or "
        "secret_block in sources.yaml")
    env["LEADOPS_INTAKE_SECRET"] = SECRET
    proc = subprocess.Popen([LEADOPS, "intake", "serve", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"

        def up():
            try:
                return requests.get(f"{url}/healthz", timeout=2).ok
            except requests.ConnectionError:
                return False
        assert wait_for(up, 120), proc.stderr.read() if proc.poll() is not None else "not listening"
        resp = post(f"{url}/v1/leads/web-form", {k: v for k, v in LEA.items() if k != "source"})
        assert resp.status_code == 202, resp.text
        outbox = tmp_path / "var" / "outbox"
        assert wait_for(lambda: list(outbox.glob("*.eml")) if outbox.exists() else []), "no SDR email"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    assert SECRET not in out + err and "lea@" not in err


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_instances_on_one_database_store_and_route_each_lead_once(settings, rules, roster, session):
    """The same requests sent to two instances at once (a load balancer retrying on the other): each is stored
    once, both answer it the same way, and each lead is assigned once."""
    from concurrent.futures import ThreadPoolExecutor

    rules = with_webhooks(rules)
    (a, stop_a), (b, stop_b) = serve(settings, rules), serve(settings, rules)
    try:
        leads = [{**LEA, "email": f"buyer{i}@company{i}.example", "first_name": f"Buyer{i}", "last_name": "Lambert",
                  "company": f"Company {i}"} for i in range(20)]

        def both(i: int) -> tuple[int, int]:
            key = {"Idempotency-Key": f"lead-{i}"}
            with ThreadPoolExecutor(2) as pool:
                ra, rb = pool.map(lambda url: post(f"{url}/v1/leads", leads[i], **key), (a, b))
            return ra.status_code, rb.status_code
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(both, range(20)))
        assert answers == [(202, 202)] * 20

        def all_routed() -> bool:
            session.rollback()
            return session.scalar(select(func.count()).select_from(Assignment)) == 20
        assert wait_for(all_routed)
    finally:
        stop_a()
        stop_b()
    session.rollback()
    assert count(session, Lead) == 20 and count(session, IntakeRequest) == 20
    per_lead = session.execute(select(Assignment.lead_id, func.count()).group_by(Assignment.lead_id)).all()
    assert len(per_lead) == 20 and {n for _, n in per_lead} == {1}


def test_a_salesforce_outbound_message_is_acknowledged_once_stored(service, session):
    from tests.unit.test_webhook_requests import SF_MESSAGE

    url = f"{service}/v1/leads/salesforce"
    assert requests.post(url, data=SF_MESSAGE, timeout=10, headers={"Content-Type": "text/xml"}).status_code == 401
    for _ in range(2):  # Salesforce sends a message again until it has its acknowledgment
        resp = requests.post(f"{url}?token={SECRET}", data=SF_MESSAGE, timeout=30, headers={"Content-Type": "text/xml"})
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/xml")
        assert "<Ack>true</Ack>" in resp.text
    assert count(session, Lead) == 1
    lead = session.scalar(select(Lead))
    assert (lead.email, lead.company, lead.source) == ("lea@atelier-numerique.fr", "Atelier Numérique SAS", "contact_sales")


SIGNING = "slack-signing-secret-0123456789"


def _press(url, action_id, lead_id, user_id, response_url, *, secret=SIGNING, stamp=None):
    from urllib.parse import urlencode

    from leadops.realtime.slack_actions import slack_signature

    payload = {"type": "block_actions", "user": {"id": user_id}, "response_url": response_url,
               "actions": [{"action_id": action_id, "value": str(lead_id), "action_ts": str(time.time())}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = stamp or int(time.time())
    return requests.post(f"{url}/v1/slack/actions", data=body, timeout=30, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": slack_signature(secret, stamp, body)})


def test_the_slack_buttons_record_a_contact_or_hand_the_lead_back_for_its_owner_only(settings, rules, roster, session):
    from leadops.config import NotifyRules, SlackRules
    from leadops.db.models import Activity, Sdr
    from tests.support.receivers import WebhookReceiver

    slack_rules = SlackRules(enabled=True, interactive=True, api_url="http://127.0.0.1:9/api/")
    people = [p.model_copy(update={"slack_user": f"U{p.code.replace('.', '').upper()}"}) for p in rules.roster.people]
    rules = with_webhooks(rules).model_copy(update={
        "notify": NotifyRules(slack=slack_rules), "roster": rules.roster.model_copy(update={"people": people})})
    settings = settings.model_copy(update={"slack_signing_secret": __import__("pydantic").SecretStr(SIGNING)})
    url, stop = serve(settings, rules)
    receiver = WebhookReceiver()
    try:
        lead_id = post(f"{url}/v1/leads", LEA).json()["accepted"][0]["lead_id"]

        def owner():
            session.rollback()
            lead = session.get(Lead, lead_id)
            return session.get(Sdr, lead.owner_sdr_id) if lead.owner_sdr_id else None
        first = wait_for(owner)
        assert first is not None
        # the assignment message carries the buttons (Slack itself is unreachable here: the message falls back)
        note = session.scalar(select(Notification).where(Notification.lead_id == lead_id,
                                                         Notification.kind == "assignment"))
        blocks = json.loads(note.body)["blocks"]
        assert [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]] == [
            "leadops_contacted", "leadops_not_mine"]

        me = f"U{first.code.replace('.', '').upper()}"
        bad = _press(url, "leadops_contacted", lead_id, me, receiver.url, secret="not-the-signing-secret-x")
        assert (bad.status_code, bad.json()["error"]) == (401, "wrong signature")
        stale = _press(url, "leadops_contacted", lead_id, me, receiver.url, stamp=int(time.time()) - 600)
        assert stale.status_code == 401
        other = _press(url, "leadops_contacted", lead_id, "UMLAURENT", receiver.url)
        assert other.status_code == 200 and "not yours: nothing changed" in other.json()["text"]
        done = _press(url, "leadops_contacted", lead_id, me, receiver.url)
        assert "contact recorded" in done.json()["text"]
        session.rollback()
        touch = session.scalar(select(Activity).where(Activity.lead_id == lead_id))
        assert (touch.kind, touch.sdr_id, touch.outcome) == ("call", first.id, "contacted")
        assert [p[2]["text"] for p in receiver.posts][-1] == done.json()["text"]  # the rep sees it in Slack

        moved = _press(url, "leadops_not_mine", lead_id, me, receiver.url)
        assert moved.json()["text"].startswith(f"lead #{lead_id} moved to ")
        assert owner().code != first.code
    finally:
        stop()
        receiver.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_slow_enrichment_provider_delays_no_lead_past_its_short_timeout(settings, rules, roster, session,
                                                                         monkeypatch):
    """The provider answers 5 s late; the service asks it once with realtime_timeout_seconds (0.3 s), routes the
    lead on what it knows, and enriches it when the provider answers again."""
    from leadops.db.models import EnrichmentLookup
    from tests.integration.test_enrich_http import KEY, KNOWN, clearbit, with_providers
    from tests.support.firmo_server import FirmoServer

    monkeypatch.setenv("FIRMO_KEY", KEY)
    with FirmoServer(KEY) as firmo:
        for domain, company in KNOWN.items():
            firmo.add(domain, **company)
        firmo.latency = 5.0
        slow = with_providers(with_webhooks(rules), clearbit(firmo, max_retries=3, timeout_seconds=10),
                              realtime_timeout_seconds=0.3)
        url, stop = serve(settings, slow)
        try:
            lead_id = post(f"{url}/v1/leads", {**LEA, "email": "ana@acme.fr", "company": "Acme"}).json()[
                "accepted"][0]["lead_id"]

            def routed():
                session.rollback()
                return session.scalar(select(Assignment).where(Assignment.lead_id == lead_id))
            assert wait_for(routed, 30)
            session.rollback()
            assert session.get(Lead, lead_id).enrichment_status == "error"
            assert len([r for r in firmo.log if r["domain"] == "acme.fr"]) == 1  # asked once: no retry
            firmo.latency = 0.0
            post(f"{url}/v1/leads", {**LEA, "email": "bob@forge.de", "first_name": "Bob", "company": "Forge"})

            def enriched():
                session.rollback()
                return session.get(Lead, lead_id).enrichment_status == "enriched"
            assert wait_for(enriched, 30), session.scalars(select(EnrichmentLookup.error)).all()
        finally:
            stop()


def test_a_lead_that_arrives_by_post_and_by_file_is_one_lead(service, session, settings, rules):
    from leadops.db.models import LeadMerge
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.intake.files import ingest_file

    lead_id = post(f"{service}/v1/leads", LEA).json()["accepted"][0]["lead_id"]
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    path = settings.inbox_dir / "webinar.csv"
    path.write_text("Email,First Name,Last Name,Company,Source\nLEA@atelier-numerique.fr,Léa,Martin,Atelier "
                    "Numérique SAS,webinar\n", encoding="utf-8")
    session.rollback()
    from leadops.db.session import when_unlocked

    def ingest():
        with SqlUnitOfWork(settings.database_url) as uow:
            return ingest_file(uow, path, rules, settings)
    out = when_unlocked(ingest)
    assert (out.inserted, out.merged) == (0, 1)
    assert count(session, Lead) == 1
    assert session.scalar(select(LeadMerge.lead_id)) == lead_id
