"""outreach: outcomes of work-list calls and visits (未缴清单, 续药提醒), synced

Revision ID: 0050_outreach
Revises: 0020_household_numbers
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0050_outreach'
down_revision = '0020_household_numbers'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outreach',
    sa.Column('resident_id', sa.String(length=36), nullable=False),
    sa.Column('list_kind', sa.String(length=12), nullable=False),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('result', sa.String(length=12), nullable=False),
    sa.Column('promised_date', sa.Date(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('done_on', sa.Date(), nullable=False),
    sa.Column('done_by', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('village_code', sa.String(length=20), nullable=True),
    sa.Column('updated_hlc', sa.String(length=64), nullable=False),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['resident_id'], ['resident.id'], name=op.f('fk_outreach_resident_id_resident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach'))
    )
    with op.batch_alter_table('outreach', schema=None) as batch_op:
        batch_op.create_index('ix_outreach_list', ['list_kind', 'year'], unique=False)
        batch_op.create_index(batch_op.f('ix_outreach_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outreach_village_code'), ['village_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outreach', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outreach_village_code'))
        batch_op.drop_index(batch_op.f('ix_outreach_resident_id'))
        batch_op.drop_index('ix_outreach_list')
    op.drop_table('outreach')
