"""The SLA decision (leadops/domain/sla.py): which steps a clock has reached, and what the messages say."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from leadops.domain.sla import (
    BreachedClock,
    ClockKind,
    ClockState,
    LeadRef,
    Step,
    StepTaken,
    Thresholds,
    breach_message,
    by_manager,
    cadence_message,
    digest_message,
    in_recording_order,
    may_step,
    reminder_message,
    shares_of_target,
    steps_due,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RULES = Thresholds(reminder_at=0.75, reassign_at=2.0)
HOUR = 3600
LEAD = LeadRef(7, "Atelier Numérique SAS", "atelier-numerique.fr")


def first_touch(elapsed: int, *, touched_at: datetime | None = None, target: int = HOUR) -> ClockState:
    return ClockState(id=1, kind=ClockKind.FIRST_TOUCH, target_seconds=target, elapsed_seconds=elapsed,
                      touched_at=touched_at, touch_count=int(touched_at is not None), touches_required=1,
                      policy="hand-raiser", due_at=NOW, lead_id=7, sdr_id=3)


def cadence(elapsed: int, touches: int = 3) -> ClockState:
    return ClockState(id=2, kind=ClockKind.CADENCE, target_seconds=80 * HOUR, elapsed_seconds=elapsed,
                      touched_at=None, touch_count=touches, touches_required=6, policy="cadence", due_at=NOW,
                      lead_id=7, sdr_id=3)


def steps(clock: ClockState) -> list[Step]:
    return [s.step for s in steps_due(clock, RULES, NOW)]


def test_an_open_clock_below_the_reminder_share_takes_no_step():
    assert steps(first_touch(int(0.74 * HOUR))) == []


def test_an_open_clock_is_reminded_at_the_reminder_share():
    assert steps(first_touch(int(0.75 * HOUR))) == [Step.REMINDER]


def test_an_open_clock_past_its_target_is_reminded_and_breached():
    assert steps(first_touch(HOUR)) == [Step.REMINDER, Step.BREACH]


def test_a_first_touch_clock_is_reassigned_at_the_reassign_share():
    assert steps(first_touch(2 * HOUR)) == [Step.REMINDER, Step.BREACH, Step.REASSIGN]


def test_a_cadence_is_escalated_but_never_reassigned():
    assert steps(cadence(10 * 80 * HOUR)) == [Step.REMINDER, Step.BREACH]


def test_a_clock_without_a_target_is_due_at_once():
    assert steps(first_touch(0, target=0)) == [Step.REMINDER, Step.BREACH]


def test_threshold_steps_are_dated_now_and_say_the_share_of_target():
    breach = steps_due(first_touch(HOUR + HOUR // 2), RULES, NOW)[1]
    assert breach == StepTaken(1, Step.BREACH, NOW, HOUR + HOUR // 2, "150% of target")


def test_a_met_clock_takes_only_the_met_step_dated_at_its_touch():
    touch = NOW - timedelta(hours=5)
    assert steps_due(first_touch(3 * HOUR, touched_at=touch), RULES, NOW) == [
        StepTaken(1, Step.MET, touch, 3 * HOUR, "first touch late")]


def test_a_clock_met_within_its_target_is_met_in_time():
    (met,) = steps_due(first_touch(HOUR, touched_at=NOW), RULES, NOW)
    assert met.detail == "first touch in time"  # exactly the target is still in time


def test_a_cadence_met_late_says_so():
    done = replace(cadence(81 * HOUR, touches=6), touched_at=NOW)
    assert [s.detail for s in steps_due(done, RULES, NOW)] == ["follow-up cadence late"]


def test_only_clocks_met_or_past_the_reminder_share_need_a_decision():
    elapsed = np.array([0, 2700, 2699, 10], dtype=np.int64)
    target = np.array([HOUR, HOUR, HOUR, HOUR], dtype=np.int64)
    met = np.array([False, False, False, True])
    assert may_step(met, shares_of_target(elapsed, target), RULES).tolist() == [False, True, False, True]


def test_threshold_steps_are_recorded_step_by_step_then_by_clock():
    taken = [StepTaken(c, s, NOW, 0, "") for c in (2, 1) for s in (Step.REMINDER, Step.BREACH)]
    assert [(s.clock_id, s.step) for s in in_recording_order(taken)] == [
        (1, Step.REMINDER), (2, Step.REMINDER), (1, Step.BREACH), (2, Step.BREACH)]


# --------------------------------------------------------------------------- messages


def test_a_reminder_names_the_lead_its_due_time_and_policy():
    text = reminder_message(LEAD, "Camille", first_touch(2700))
    assert text.subject == "[leadops] Reminder: first touch due soon for lead #7 (Atelier Numérique SAS)"
    assert text.body == ("Camille, lead #7 (Atelier Numérique SAS) is due for a first touch by 2026-11-23 12:00 UTC "
                         "(hand-raiser).\n")


def test_a_reminder_without_a_due_time_says_soon():
    text = reminder_message(LEAD, "Camille", replace(first_touch(2700), due_at=None))
    assert "due for a first touch soon (hand-raiser)" in text.body


def test_a_lead_without_a_company_is_named_by_its_email_domain():
    assert LeadRef(9, None, "acme.de").label == "lead #9 (acme.de)"


def test_a_breach_names_the_owner_and_the_target_in_business_minutes():
    text = breach_message(LEAD, "Camille", first_touch(HOUR))
    assert text.subject == "[leadops] SLA breached: lead #7 (Atelier Numérique SAS) (owner Camille)"
    assert text.body == ("lead #7 (Atelier Numérique SAS) assigned to Camille had no first touch within 60 business "
                         "minutes (policy hand-raiser).\n")


def test_a_cadence_message_says_behind_or_missed_and_counts_the_touches():
    behind = cadence_message(Step.REMINDER, LEAD, "Camille", cadence(70 * HOUR))
    missed = cadence_message(Step.BREACH, LEAD, "Camille", cadence(90 * HOUR))
    assert behind.subject == "[leadops] Follow-up behind: lead #7 (Atelier Numérique SAS)"
    assert missed.subject == "[leadops] Follow-up missed: lead #7 (Atelier Numérique SAS)"
    assert behind.body == ("lead #7 (Atelier Numérique SAS) owned by Camille: 3 of 6 follow-up touches so far; "
                           "the cadence ends by 2026-11-23 12:00 UTC.\n")


def test_the_digest_lists_each_breached_clock_of_the_managers_team():
    started = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clocks = [BreachedClock(1, ClockKind.FIRST_TOUCH, "hand-raiser", started, LEAD, "s.camille", "Camille", 5),
              BreachedClock(2, ClockKind.CADENCE, "cadence", started, LeadRef(9, None, "acme.de"), "s.jo", "Jo", 5),
              BreachedClock(3, ClockKind.FIRST_TOUCH, "hand-raiser", started, LEAD, "s.solo", "Solo", None)]
    teams = by_manager(clocks)
    assert list(teams) == [5] and [c.clock_id for c in teams[5]] == [1, 2]  # an owner without a manager: no digest
    text = digest_message("Maria", teams[5])
    assert text.subject == "[leadops] 2 lead(s) of your team are past their SLA"
    assert text.body == (
        "Hello Maria,\n\nThese leads are past their SLA:\n"
        "- lead #7 (Atelier Numérique SAS), owner Camille (s.camille): no first touch, policy hand-raiser, "
        "clock started 2026-11-23 09:00 UTC\n"
        "- lead #9 (acme.de), owner Jo (s.jo): follow-up cadence missed, policy cadence, "
        "clock started 2026-11-23 09:00 UTC"
        "\n\n`leadops explain LEAD_ID` shows the routing; `leadops reassign LEAD_ID` moves a lead.\n")
