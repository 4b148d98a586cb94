"""notification_outbox: claimed_by and lease_until (claims of a dead sender come back within the lease)

A claim used to be taken back only 10 minutes after claimed_at, whoever held it; now each claim names its
holder and a lease its live holder renews, so a killed sender's messages are retried within the lease.
Rows left in 'sending' by an older version have no lease and count as expired.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
        batch_op.drop_column('claimed_by')
