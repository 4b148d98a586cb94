"""sla_clocks.touches_required: follow-up cadence clocks need N touches (first-touch clocks 1)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 18:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('touches_required', sa.Integer(), nullable=False, server_default=sa.text('1')))
        # an assignment now has a first-touch clock and then a cadence clock: unique per kind
        batch_op.drop_constraint('uq_sla_clocks_assignment_id', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_sla_clocks_assignment_id'), ['assignment_id', 'kind'])


def downgrade() -> None:
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.drop_constraint('uq_sla_clocks_assignment_id', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_sla_clocks_assignment_id'), ['assignment_id'])
        batch_op.drop_column('touches_required')
