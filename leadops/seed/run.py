"""`leadops seed`: generate the sample and write it (history rows, then the inbox files)."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from leadops.config import Rules
from leadops.seed.context import PARIS
from leadops.seed.generate import generate
from leadops.seed.summary import summarize
from leadops.seed.writer import ingested_hashes, write_history, write_inbox_files


def seed(session: Session, rules: Rules, inbox_dir: Path | str, seed: int = 42, anchor: date | None = None,
         n_leads: int = 2000) -> dict[str, Any]:
    """Generate and write the seed (history rows + inbox files); returns a summary dict.

    ``anchor`` defaults to today in Europe/Paris. ``inserted`` holds rows actually inserted
    this run (all zeros on a re-run); ``inbox_paths`` the files written, ``inbox_already_ingested``
    the names of those left out because the pipeline ingested them before. The caller commits.
    """
    anchor = anchor or datetime.now(PARIS).date()
    plan = generate(seed, anchor, rules, n_leads)
    inserted = write_history(session, plan, rules)
    paths = write_inbox_files(plan, inbox_dir, ingested_hashes(session))
    written = {p.name for p in paths}
    return {**summarize(plan), "sdrs": inserted["sdrs"], "inserted": inserted,
            "inbox_paths": [str(p) for p in paths],
            "inbox_already_ingested": [f.name for f in [*plan.inbox_files, *plan.activity_files]
                                       if f.name not in written]}
