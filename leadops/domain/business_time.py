"""Business-time clock for lead follow-up SLAs.

An SLA ("touch an assigned lead within 1 business hour") is measured in the
*SLA owner's* calendar: their time zone, working hours, working days, public
holidays of their country and their out-of-office periods.

Conventions
-----------
* Every public function accepts **aware** datetimes only (naive ones raise
  ``ValueError``) and returns aware datetimes in **UTC**.
* Intervals are half-open ``[start, end)``.
* A working day's window is built from the local wall-clock times
  ``work_start``/``work_end`` on that local date, each converted to UTC on its
  own with :mod:`zoneinfo`, so windows are DST-correct: a 09:00–18:00 day is
  9 h long on a European/US DST-change day (the change happens at night), and a
  window that straddles a change (e.g. 00:00–06:00 on the spring-forward
  night) is one hour shorter, as the wall clock says.  A wall time that does
  not exist (spring-forward gap) is read with the pre-transition offset, i.e.
  shifted forward by the gap; an ambiguous one (fall-back) is read as its first
  occurrence (``fold=0``).
* Public holidays come from the ``holidays`` package, are looked up on the
  *local* date of the window and are cached per ``(country, subdivision, year)``.

Example: with Europe/Paris 09:00–18:00 Mon–Fri, a lead arriving Friday 23:59
with a 1 business-hour SLA is due Monday 10:00 Paris time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, UTC
from functools import cache, lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:  # numpy is imported where BusinessIndex needs it (SLA sweeps only)
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "MAX_SEARCH_DAYS",
    "WorkCalendar",
    "add_business_seconds",
    "business_seconds_between",
    "holiday_dates",
    "is_working",
    "next_working_instant",
    "working_intervals",
]

#: How many consecutive local days without any working time we scan before
#: concluding the calendar has no working time at all (and raising ValueError).
MAX_SEARCH_DAYS = 366

_ONE_SECOND = timedelta(seconds=1)


# --------------------------------------------------------------------------- #
# Cached lookups
# --------------------------------------------------------------------------- #
@cache
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}: use a name like 'Europe/Paris'") from exc


@lru_cache(maxsize=1)
def _supported_countries() -> dict[str, list[str]]:
    import holidays

    return dict(holidays.list_supported_countries())


@lru_cache(maxsize=512)
def holiday_dates(country: str, year: int, subdivision: str | None = None) -> frozenset[date]:
    """Public-holiday dates of ``country`` (ISO 3166-1 alpha-2) in ``year``.

    Cached per ``(country, year, subdivision)``; backed by ``holidays.country_holidays``.
    """
    import holidays

    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


# --------------------------------------------------------------------------- #
# Calendar
# --------------------------------------------------------------------------- #
def _parse_time(value: time | str, what: str) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ValueError(f"{what} must be a wall-clock time without tzinfo, got {value!r}")
        return value
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{what} must look like 'HH:MM', got {value!r}") from exc
    raise ValueError(f"{what} must be a datetime.time or an 'HH:MM' string, got {value!r}")


def _parse_instant(value: datetime | str, what: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{what} must be an ISO 8601 datetime with offset, got {value!r}") from exc
    return _require_aware(value, what)


def _require_aware(value: datetime, what: str = "datetime") -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} {value.isoformat()} is naive: pass an aware datetime "
            "(e.g. datetime(..., tzinfo=ZoneInfo('Europe/Paris')) or timezone.utc)"
        )
    return value


@dataclass(frozen=True)
class WorkCalendar:
    """Working calendar of an SLA owner (an SDR, or a team).

    * ``time_zone``: IANA name, e.g. ``"Europe/Paris"``.
    * ``work_start`` / ``work_end``: local wall-clock window of a working day,
      same day, ``work_end > work_start`` (no lunch break).
    * ``work_days``: weekday numbers, Monday = 0 … Sunday = 6.
    * ``holiday_country``: ISO alpha-2 country whose public holidays are days
      off (``None``: no public holidays); ``holiday_subdivision`` optionally
      narrows it (e.g. ``"ENG"`` for GB adds Easter Monday and the August bank
      holiday, which are not UK-wide).
    * ``out_of_office``: aware ``[start, end)`` periods during which the clock
      is paused (vacation, sick leave...).
    """

    time_zone: str
    work_start: time
    work_end: time
    work_days: frozenset[int]
    holiday_country: str | None = None
    out_of_office: tuple[tuple[datetime, datetime], ...] = ()
    holiday_subdivision: str | None = None
    _ooo_utc: tuple[tuple[datetime, datetime], ...] = field(
        default=(), init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        _zone(self.time_zone)  # validates
        for name in ("work_start", "work_end"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise ValueError(f"{name} must be a naive datetime.time, got {value!r}")
        if not self.work_end > self.work_start:
            raise ValueError(
                f"work_end {self.work_end.isoformat()} must be after work_start "
                f"{self.work_start.isoformat()} on the same day"
            )
        days = frozenset(self.work_days)
        bad = sorted(d for d in days if not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6)
        if bad:
            raise ValueError(f"work_days must be integers 0 (Monday) .. 6 (Sunday), got {bad!r}")
        object.__setattr__(self, "work_days", days)
        if self.holiday_country is not None:
            country = self.holiday_country.upper()
            supported = _supported_countries()
            if country not in supported:
                raise ValueError(f"holiday_country {self.holiday_country!r} is not supported by the holidays package")
            if self.holiday_subdivision is not None and self.holiday_subdivision not in supported[country]:
                raise ValueError(
                    f"holiday_subdivision {self.holiday_subdivision!r} is not a subdivision of {country}; "
                    f"known: {', '.join(supported[country]) or 'none'}"
                )
            object.__setattr__(self, "holiday_country", country)
        elif self.holiday_subdivision is not None:
            raise ValueError("holiday_subdivision needs a holiday_country")
        periods = []
        for i, period in enumerate(self.out_of_office):
            start, end = period
            _require_aware(start, f"out_of_office[{i}] start")
            _require_aware(end, f"out_of_office[{i}] end")
            if not end > start:
                raise ValueError(f"out_of_office[{i}] ends ({end.isoformat()}) before it starts ({start.isoformat()})")
            periods.append((start.astimezone(UTC), end.astimezone(UTC)))
        object.__setattr__(self, "out_of_office", tuple((s, e) for s, e in self.out_of_office))
        object.__setattr__(self, "_ooo_utc", tuple(sorted(periods)))

    @classmethod
    def build(
        cls,
        time_zone: str,
        work_start: time | str = "09:00",
        work_end: time | str = "18:00",
        work_days: Iterable[int] = (0, 1, 2, 3, 4),
        holiday_country: str | None = None,
        out_of_office: Iterable[tuple[datetime | str, datetime | str]] = (),
        holiday_subdivision: str | None = None,
    ) -> WorkCalendar:
        """Build a calendar from config-friendly values ("09:00" strings, ISO datetimes
        with offsets for out-of-office periods)."""
        ooo = tuple(
            (_parse_instant(s, f"out_of_office[{i}] start"), _parse_instant(e, f"out_of_office[{i}] end"))
            for i, (s, e) in enumerate(out_of_office)
        )
        return cls(
            time_zone=time_zone,
            work_start=_parse_time(work_start, "work_start"),
            work_end=_parse_time(work_end, "work_end"),
            work_days=frozenset(work_days),
            holiday_country=holiday_country,
            out_of_office=ooo,
            holiday_subdivision=holiday_subdivision,
        )

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.time_zone)

    def is_work_day(self, day: date) -> bool:
        """True if the local date ``day`` is a working day (weekday and not a public holiday)."""
        if day.weekday() not in self.work_days:
            return False
        if self.holiday_country is not None:
            return day not in holiday_dates(self.holiday_country, day.year, self.holiday_subdivision)
        return True

    def day_window(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC ``[start, end)`` working window of local date ``day`` before
        out-of-office subtraction, or None if it is not a working day."""
        if not self.is_work_day(day):
            return None
        tz = self.zone
        start = datetime.combine(day, self.work_start, tzinfo=tz).astimezone(UTC)
        end = datetime.combine(day, self.work_end, tzinfo=tz).astimezone(UTC)
        if end <= start:  # only possible for a window fully inside a DST gap
            return None
        return start, end


