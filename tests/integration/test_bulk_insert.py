"""bulk_insert stores exactly what the ORM would: every column type, shared values and scalar
defaults, on SQLite and PostgreSQL."""
from datetime import datetime, timedelta, timezone, UTC

import pytest
from sqlalchemy import select

from leadops.db.bulk import bulk_insert
from leadops.db.models import Activity, IngestBatch, Lead, LeadMerge


def _lead(session, email: str) -> Lead:
    lead = Lead(email=email, email_domain=email.split("@")[1], source="web_form")
    session.add(lead)
    session.flush()
    return lead


def test_bulk_insert_stores_what_the_orm_stores(session):
    when = datetime(2026, 11, 3, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))
    batch = IngestBatch(content_hash="h", source="s", origin="o", status="running", rows_read=0, inserted=0,
                        merged=0, quarantined=0)
    session.add(batch)
    lead = _lead(session, "a@b.fr")
    rows = [dict(lead_id=lead.id, fields_filled=["phone", "company"], matched_by="fuzzy 93",
                 raw={"Email": "A@b.fr", "Note": "=1+1", "Émoji": "🙂", "n": None}, merged_at=when, source_row=7),
            dict(lead_id=lead.id, fields_filled=[], matched_by="email", raw={}, merged_at=when + timedelta(days=1),
                 source_row=9)]
    assert bulk_insert(session.connection(), LeadMerge.__table__, rows, fixed=dict(ingest_batch_id=batch.id)) == 2
    session.add(LeadMerge(**{**rows[0], "source_row": 8}, ingest_batch_id=batch.id))  # the ORM's way
    session.flush()
    stored = session.execute(select(LeadMerge.fields_filled, LeadMerge.matched_by, LeadMerge.raw, LeadMerge.merged_at,
                                    LeadMerge.ingest_batch_id, LeadMerge.source_row).order_by(LeadMerge.id)).all()
    assert stored[0][:5] == stored[2][:5]  # bulk and ORM rows read back the same
    assert stored[0] == (["phone", "company"], "fuzzy 93", rows[0]["raw"], when, batch.id, 7)
    assert stored[1] == ([], "email", {}, when + timedelta(days=1), batch.id, 9)


@pytest.mark.parametrize("columns", [["lead_id"], ["lead_id", "kind"], None])
def test_bulk_insert_takes_one_column_several_or_all_with_defaults(session, columns):
    lead = _lead(session, "c@d.fr")
    when = datetime(2026, 11, 4, 8, 0, tzinfo=UTC)
    rows = [dict(lead_id=lead.id, kind="web", occurred_at=when, outcome=None, external_key=f"k{i}") for i in range(3)]
    fixed = {k: v for k, v in dict(kind="call", occurred_at=when, external_key=None).items() if k not in (columns or rows[0])}
    bulk_insert(session.connection(), Activity.__table__, rows, columns, fixed or None)
    stored = session.execute(select(Activity.lead_id, Activity.kind, Activity.occurred_at, Activity.outcome,
                                    Activity.external_key, Activity.sdr_id).order_by(Activity.id)).all()
    kind = "web" if columns is None or "kind" in columns else "call"
    keys = [f"k{i}" for i in range(3)] if columns is None else [None] * 3
    assert stored == [(lead.id, kind, when, None, key, None) for key in keys]
