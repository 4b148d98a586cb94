"""provider rate slots: the next free request slot per provider, shared across workers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 17:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('provider_rate_slots',
    sa.Column('provider', sa.String(length=100), nullable=False),
    sa.Column('next_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider', name=op.f('pk_provider_rate_slots'))
    )


def downgrade() -> None:
    op.drop_table('provider_rate_slots')
