"""Outbox claims are leases and every attempt carries the same idempotency key (both backends).

The kill itself is in tests/chaos/test_delivery_after_kill.py; here the states a kill leaves are set up
directly, so each rule is checked without waiting for a lease.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from leadops.db.models import Notification, utcnow
from leadops.notify.outbox import deliver, enqueue
from leadops.notify.senders import FileSender
from tests.support.units import units_for


class Recording:
    """A sender that records the keys it was given; raises ``stop_with`` on the message at ``stop_at`` (1-based)."""

    def __init__(self, stop_at: int = 0, stop_with: BaseException | None = None) -> None:
        self.keys: list[str] = []
        self.stop_at, self.stop_with = stop_at, stop_with

    def send(self, msg) -> None:
        if len(self.keys) + 1 == self.stop_at:
            raise self.stop_with
        self.keys.append(msg.key)


def _claim_as(session, key: str, holder: str, lease_until) -> None:
    """Leave ``key`` as a sender named ``holder`` that claimed it and then died would."""
    session.execute(update(Notification).where(Notification.key == key)
                    .values(status="sending", claimed_by=holder, claimed_at=utcnow() - timedelta(minutes=1),
                            lease_until=lease_until, attempts=Notification.attempts + 1))
    session.commit()


def _status(session, key: str) -> Notification:
    session.expire_all()
    return session.scalar(select(Notification).where(Notification.key == key))


def _enqueue(session, *keys: str) -> None:
    for key in keys:
        enqueue(session, key=key, kind="assignment", recipient="sdr@example.com", subject=f"Lead {key}", body="b")
    session.commit()


def test_a_claim_under_a_live_lease_is_left_alone_and_taken_back_once_the_lease_is_past(session):
    _enqueue(session, "assignment:238", "assignment:239")
    _claim_as(session, "assignment:238", "other-host:4242:abcd", utcnow() + timedelta(hours=1))
    sender = Recording()
    first = deliver(units_for(session), sender)
    assert sender.keys == ["assignment:239"] and (first.sent, first.recovered) == (1, 0)
    assert _status(session, "assignment:238").status == "sending"

    # its holder died: nobody renews the lease, which runs out
    session.execute(update(Notification).where(Notification.key == "assignment:238")
                    .values(lease_until=utcnow() - timedelta(seconds=1)))
    session.commit()
    second = deliver(units_for(session), sender)
    assert sender.keys == ["assignment:239", "assignment:238"] and (second.sent, second.recovered) == (1, 1)
    note = _status(session, "assignment:238")
    assert note.status == "sent" and note.attempts == 2 and note.lease_until is None
    assert note.claimed_by != "other-host:4242:abcd"  # the pass that sent it


def test_a_claim_left_by_a_version_without_leases_is_taken_back_at_once(session):
    _enqueue(session, "assignment:240")
    _claim_as(session, "assignment:240", None, None)
    report = deliver(units_for(session), Recording())
    assert (report.sent, report.recovered) == (1, 1)


def test_transport_errors_leave_every_message_pending_with_no_claim_held(session):
    _enqueue(session, *[f"k{i}" for i in range(5)])
    deliver(units_for(session), Recording(stop_at=1, stop_with=ConnectionError("refused")))  # every send fails: all five kept
    rows = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert {(n.status, n.attempts, n.lease_until) for n in rows} == {("pending", 1, None)}
    assert [n.last_error for n in rows][:1] == ["ConnectionError: refused"]


def test_a_pass_stopped_mid_batch_hands_its_remaining_claims_back(session):
    _enqueue(session, "k1", "k2", "k3")
    sender = Recording(stop_at=2, stop_with=KeyboardInterrupt())  # e.g. a task timeout cancelling the pass
    with pytest.raises(KeyboardInterrupt):
        deliver(units_for(session), sender)
    assert _status(session, "k1").status == "sent"
    # the one interrupted and the one never tried are pending again, without waiting for the lease
    assert {(_status(session, k).status, _status(session, k).lease_until) for k in ("k2", "k3")} == {("pending", None)}
    later = Recording()
    assert deliver(units_for(session), later).sent == 2 and later.keys == ["k2", "k3"]


def test_the_file_channel_rewrites_the_same_file_after_a_crash_before_sent_was_recorded(session, settings):
    _enqueue(session, "assignment:238", "assignment:239")
    files = FileSender(settings.outbox_dir, "leadops@example.com")
    assert deliver(units_for(session), files).sent == 2
    before = {p.name: p.read_bytes() for p in settings.outbox_dir.iterdir()}
    # the window a kill can hit: the file was written, 'sent' was not committed; the lease has passed
    _claim_as(session, "assignment:238", "dead-host:1:0000", utcnow() - timedelta(seconds=1))
    report = deliver(units_for(session), files)
    assert (report.sent, report.recovered) == (1, 1)
    after = {p.name: p.read_bytes() for p in settings.outbox_dir.iterdir()}
    assert after == before  # the same two files, byte for byte; no half-written file left beside them
    ids = sorted(b.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0] for b in after.values())
    assert len(set(ids)) == 2  # each key its own Message-ID


def test_a_message_whose_sending_kills_its_sender_every_time_is_given_up_after_max_attempts(session):
    from leadops.notify.outbox import MAX_ATTEMPTS

    _enqueue(session, "assignment:poison", "assignment:fine")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        # each pass claims it and dies inside the send (the lease then runs out)
        _claim_as(session, "assignment:poison", f"host:{attempt}:dead", utcnow() - timedelta(seconds=1))
        if attempt < MAX_ATTEMPTS:
            assert _status(session, "assignment:poison").status == "sending"
    sender = Recording()
    report = deliver(units_for(session), sender)
    poison = _status(session, "assignment:poison")
    assert poison.status == "failed" and poison.attempts == MAX_ATTEMPTS
    assert "gave up" in poison.last_error and report.gave_up == 1
    assert sender.keys == ["assignment:fine"]  # the others still go out


def test_sent_is_recorded_with_its_time_and_only_its_own_transaction_skips_the_flush_wait(session):
    """A 'sent' mark records the time of the send; on PostgreSQL its transaction alone commits without waiting for
    the WAL flush (SET LOCAL): the next transaction on the same pooled connection waits again."""
    from leadops.db.repositories.outbox import SqlOutboxRepository

    _enqueue(session, "assignment:300")
    note_id = _status(session, "assignment:300").id
    units = units_for(session)  # ends the session's read: it sees what the units commit
    at = utcnow()
    with units() as uow:
        assert SqlOutboxRepository(uow.session).mark_sent(note_id, at)
        postgres = uow.session.get_bind().dialect.name == "postgresql"
        if postgres:
            assert uow.session.connection().exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    with units() as uow:
        assert not SqlOutboxRepository(uow.session).mark_sent(note_id, utcnow())  # already sent: nothing changes
        uow.commit()
        if postgres:
            assert uow.session.connection().exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    row = _status(session, "assignment:300")
    assert (row.status, row.lease_until, row.last_error) == ("sent", None, None)
    assert row.sent_at.replace(tzinfo=None) == at.replace(tzinfo=None)  # the instant given, not the commit's
