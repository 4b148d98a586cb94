"""leads: room on each page for updates in place (PostgreSQL fillfactor), no company_key index, and the
owner_sdr_id index over owned leads only

After intake every stage rewrites each lead (enrichment, scoring, routing). A rewrite that changes no
indexed column can stay on its page without touching any index (a HOT update) only when the page has
room: with full pages every rewrite added an entry to each of the table's indexes. No query looks
leads up by company_key (accounts are matched by accounts.name_key), and only owned leads are ever
looked up by owner (the sdrs foreign key's checks, ``owner_sdr_id IS NOT NULL``): those entries were
written on every insert and every rewrite for nothing.

The fillfactor applies to pages written from now on (existing pages fill up as rows are rewritten).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 06:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

OWNED = "owner_sdr_id IS NOT NULL"
FILLFACTOR = 80  # the models.LEADS_FILLFACTOR of this revision


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE leads SET (fillfactor = {FILLFACTOR})")
    op.drop_index('ix_leads_company_key', table_name='leads')
    op.drop_index('ix_leads_owner_sdr_id', table_name='leads')
    op.create_index('ix_leads_owner_sdr_id', 'leads', ['owner_sdr_id'], unique=False,
                    sqlite_where=sa.text(OWNED), postgresql_where=sa.text(OWNED))


def downgrade() -> None:
    op.drop_index('ix_leads_owner_sdr_id', table_name='leads')
    op.create_index('ix_leads_owner_sdr_id', 'leads', ['owner_sdr_id'], unique=False)
    op.create_index('ix_leads_company_key', 'leads', ['company_key'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE leads RESET (fillfactor)")
