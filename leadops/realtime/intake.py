"""Group commit of the real-time intake service: the requests that arrive within a few milliseconds of each other
are admitted as one micro-batch per webhook, through the batch path's own intake (normalization, the GX row suite,
dedupe, quarantine with reasons), in one transaction that also stores each request's answer under its idempotency
key. Only then is each request answered: 202 when it is stored, 422 (naming the fields) when none of its leads
passed, the stored answer again for a key seen before. An answered lead is therefore never lost, and a retried
request stores nothing twice.
"""
from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadops.config import Rules, Settings, WebhookSource
from leadops.db.models import utcnow
from leadops.db.session import when_unlocked
from leadops.db.unit_of_work import SqlUnitOfWork
from leadops.intake.batches import admit_chunks, open_batch
from leadops.intake.leads import LEADS
from leadops.intake.reading.rows import RawRow
from leadops.sources.api import page_rows

#: how long the first request of a group waits for others to join it, and the most leads a group takes
GROUP_WAIT_SECONDS = 0.02
GROUP_MAX_LEADS = 500


@dataclass
class Submission:
    """One authenticated request waiting for its leads to be stored (grain: one request)."""

    webhook: WebhookSource
    key: str
    records: list[dict[str, Any]]
    received_at: datetime = field(default_factory=utcnow)
    answer: tuple[int, dict[str, Any]] | None = None
    lead_ids: list[int] = field(default_factory=list)  # the leads it created or touched (for the router)
    done: threading.Event = field(default_factory=threading.Event)


