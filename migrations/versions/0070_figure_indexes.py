"""covering indexes for the 工作台's figures (参保率, 卡月使用率, 医疗救助落实率)

The 工作台 (bench/bench_dashboard.py, 60,000 residents) reads every resident once for the 参保率
of two years, joins each one's enrollment of the year, scans the year's card-use marks and the
hardship residents' settlements. These indexes hold every column those reads need, so SQLite
answers from the narrow index instead of the wide rows (names, addresses, search fields):

- resident (deleted, village_code, group_code, special_groups, status, status_date, id)
- enrollment (resident_id, year, deleted, status)
- card_usage (card_id, month, used, deleted, village_code)

Revision ID: 0070
Revises: 0050_outreach
Create Date: 2026-12-07
"""
from __future__ import annotations

from alembic import op

revision = '0070'
down_revision = '0050_outreach'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.create_index('ix_resident_figures', ['deleted', 'village_code', 'group_code', 'special_groups',
                                                      'status', 'status_date', 'id'], unique=False)
    with op.batch_alter_table('enrollment', schema=None) as batch_op:
        batch_op.create_index('ix_enrollment_resident_cover', ['resident_id', 'year', 'deleted', 'status'],
                              unique=False)
    with op.batch_alter_table('card_usage', schema=None) as batch_op:
        batch_op.create_index('ix_card_usage_cover', ['card_id', 'month', 'used', 'deleted', 'village_code'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('card_usage', schema=None) as batch_op:
        batch_op.drop_index('ix_card_usage_cover')
    with op.batch_alter_table('enrollment', schema=None) as batch_op:
        batch_op.drop_index('ix_enrollment_resident_cover')
    with op.batch_alter_table('resident', schema=None) as batch_op:
        batch_op.drop_index('ix_resident_figures')
