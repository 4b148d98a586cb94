"""Ingest a CRM-style REST API incrementally: pages since the stored watermark, each page a batch.

Each page is committed as it lands, keyed by the hash of its content (a page read twice changes
nothing); the watermark moves only after a complete read, so a read cut short starts again from
the old watermark and skips the pages it already has.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leadops.config import ApiSource, Rules, Settings
from leadops.db.models import SourceWatermark, utcnow
from leadops.services.ingest import FileOutcome, admit_rows, open_batch
from leadops.redact import redact
from leadops.sources.api import ApiError, iter_pages, token_secrets

@dataclass
class ApiOutcome:
    """One API read: pages by outcome, row counts, the watermark before and after, and any error."""

    source: str
    since: datetime | None
    watermark: datetime | None
    pages: list[FileOutcome] = field(default_factory=list)
    error: str | None = None

    def totals(self) -> dict[str, int]:
        return {k: sum(getattr(p, k) for p in self.pages) for k in ("rows_read", "inserted", "merged", "quarantined")}


def ingest_api(session: Session, cfg: ApiSource, rules: Rules, settings: Settings, *, token: str | None,
               http: Any = None, flow_run_id: str | None = None) -> ApiOutcome:
    """Read ``cfg`` since its watermark and admit every page; commits per page; returns the outcome."""
    mark = session.get(SourceWatermark, cfg.name)
    since = mark.watermark if mark else None
    out = ApiOutcome(cfg.name, since, since)
    newest = since
    try:
        for page in iter_pages(cfg, since, token=token, http=http):
            # the batch key of a page: its content, within this source (same width as a file hash)
            digest = hashlib.sha256(f"api:{cfg.name}:{page.key}".encode()).hexdigest()
            batch, seen = open_batch(session, digest, cfg.name, page.url, flow_run_id)
            if batch is None:
                out.pages.append(FileOutcome(page.url, "duplicate", cfg.name, seen.id,
                                             error=f"same content as batch {seen.id}"))
            else:
                columns = sorted({k for r in page.rows for k in r.fields} | {"email"})
                out.pages.append(admit_rows(session, batch, page.rows, columns, cfg, rules, settings))
            session.commit()
            if page.max_updated_at and (newest is None or page.max_updated_at > newest):
                newest = page.max_updated_at
    except ApiError as exc:
        session.rollback()
        # iter_pages redacts already; this is the boundary where the text is stored and shown
        out.error = redact(str(exc), token_secrets(token, cfg.auth_prefix))
        return out  # watermark unchanged: the next run reads again from it
    mark = mark or SourceWatermark(source=cfg.name)
    mark.watermark, mark.pages_read, mark.updated_at = newest, len(out.pages), utcnow()
    session.add(mark)
    session.commit()
    out.watermark = newest
    return out
