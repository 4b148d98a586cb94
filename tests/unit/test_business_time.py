"""Business-time clock: SLA due dates in the owner's calendar."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from leadops.domain.business_time import (
    WorkCalendar,
    add_business_seconds,
    business_seconds_between,
    is_working,
    next_working_instant,
    working_intervals,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
HOUR = 3600


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


@pytest.fixture
def paris_cal() -> WorkCalendar:
    return WorkCalendar.build("Europe/Paris")


@pytest.fixture
def paris_fr_cal() -> WorkCalendar:
    return WorkCalendar.build("Europe/Paris", holiday_country="FR")


@pytest.fixture
def ny_cal() -> WorkCalendar:
    return WorkCalendar.build("America/New_York")


# --------------------------------------------------------------------------- #
# Calendar construction
# --------------------------------------------------------------------------- #
def test_build_parses_strings_and_defaults():
    cal = WorkCalendar.build("Europe/Paris")
    assert cal.work_start == time(9, 0)
    assert cal.work_end == time(18, 0)
    assert cal.work_days == frozenset({0, 1, 2, 3, 4})
    assert cal.holiday_country is None
    assert cal.out_of_office == ()


def test_build_accepts_iso_out_of_office_strings():
    cal = WorkCalendar.build(
        "Europe/Paris", out_of_office=[("2026-01-12T00:00:00+01:00", "2026-01-14T00:00:00+01:00")]
    )
    assert cal.out_of_office == ((paris(2026, 1, 12), paris(2026, 1, 14)),)


def test_calendar_is_hashable_and_comparable():
    a = WorkCalendar.build("Europe/Paris", holiday_country="fr")
    b = WorkCalendar.build("Europe/Paris", holiday_country="FR")
    assert a == b and hash(a) == hash(b)
    assert a.holiday_country == "FR"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "unknown IANA time zone 'Mars/Olympus_Mons'"),
        ({"time_zone": "Europe/Paris", "work_start": "18:00", "work_end": "09:00"}, "work_end 09:00:00 must be after work_start"),
        ({"time_zone": "Europe/Paris", "work_start": "09:00", "work_end": "09:00"}, "work_end 09:00:00 must be after work_start"),
        ({"time_zone": "Europe/Paris", "work_start": "nine"}, "work_start must look like 'HH:MM'"),
        ({"time_zone": "Europe/Paris", "work_days": (0, 7)}, r"work_days must be integers .*, got \[7\]"),
        ({"time_zone": "Europe/Paris", "holiday_country": "XX"}, "holiday_country 'XX' is not supported"),
        ({"time_zone": "Europe/Paris", "holiday_subdivision": "ENG"}, "holiday_subdivision needs a holiday_country"),
        ({"time_zone": "Europe/London", "holiday_country": "GB", "holiday_subdivision": "NOPE"},
         "holiday_subdivision 'NOPE' is not a subdivision of GB"),
        ({"time_zone": "Europe/Paris", "out_of_office": [(datetime(2026, 1, 1), datetime(2026, 1, 2))]},  # noqa: DTZ001 - naive on purpose
         r"out_of_office\[0\] start .* is naive"),
        ({"time_zone": "Europe/Paris", "out_of_office": [(paris(2026, 1, 2), paris(2026, 1, 1))]},
         r"out_of_office\[0\] ends .* before it starts"),
    ],
)
def test_invalid_calendars_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WorkCalendar.build(**kwargs)


# --------------------------------------------------------------------------- #
# The headline examples
# --------------------------------------------------------------------------- #
def test_lead_arriving_friday_2359_paris_with_1_business_hour_is_due_monday_10_paris(paris_cal):
    due = add_business_seconds(paris_cal, paris(2026, 1, 9, 23, 59), HOUR)
    assert due == paris(2026, 1, 12, 10, 0)
    assert due.tzinfo is UTC


def test_lead_arriving_during_working_hours_is_due_one_hour_later(paris_cal):
    assert add_business_seconds(paris_cal, paris(2026, 1, 13, 10, 30), HOUR) == paris(2026, 1, 13, 11, 30)


def test_lead_arriving_before_opening_counts_from_opening(paris_cal):
    assert add_business_seconds(paris_cal, paris(2026, 1, 13, 7, 0), HOUR) == paris(2026, 1, 13, 10, 0)


def test_lead_arriving_late_in_the_day_rolls_over_to_next_morning(paris_cal):
    assert add_business_seconds(paris_cal, paris(2026, 1, 13, 17, 30), HOUR) == paris(2026, 1, 14, 9, 30)


def test_budget_running_out_exactly_at_closing_time_is_due_at_closing(paris_cal):
    assert add_business_seconds(paris_cal, paris(2026, 1, 13, 17, 0), HOUR) == paris(2026, 1, 13, 18, 0)


def test_no_lunch_break_a_lead_at_noon_is_due_at_one(paris_cal):
    assert add_business_seconds(paris_cal, paris(2026, 1, 13, 12, 0), HOUR) == paris(2026, 1, 13, 13, 0)


def test_zero_seconds_returns_start_itself_even_outside_hours(paris_cal):
    start = paris(2026, 1, 10, 3, 0)  # Saturday night
    assert add_business_seconds(paris_cal, start, 0) == start
    assert add_business_seconds(paris_cal, start, 0).tzinfo is UTC


def test_negative_seconds_are_rejected(paris_cal):
    with pytest.raises(ValueError, match="seconds must be >= 0, got -1"):
        add_business_seconds(paris_cal, paris(2026, 1, 13, 10), -1)


def test_multi_day_sla_spans_the_weekend(paris_cal):
    # 20 business hours from Thu 10:00: Thu 8h, Fri 9h, Mon 3h -> Mon 12:00.
    assert add_business_seconds(paris_cal, paris(2026, 1, 8, 10), 20 * HOUR) == paris(2026, 1, 12, 12)


def test_business_seconds_between_a_full_week_is_45_hours(paris_cal):
    assert business_seconds_between(paris_cal, paris(2026, 1, 12), paris(2026, 1, 19)) == 45 * HOUR


def test_business_seconds_between_is_zero_when_end_not_after_start(paris_cal):
    t = paris(2026, 1, 13, 10)
    assert business_seconds_between(paris_cal, t, t) == 0
    assert business_seconds_between(paris_cal, t, t - timedelta(hours=3)) == 0


def test_business_seconds_between_accepts_mixed_time_zones(paris_cal):
    start = paris(2026, 1, 13, 10)
    end = datetime(2026, 1, 13, 12, tzinfo=UTC)  # 13:00 Paris
    assert business_seconds_between(paris_cal, start, end) == 3 * HOUR


def test_working_intervals_are_clipped_and_in_utc(paris_cal):
    got = list(working_intervals(paris_cal, paris(2026, 1, 9, 17), paris(2026, 1, 12, 10)))
    assert got == [
        (datetime(2026, 1, 9, 16, tzinfo=UTC), datetime(2026, 1, 9, 17, tzinfo=UTC)),
        (datetime(2026, 1, 12, 8, tzinfo=UTC), datetime(2026, 1, 12, 9, tzinfo=UTC)),
    ]
    assert all(s.tzinfo is UTC and e.tzinfo is UTC for s, e in got)


def test_is_working_and_next_working_instant(paris_cal):
    assert is_working(paris_cal, paris(2026, 1, 13, 9, 0))
    assert is_working(paris_cal, paris(2026, 1, 13, 17, 59, 59))
    assert not is_working(paris_cal, paris(2026, 1, 13, 18, 0))  # half-open
    assert not is_working(paris_cal, paris(2026, 1, 10, 12, 0))  # Saturday
    at = paris(2026, 1, 13, 11, 0)
    assert next_working_instant(paris_cal, at) == at
    assert next_working_instant(paris_cal, at).tzinfo is UTC
    assert next_working_instant(paris_cal, paris(2026, 1, 9, 18, 0)) == paris(2026, 1, 12, 9, 0)


# --------------------------------------------------------------------------- #
# DST changes
# --------------------------------------------------------------------------- #
def test_paris_spring_forward_weekend(paris_cal):
    # CET (UTC+1) on Friday, CEST (UTC+2) on Monday.
    start = paris(2026, 3, 27, 17)
    due = add_business_seconds(paris_cal, start, 2 * HOUR)
    assert due == paris(2026, 3, 30, 10)
    assert due == datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert business_seconds_between(paris_cal, start, due) == 2 * HOUR


def test_paris_fall_back_weekend(paris_cal):
    start = paris(2026, 10, 23, 17)  # CEST
    due = add_business_seconds(paris_cal, start, 2 * HOUR)
    assert due == datetime(2026, 10, 26, 9, tzinfo=UTC)  # 10:00 CET
    assert due == paris(2026, 10, 26, 10)


def test_new_york_spring_forward_weekend(ny_cal):
    start = ny(2026, 3, 6, 17)  # EST, 22:00 UTC
    due = add_business_seconds(ny_cal, start, 2 * HOUR)
    assert due == datetime(2026, 3, 9, 14, tzinfo=UTC)  # 10:00 EDT


def test_new_york_fall_back_weekend(ny_cal):
    start = ny(2026, 10, 30, 17)  # EDT, 21:00 UTC
    due = add_business_seconds(ny_cal, start, 2 * HOUR)
    assert due == datetime(2026, 11, 2, 15, tzinfo=UTC)  # 10:00 EST


@pytest.mark.parametrize(
    "tz, change_day",
    [
        ("Europe/Paris", (2026, 3, 29)),
        ("Europe/Paris", (2026, 10, 25)),
        ("America/New_York", (2026, 3, 8)),
        ("America/New_York", (2026, 11, 1)),
    ],
)
def test_a_nine_to_six_day_is_nine_hours_on_the_dst_change_day(tz, change_day):
    cal = WorkCalendar.build(tz, work_days=range(7))
    zone = ZoneInfo(tz)
    day_start = datetime(*change_day, tzinfo=zone)
    assert business_seconds_between(cal, day_start, day_start + timedelta(days=1)) == 9 * HOUR
    ((s, e),) = working_intervals(cal, day_start, day_start + timedelta(days=1))
    assert s.astimezone(zone).time() == time(9) and e.astimezone(zone).time() == time(18)


def test_sdr_working_weekends_across_new_york_spring_forward():
    cal = WorkCalendar.build("America/New_York", work_days=range(7))
    start = ny(2026, 3, 7, 12)  # Saturday, EST
    # Saturday 12:00-18:00 = 6 h; 4 h left on Sunday (EDT) -> 13:00 EDT = 17:00 UTC.
    due = add_business_seconds(cal, start, 10 * HOUR)
    assert due == datetime(2026, 3, 8, 17, tzinfo=UTC)
    assert business_seconds_between(cal, ny(2026, 3, 7), ny(2026, 3, 9)) == 18 * HOUR


def test_sdr_working_weekends_across_paris_fall_back():
    cal = WorkCalendar.build("Europe/Paris", work_days=range(7))
    start = paris(2026, 10, 24, 17)  # Saturday, CEST
    assert add_business_seconds(cal, start, 2 * HOUR) == paris(2026, 10, 25, 10)  # Sunday, CET


def test_night_window_straddling_spring_forward_is_one_hour_shorter():
    # 00:00-06:00 on the night clocks jump 02:00 -> 03:00: 5 real hours.
    cal = WorkCalendar.build("Europe/Paris", work_start="00:00", work_end="06:00", work_days=range(7))
    day = paris(2026, 3, 29)
    assert business_seconds_between(cal, day, day + timedelta(days=1)) == 5 * HOUR
    assert business_seconds_between(cal, paris(2026, 3, 28), paris(2026, 3, 29)) == 6 * HOUR


def test_night_window_straddling_fall_back_is_one_hour_longer():
    cal = WorkCalendar.build("Europe/Paris", work_start="00:00", work_end="06:00", work_days=range(7))
    day = paris(2026, 10, 25)
    assert business_seconds_between(cal, day, day + timedelta(days=1)) == 7 * HOUR


def test_window_starting_inside_the_spring_forward_gap_starts_after_the_jump():
    # 02:30 does not exist on 2026-03-29 in Paris; read with the CET offset it is 03:30 CEST.
    cal = WorkCalendar.build("Europe/Paris", work_start="02:30", work_end="04:00", work_days=range(7))
    ((s, e),) = working_intervals(cal, paris(2026, 3, 29), paris(2026, 3, 30))
    assert s == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert e == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- #
# Public holidays
# --------------------------------------------------------------------------- #
def test_french_armistice_day_is_skipped(paris_cal, paris_fr_cal):
    start = paris(2026, 11, 10, 17)  # Tuesday; Wed 11 Nov is a holiday
    assert add_business_seconds(paris_fr_cal, start, 2 * HOUR) == paris(2026, 11, 12, 10)
    assert add_business_seconds(paris_cal, start, 2 * HOUR) == paris(2026, 11, 11, 10)
    assert not is_working(paris_fr_cal, paris(2026, 11, 11, 12))
    assert business_seconds_between(paris_fr_cal, paris(2026, 11, 11), paris(2026, 11, 12)) == 0


def test_french_christmas_is_skipped(paris_fr_cal):
    # Thu 24 Dec 17:00 + 2 h: 1 h Thursday, Fri 25 holiday, weekend -> Mon 28 10:00.
    assert add_business_seconds(paris_fr_cal, paris(2026, 12, 24, 17), 2 * HOUR) == paris(2026, 12, 28, 10)


def test_uk_christmas_and_observed_boxing_day_are_skipped():
    cal = WorkCalendar.build("Europe/London", holiday_country="GB")
    # Fri 25 Dec, and Boxing Day (Sat 26) observed on Mon 28 Dec.
    assert add_business_seconds(cal, london(2026, 12, 24, 17), 2 * HOUR) == london(2026, 12, 29, 10)
    fr_rules = WorkCalendar.build("Europe/London", holiday_country="FR")
    assert add_business_seconds(fr_rules, london(2026, 12, 24, 17), 2 * HOUR) == london(2026, 12, 28, 10)


def test_uk_subdivision_adds_easter_monday_for_england():
    uk = WorkCalendar.build("Europe/London", holiday_country="GB")
    eng = WorkCalendar.build("Europe/London", holiday_country="GB", holiday_subdivision="ENG")
    start = london(2026, 4, 2, 17)  # Thursday before Good Friday
    assert add_business_seconds(uk, start, 2 * HOUR) == london(2026, 4, 6, 10)
    assert add_business_seconds(eng, start, 2 * HOUR) == london(2026, 4, 7, 10)


def test_holiday_is_taken_on_the_owners_local_date():
    # 2026-11-11 00:30 Paris is still 2026-11-10 in New York: a New York SDR works then
    # only if it is working time in New York; with FR holidays, 10 Nov NY is a normal day.
    cal = WorkCalendar.build("America/New_York", holiday_country="FR")
    assert is_working(cal, ny(2026, 11, 10, 12))
    assert not is_working(cal, ny(2026, 11, 11, 12))


# --------------------------------------------------------------------------- #
# Out of office
# --------------------------------------------------------------------------- #
def test_clock_is_paused_during_out_of_office_and_resumes_after():
    cal = WorkCalendar.build("Europe/Paris", out_of_office=[(paris(2026, 1, 12), paris(2026, 1, 14))])
    assert add_business_seconds(cal, paris(2026, 1, 9, 23, 59), HOUR) == paris(2026, 1, 14, 10)
    # 30 min on Friday, then paused Mon-Tue, resumes Wednesday 09:00.
    assert add_business_seconds(cal, paris(2026, 1, 9, 17, 30), HOUR) == paris(2026, 1, 14, 9, 30)
    assert not is_working(cal, paris(2026, 1, 13, 10))
    assert next_working_instant(cal, paris(2026, 1, 13, 10)) == paris(2026, 1, 14, 9)


def test_out_of_office_partially_overlapping_a_working_day():
    cal = WorkCalendar.build("Europe/Paris", out_of_office=[(paris(2026, 1, 13, 11), paris(2026, 1, 13, 14))])
    day = list(working_intervals(cal, paris(2026, 1, 13), paris(2026, 1, 14)))
    assert day == [
        (paris(2026, 1, 13, 9), paris(2026, 1, 13, 11)),
        (paris(2026, 1, 13, 14), paris(2026, 1, 13, 18)),
    ]
    assert business_seconds_between(cal, paris(2026, 1, 13, 9), paris(2026, 1, 13, 18)) == 6 * HOUR
    assert add_business_seconds(cal, paris(2026, 1, 13, 10), 2 * HOUR) == paris(2026, 1, 13, 15)
    assert add_business_seconds(cal, paris(2026, 1, 13, 12), HOUR) == paris(2026, 1, 13, 15)
    assert not is_working(cal, paris(2026, 1, 13, 12))
    assert next_working_instant(cal, paris(2026, 1, 13, 12)) == paris(2026, 1, 13, 14)


def test_overlapping_and_multi_day_out_of_office_periods():
    cal = WorkCalendar.build(
        "Europe/Paris",
        out_of_office=[
            (paris(2026, 1, 12, 15), paris(2026, 1, 13, 10)),  # Mon afternoon -> Tue morning
            (paris(2026, 1, 13, 9, 30), paris(2026, 1, 13, 11)),  # overlaps the first one
        ],
    )
    got = list(working_intervals(cal, paris(2026, 1, 12), paris(2026, 1, 14)))
    assert got == [
        (paris(2026, 1, 12, 9), paris(2026, 1, 12, 15)),
        (paris(2026, 1, 13, 11), paris(2026, 1, 13, 18)),
    ]


def test_out_of_office_longer_than_a_year_raises():
    cal = WorkCalendar.build("Europe/Paris", out_of_office=[(paris(2026, 1, 1), paris(2027, 6, 1))])
    with pytest.raises(ValueError, match="no working time"):
        add_business_seconds(cal, paris(2026, 1, 5, 10), HOUR)


# --------------------------------------------------------------------------- #
# Owner's time zone differs from the lead's
# --------------------------------------------------------------------------- #
def test_new_york_sdr_receiving_a_lead_created_at_10_paris(ny_cal):
    created = paris(2026, 1, 13, 10)  # 04:00 in New York
    assert business_seconds_between(ny_cal, created, ny(2026, 1, 13, 9)) == 0
    assert business_seconds_between(ny_cal, created, ny(2026, 1, 13, 9, 30)) == 1800
    assert add_business_seconds(ny_cal, created, HOUR) == ny(2026, 1, 13, 10)
    assert next_working_instant(ny_cal, created) == ny(2026, 1, 13, 9)


def test_new_york_sdr_in_the_weeks_when_only_the_us_has_changed_clocks(ny_cal):
    # 10 Mar 2026: New York on EDT (UTC-4), Paris still on CET (UTC+1): 5 h apart.
    created = paris(2026, 3, 10, 10)  # 05:00 EDT
    assert add_business_seconds(ny_cal, created, HOUR) == datetime(2026, 3, 10, 14, tzinfo=UTC)


# --------------------------------------------------------------------------- #
# Inverse property (deterministic)
# --------------------------------------------------------------------------- #
CALENDARS = [
    WorkCalendar.build("Europe/Paris", holiday_country="FR"),
    WorkCalendar.build("America/New_York", holiday_country="US"),
    WorkCalendar.build("Europe/Paris", work_days=range(7)),
    WorkCalendar.build(
        "Europe/Paris",
        work_start="08:30",
        work_end="17:15",
        holiday_country="FR",
        out_of_office=[
            (paris(2026, 3, 26, 12), paris(2026, 3, 31, 10)),
            (paris(2026, 10, 21, 9), paris(2026, 10, 21, 12)),
            (paris(2026, 12, 21), paris(2027, 1, 4)),
        ],
    ),
    WorkCalendar.build("Asia/Kolkata", work_start="10:00", work_end="19:00", work_days=(0, 1, 2, 3, 4, 5)),
    WorkCalendar.build("Europe/Paris", work_start="00:00", work_end="06:00", work_days=range(7)),
]


@pytest.mark.parametrize("cal_index", range(len(CALENDARS)))
def test_add_and_between_are_inverse(cal_index):
    cal = CALENDARS[cal_index]
    rng = random.Random(20261111 + cal_index)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    # Concentrate a third of the starts on DST-change and year-end weeks.
    hot_spots = [datetime(2026, m, d, tzinfo=UTC) for m, d in ((3, 6), (3, 26), (10, 22), (10, 29), (12, 22))]
    for _ in range(150):
        if rng.random() < 0.33:
            start = rng.choice(hot_spots) + timedelta(seconds=rng.randrange(7 * 86400))
        else:
            start = base + timedelta(seconds=rng.randrange(365 * 86400))
        seconds = rng.choice([0, 1, 59, 3600, 9 * 3600, rng.randrange(1, 120 * 3600)])
        due = add_business_seconds(cal, start, seconds)
        assert due >= start
        assert business_seconds_between(cal, start, due) == seconds, (start, seconds, due)
        if seconds > 0:
            # earliest: one second earlier the budget was not yet used up
            assert business_seconds_between(cal, start, due - timedelta(seconds=1)) == seconds - 1
            assert is_working(cal, due - timedelta(seconds=1))
        # and the other direction: between() then add() lands at or before the end
        end = start + timedelta(seconds=rng.randrange(0, 20 * 86400))
        n = business_seconds_between(cal, start, end)
        assert add_business_seconds(cal, start, n) <= end


def test_next_working_instant_is_consistent_with_add():
    cal = CALENDARS[0]
    rng = random.Random(7)
    for _ in range(200):
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(365 * 86400))
        nxt = next_working_instant(cal, at)
        assert is_working(cal, nxt)
        assert business_seconds_between(cal, at, nxt) == 0
        assert add_business_seconds(cal, at, 1) == nxt + timedelta(seconds=1)


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #
def test_calendar_without_work_days_raises_instead_of_looping():
    cal = WorkCalendar.build("Europe/Paris", work_days=())
    with pytest.raises(ValueError, match="no working time within 366 days"):
        add_business_seconds(cal, paris(2026, 1, 13, 10), HOUR)
    with pytest.raises(ValueError, match="no working time within 366 days"):
        next_working_instant(cal, paris(2026, 1, 13, 10))
    assert business_seconds_between(cal, paris(2026, 1, 1), paris(2027, 1, 1)) == 0
    assert not is_working(cal, paris(2026, 1, 13, 10))


@pytest.mark.parametrize(
    "call",
    [
        lambda cal, naive, aware: add_business_seconds(cal, naive, 60),
        business_seconds_between,  # (cal, naive, aware)
        lambda cal, naive, aware: business_seconds_between(cal, aware, naive),
        lambda cal, naive, aware: list(working_intervals(cal, naive, aware)),
        lambda cal, naive, aware: is_working(cal, naive),
        lambda cal, naive, aware: next_working_instant(cal, naive),
    ],
)
def test_naive_datetimes_are_rejected(paris_cal, call):
    with pytest.raises(ValueError, match="naive"):
        call(paris_cal, datetime(2026, 1, 13, 10), paris(2026, 1, 14, 10))  # noqa: DTZ001 - the naive input under test


def test_business_index_agrees_with_business_seconds_between():
    import random

    import numpy as np

    from leadops.domain.business_time import BusinessIndex, WorkCalendar, business_seconds_between

    cal = WorkCalendar.build("Europe/Paris", "09:00", "18:00", (0, 1, 2, 3, 4), "FR",
                             (("2026-03-10T12:00:00+01:00", "2026-03-12T15:00:00+01:00"),))
    lo = datetime(2026, 3, 1, tzinfo=UTC)
    hi = datetime(2026, 4, 15, tzinfo=UTC)  # spans the spring-forward weekend and an out-of-office
    index = BusinessIndex(cal, lo, hi)
    rng = random.Random(4)
    pairs = []
    for _ in range(300):
        a = lo + timedelta(seconds=rng.randrange(int((hi - lo).total_seconds())), microseconds=rng.randrange(10**6))
        b = a + timedelta(seconds=rng.randrange(0, 20 * 86400))
        pairs.append((a, min(b, hi)))
    got = index.between(np.array([int(a.timestamp() * 1e6) for a, _ in pairs]),
                        np.array([int(b.timestamp() * 1e6) for _, b in pairs]))
    assert got.tolist() == [business_seconds_between(cal, a, b) for a, b in pairs]