# --------------------------------------------------------------------------- #
# Interval machinery
# --------------------------------------------------------------------------- #
def _subtract_ooo(
    cal: WorkCalendar, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Yield the parts of [start, end) not covered by out-of-office periods."""
    cursor = start
    for ooo_start, ooo_end in cal._ooo_utc:  # sorted by start
        if ooo_end <= cursor:
            continue
        if ooo_start >= end:
            break
        if ooo_start > cursor:
            yield cursor, ooo_start
        cursor = max(cursor, ooo_end)
        if cursor >= end:
            return
    if cursor < end:
        yield cursor, end


def _intervals_from(cal: WorkCalendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Unbounded stream of working intervals (UTC) at or after ``start``, clipped.

    Raises ValueError once MAX_SEARCH_DAYS consecutive local days pass without
    any working time (e.g. empty work_days, or an out-of-office of > 1 year).
    """
    start = start.astimezone(UTC)
    day = start.astimezone(cal.zone).date()
    barren_days = 0
    while True:
        found = False
        window = cal.day_window(day)
        if window is not None and window[1] > start:
            for s, e in _subtract_ooo(cal, max(window[0], start), window[1]):
                found = True
                yield s, e
        if found:
            barren_days = 0
        else:
            barren_days += 1
            if barren_days > MAX_SEARCH_DAYS:
                raise ValueError(
                    f"no working time within {MAX_SEARCH_DAYS} days after {start.isoformat()} "
                    f"in calendar {cal.time_zone} (work_days={sorted(cal.work_days)}, "
                    f"holiday_country={cal.holiday_country}, out_of_office={len(cal.out_of_office)} period(s))"
                )
        day += timedelta(days=1)


def working_intervals(
    cal: WorkCalendar, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals overlapping ``[start, end)``, clipped to it, as UTC pairs.

    Skips non-work days and public holidays, subtracts out-of-office periods.
    Yields nothing if ``end <= start``. Always terminates (bounded by ``end``).
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
    if end_utc <= start_utc:
        return
    tz = cal.zone
    day = start_utc.astimezone(tz).date()
    last_day = end_utc.astimezone(tz).date()
    while day <= last_day:
        window = cal.day_window(day)
        if window is not None:
            s, e = max(window[0], start_utc), min(window[1], end_utc)
            if s < e:
                yield from _subtract_ooo(cal, s, e)
        day += timedelta(days=1)


def business_seconds_between(cal: WorkCalendar, start: datetime, end: datetime) -> int:
    """Working seconds in ``[start, end)`` (floored to whole seconds); 0 if end <= start."""
    total = timedelta(0)
    for s, e in working_intervals(cal, start, end):
        total += e - s
    return total // _ONE_SECOND


def add_business_seconds(cal: WorkCalendar, start: datetime, seconds: int | float) -> datetime:
    """The earliest UTC instant ``t`` with ``business_seconds_between(cal, start, t) == seconds``.

    * ``seconds == 0``: returns ``start`` itself (converted to UTC), even outside
      working hours — nothing is owed yet.
    * ``seconds > 0``: the instant inside a working interval where the budget runs
      out; if it runs out exactly at the end of a working day, that end (e.g.
      18:00) is returned, not the next morning.
    * ``seconds < 0``: ValueError.
    Raises ValueError if no working time is found within MAX_SEARCH_DAYS days.
    """
    _require_aware(start, "start")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError(f"seconds must be a number, got {seconds!r}")
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds!r}")
    if seconds == 0:
        return start.astimezone(UTC)
    remaining = timedelta(seconds=seconds)
    for s, e in _intervals_from(cal, start):
        length = e - s
        if remaining <= length:
            return s + remaining
        remaining -= length
    raise AssertionError("unreachable: _intervals_from is unbounded or raises")  # pragma: no cover


def is_working(cal: WorkCalendar, at: datetime) -> bool:
    """True if ``at`` falls inside a working interval of ``cal``."""
    _require_aware(at, "at")
    at_utc = at.astimezone(UTC)
    return any(True for _ in working_intervals(cal, at_utc, at_utc + timedelta(microseconds=1)))


def next_working_instant(cal: WorkCalendar, at: datetime) -> datetime:
    """``at`` (in UTC) if it is working time, else the start of the next working interval.

    Raises ValueError if no working time is found within MAX_SEARCH_DAYS days.
    """
    _require_aware(at, "at")
    for s, _e in _intervals_from(cal, at):
        return s
    raise AssertionError("unreachable")  # pragma: no cover


class BusinessIndex:
    """Cumulative business time of one calendar over a window, for many clocks at once.

    ``between(a, b)`` gives the same whole seconds as :func:`business_seconds_between` for
    instants inside the window, for arrays of instants (epoch microseconds), with one
    ``searchsorted``: SLA sweeps over a million clocks need no per-clock calendar walk.
    """

    def __init__(self, cal: WorkCalendar, start: datetime, end: datetime) -> None:
        import numpy as np

        spans = [(int(s.timestamp() * 1_000_000), int(e.timestamp() * 1_000_000)) for s, e in working_intervals(cal, start, end)]
        self.starts = np.array([s for s, _ in spans], dtype=np.int64)
        self.ends = np.array([e for _, e in spans], dtype=np.int64)
        lengths = self.ends - self.starts
        self.before = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if spans else np.zeros(0, np.int64)

    def cumulative(self, t: ArrayLike) -> NDArray[np.int64]:
        """Business microseconds from the window's start to each instant of ``t`` (epoch microseconds)."""
        import numpy as np

        t = np.asarray(t, dtype=np.int64)
        if not len(self.starts):
            return np.zeros(t.shape, dtype=np.int64)
        i = np.searchsorted(self.starts, t, side="right") - 1
        j = np.clip(i, 0, None)
        inside = np.clip(t - self.starts[j], 0, self.ends[j] - self.starts[j])
        return np.where(i >= 0, self.before[j] + inside, 0)

    def between(self, a: ArrayLike, b: ArrayLike) -> NDArray[np.int64]:
        """Whole business seconds in ``[a, b)`` per pair (0 where b <= a)."""
        import numpy as np

        seconds: NDArray[np.int64] = np.maximum(self.cumulative(b) - self.cumulative(a), 0) // 1_000_000
        return seconds
