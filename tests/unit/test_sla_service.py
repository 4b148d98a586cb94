"""The SLA sweep and the managers' digest (leadops/services/sla.py) on an in-memory unit of work.

One hand-raiser clock (1 business hour) owned by an SDR of Paris whose manager gets the breaches;
config/sla.yaml's thresholds: reminder at 75%, reassignment at 200%, a cadence of 6 touches in 10d.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadops.db.repositories.sla import Person
from leadops.domain.business_time import WorkCalendar
from leadops.domain.lifecycle import Stage
from leadops.domain.routing import Decision
from leadops.domain.sla import ClockKind, Step
from leadops.services.sla import enforce, queue_breach_digests
from tests.support.fake_outbox import FakeOutboxRepository
from tests.support.fake_sla import FakeClock, FakeLead, FakeSlaRepository
from tests.support.fakes import FakeUnitOfWork

MONDAY_10_PARIS = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OWNER, MANAGER, LEAD = 3, 5, 7
TZ = "Europe/Paris"


class FakeReassign:
    """Records the reassignments asked for and answers with ``decision``."""

    def __init__(self, status: str = "assigned") -> None:
        self.calls: list[tuple[int, str]] = []
        self.status = status

    def __call__(self, uow, lead_id, *, rules, company_tz, now, reason, flow_run_id):
        self.calls.append((lead_id, reason))
        if self.status == "assigned":
            return Decision(lead_id, "assigned", "s.jo", "france-benelux", reason)
        return Decision(lead_id, "unroutable", None, None, "nobody else is available")


@pytest.fixture
def sla():
    paris = WorkCalendar.build(TZ)
    return FakeSlaRepository(
        clocks=[FakeClock(id=1, lead_id=LEAD, sdr_id=OWNER, assignment_id=11, policy="hand-raiser",
                          target_seconds=3600, started_at=MONDAY_10_PARIS,
                          due_at=MONDAY_10_PARIS + timedelta(hours=1))],
        roster={OWNER: Person(OWNER, "s.camille", "Camille", "camille@example.com", MANAGER),
                MANAGER: Person(MANAGER, "m.maria", "Maria", "maria@example.com", None)},
        calendar_of={OWNER: paris, MANAGER: paris},
        leads={LEAD: FakeLead(LEAD, "Atelier Numérique SAS", "atelier-numerique.fr")},
    )


@pytest.fixture
def uow(sla):
    return FakeUnitOfWork(sla=sla, outbox=FakeOutboxRepository())


def sweep(uow, rules, minutes, reassign=None):
    return enforce(uow, rules, TZ, now=MONDAY_10_PARIS + timedelta(minutes=minutes),
                   reassign=reassign or FakeReassign())


def test_a_clock_far_from_its_target_is_left_alone(uow, rules):
    out = sweep(uow, rules, 30)
    assert (out.open, out.reminded, out.breached, out.notifications_queued) == (1, 0, 0, 0)
    assert uow.outbox.messages == {} and uow.sla.events == {}


def test_a_reminder_is_queued_once_for_the_owner(uow, rules):
    out = sweep(uow, rules, 46)
    assert (out.reminded, out.notifications_queued) == (1, 1)
    note = uow.outbox.messages["sla:1:reminder"]
    assert (note.kind, note.recipient, note.lead_id) == ("sla_reminder", "camille@example.com", LEAD)
    assert note.subject == "[leadops] Reminder: first touch due soon for lead #7 (Atelier Numérique SAS)"
    assert uow.sla.clock(1).elapsed_seconds == 46 * 60


def test_a_second_sweep_at_the_same_instant_queues_nothing(uow, rules):
    sweep(uow, rules, 61)
    again = sweep(uow, rules, 61)
    assert (again.reminded, again.breached, again.notifications_queued, again.actions) == (0, 0, 0, [])
    assert sorted(uow.outbox.messages) == ["sla:1:breach:m.maria", "sla:1:breach:s.camille", "sla:1:reminder"]


def test_a_breach_tells_the_owner_and_their_manager_and_marks_the_clock(uow, rules):
    sweep(uow, rules, 46)
    out = sweep(uow, rules, 61)
    assert out.breached == 1 and out.notifications_queued == 2
    assert out.breaches == [{"lead_id": LEAD, "sdr": "s.camille", "policy": "hand-raiser", "clock_id": 1}]
    assert {m.recipient for k, m in uow.outbox.messages.items() if m.kind == "sla_breach"} == {
        "camille@example.com", "maria@example.com"}
    assert uow.sla.clock(1).status == "breached"
    assert out.actions[0]["notified"] == ["s.camille", "m.maria"]


def test_a_first_touch_clock_past_the_reassign_share_is_reassigned_once(uow, rules):
    reassign = FakeReassign()
    out = sweep(uow, rules, 121, reassign)
    assert (out.reminded, out.breached, out.reassigned) == (1, 1, 1)
    assert reassign.calls == [(LEAD, "SLA hand-raiser missed by the owner")]
    assert out.actions[-1] | {"notified": []} == {
        "lead_id": LEAD, "clock_id": 1, "clock": "first_touch", "step": "reassign", "sdr": "s.camille",
        "to": "s.jo", "rule": "france-benelux", "notified": [], "detail": "policy hand-raiser, 202% of target"}
    sweep(uow, rules, 130, reassign)
    assert len(reassign.calls) == 1


def test_a_lead_nobody_else_can_take_stays_with_its_owner(uow, rules):
    out = sweep(uow, rules, 121, FakeReassign(status="unroutable"))
    assert out.reassigned == 0
    assert out.actions[-1]["detail"] == "stays with s.camille: nobody else is available"


def test_steps_are_recorded_with_the_share_of_target(uow, rules):
    sweep(uow, rules, 61)
    assert {(c, s.value): e.detail for (c, s), e in uow.sla.events.items()} == {
        (1, "reminder"): "102% of target", (1, "breach"): "102% of target"}  # 61 of 60 minutes


def test_a_touch_by_the_owner_meets_the_clock_and_opens_the_cadence(uow, rules):
    touch = MONDAY_10_PARIS + timedelta(minutes=20)
    uow.sla.touches_by_lead.append((LEAD, OWNER, "call", touch))
    out = sweep(uow, rules, 180)
    assert (out.met, out.open, out.notifications_queued) == (1, 0, 0)
    clock = uow.sla.clock(1)
    assert (clock.status, clock.met_at, clock.elapsed_seconds) == ("met", touch, 20 * 60)
    assert uow.sla.events[(1, Step.MET)].detail == "first touch in time"
    (cadence,) = [c for c in uow.sla.clocks if c.kind is ClockKind.CADENCE]
    assert (cadence.started_at, cadence.touches_required, cadence.assignment_id) == (touch, 6, 11)
    assert cadence.due_at == datetime(2026, 12, 4, 8, 20, tzinfo=UTC)  # 80 business hours of 9-hour days


def test_a_touch_of_another_kind_does_not_meet_the_clock(uow, rules):
    uow.sla.touches_by_lead.append((LEAD, OWNER, "meeting", MONDAY_10_PARIS + timedelta(minutes=5)))
    assert sweep(uow, rules, 10).met == 0


def test_a_late_cadence_is_escalated_to_owner_and_manager_never_reassigned(uow, rules):
    uow.sla.clocks = [FakeClock(id=2, lead_id=LEAD, sdr_id=OWNER, assignment_id=11, policy="cadence",
                                target_seconds=3600, started_at=MONDAY_10_PARIS, kind=ClockKind.CADENCE,
                                touches_required=6)]
    uow.sla.touches_by_lead.append((LEAD, OWNER, "call", MONDAY_10_PARIS))
    reassign = FakeReassign()
    out = sweep(uow, rules, 180, reassign)
    assert (out.reminded, out.breached, out.reassigned, reassign.calls) == (1, 1, 0, [])
    assert sorted(uow.outbox.messages) == ["sla:2:breach:m.maria", "sla:2:breach:s.camille",
                                           "sla:2:reminder:s.camille"]
    missed = uow.outbox.messages["sla:2:breach:s.camille"]
    assert missed.kind == "cadence_breach" and "1 of 6 follow-up touches so far" in missed.body
    assert "the cadence ends soon" in missed.body  # no due time stored


def test_a_cadence_ends_when_the_lead_moves_on(uow, rules):
    uow.sla.clocks.append(FakeClock(id=2, lead_id=LEAD, sdr_id=OWNER, assignment_id=11, policy="cadence",
                                    target_seconds=3600, started_at=MONDAY_10_PARIS, kind=ClockKind.CADENCE))
    uow.sla.leads[LEAD].stage = Stage.SQL
    out = sweep(uow, rules, 10)
    assert out.closed == 1 and uow.sla.clock(2).status == "closed"


def test_the_sweep_never_commits(uow, rules):
    sweep(uow, rules, 121)
    assert (uow.commits, uow.rollbacks) == (0, 0)


def test_no_open_clock_means_an_empty_summary(uow, rules):
    uow.sla.clocks = []
    out = sweep(uow, rules, 10)
    assert (out.open, out.met, out.notifications_queued) == (0, 0, 0)


# --------------------------------------------------------------------------- digest


def test_the_digest_is_queued_once_per_manager_and_hour(uow, rules):
    sweep(uow, rules, 61)
    at = MONDAY_10_PARIS + timedelta(hours=3, minutes=5)
    assert queue_breach_digests(uow, now=at) == {"managers": 1, "breaches": 1, "queued": 1}
    assert queue_breach_digests(uow, now=at + timedelta(minutes=20)) == {"managers": 1, "breaches": 1, "queued": 0}
    digest = uow.outbox.messages["sla-digest:m.maria:2026112312"]
    assert (digest.kind, digest.recipient, digest.lead_id) == ("sla_digest", "maria@example.com", None)
    assert "owner Camille (s.camille): no first touch, policy hand-raiser" in digest.body
    assert uow.commits == 0


def test_no_breach_means_no_digest(uow):
    assert queue_breach_digests(uow, now=MONDAY_10_PARIS) == {"managers": 0, "breaches": 0, "queued": 0}
    assert uow.outbox.messages == {}
