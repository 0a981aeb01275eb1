"""county server: who wrote each field (sync_row.fu), for the conflicts stations review (issue 18)

Revision ID: c0082
Revises: c0010
Create Date: 2026-12-07
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = 'c0082'
down_revision = 'c0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_row', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fu', sa.Text(), server_default='{}', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('sync_row', schema=None) as batch_op:
        batch_op.drop_column('fu')
