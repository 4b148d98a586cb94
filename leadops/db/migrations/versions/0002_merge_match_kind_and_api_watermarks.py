"""merge match kind and API watermarks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:24:52.557773
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('source_watermarks',
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('watermark', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pages_read', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source', name=op.f('pk_source_watermarks'))
    )
    with op.batch_alter_table('lead_merges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('matched_by', sa.String(length=50), nullable=False, server_default='email'))



def downgrade() -> None:
    with op.batch_alter_table('lead_merges', schema=None) as batch_op:
        batch_op.drop_column('matched_by')

    op.drop_table('source_watermarks')
