"""Weekly report benchmark: one ISO week with N leads and M SDR activities (and the 7 weeks before,
which the trend reads, nearly empty); leadops' build_weekly_report (facts, metrics, HTML with
charts, CSV) against a bare SQL aggregation of the same headline numbers, in the same run.

    .venv/bin/python bench/report.py [--leads 200000 --activities 1000000] [--db postgresql|sqlite]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, UTC
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import fresh_url  # noqa: E402 - bench/ is the script's folder
from results import Reporter, add_arguments  # noqa: E402
WEEK, START = "2026-W46", datetime(2026, 11, 9, 0, 0, tzinfo=UTC)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=200_000)
    ap.add_argument("--activities", type=int, default=1_000_000)
    ap.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    add_arguments(ap)
    a = ap.parse_args()
    rep = Reporter.from_args(a, "report")
    from sqlalchemy import text

    from leadops.config import load_rules
    from leadops.db.bulk import bulk_insert
    from leadops.db.migrate import upgrade
    from leadops.db.models import Activity, Lead
    from leadops.db.session import session_scope
    from leadops.db.unit_of_work import SqlUnitOfWork
    from leadops.services.report import build_weekly_report
    from leadops.services.roster import apply_roster

    url = fresh_url(a.db, "report")
    upgrade(url)
    rules = load_rules(ROOT / "config")
    rng = np.random.default_rng(11)
    t0 = time.perf_counter()
    with session_scope(url) as s:
        ids = apply_roster(SqlUnitOfWork.around(s), rules.roster)
        s.commit()
        sdrs = [sid for code, sid in ids.items() if code.startswith("s.")]
        secs = rng.random(a.leads) * 7 * 86400
        stages = rng.choice(["new", "mql", "sal", "sql", "disqualified", "nurture"], a.leads)
        conn = s.connection()
        bulk_insert(conn, Lead.__table__, [dict(
            email=f"r{i}@firm{i % 9000}.fr", email_domain=f"firm{i % 9000}.fr",
            source=("web_form", "webinar", "demo_request")[i % 3], lifecycle_stage=str(stages[i]),
            stage_changed_at=START, arrived_at=START + timedelta(seconds=float(secs[i])), created_at=START,
            updated_at=START, owner_sdr_id=int(sdrs[i % len(sdrs)])) for i in range(a.leads)])
        kinds = rng.choice(["call", "email", "linkedin", "meeting"], a.activities, p=[0.45, 0.4, 0.12, 0.03])
        outcome = {"call": ["no_answer", "connected", "meeting_booked"], "email": ["sent", "replied", "bounced"],
                   "linkedin": ["sent"], "meeting": ["held", "no_show"]}
        at = rng.random(a.activities) * 7 * 86400
        lead_ids = rng.integers(1, a.leads + 1, a.activities)
        bulk_insert(conn, Activity.__table__, [dict(
            lead_id=int(lead_ids[i]), sdr_id=int(sdrs[lead_ids[i] % len(sdrs)]), kind=str(kinds[i]),
            outcome=outcome[str(kinds[i])][i % len(outcome[str(kinds[i])])],
            occurred_at=START + timedelta(seconds=float(at[i])), scheduled_for=None, detail=None,
            external_key=f"b{i}") for i in range(a.activities)])
        s.commit()
        if a.db == "postgresql":
            s.execute(text("ANALYZE"))
            s.commit()
    setup = time.perf_counter() - t0
    end = START + timedelta(days=7)
    from leadops.db.session import get_engine

    with get_engine(url).connect() as c:
        t = time.perf_counter()
        c.execute(text("SELECT sdr_id, kind, outcome, count(*) FROM activities WHERE occurred_at >= :s AND occurred_at < :e "
                       "GROUP BY sdr_id, kind, outcome"), {"s": START, "e": end}).all()
        c.execute(text("SELECT lifecycle_stage, source, count(*) FROM leads WHERE arrived_at >= :s AND arrived_at < :e "
                       "GROUP BY lifecycle_stage, source"), {"s": START, "e": end}).all()
        bare = time.perf_counter() - t
    with SqlUnitOfWork(url) as uow, tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        res = build_weekly_report(uow, WEEK, "UTC", Path(out))
        report = time.perf_counter() - t
    rep.line(f"weekly report, {a.leads} leads and {a.activities} activities in {WEEK} on {a.db} (setup {setup:.0f} s)")
    rep.line(f"  bare SQL aggregation  {bare:>8.2f} s")
    rep.line(f"  leadops report        {report:>8.2f} s  (HTML, charts, CSV; headline leads {res.headline['leads']})")
    rep.line(f"  ratio                 {report / bare:>8.1f}x the bare aggregation's time")
    rep.add(f"report/{a.db}/{a.activities}", report / bare, better="lower", seconds=round(report, 2))
    rep.finish()


if __name__ == "__main__":
    main()
