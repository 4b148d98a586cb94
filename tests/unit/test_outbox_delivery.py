"""Outbox delivery on an in-memory outbox: exactly the claims, retries, give-ups and leases of the database's,
and every step in a unit of work of its own, committed before the next send."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from leadops.db.models import utcnow
from leadops.db.repositories.outbox import Message
from leadops.notify.outbox import MAX_ATTEMPTS, deliver
from tests.support.fake_outbox import FakeOutboxRepository
from tests.support.fakes import FakeUnitOfWork


class Units:
    """A factory of fake units of work over one outbox, keeping every unit the delivering thread opened (the
    heartbeat's, on a thread of its own, are counted apart)."""

    def __init__(self, outbox: FakeOutboxRepository) -> None:
        self.outbox = outbox
        self.opened: list[FakeUnitOfWork] = []
        self.renewals = 0
        self._main = threading.get_ident()

    def __call__(self) -> FakeUnitOfWork:
        unit = FakeUnitOfWork(outbox=self.outbox)
        if threading.get_ident() == self._main:
            self.opened.append(unit)
        else:
            self.renewals += 1
        return unit

    def all_ended(self) -> bool:
        return all(u.commits + u.rollbacks == 1 for u in self.opened)


class Recording:
    """A sender that records the keys it was given, checks no unit is open while it sends, and raises
    ``fail_with`` (for every message) when given."""

    def __init__(self, units: Units, fail_with: BaseException | None = None) -> None:
        self.units, self.fail_with = units, fail_with
        self.keys: list[str] = []

    def send(self, msg) -> None:
        # the claim was committed before the send: another sender sees it; no transaction spans a send
        assert self.units.all_ended()
        assert self.units.outbox.rows[msg.key].status == "sending"
        self.keys.append(msg.key)
        if self.fail_with is not None:
            raise self.fail_with


def queued(*keys: str) -> FakeOutboxRepository:
    outbox = FakeOutboxRepository()
    for key in keys:
        outbox.enqueue(Message(key=key, kind="assignment", recipient="sdr@example.com", subject=key, body="b"))
    return outbox


def test_a_sent_message_is_not_sent_again_and_every_unit_is_committed():
    units = Units(queued("assignment:1", "assignment:2"))
    sender = Recording(units)
    first = deliver(units, sender)
    assert (first.sent, first.failed, first.gave_up, first.recovered) == (2, 0, 0, 0)
    assert {r.status for r in units.outbox.rows.values()} == {"sent"}
    second = deliver(units, sender)
    assert second.sent == 0 and sender.keys == ["assignment:1", "assignment:2"]
    assert all(u.commits == 1 and u.rollbacks == 0 for u in units.opened)


def test_a_failing_sender_is_retried_on_each_pass_until_max_attempts_then_given_up():
    units = Units(queued("assignment:3"))
    failing = Recording(units, fail_with=ConnectionError("refused"))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = deliver(units, failing)
        row = units.outbox.rows["assignment:3"]
        assert (report.failed, report.gave_up) == (1, int(attempt == MAX_ATTEMPTS))
        assert row.attempts == attempt and row.lease_until is None
        assert row.status == ("failed" if attempt == MAX_ATTEMPTS else "pending")
    assert row.last_error == "ConnectionError: refused"
    later = Recording(units)
    assert deliver(units, later).sent == 0 and later.keys == []  # given up: never tried again


def test_a_dead_senders_claim_is_left_alone_under_its_lease_and_taken_back_after_it():
    units = Units(queued("assignment:4", "assignment:5"))
    now = utcnow()
    units.outbox.claim([1], "other-host:4242:dead", now, now + timedelta(hours=1))
    sender = Recording(units)
    first = deliver(units, sender)
    assert sender.keys == ["assignment:5"] and (first.sent, first.recovered) == (1, 0)
    assert units.outbox.rows["assignment:4"].status == "sending"

    units.outbox.rows["assignment:4"].lease_until = utcnow() - timedelta(seconds=1)  # nobody renewed it
    second = deliver(units, sender)
    assert sender.keys == ["assignment:5", "assignment:4"] and (second.sent, second.recovered) == (1, 1)
    row = units.outbox.rows["assignment:4"]
    assert (row.status, row.attempts) == ("sent", 2) and row.claimed_by != "other-host:4242:dead"


def test_a_message_that_stopped_its_sender_max_attempts_times_is_given_up():
    units = Units(queued("assignment:poison", "assignment:fine"))
    for attempt in range(MAX_ATTEMPTS):
        units.outbox.claim([1], f"host:{attempt}:dead", utcnow(), utcnow() - timedelta(seconds=1))
    sender = Recording(units)
    report = deliver(units, sender)
    assert report.gave_up == 1 and sender.keys == ["assignment:fine"]
    poison = units.outbox.rows["assignment:poison"]
    assert poison.status == "failed" and "gave up" in (poison.last_error or "")


def test_a_pass_stopped_mid_batch_hands_its_claims_back_at_once():
    units = Units(queued("k1", "k2"))
    with pytest.raises(KeyboardInterrupt):
        deliver(units, Recording(units, fail_with=KeyboardInterrupt()))
    assert {(r.status, r.lease_until) for r in units.outbox.rows.values()} == {("pending", None)}
    assert units.all_ended()


def test_a_slow_send_keeps_its_claims_by_renewing_the_lease():
    units = Units(queued("k1", "k2"))
    lease = timedelta(seconds=0.3)
    leases = []

    class Slow(Recording):
        def send(self, msg) -> None:
            leases.append(units.outbox.rows[msg.key].lease_until)
            super().send(msg)
            # slow until the heartbeat has renewed the claims once, however long the machine takes to run it
            # (the deadline only stops a broken heartbeat from hanging the test)
            deadline = time.monotonic() + 60
            while units.renewals == 0 and time.monotonic() < deadline:
                time.sleep(0.01)

    report = deliver(units, Slow(units), lease=lease)
    assert report.sent == 2
    # the second message was claimed with the first; by its send the heartbeat had renewed its lease
    assert leases[1] > leases[0] and units.renewals > 0
    assert units.all_ended()


class FallingBack(Recording):
    """A sender for which ``refuse`` keys cannot be delivered (raises FallBack); each stands in by ``stand_in``."""

    def __init__(self, units: Units, refuse: set[str], stand_in: bool = True) -> None:
        super().__init__(units)
        self.refuse, self.stand_in = refuse, stand_in

    def send(self, msg) -> None:
        from leadops.notify.senders import FallBack

        super().send(msg)
        if msg.key in self.refuse:
            raise FallBack(f"no Slack member for {msg.recipient}")

    def fallback(self, msg) -> list[Message]:
        if not self.stand_in:
            return []
        return [Message(key=msg.key.removesuffix(":slack"), kind=msg.kind, recipient="sdr@example.com",
                        subject=msg.subject, body="b", channel="email")]


def test_a_message_its_channel_cannot_deliver_is_replaced_by_its_stand_in_in_the_same_pass():
    units = Units(queued("assignment:5:slack", "assignment:6:slack"))
    sender = FallingBack(units, refuse={"assignment:5:slack"})
    report = deliver(units, sender)
    rows = units.outbox.rows
    assert (rows["assignment:5:slack"].status, rows["assignment:5"].status) == ("fallback", "sent")
    assert rows["assignment:5:slack"].last_error == "no Slack member for sdr@example.com"
    assert sender.keys == ["assignment:5:slack", "assignment:6:slack", "assignment:5"]
    assert (report.sent, report.fell_back, report.failed) == (2, 1, 0)
    assert report.fallbacks == [{"key": "assignment:5:slack", "kind": "assignment", "to": "sdr@example.com",
                                 "reason": "no Slack member for sdr@example.com", "instead": "email to sdr@example.com"}]
    assert report.sent_by_channel == {"email": 2}  # the fake queue's messages are all channel "email"


def test_a_refusal_with_no_stand_in_fails_for_good_at_once_with_the_reason():
    units = Units(queued("assignment:7"))
    report = deliver(units, FallingBack(units, refuse={"assignment:7"}, stand_in=False))
    row = units.outbox.rows["assignment:7"]
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "no Slack member for sdr@example.com")
    assert (report.failed, report.gave_up, report.fell_back) == (1, 1, 0)


def test_the_round_that_sends_stand_ins_does_not_retry_a_failed_message_in_the_same_pass():
    units = Units(queued("assignment:8:slack", "assignment:9"))

    class Mixed(FallingBack):
        def send(self, msg) -> None:
            super().send(msg)
            if msg.key == "assignment:9":
                raise ConnectionError("refused")

    sender = Mixed(units, refuse={"assignment:8:slack"})
    report = deliver(units, sender)
    assert sender.keys == ["assignment:8:slack", "assignment:9", "assignment:8"]  # assignment:9 tried once
    assert (units.outbox.rows["assignment:9"].status, units.outbox.rows["assignment:9"].attempts) == ("pending", 1)
    assert (report.sent, report.failed, report.fell_back) == (1, 1, 1)
