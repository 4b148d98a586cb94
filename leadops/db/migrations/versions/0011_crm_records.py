"""crm_records: the CRM records leadops read (HubSpot, Salesforce), the lead each became, its modification stamp
and the write-back values last seen in the CRM

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 14:00:00
"""
from alembic import op
import sqlalchemy as sa



revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'crm_records',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('connector', sa.String(length=40), nullable=False),
        sa.Column('object', sa.String(length=40), nullable=False),
        sa.Column('external_id', sa.String(length=64), nullable=False),
        sa.Column('lead_id', sa.Integer(), nullable=True),
        sa.Column('modified_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('seen', sa.JSON(), nullable=False),
        sa.Column('written', sa.JSON(), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('written_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_crm_records_lead_id_leads'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_crm_records')),
        sa.UniqueConstraint('connector', 'object', 'external_id', name=op.f('uq_crm_records_connector')),
    )
    op.create_index(op.f('ix_crm_records_lead_id'), 'crm_records', ['lead_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_crm_records_lead_id'), table_name='crm_records')
    op.drop_table('crm_records')
