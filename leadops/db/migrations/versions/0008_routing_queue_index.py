"""leads: partial index ix_leads_routing_queue (arrived_at, id) over MQLs without owner

Routing reads its queue in keyset chunks; without this index each chunk rescanned and sorted
every MQL (quadratic in the backlog).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 22:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

QUEUE = "lifecycle_stage = 'mql' AND owner_sdr_id IS NULL"


def upgrade() -> None:
    op.create_index('ix_leads_routing_queue', 'leads', ['arrived_at', 'id'], unique=False,
                    sqlite_where=sa.text(QUEUE), postgresql_where=sa.text(QUEUE))


def downgrade() -> None:
    op.drop_index('ix_leads_routing_queue', table_name='leads')
