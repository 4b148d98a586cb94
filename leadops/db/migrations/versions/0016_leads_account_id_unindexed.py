"""leads: no index on account_id

Nothing looks leads up by account: routing reads a lead's account by the account's primary key (the
lead's account_id in hand), no report or service filters leads by account_id, and accounts are never
deleted (the foreign key's checks on the accounts side never run). The index was written for nothing:
an entry per lead at intake and another for every rewrite of a lead that is not HOT on PostgreSQL (each
routing owner update is one: owner_sdr_id is indexed). A routing pass of 80k MQLs at 100k leads:
PostgreSQL server CPU 7.2 -> 6.8 s.

The foreign key itself stays.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 09:00:00
"""
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_leads_account_id', table_name='leads')


def downgrade() -> None:
    op.create_index('ix_leads_account_id', 'leads', ['account_id'], unique=False)
