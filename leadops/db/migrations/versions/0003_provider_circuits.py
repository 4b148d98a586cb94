"""provider circuits: the enrichment circuit breaker's state per provider

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('provider_circuits',
    sa.Column('provider', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('opened_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider', name=op.f('pk_provider_circuits'))
    )


def downgrade() -> None:
    op.drop_table('provider_circuits')
