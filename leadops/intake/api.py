"""Intake of a CRM-style REST API, incrementally: the pages since the stored watermark, each page a batch.

Each page is stored in a unit of work of its own as it lands, keyed by the hash of its content (a
page read twice changes nothing); the watermark moves only after a complete read, in a last unit, so
a read cut short starts again from the old watermark and skips the pages it already has.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadops.config import ApiSource, Rules, Settings
from leadops.db.unit_of_work import UnitOfWork, UnitOfWorkFactory
from leadops.intake.batches import admit_chunks, open_batch
from leadops.intake.leads import LEADS
from leadops.intake.outcome import FileOutcome
from leadops.redact import redact
from leadops.intake.stages import Check
from leadops.sources.api import ApiError, ApiPage, iter_pages, token_secrets


@dataclass
class ApiOutcome:
    """One API read: pages by outcome, row counts, the watermark before and after, and any error."""

    source: str
    since: datetime | None
    watermark: datetime | None
    pages: list[FileOutcome] = field(default_factory=list)
    error: str | None = None

    def totals(self) -> dict[str, int]:
        """Return the row counts summed over the pages (rows_read, inserted, merged, quarantined)."""
        return {k: sum(getattr(p, k) for p in self.pages) for k in ("rows_read", "inserted", "merged", "quarantined")}


def ingest_api(units: UnitOfWorkFactory, cfg: ApiSource, rules: Rules, settings: Settings, *, token: str | None,
               http: Any = None, flow_run_id: str | None = None, check: Check | None = None) -> ApiOutcome:
    """Read ``cfg`` since its watermark and admit every page, each in a unit of work of ``units`` (which
    commits it); returns the outcome. On an API error the pages stored so far stay and the watermark
    does not move. ``check``: see :func:`leadops.intake.batches.admit_chunks`."""
    with units() as uow:
        since = uow.intake.watermark(cfg.name)
    out = ApiOutcome(cfg.name, since, since)
    newest = since
    try:
        for page in iter_pages(cfg, since, token=token, http=http):
            with units() as uow:
                out.pages.append(_admit_page(uow, page, cfg, rules, settings, flow_run_id, check))
            if page.max_updated_at and (newest is None or page.max_updated_at > newest):
                newest = page.max_updated_at
    except ApiError as exc:
        # iter_pages redacts already; this is the boundary where the text is stored and shown
        out.error = redact(str(exc), token_secrets(token, cfg.auth_prefix))
        return out  # watermark unchanged: the next run reads again from it
    with units() as uow:
        uow.intake.set_watermark(cfg.name, newest, len(out.pages))
    out.watermark = newest
    return out


def _admit_page(uow: UnitOfWork, page: ApiPage, cfg: ApiSource, rules: Rules, settings: Settings,
                flow_run_id: str | None, check: Check | None) -> FileOutcome:
    """Admit one page as a batch of its own (a duplicate when its content was stored before); returns its outcome."""
    # the batch key of a page: its content, within this source (same width as a file hash)
    digest = hashlib.sha256(f"api:{cfg.name}:{page.key}".encode()).hexdigest()
    batch, seen = open_batch(uow.intake, digest, cfg.name, page.url, flow_run_id)
    if batch is None:
        assert seen is not None
        return FileOutcome(page.url, "duplicate", cfg.name, seen.id, error=f"same content as batch {seen.id}")
    columns = sorted({k for r in page.rows for k in r.fields} | {"email"})
    return admit_chunks(uow, batch, [page.rows], columns, cfg, rules, settings, stages=LEADS, check=check)
