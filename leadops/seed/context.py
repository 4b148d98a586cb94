"""The generation context: the seed's random stream, its weeks and the roster's calendars."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from leadops.config import Person, Rules
from leadops.domain.business_time import WorkCalendar
from leadops.domain.roster import absence_instant

PARIS = ZoneInfo("Europe/Paris")  # the sample company's time zone: its weeks, days and daily caps
HISTORY_WEEKS = 7


@dataclass
class Ctx:
    """What every step of the generation reads: one ``random.Random``, the rules, the period's bounds."""

    seed: int
    anchor: date
    rng: random.Random
    rules: Rules
    cutoff: datetime
    history_start: datetime
    week_start: datetime
    calendars: dict[str, WorkCalendar]
    people: dict[str, Person]
    n_activity: int = 0

    def key(self) -> str:
        """Return the next activity's external key (unique per seed and anchor)."""
        self.n_activity += 1
        return f"seed:{self.seed}:{self.anchor:%Y%m%d}:{self.n_activity:06d}"


def week_bounds(anchor: date) -> tuple[datetime, datetime, datetime]:
    """Return (history_start, week_start, cutoff) in UTC for ``anchor`` (Europe/Paris weeks)."""
    monday = anchor - timedelta(days=anchor.weekday())
    week_start = datetime.combine(monday, time.min, PARIS).astimezone(UTC)
    history_start = datetime.combine(monday - timedelta(weeks=HISTORY_WEEKS), time.min, PARIS).astimezone(UTC)
    cutoff = datetime.combine(anchor, time.min, PARIS).astimezone(UTC)
    return history_start, week_start, cutoff


def utc(d: date, hh: int, mm: int, tz: ZoneInfo) -> datetime:
    """Return the instant of wall-clock ``hh:mm`` on ``d`` in ``tz``, in UTC."""
    return datetime.combine(d, time(hh, mm), tz).astimezone(UTC)


def absences(p: Person) -> list[tuple[datetime, datetime]]:
    """Return the person's out-of-office periods as aware [start, end) instants, as the roster sync stores them."""
    return [(absence_instant(o.start, p.time_zone, False), absence_instant(o.end, p.time_zone, True))
            for o in p.out_of_office]


def calendar_of_person(p: Person) -> WorkCalendar:
    """Return the person's business calendar, as routing and SLA enforcement build it from the roster."""
    return WorkCalendar.build(p.time_zone, p.work_start, p.work_end, tuple(p.work_days), p.holiday_country,
                              absences(p))
