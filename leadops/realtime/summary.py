"""The intake service's periodic summary: every ``every`` seconds, the window's counts and latency as an
``intake-service-summary`` flow run with artifacts (when a Prefect API is configured), else a log line."""
from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable
from typing import Any


def prefect_api() -> bool:
    """Return whether a Prefect API is configured (PREFECT_API_URL, or a test harness's): summaries and events go
    there; without one, the service would start a temporary server for each, so it logs instead."""
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


def percentile(values: list[float], q: float) -> float | None:
    """Return the nearest-rank ``q``-th percentile of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class Reporter:
    """Publishes a window every ``every`` seconds from ``snapshot()`` (counts since the start) and ``health()``
    (None when healthy, else the problem)."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]], latencies: Callable[[], list[float]],
                 health: Callable[[], str | None], every: float, log: Callable[[str], None]) -> None:
        self.snapshot, self.latencies, self.health, self.every, self.log = snapshot, latencies, health, every, log
        self.published = 0
        self._last = snapshot()
        self._since = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="intake-summary", daemon=True)

    def start(self) -> Reporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started (a service without summaries never starts it)
            self._thread.join(timeout=60)

    def window(self) -> dict[str, Any]:
        """Return the counts since the previous window (and start the next one)."""
        now, current = time.monotonic(), self.snapshot()
        delta = {k: current[k] - self._last.get(k, 0) for k in current}
        lat = self.latencies()
        problem = self.health()
        if problem is None and (delta["store_failures"] or delta["failed_passes"]):
            problem = f"{delta['store_failures']} store failures, {delta['failed_passes']} failed routing passes"
        out = {"host": socket.gethostname()[:60], "window_seconds": round(now - self._since, 1),
               "healthy": problem is None, "problem": problem, **delta,
               "routed_p50_seconds": percentile(lat, 50), "routed_p95_seconds": percentile(lat, 95)}
        self._last, self._since = current, now
        return out

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            window = self.window()
            try:
                if prefect_api():
                    from leadops.flows.intake_service import intake_service_summary

                    intake_service_summary(window, return_state=True)
                else:
                    self.log(f"intake service window: {window}")
                self.published += 1
            except Exception as exc:  # noqa: BLE001 - Prefect unreachable: the service goes on serving leads
                self.log(f"intake service summary not published ({type(exc).__name__}: {exc})"[:300])
