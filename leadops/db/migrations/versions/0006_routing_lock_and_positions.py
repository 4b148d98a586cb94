"""routing lock (serializes concurrent routers) and round-robin positions per SDR

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 18:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('routing_locks',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_routing_locks'))
    )
    op.execute("INSERT INTO routing_locks (name) VALUES ('route')")
    op.create_table('routing_positions',
    sa.Column('sdr_id', sa.Integer(), nullable=False),
    sa.Column('virtual_time', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sdr_id'], ['sdrs.id'], name=op.f('fk_routing_positions_sdr_id_sdrs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sdr_id', name=op.f('pk_routing_positions'))
    )


def downgrade() -> None:
    op.drop_table('routing_positions')
    op.drop_table('routing_locks')
