"""conflict who: the user behind each outbox op, and who made the change a conflict lost to

``sync_outbox.username`` travels as op key ``u`` (to a server that takes it);
``sync_conflict.remote_user`` / ``remote_station`` keep the competing change's user and station
name from the server's conflict event, for the 同步 page (issue 18).

Revision ID: 0071
Revises: 0070
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0071'
down_revision = '0070'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sync_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username', sa.String(length=40), server_default='', nullable=False))
    with op.batch_alter_table('sync_conflict', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remote_user', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('remote_station', sa.String(length=80), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('sync_conflict', schema=None) as batch_op:
        batch_op.drop_column('remote_station')
        batch_op.drop_column('remote_user')
    with op.batch_alter_table('sync_outbox', schema=None) as batch_op:
        batch_op.drop_column('username')
