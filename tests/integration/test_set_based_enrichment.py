"""Enrichment's one-statement lead update (``UPDATE leads ... FROM`` a temporary table of per-domain values)
leaves every lead as the reference repository (tests/support/fake_enrichment.py, lead by lead) does: only pending
leads, never a worse status, a field without a value keeps the lead's own. Both backends, and on SQLite both
plans (one scan of the table, or look-ups by domain)."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leadops.db.models import Lead
from leadops.db.repositories import enrichment as repo_module
from leadops.db.repositories.enrichment import LEAD_FIELDS, DomainOutcome, Pending, SqlEnrichmentRepository
from leadops.domain.enrichment import EnrichmentStatus
from tests.support.fake_enrichment import FakeEnrichmentRepository, lead

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OLD, RECENT = NOW - timedelta(days=400), NOW - timedelta(days=2)
STORED = [None, "error", "enriched", "partial", "miss", "skipped"]
VALUES = {"industry": ["Software", "Retail"], "employee_count": [12, 4000], "employee_band": ["11-50", "1001-5000"],
          "revenue_band": ["1-10M", "100M+"]}


def _case(seed: int) -> tuple[list[dict], list[DomainOutcome]]:
    rng = random.Random(seed)
    leads = []
    for i in range(240):
        status = rng.choice(STORED)
        own = {k: rng.choice([None, *VALUES[k]]) for k in LEAD_FIELDS}
        leads.append(lead(f"p{i}@firm{i % 30}.fr", enrichment_status=status,
                          enriched_at=None if status is None else rng.choice([OLD, RECENT]), **own))
    outcomes = []
    for d in rng.sample(range(30), 24):
        status = rng.choice([s for s in EnrichmentStatus if s != EnrichmentStatus.SKIPPED])
        values = {k: rng.choice(VALUES[k]) for k in LEAD_FIELDS if rng.random() < 0.6}
        outcomes.append(DomainOutcome(f"firm{d}.fr", status, values, sum(r["email_domain"] == f"firm{d}.fr"
                                                                          for r in leads)))
    return leads, outcomes


def _seen(rows: list[dict]) -> dict[str, tuple]:
    def when(at: datetime | None) -> str | None:
        if at is None:
            return None
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        return {NOW: "now", OLD: "old", RECENT: "recent"}[at]

    return {r["email"]: (r["enrichment_status"], when(r["enriched_at"]), *(r[k] for k in LEAD_FIELDS)) for r in rows}


@pytest.mark.parametrize("plan", ["scan", "by-domain"])
@pytest.mark.parametrize("stale", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_one_statement_update_leaves_every_lead_as_the_lead_by_lead_reference(session, monkeypatch, plan, stale,
                                                                                   seed):
    leads, outcomes = _case(seed)
    session.add_all([Lead(source="web_form", **row) for row in leads])
    session.flush()
    pending = Pending(stale_before=NOW - timedelta(days=180) if stale else None)
    reference = FakeEnrichmentRepository(leads=[dict(r) for r in leads])
    reference.update_leads(outcomes, pending, NOW)

    monkeypatch.setattr(repo_module, "SCAN_SHARE", 10**9 if plan == "scan" else 0)
    SqlEnrichmentRepository(session).update_leads(outcomes, pending, NOW)
    session.expire_all()
    cols = ["email", "enrichment_status", "enriched_at", *LEAD_FIELDS]
    stored = [dict(zip(cols, row, strict=True)) for row in session.execute(select(*(getattr(Lead, c) for c in cols)))]
    assert _seen(stored) == _seen(reference.leads)
    assert any(r["enriched_at"] == NOW for r in reference.leads)  # the case updates some leads


@pytest.mark.parametrize(("share", "expected"), [(1, "SEARCH leads USING INDEX ix_leads_email_domain"),
                                                 (10**9, "SCAN leads")])
def test_sqlite_plans_a_few_domains_by_index_and_a_large_share_of_the_leads_as_one_scan(tmp_path, monkeypatch,
                                                                                          share, expected):
    """A pass over most leads reads the table once in storage order (by index, domain after domain, each page was
    rewritten many times); a pass over a few domains of a large table looks their leads up."""
    from sqlalchemy import event

    from leadops.db.migrate import upgrade
    from leadops.db.session import get_engine, session_scope

    url = f"sqlite:///{tmp_path / 'plan.db'}"
    upgrade(url)
    plans: list[str] = []

    def explain(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE leads SET"):
            plans.extend(str(r[-1]) for r in cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters))

    leads, outcomes = _case(1)
    monkeypatch.setattr(repo_module, "SCAN_SHARE", share)  # 1: 24 domains of 240 leads are not enough to scan
    event.listen(get_engine(url), "before_cursor_execute", explain)
    try:
        with session_scope(url) as session:
            session.add_all([Lead(source="web_form", **row) for row in leads])
            session.flush()
            SqlEnrichmentRepository(session).update_leads(outcomes, Pending(), NOW)
    finally:
        event.remove(get_engine(url), "before_cursor_execute", explain)
    assert any(p.startswith(expected) for p in plans), plans
    assert any("USING INDEX sqlite_autoindex" in p or "PRIMARY KEY" in p for p in plans), plans  # the values by domain
