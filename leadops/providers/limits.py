"""Politeness towards providers: a rate limiter shared by every thread of the process, and a
circuit breaker that stops calling a provider that keeps failing. Pure Python, thread-safe.

Across processes (two workers enriching at once) the limit is shared through the database on
PostgreSQL (:mod:`leadops.db.repositories.enrichment`); these objects are the in-process part.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class RateLimiter:
    """Spaces calls at least ``1 / rate`` seconds apart (no bursts), across all threads using it.

    ``acquire()`` reserves the next free slot and sleeps until it; returns the seconds waited.
    """

    def __init__(self, rate_per_second: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate_per_second
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait


_LIMITERS: dict[tuple[str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(provider: str, rate_per_second: float) -> RateLimiter:
    """Return the process-wide limiter of ``provider`` (one per name and rate)."""
    with _LIMITERS_LOCK:
        key = (provider, rate_per_second)
        if key not in _LIMITERS:
            _LIMITERS[key] = RateLimiter(rate_per_second)
        return _LIMITERS[key]


@dataclass
class CircuitState:
    """What the breaker remembers between runs (stored per provider in ``provider_circuits``)."""

    state: str = "closed"  # closed | open | half_open
    failures: int = 0  # consecutive failed lookups
    opened_until: float | None = None  # epoch seconds
    last_error: str | None = None


class CircuitBreaker:
    """Closed: calls go through; ``threshold`` consecutive failures open it for ``cooldown`` seconds,
    during which calls are refused; then one trial call is let through (half open): a success
    closes it, a failure opens it again."""

    def __init__(self, threshold: int, cooldown: float, state: CircuitState | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.threshold, self.cooldown, self._clock = threshold, cooldown, clock
        self.state = state or CircuitState()
        self._trial_in_flight = False
        self._lock = threading.Lock()
        self.opened = 0  # times it opened during this process's life (for the run's numbers)

    def allow(self) -> bool:
        """Return True if a call may go out now (reserving the trial call when half open)."""
        with self._lock:
            s = self.state
            if s.state == "open":
                if s.opened_until is not None and self._clock() < s.opened_until:
                    return False
                s.state = "half_open"
            if s.state == "half_open":
                if self._trial_in_flight:
                    return False
                self._trial_in_flight = True
            return True

    def record(self, ok: bool, error: str | None = None) -> None:
        """Record the outcome of a call that went out."""
        with self._lock:
            s = self.state
            self._trial_in_flight = False
            if ok:
                s.state, s.failures, s.opened_until = "closed", 0, None
                return
            s.failures += 1
            s.last_error = error
            if s.state == "half_open" or s.failures >= self.threshold:
                s.state, s.opened_until = "open", self._clock() + self.cooldown
                self.opened += 1


class DatabaseRateLimiter:
    """A rate limit shared by every process using the same PostgreSQL database (two workers
    enriching at once): each call reserves the next slot of ``provider_rate_slots`` in one atomic
    statement (the row lock serializes reservations) on the database's clock, then sleeps until it.

    ``reserve`` is a callable running that statement and returning the seconds to wait (see
    :func:`leadops.db.repositories.enrichment.slot_reserver`), so this class stays free of SQL.
    """

    def __init__(self, reserve: Callable[[], float], *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._reserve, self._sleep = reserve, sleep

    def acquire(self) -> float:
        wait = self._reserve()
        if wait > 0:
            self._sleep(wait)
        return wait