class GroupCommit:
    """Stores submissions in groups on a thread of its own; ``submit`` blocks until its group is committed."""

    def __init__(self, settings: Settings, rules: Rules, on_stored: Callable[[list[Submission]], None]) -> None:
        self.settings, self.rules, self.on_stored = settings, rules, on_stored
        self._queue: queue.Queue[Submission | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="intake-group-commit", daemon=True)
        self.stored = 0  # requests answered from the database (grain: request)
        self.failures = 0
        self.leads_accepted = 0
        self.leads_quarantined = 0

    def start(self) -> GroupCommit:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def submit(self, sub: Submission, timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
        """Queue ``sub`` and return its (HTTP status, answer) once its group is committed; 503 if the database did
        not take it in ``timeout`` seconds (nothing was promised: the sender retries with the same key)."""
        self._queue.put(sub)
        if not sub.done.wait(timeout) or sub.answer is None:
            return 503, {"error": "the leads could not be stored in time: retry with the same Idempotency-Key"}
        return sub.answer

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, leads = [first], len(first.records)
            deadline = time.monotonic() + GROUP_WAIT_SECONDS
            while leads < GROUP_MAX_LEADS:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                group.append(nxt)
                leads += len(nxt.records)
            try:
                self._store_retrying(group)
            except Exception as exc:  # noqa: BLE001 - the database refused: nothing stored, nothing promised
                self.failures += 1
                for sub in group:
                    sub.answer = (503, {"error": f"the leads could not be stored ({type(exc).__name__}): retry with "
                                                 f"the same Idempotency-Key"})
                    sub.done.set()
                continue
            self.stored += len(group)
            for sub in group:
                if sub.answer is not None and not sub.answer[1].get("replayed"):
                    self.leads_accepted += len(sub.answer[1].get("accepted", []))
                    self.leads_quarantined += len(sub.answer[1].get("quarantined", []))
                sub.done.set()
            self.on_stored([s for s in group if s.lead_ids])

    def _store_retrying(self, group: list[Submission]) -> None:
        """``_store``, again while the database is busy with another writer (SQLite takes one: the router or a
        lead-pipeline run may be writing), and again when another instance stored one of the group's keys
        first (the unique key refused this insert: the next attempt answers that key from the other's answer)."""
        from sqlalchemy.exc import IntegrityError

        def attempt() -> None:
            for sub in group:
                sub.answer, sub.lead_ids = None, []
            self._store(group)

        for tries_left in range(5, 0, -1):
            try:
                when_unlocked(attempt)
                return
            except IntegrityError:
                # each attempt answers more keys from the other instance's answers: the conflicts end quickly
                if tries_left == 1:
                    raise

    def _store(self, group: list[Submission]) -> None:
        """Admit the group in one transaction; sets each submission's answer (not yet released to its sender)."""
        with SqlUnitOfWork(self.settings.database_url) as uow:
            known = uow.realtime.answers({s.key for s in group})
            fresh: dict[str, Submission] = {}
            for sub in group:
                if sub.key in known:
                    status, answer = known[sub.key]
                    sub.answer = (status, {**answer, "replayed": True})
                elif sub.key not in fresh:
                    fresh[sub.key] = sub
            saved: list[dict[str, Any]] = []
            by_webhook: dict[str, list[Submission]] = {}
            for sub in fresh.values():
                by_webhook.setdefault(sub.webhook.name, []).append(sub)
            for subs in by_webhook.values():
                saved += self._admit(uow, subs)
            uow.realtime.save(saved)
        # a key sent twice in one group: the second gets the first's answer
        for sub in group:
            if sub.answer is None and sub.key in fresh and fresh[sub.key] is not sub:
                first = fresh[sub.key]
                sub.answer = (first.answer[0], {**first.answer[1], "replayed": True}) if first.answer else None

    def _admit(self, uow: SqlUnitOfWork, subs: list[Submission]) -> list[dict[str, Any]]:
        """Admit one webhook's submissions as one batch; returns their ``intake_requests`` rows."""
        cfg = subs[0].webhook
        rows: list[RawRow] = []
        spans: list[tuple[int, int]] = []
        for sub in subs:
            page, _ = page_rows(sub.records, cfg)
            start = len(rows) + 1
            rows += [RawRow(start + i, r.fields, r.raw) for i, r in enumerate(page)]
            spans.append((start, len(page)))
        digest = hashlib.sha256(("webhook:" + "\n".join(s.key for s in subs)).encode()).hexdigest()
        batch, seen = open_batch(uow.intake, digest, cfg.name, f"POST /v1/leads/{cfg.name}", None)
        if batch is None:  # the same keys stored before under another group: their answers are in intake_requests
            raise RuntimeError(f"batch {seen.id if seen else '?'} holds these requests already")
        columns = sorted({k for r in rows for k in r.fields} | {"email"})
        outcome = admit_chunks(uow, batch, [rows], columns, cfg, self.rules, self.settings, stages=LEADS)
        results = uow.realtime.row_outcomes(batch.id) if outcome.status != "rejected" else {}
        saved = []
        for sub, (start, n) in zip(subs, spans, strict=True):
            status, answer = _answer(sub, outcome.error if outcome.status == "rejected" else None,
                                     [results.get(start + i) for i in range(n)])
            sub.answer = (status, answer)
            sub.lead_ids = [a["lead_id"] for a in answer.get("accepted", [])]
            saved.append(dict(idem_key=sub.key, webhook=cfg.name, ingest_batch_id=batch.id, first_row=start, rows=n,
                              http_status=status, answer=answer, received_at=sub.received_at, stored_at=utcnow()))
        return saved


def _answer(sub: Submission, rejected: str | None, outcomes: list[Any]) -> tuple[int, dict[str, Any]]:
    """Return (status, body) of one request: 202 with each lead's id, or 422 naming why none was accepted."""
    if rejected is not None:
        return 422, {"error": f"the leads were refused as a whole: {rejected}"}
    accepted: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for i, o in enumerate(outcomes, start=1):
        if o is None:
            refused.append({"lead": i, "reasons": ["not stored (see the quarantine)"]})
        elif o.lead_id is not None:
            accepted.append({"lead": i, "lead_id": o.lead_id, "merged": o.merged})
        else:
            refused.append({"lead": i, "reasons": list(o.reasons)})
    body: dict[str, Any] = {"accepted": accepted, "quarantined": refused}
    if not accepted:
        reasons = "; ".join(str(r) for q in refused for r in q["reasons"])
        return 422, {"error": f"no lead accepted: {reasons}", **body}
    return 202, body
