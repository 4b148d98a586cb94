"""The real-time path after a lead is stored: enrich, score, route and deliver at once, on a thread of the intake
service, with the batch path's own services (the routing lock keeps it safe beside a running lead-pipeline)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from leadops.config import Rules, Settings
from leadops.db.session import when_unlocked
from leadops.db.unit_of_work import SqlUnitOfWork, sql_units


@dataclass
class RouterStats:
    """Counts since the service started (grain: leads and passes), and the last pass's error."""

    passes: int = 0
    scored: int = 0
    routed: int = 0
    notified: int = 0
    errors: int = 0
    last_error: str | None = None
    # seconds spent per stage since the start (where a slow pass spends its time)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    pass_seconds: list[float] = field(default_factory=list)


@contextmanager
def _timed(stats: RouterStats, stage: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        stats.stage_seconds[stage] = round(stats.stage_seconds.get(stage, 0.0) + time.monotonic() - started, 3)


def quick_enrichment(rules: Rules) -> Rules:
    """Return ``rules`` with every HTTP provider asked once (no retry) and within ``realtime_timeout_seconds``:
    the real-time path waits no longer than that for a slow provider; what failed is asked again later."""
    limit = rules.sources.enrichment.realtime_timeout_seconds
    providers = [p.model_copy(update={"timeout_seconds": min(p.timeout_seconds, limit), "max_retries": 0})
                 for p in rules.sources.providers]
    return rules.model_copy(update={"sources": rules.sources.model_copy(update={"providers": providers})})


def emit_routed(assignments: list[dict[str, Any]]) -> int:
    """Emit ``leadops.lead.routed`` per assignment (the lead, its SDR as a related resource, the rule) when a Prefect
    API is configured (PREFECT_API_URL); returns how many."""
    from leadops.realtime.summary import prefect_api

    if not assignments or not prefect_api():
        return 0
    from prefect.events import emit_event

    for a in assignments:
        emit_event(event="leadops.lead.routed",
                   resource={"prefect.resource.id": f"leadops.lead.{a['lead_id']}"},
                   related=[{"prefect.resource.id": f"leadops.sdr.{a['sdr']}", "prefect.resource.role": "sdr"}],
                   payload={"rule": a.get("rule"), "reason": a.get("reason"), "path": "real-time"})
    return len(assignments)


class Router:
    """Runs a pass (enrich, score the new leads, route, deliver) whenever leads were stored, and every
    ``idle_seconds`` otherwise (a message left for a retry, a lead another process stored)."""

    def __init__(self, settings: Settings, rules: Rules, idle_seconds: float = 5.0,
                 sender: Any = None, log: Callable[[str], None] | None = None,
                 reload: Callable[[], Rules] | None = None) -> None:
        self.settings, self.rules, self.idle = settings, rules, idle_seconds
        # the rule files read again before each pass (cached by modification time): an edit of sdrs.yaml or the
        # routing rules takes effect at the next pass, as at a flow run's start
        self.reload = reload
        self.on_rules: Callable[[Rules], None] = lambda _rules: None
        self.emit: Callable[[list[dict[str, Any]]], int] = emit_routed
        self.sender, self.log = sender, log or (lambda _line: None)
        self.stats = RouterStats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lead_ids: set[int] = set()
        self._received: dict[int, float] = {}  # lead id -> when its request arrived (time.time), until routed
        self._latencies: list[float] = []  # seconds from request to routing, since last taken
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="intake-router", daemon=True)

    def start(self) -> Router:
        self.sync_roster()
        self._thread.start()
        return self

    def sync_roster(self) -> None:
        """Make the database's roster that of sdrs.yaml (people who left: their open leads reassigned)."""
        from datetime import UTC, datetime

        from leadops.services.roster import by_routing_rules, sync

        with SqlUnitOfWork(self.settings.database_url) as uow:
            sync(uow, self.rules, reassign=by_routing_rules(uow, self.rules, self.settings.company_time_zone,
                                                            datetime.now(UTC)))

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=60)

    def _stage(self, stage: str) -> Any:
        return _timed(self.stats, stage)

    def poke(self, lead_ids: list[int], received_at: float | None = None) -> None:
        """Ask for a pass over ``lead_ids`` (just stored; their request arrived at ``received_at``) now."""
        with self._lock:
            self._lead_ids.update(lead_ids)
            if received_at is not None:
                for i in lead_ids:
                    self._received.setdefault(i, received_at)
        self._wake.set()

    def take_latencies(self) -> list[float]:
        """Return the request-to-routing seconds of the leads routed since the last call (and forget them)."""
        with self._lock:
            out, self._latencies = self._latencies, []
        return out

    def _run(self) -> None:
        # the first pass catches up: leads stored by a service that stopped before routing them are scored here
        catch_up = True
        while not self._stop.is_set():
            if not catch_up:
                self._wake.wait(self.idle)
            self._wake.clear()
            if self._stop.is_set():
                return
            with self._lock:
                ids, self._lead_ids = sorted(self._lead_ids), set()
            started = time.monotonic()
            try:
                self.run_pass(ids, catch_up=catch_up)
                catch_up = False
            except Exception as exc:  # noqa: BLE001 - one failed pass is retried by the next; the leads are stored
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self.log(f"routing pass failed (the next pass retries): {self.stats.last_error}")
                with self._lock:
                    self._lead_ids.update(ids)
                self._stop.wait(min(self.idle, 1.0))  # not at once: the database may be down for a while
            self.stats.pass_seconds = ([*self.stats.pass_seconds, time.monotonic() - started])[-1000:]

    def run_pass(self, lead_ids: list[int], *, catch_up: bool = False) -> None:
        """Enrich what is pending, score ``lead_ids`` (with ``catch_up``, every open lead changed since its last
        score), route every unowned MQL, announce each assignment (``leadops.lead.routed``), deliver the outbox."""
        from leadops.notify.outbox import deliver
        from leadops.notify.senders import sender_for
        from leadops.services.enrich import enrich_pending
        from leadops.services.route import route_pending
        from leadops.services.score import score_open_leads

        url, tz = self.settings.database_url, self.settings.company_time_zone
        if self.reload is not None:
            rules = self.reload()
            if rules is not self.rules:
                self.rules = rules
                self.sync_roster()
                self.on_rules(rules)
        clock = self._stage

        def in_unit(work: Callable[[Any], Any]) -> Any:
            """Run ``work(uow)`` as one transaction, again while SQLite is busy with the intake's writes."""
            def attempt() -> Any:
                with SqlUnitOfWork(url) as uow:
                    return work(uow)
            return when_unlocked(attempt)

        if lead_ids or catch_up:
            with clock("enrich"):
                quick = quick_enrichment(self.rules)
                in_unit(lambda uow: enrich_pending(uow, quick))
            with clock("score"):
                self.stats.scored += in_unit(lambda uow: score_open_leads(
                    uow, self.rules, lead_ids=None if catch_up else lead_ids)).scored
        with clock("route"):
            routed = in_unit(lambda uow: route_pending(uow, self.rules, tz))
        self.stats.routed += routed.assigned
        done = time.time()
        with self._lock:
            for a in routed.assignments:
                at = self._received.pop(a["lead_id"], None)
                if at is not None:
                    self._latencies.append(done - at)
        self.emit(routed.assignments)
        with clock("deliver"):
            report = deliver(sql_units(url), self.sender or sender_for(self.settings))
        self.stats.notified += report.sent
        self.stats.passes += 1
