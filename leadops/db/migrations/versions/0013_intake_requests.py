"""intake_requests: each request the real-time intake service stored, by idempotency key, with the answer it got

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 17:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'intake_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('idem_key', sa.String(length=300), nullable=False),
        sa.Column('webhook', sa.String(length=40), nullable=False),
        sa.Column('ingest_batch_id', sa.Integer(), nullable=True),
        sa.Column('first_row', sa.Integer(), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('http_status', sa.Integer(), nullable=False),
        sa.Column('answer', sa.JSON(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('stored_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ingest_batch_id'], ['ingest_batches.id'],
                                name=op.f('fk_intake_requests_ingest_batch_id_ingest_batches')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_requests')),
        sa.UniqueConstraint('idem_key', name=op.f('uq_intake_requests_idem_key')),
    )


def downgrade() -> None:
    op.drop_table('intake_requests')
