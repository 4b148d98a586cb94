"""SLA sweep benchmark on PostgreSQL: N open first-touch clocks (spread over the roster's SDRs, started
over the last two weeks), a small share crossing the reminder and breach thresholds, swept once by
leadops' set-based enforce(); the baseline is reading the same open clocks into a frame (the I/O
floor of any sweep), in the same run. Prints clocks/s and the ratio.

    .venv/bin/python bench/sla.py [--clocks 1000000] [--db postgresql|sqlite]
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta, UTC
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import fresh_url  # noqa: E402 - bench/ is the script's folder
from results import Reporter, add_arguments  # noqa: E402
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clocks", type=int, default=1_000_000)
    ap.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--due-share", type=float, default=0.005, help="share of clocks with a 1-hour target (they step)")
    add_arguments(ap)
    a = ap.parse_args()
    rep = Reporter.from_args(a, "sla")
    from sqlalchemy import select, text

    from leadops.config import load_rules
    from leadops.db.bulk import bulk_insert
    from leadops.db.migrate import upgrade
    from leadops.db.models import Assignment, Lead, SlaClock, SlaEvent
    from leadops.db.repositories.sla import OPEN
    from leadops.db.session import session_scope
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.roster import apply_roster
    from leadops.services.sla import enforce

    url = fresh_url(a.db, "sla")
    upgrade(url)
    rules = load_rules(ROOT / "config")
    rules = rules.model_copy(update={"sla": rules.sla.model_copy(update={"reassign_at": 100.0})})  # isolate the sweep
    n = a.clocks
    rng = np.random.default_rng(3)
    t0 = time.perf_counter()
    with session_scope(url) as s:
        ids = apply_roster(SqlUnitOfWork.around(s), rules.roster)
        s.commit()
        sdr_ids = [sid for code, sid in ids.items() if code.startswith("s.")]
        started = NOW - pd.to_timedelta(rng.random(n) * 14, unit="D")
        owner = rng.choice(sdr_ids, n)
        conn = s.connection()
        now = NOW - timedelta(days=15)
        bulk_insert(conn, Lead.__table__, [dict(email=f"c{i}@firm{i % 5000}.fr", email_domain=f"firm{i % 5000}.fr",
                                                 source="web_form", lifecycle_stage="mql", stage_changed_at=now,
                                                 arrived_at=now, created_at=now, updated_at=now, owner_sdr_id=int(owner[i]))
                                            for i in range(n)])
        bulk_insert(conn, Assignment.__table__, [dict(lead_id=i + 1, sdr_id=int(owner[i]), status="assigned", reason="bench",
                                                      candidates=[], active=True, assigned_at=started[i].to_pydatetime(),
                                                      kind="initial") for i in range(n)])
        due = rng.random(n) < a.due_share
        bulk_insert(conn, SlaClock.__table__, [dict(lead_id=i + 1, sdr_id=int(owner[i]), assignment_id=i + 1, policy="bench",
                                                    kind="first_touch", target_seconds=3600 if due[i] else 30 * 9 * 3600,
                                                    started_at=started[i].to_pydatetime(), due_at=None, status="open",
                                                    elapsed_seconds=0) for i in range(n)])
        s.commit()
        if a.db == "postgresql":
            s.execute(text("ANALYZE"))
            s.commit()
    setup = time.perf_counter() - t0
    with session_scope(url) as s:  # baseline: read the open clocks into a frame
        t = time.perf_counter()
        frame = pd.DataFrame(s.execute(select(SlaClock.id, SlaClock.lead_id, SlaClock.sdr_id, SlaClock.started_at,
                                              SlaClock.target_seconds).where(SlaClock.status.in_(OPEN))).all())
        base = time.perf_counter() - t
    with session_scope(url) as s:
        t = time.perf_counter()
        out = enforce(SqlUnitOfWork.around(s), rules, "Europe/Paris", now=NOW)
        s.commit()
        sweep = time.perf_counter() - t
    with session_scope(url) as s:
        events = s.scalar(select(text("count(*)")).select_from(SlaEvent))
    rep.line(f"SLA sweep, {n} open clocks on {a.db} ({a.due_share:.1%} with a 1-hour target), setup {setup:.0f} s")
    rep.line(f"  baseline (read open clocks)  {len(frame) / base:>12,.0f} clocks/s")
    rep.line(f"  leadops enforce()            {n / sweep:>12,.0f} clocks/s  ({sweep:.1f} s)")
    rep.line(f"  ratio                        {sweep / base:>12.1f}x the baseline's time")
    rep.line(f"  outcome: open {out.open}, reminded {out.reminded}, breached {out.breached}, events written {events}")
    rep.add(f"sla/{a.db}/{n}", sweep / base, better="lower", clocks_per_s=round(n / sweep))
    rep.finish()


if __name__ == "__main__":
    main()
