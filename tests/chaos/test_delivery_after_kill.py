"""kill -9 inside delivery (issue 19, item 2), on SQLite and PostgreSQL, over a real webhook and a real SMTP server.

A sender process is SIGKILLed while the receiver holds the 3rd message of a batch (received in full, not yet
answered: the window where the receiver has it and the outbox does not know). The claims of the dead sender
are taken back by the next pass once their lease is past; every key is then delivered, the one in flight
twice at the wire with the same idempotency key, so a de-duplicating receiver has one delivery per key.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from leadops.db.models import Notification, utcnow
from leadops.db.session import session_scope
from leadops.notify.outbox import deliver, enqueue
from leadops.notify.senders import sender_for
from tests.support.units import units_for
from tests.support.receivers import SmtpReceiver, WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 8
HOLD_AT = 3
LEASE_SECONDS = 6  # short, so the test waits seconds; renewed every 2 s by a live sender


def _receiver(channel: str):
    return WebhookReceiver(hold_at=HOLD_AT) if channel == "webhook" else SmtpReceiver(hold_at=HOLD_AT)


def _settings_for(settings, channel: str, receiver):
    if channel == "webhook":
        return settings.model_copy(update={"webhook_url": SecretStr(receiver.url)})
    return settings.model_copy(update={"notify_channel": "smtp", "smtp_port": receiver.port})


def _start_sender(settings, channel: str, receiver, tmp_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADOPS_", "PREFECT_"))}
    env.update(LEADOPS_DATABASE_URL=settings.database_url, LEADOPS_VAR_DIR=str(tmp_path / "var"),
               LEADOPS_CONFIG_DIR=str(ROOT / "config"), LEADOPS_OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS),
               PYTHONPATH=str(ROOT))
    if channel == "webhook":
        env["LEADOPS_WEBHOOK_URL"] = receiver.url
    else:
        env.update(LEADOPS_NOTIFY_CHANNEL="smtp", LEADOPS_SMTP_PORT=str(receiver.port))
    return subprocess.Popen([sys.executable, "-m", "tests.support.deliver_worker"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _claims(url: str) -> list[Notification]:
    with session_scope(url) as s:
        return list(s.scalars(select(Notification).where(Notification.status == "sending").order_by(Notification.id)))


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.1)


def _at_the_wire(channel: str, receiver) -> list[tuple[str, str]]:
    """Return (outbox key, idempotency key) of every delivery the receiver saw, in arrival order."""
    if channel == "webhook":
        return [(body["key"], idem) for idem, _, body in receiver.posts]
    return [(m["X-Leadops-Key"], m["Message-ID"]) for m in receiver.messages]


@pytest.mark.parametrize("channel", ["webhook", "smtp"])
def test_a_sender_killed_mid_batch_leaves_claims_the_next_pass_recovers_with_one_delivery_per_key(
        session, settings, tmp_path, channel):
    keys = [f"assignment:{230 + i}" + (":webhook" if channel == "webhook" else "") for i in range(MESSAGES)]
    for key in keys:
        enqueue(session, key=key, kind="assignment", channel="email" if channel == "smtp" else "webhook",
                recipient="sdr@example.com", subject=f"New lead {key}", body="Lea Martin, Atelier Numerique")
    session.commit()
    receiver = _receiver(channel)
    proc = _start_sender(settings, channel, receiver, tmp_path)
    try:
        _wait_for(lambda: receiver.hold.held.is_set() or proc.poll() is not None, "the sender reaching message 3")
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        first = _claims(settings.database_url)
        assert [n.key for n in first] == keys[HOLD_AT - 1:]  # one batch claimed; the first two are sent
        assert len({n.claimed_by for n in first}) == 1

        # alive but slow: its heartbeat extends the lease, and another pass leaves its claims alone
        _wait_for(lambda: min(n.lease_until for n in _claims(settings.database_url))
                  > first[0].claimed_at + timedelta(seconds=LEASE_SECONDS), "the sender renewing its lease")
        lease = timedelta(seconds=LEASE_SECONDS)
        meanwhile = deliver(units_for(session), sender_for(_settings_for(settings, channel, receiver)), lease=lease)
        assert (meanwhile.sent, meanwhile.recovered) == (0, 0)

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
        receiver.hold.release.set()  # the held message now answers a dead socket
        left = _claims(settings.database_url)
        assert [n.key for n in left] == keys[HOLD_AT - 1:]
        assert session.scalar(select(func.count()).select_from(Notification).where(Notification.status == "sent")) == HOLD_AT - 1

        # the dead sender renews nothing: once its lease is past the next pass takes the claims back
        expires = max(n.lease_until for n in left)
        _wait_for(lambda: utcnow() > expires, "the dead sender's lease to pass", timeout=LEASE_SECONDS * 3)
        second = deliver(units_for(session), sender_for(_settings_for(settings, channel, receiver)), lease=lease)
        assert (second.sent, second.recovered, second.failed) == (MESSAGES - HOLD_AT + 1, MESSAGES - HOLD_AT + 1, 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(60)
        receiver.close()

    # the outbox: one row per key, every one sent, no claim left
    rows = session.execute(select(Notification.key, Notification.status)).all()
    assert sorted(k for k, _ in rows) == sorted(keys) and {s for _, s in rows} == {"sent"}
    # the wire: every key; only the message in flight at the kill twice, both copies with one idempotency key
    wire = _at_the_wire(channel, receiver)
    seen = Counter(key for key, _ in wire)
    assert set(seen) == set(keys)
    assert {k for k, n in seen.items() if n > 1} == {keys[HOLD_AT - 1]} and seen[keys[HOLD_AT - 1]] == 2
    assert len({idem for key, idem in wire if key == keys[HOLD_AT - 1]}) == 1
    # the receiver that de-duplicates on that key: exactly one delivery per key
    kept = receiver.deduplicated()
    assert len(kept) == MESSAGES
    kept_keys = [body["key"] for body in kept.values()] if channel == "webhook" else [m["X-Leadops-Key"] for m in kept.values()]
    assert sorted(kept_keys) == sorted(keys)
