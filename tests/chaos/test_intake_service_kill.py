"""kill -9 of the real-time intake service during a burst (issue 23, item 5), on SQLite and PostgreSQL: every lead
answered 202 is stored, routed exactly once and its SDR notified exactly once after a restart; a request cut off
by the kill is retried with its Idempotency-Key and stores nothing twice."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter

import psutil
import pytest
import requests
import yaml
from sqlalchemy import select

from leadops.db.models import Assignment, Lead, Notification
from leadops.db.session import session_scope
from tests.conftest import ROOT
from tests.e2e.test_demo_cli import LEADOPS, env_for
from tests.integration.test_realtime_intake import SECRET, _free_port, wait_for

LEADS = 60


def _lead(i: int) -> dict[str, str]:
    # distinct domains: no two leads are the same person to the fuzzy dedupe
    return {"email": f"buyer{i}@company{i}.example", "first_name": f"Buyer{i}", "last_name": "Lambert",
            "company": f"Company {i}", "job_title": "DSI", "country": "France", "source": "demo_request"}


class Service:
    """`leadops intake serve` as a subprocess of the test."""

    def __init__(self, tmp_path, env) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([LEADOPS, "intake", "serve", "--port", str(self.port)], cwd=tmp_path, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            try:
                return requests.get(f"{self.url}/healthz", timeout=2).ok
            except requests.ConnectionError:
                return False
        assert wait_for(up, 120), "the service did not start"


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_kill_9_during_a_burst_loses_no_accepted_lead_and_doubles_nothing(tmp_path, db_url):
    cfg = tmp_path / "config"
    shutil.copytree(ROOT / "config", cfg)
    sources = yaml.safe_load((cfg / "sources.yaml").read_text(encoding="utf-8"))
    sources["webhooks"] = [{"name": "web-form"}]
    (cfg / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True), encoding="utf-8")
    env = env_for(tmp_path, LEADOPS_CONFIG_DIR=str(cfg), LEADOPS_DATABASE_URL=db_url, LEADOPS_INTAKE_SECRET=SECRET,
                  LEADOPS_OUTBOX_LEASE_SECONDS="2")
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def send(service: Service, i: int) -> None:
        try:
            resp = requests.post(f"{service.url}/v1/leads", json=_lead(i), timeout=30, headers={
                "Authorization": f"Bearer {SECRET}", "Idempotency-Key": f"lead-{i}"})
        except requests.ConnectionError:
            return  # cut off by the kill: no answer, nothing promised
        with lock:
            answers[i] = resp.status_code

    first = Service(tmp_path, env)
    # warm (GX imported, first batch done) with a lead that is quarantined: the burst meets a service at speed
    warm = requests.post(f"{first.url}/v1/leads", json={"email": "not-an-email"}, timeout=60,
                         headers={"Authorization": f"Bearer {SECRET}"})
    assert warm.status_code == 422
    threads = [threading.Thread(target=send, args=(first, i)) for i in range(LEADS)]

    def burst() -> None:
        for t in threads:  # about 40 leads a second
            t.start()
            time.sleep(0.025)
    starter = threading.Thread(target=burst)
    starter.start()
    # mid-burst: some leads answered, others in flight or not sent yet
    assert wait_for(lambda: sum(s == 202 for s in dict(answers).values()) >= 10, 60)
    children = psutil.Process(first.proc.pid).children(recursive=True)  # its validation process
    assert children
    os.kill(first.proc.pid, signal.SIGKILL)
    starter.join()
    for t in threads:
        t.join()
    first.proc.wait(timeout=30)
    # no orphan: the validation process of the killed service notices and exits (it held ~250 MB each)
    assert wait_for(lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children), 30)
    accepted_before = {i for i, status in answers.items() if status == 202}
    assert len(accepted_before) < LEADS  # the kill cut the burst

    second = Service(tmp_path, env)
    try:
        # the senders retry what got no answer, with the same keys; what was answered is answered the same again
        for i in range(LEADS):
            send(second, i)
        assert {i for i, s in answers.items() if s == 202} == set(range(LEADS)), answers

        def settled() -> bool:
            with session_scope(db_url) as s:
                sent = s.scalars(select(Notification.status).where(Notification.kind == "assignment")).all()
                return len(sent) == LEADS and set(sent) == {"sent"}
        assert wait_for(settled, 120), requests.get(f"{second.url}/healthz", timeout=10).text
    finally:
        second.proc.terminate()
        second.proc.wait(timeout=60)

    with session_scope(db_url) as s:
        assignments = s.execute(select(Assignment.lead_id, Assignment.active)).all()
        notes = s.execute(select(Notification.key, Notification.lead_id).where(Notification.kind == "assignment")).all()
        routed_emails = set(s.scalars(select(Lead.email).join(Assignment, Assignment.lead_id == Lead.id)))
    assert len(assignments) == LEADS and all(active for _, active in assignments)  # each lead routed once
    assert max(Counter(lead for lead, _ in assignments).values()) == 1
    assert len({k for k, _ in notes}) == len(notes) == LEADS  # one notification per assignment
    # in particular the leads answered 202 by the service that was killed
    assert {_lead(i)["email"] for i in accepted_before} <= routed_emails
    outbox = tmp_path / "var" / "outbox"
    assert len(list(outbox.glob("*.eml"))) == LEADS
