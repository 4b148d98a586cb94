"""routing_positions: one row per pool and SDR (each pool keeps its own round robin) instead of one per SDR

The old rows held one virtual time per SDR, advanced by every assignment in every pool (and by account
owners' leads): a number that is no pool's position. They are not carried over: every pool's rotation
restarts even (all members at 0). That costs at most about one lead per member, since weighted round robin
keeps members who stay available within one turn of each other, and the router raises anyone lagging to
the pool's pace at their next pick. The downgrade likewise starts the per-SDR rotation even.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('routing_positions')
    op.create_table(
        'routing_positions',
        sa.Column('pool', sa.String(length=100), nullable=False),
        sa.Column('sdr_id', sa.Integer(), nullable=False),
        sa.Column('virtual_time', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sdr_id'], ['sdrs.id'], name=op.f('fk_routing_positions_sdr_id_sdrs'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pool', 'sdr_id', name=op.f('pk_routing_positions')),
    )


def downgrade() -> None:
    op.drop_table('routing_positions')
    op.create_table(
        'routing_positions',
        sa.Column('sdr_id', sa.Integer(), nullable=False),
        sa.Column('virtual_time', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sdr_id'], ['sdrs.id'], name=op.f('fk_routing_positions_sdr_id_sdrs'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('sdr_id', name=op.f('pk_routing_positions')),
    )
