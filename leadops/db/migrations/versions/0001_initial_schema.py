"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 12:36:45.137381
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('enrichment_lookups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('provider', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrichment_lookups')),
    sa.UniqueConstraint('domain', 'provider', name=op.f('uq_enrichment_lookups_domain'))
    )
    op.create_table('enrichment_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('provider', sa.String(length=100), nullable=False),
    sa.Column('field', sa.String(length=100), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrichment_records')),
    sa.UniqueConstraint('domain', 'field', 'provider', name=op.f('uq_enrichment_records_domain'))
    )
    with op.batch_alter_table('enrichment_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrichment_records_domain'), ['domain'], unique=False)

    op.create_table('ingest_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('origin', sa.String(length=1000), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('inserted', sa.Integer(), nullable=False),
    sa.Column('merged', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('flow_run_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_batches')),
    sa.UniqueConstraint('content_hash', name=op.f('uq_ingest_batches_content_hash'))
    )
    op.create_table('report_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.String(length=10), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('html_path', sa.String(length=1000), nullable=True),
    sa.Column('csv_path', sa.String(length=1000), nullable=True),
    sa.Column('headline', sa.JSON(), nullable=False),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('flow_run_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_runs'))
    )
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_runs_week'), ['week'], unique=False)

    op.create_table('sdrs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('team', sa.String(length=100), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('work_start', sa.String(length=5), nullable=False),
    sa.Column('work_end', sa.String(length=5), nullable=False),
    sa.Column('work_days', sa.JSON(), nullable=False),
    sa.Column('holiday_country', sa.String(length=2), nullable=True),
    sa.Column('daily_cap', sa.Integer(), nullable=False),
    sa.Column('open_cap', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('territories', sa.JSON(), nullable=False),
    sa.Column('segments', sa.JSON(), nullable=False),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('manager_id', sa.Integer(), nullable=True),
    sa.Column('paired_ae_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['manager_id'], ['sdrs.id'], name=op.f('fk_sdrs_manager_id_sdrs')),
    sa.ForeignKeyConstraint(['paired_ae_id'], ['sdrs.id'], name=op.f('fk_sdrs_paired_ae_id_sdrs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sdrs')),
    sa.UniqueConstraint('code', name=op.f('uq_sdrs_code'))
    )
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('name_key', sa.String(length=255), nullable=True),
    sa.Column('owner_sdr_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_sdr_id'], ['sdrs.id'], name=op.f('fk_accounts_owner_sdr_id_sdrs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('domain', name=op.f('uq_accounts_domain'))
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_name_key'), ['name_key'], unique=False)

    op.create_table('quarantine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ingest_batch_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('origin', sa.String(length=1000), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ingest_batch_id'], ['ingest_batches.id'], name=op.f('fk_quarantine_ingest_batch_id_ingest_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine')),
    sa.UniqueConstraint('ingest_batch_id', 'source_row', name=op.f('uq_quarantine_ingest_batch_id'))
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantine_ingest_batch_id'), ['ingest_batch_id'], unique=False)

    op.create_table('sdr_out_of_office',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sdr_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['sdr_id'], ['sdrs.id'], name=op.f('fk_sdr_out_of_office_sdr_id_sdrs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sdr_out_of_office'))
    )
    with op.batch_alter_table('sdr_out_of_office', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sdr_out_of_office_sdr_id'), ['sdr_id'], unique=False)

    op.create_table('leads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('email_domain', sa.String(length=255), nullable=False),
    sa.Column('first_name', sa.String(length=200), nullable=True),
    sa.Column('last_name', sa.String(length=200), nullable=True),
    sa.Column('company', sa.String(length=255), nullable=True),
    sa.Column('company_key', sa.String(length=255), nullable=True),
    sa.Column('job_title', sa.String(length=255), nullable=True),
    sa.Column('seniority', sa.String(length=50), nullable=True),
    sa.Column('department', sa.String(length=50), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('source', sa.String(length=50), nullable=False),
    sa.Column('campaign', sa.String(length=200), nullable=True),
    sa.Column('is_free_email', sa.Boolean(), nullable=False),
    sa.Column('is_competitor', sa.Boolean(), nullable=False),
    sa.Column('is_hand_raiser', sa.Boolean(), nullable=False),
    sa.Column('lifecycle_stage', sa.String(length=20), nullable=False),
    sa.Column('stage_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disqualified_reason', sa.String(length=50), nullable=True),
    sa.Column('industry', sa.String(length=100), nullable=True),
    sa.Column('employee_count', sa.Integer(), nullable=True),
    sa.Column('employee_band', sa.String(length=20), nullable=True),
    sa.Column('revenue_band', sa.String(length=20), nullable=True),
    sa.Column('enrichment_status', sa.String(length=20), nullable=True),
    sa.Column('enriched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fit_score', sa.Float(), nullable=True),
    sa.Column('engagement_score', sa.Float(), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('grade', sa.String(length=2), nullable=True),
    sa.Column('score_version', sa.String(length=64), nullable=True),
    sa.Column('scored_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('owner_sdr_id', sa.Integer(), nullable=True),
    sa.Column('routing_status', sa.String(length=20), nullable=True),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ingest_batch_id', sa.Integer(), nullable=True),
    sa.Column('source_row', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_leads_account_id_accounts')),
    sa.ForeignKeyConstraint(['ingest_batch_id'], ['ingest_batches.id'], name=op.f('fk_leads_ingest_batch_id_ingest_batches')),
    sa.ForeignKeyConstraint(['owner_sdr_id'], ['sdrs.id'], name=op.f('fk_leads_owner_sdr_id_sdrs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leads')),
    sa.UniqueConstraint('email', name=op.f('uq_leads_email'))
    )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_leads_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_arrived_at'), ['arrived_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_company_key'), ['company_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_email_domain'), ['email_domain'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_lifecycle_stage'), ['lifecycle_stage'], unique=False)
        batch_op.create_index(batch_op.f('ix_leads_owner_sdr_id'), ['owner_sdr_id'], unique=False)

    op.create_table('activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('sdr_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=True),
    sa.Column('external_key', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_activities_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sdr_id'], ['sdrs.id'], name=op.f('fk_activities_sdr_id_sdrs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities')),
    sa.UniqueConstraint('external_key', name=op.f('uq_activities_external_key'))
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activities_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activities_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_activities_sdr_id'), ['sdr_id'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('sdr_id', sa.Integer(), nullable=True),
    sa.Column('ae_id', sa.Integer(), nullable=True),
    sa.Column('previous_sdr_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('flow_run_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['ae_id'], ['sdrs.id'], name=op.f('fk_assignments_ae_id_sdrs')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_assignments_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['previous_sdr_id'], ['sdrs.id'], name=op.f('fk_assignments_previous_sdr_id_sdrs')),
    sa.ForeignKeyConstraint(['sdr_id'], ['sdrs.id'], name=op.f('fk_assignments_sdr_id_sdrs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignments_assigned_at'), ['assigned_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_sdr_id'), ['sdr_id'], unique=False)
        batch_op.create_index('uq_assignments_active_lead', ['lead_id'], unique=True, sqlite_where=sa.text('active'),
                              postgresql_where=sa.text('active'))

    op.create_table('lead_merges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('ingest_batch_id', sa.Integer(), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.Column('fields_filled', sa.JSON(), nullable=False),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ingest_batch_id'], ['ingest_batches.id'], name=op.f('fk_lead_merges_ingest_batch_id_ingest_batches')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_merges_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_merges')),
    sa.UniqueConstraint('ingest_batch_id', 'source_row', name=op.f('uq_lead_merges_ingest_batch_id'))
    )
    with op.batch_alter_table('lead_merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_merges_lead_id'), ['lead_id'], unique=False)

    op.create_table('lead_stage_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('from_stage', sa.String(length=20), nullable=True),
    sa.Column('to_stage', sa.String(length=20), nullable=False),
    sa.Column('cause', sa.String(length=500), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_stage_history_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_stage_history'))
    )
    with op.batch_alter_table('lead_stage_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_stage_history_changed_at'), ['changed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_stage_history_lead_id'), ['lead_id'], unique=False)

    op.create_table('notification_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_notification_outbox_lead_id_leads'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_notification_outbox_key'))
    )
    with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_outbox_status'), ['status'], unique=False)

    op.create_table('opportunities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('sdr_id', sa.Integer(), nullable=True),
    sa.Column('ae_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['ae_id'], ['sdrs.id'], name=op.f('fk_opportunities_ae_id_sdrs')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_opportunities_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sdr_id'], ['sdrs.id'], name=op.f('fk_opportunities_sdr_id_sdrs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunities'))
    )
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opportunities_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_opportunities_lead_id'), ['lead_id'], unique=False)

    op.create_table('score_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('fit_score', sa.Float(), nullable=False),
    sa.Column('engagement_score', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('grade', sa.String(length=2), nullable=False),
    sa.Column('breakdown', sa.JSON(), nullable=False),
    sa.Column('scored_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('flow_run_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_score_history_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_score_history'))
    )
    with op.batch_alter_table('score_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_score_history_lead_id'), ['lead_id'], unique=False)

    op.create_table('sla_clocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('sdr_id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('policy', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('target_seconds', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('elapsed_seconds', sa.Integer(), nullable=False),
    sa.Column('met_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_sla_clocks_assignment_id_assignments')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_sla_clocks_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sdr_id'], ['sdrs.id'], name=op.f('fk_sla_clocks_sdr_id_sdrs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_clocks')),
    sa.UniqueConstraint('assignment_id', name=op.f('uq_sla_clocks_assignment_id'))
    )
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_clocks_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_clocks_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_clocks_sdr_id'), ['sdr_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sla_clocks_status'), ['status'], unique=False)

    op.create_table('sla_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clock_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=20), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('elapsed_seconds', sa.Integer(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['clock_id'], ['sla_clocks.id'], name=op.f('fk_sla_events_clock_id_sla_clocks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_events')),
    sa.UniqueConstraint('clock_id', 'step', name=op.f('uq_sla_events_clock_id'))
    )


def downgrade() -> None:
    op.drop_table('sla_events')
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_clocks_status'))
        batch_op.drop_index(batch_op.f('ix_sla_clocks_sdr_id'))
        batch_op.drop_index(batch_op.f('ix_sla_clocks_lead_id'))
        batch_op.drop_index(batch_op.f('ix_sla_clocks_due_at'))

    op.drop_table('sla_clocks')
    with op.batch_alter_table('score_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_score_history_lead_id'))

    op.drop_table('score_history')
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opportunities_lead_id'))
        batch_op.drop_index(batch_op.f('ix_opportunities_created_at'))

    op.drop_table('opportunities')
    with op.batch_alter_table('notification_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_outbox_status'))

    op.drop_table('notification_outbox')
    with op.batch_alter_table('lead_stage_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_stage_history_lead_id'))
        batch_op.drop_index(batch_op.f('ix_lead_stage_history_changed_at'))

    op.drop_table('lead_stage_history')
    with op.batch_alter_table('lead_merges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_merges_lead_id'))

    op.drop_table('lead_merges')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('uq_assignments_active_lead', sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))
        batch_op.drop_index(batch_op.f('ix_assignments_sdr_id'))
        batch_op.drop_index(batch_op.f('ix_assignments_lead_id'))
        batch_op.drop_index(batch_op.f('ix_assignments_assigned_at'))

    op.drop_table('assignments')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activities_sdr_id'))
        batch_op.drop_index(batch_op.f('ix_activities_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_activities_lead_id'))

    op.drop_table('activities')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_leads_owner_sdr_id'))
        batch_op.drop_index(batch_op.f('ix_leads_lifecycle_stage'))
        batch_op.drop_index(batch_op.f('ix_leads_email_domain'))
        batch_op.drop_index(batch_op.f('ix_leads_company_key'))
        batch_op.drop_index(batch_op.f('ix_leads_arrived_at'))
        batch_op.drop_index(batch_op.f('ix_leads_account_id'))

    op.drop_table('leads')
    with op.batch_alter_table('sdr_out_of_office', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sdr_out_of_office_sdr_id'))

    op.drop_table('sdr_out_of_office')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantine_ingest_batch_id'))

    op.drop_table('quarantine')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_name_key'))

    op.drop_table('accounts')
    op.drop_table('sdrs')
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_runs_week'))

    op.drop_table('report_runs')
    op.drop_table('ingest_batches')
    with op.batch_alter_table('enrichment_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrichment_records_domain'))

    op.drop_table('enrichment_records')
    op.drop_table('enrichment_lookups')
