"""slack_users: the Slack member id and direct-message channel of each email leadops looked up (or that none
exists), cached between runs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 17:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'slack_users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('user_id', sa.String(length=32), nullable=True),
        sa.Column('dm_channel', sa.String(length=32), nullable=True),
        sa.Column('looked_up_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_slack_users')),
        sa.UniqueConstraint('email', name=op.f('uq_slack_users_email')),
    )


def downgrade() -> None:
    op.drop_table('slack_users')
