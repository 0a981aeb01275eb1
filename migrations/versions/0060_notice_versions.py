"""notice versions: a republished, changed notice links to the one it replaces, with the reason

Revision ID: 0060_notice_versions
Revises: 0030_year_round_rules
Create Date: 2026-12-06

Issue 11: publishing an unchanged notice again reuses its archive entry; a changed one becomes a
new version (``replaces_id``) with ``change_reason``. Objections stay with the version they were
raised against.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0060_notice_versions'
down_revision = '0030_year_round_rules'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replaces_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('change_reason', sa.String(length=200), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_column('change_reason')
        batch_op.drop_column('replaces_id')
