"""leads.lifecycle_stage and lead_stage_history stages: the database refuses a stage not in the enum

Before adding the constraints, any row with an unknown stage stops the migration with its value
(a silent rewrite would lose what the row said).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:00:00
"""
from alembic import op
import sqlalchemy as sa

from leadops.domain.lifecycle import Stage, check_sql


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_KNOWN = tuple(s.value for s in Stage)


def _refuse_unknown(table: str, column: str) -> None:
    # table and column are this migration's own names, the stages are bound: no injection (S608)
    bad = op.get_bind().execute(
        sa.text(f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL AND {column} NOT IN :known")  # noqa: S608
        .bindparams(sa.bindparam("known", expanding=True)), {"known": list(_KNOWN)}).scalars().all()
    if bad:
        raise RuntimeError(f"{table}.{column} holds stages leadops does not know: {', '.join(map(repr, bad))}; "
                           f"set them to one of {', '.join(_KNOWN)} and migrate again")


def upgrade() -> None:
    _refuse_unknown('leads', 'lifecycle_stage')
    _refuse_unknown('lead_stage_history', 'to_stage')
    _refuse_unknown('lead_stage_history', 'from_stage')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_leads_lifecycle_stage'), check_sql('lifecycle_stage'))
    with op.batch_alter_table('lead_stage_history', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_lead_stage_history_to_stage'), check_sql('to_stage'))
        batch_op.create_check_constraint(op.f('ck_lead_stage_history_from_stage'),
                                         f"from_stage IS NULL OR {check_sql('from_stage')}")


def downgrade() -> None:
    with op.batch_alter_table('lead_stage_history', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_lead_stage_history_from_stage'), type_='check')
        batch_op.drop_constraint(op.f('ck_lead_stage_history_to_stage'), type_='check')
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_leads_lifecycle_stage'), type_='check')
