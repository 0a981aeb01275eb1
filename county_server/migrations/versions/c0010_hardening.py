"""county server: op ids per station, batch digests, token expiry, quarantined rows (issue 9)

Revision ID: c0010
Revises: c0081
Create Date: 2026-12-06
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = 'c0010'
down_revision = 'c0081'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_expires_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('push_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest', sa.String(length=64), nullable=True))
    # Op ids are namespaced per station: the primary key becomes (station_code, op_id).
    with op.batch_alter_table('push_op', schema=None) as batch_op:
        batch_op.drop_constraint('pk_push_op', type_='primary')
        batch_op.create_primary_key('pk_push_op', ['station_code', 'op_id'])
    op.create_table('quarantined_row',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('row_id', sa.Text(), nullable=False),
    sa.Column('table_name', sa.Text(), nullable=False),
    sa.Column('scope_code', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=12), nullable=False),
    sa.Column('cols', sa.Text(), nullable=False),
    sa.Column('vals', sa.Text(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('quarantined_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantined_row'))
    )


def downgrade() -> None:
    op.drop_table('quarantined_row')
    with op.batch_alter_table('push_op', schema=None) as batch_op:
        batch_op.drop_constraint('pk_push_op', type_='primary')
        batch_op.create_primary_key('pk_push_op', ['op_id'])
    with op.batch_alter_table('push_batch', schema=None) as batch_op:
        batch_op.drop_column('digest')
    with op.batch_alter_table('station', schema=None) as batch_op:
        batch_op.drop_column('token_expires_at')
