"""county server: initial schema (stations, places, merged rows, events, push answers, counter)

Revision ID: c0001
Revises:
Create Date: 2026-11-23
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = 'c0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bundle_import',
    sa.Column('bundle_id', sa.String(length=36), nullable=False),
    sa.Column('station_code', sa.String(length=32), nullable=False),
    sa.Column('imported_by', sa.String(length=32), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('bundle_id', name=op.f('pk_bundle_import'))
    )
    counter = op.create_table('counter',
    sa.Column('name', sa.String(length=20), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counter'))
    )
    # The one change sequence; its row is the lock every push transaction takes.
    op.bulk_insert(counter, [{'name': 'seq', 'value': 0}])
    op.create_table('place',
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('parent_code', sa.String(length=20), nullable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_place'))
    )
    with op.batch_alter_table('place', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_place_parent_code'), ['parent_code'], unique=False)

    op.create_table('push_batch',
    sa.Column('station_code', sa.String(length=32), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('op_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('station_code', 'batch_id', name=op.f('pk_push_batch'))
    )
    op.create_table('push_op',
    sa.Column('op_id', sa.String(length=36), nullable=False),
    sa.Column('station_code', sa.String(length=32), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=24), nullable=False),
    sa.Column('row_id', sa.String(length=36), nullable=False),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('op_id', name=op.f('pk_push_op'))
    )
    with op.batch_alter_table('push_op', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_op_created_at'), ['created_at'], unique=False)

    op.create_table('station',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('scope', sa.String(length=12), nullable=False),
    sa.Column('place_code', sa.String(length=20), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('bundle_key', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=True),
    sa.Column('pulled_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station')),
    sa.UniqueConstraint('code', name=op.f('uq_station_code')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_station_token_hash'))
    )
    op.create_table('sync_event',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('scope_code', sa.String(length=20), nullable=True),
    sa.Column('station_code', sa.String(length=32), nullable=True),
    sa.Column('table_name', sa.String(length=40), nullable=False),
    sa.Column('row_id', sa.String(length=36), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_sync_event'))
    )
    with op.batch_alter_table('sync_event', schema=None) as batch_op:
        batch_op.create_index('ix_sync_event_scope_seq', ['scope_code', 'seq'], unique=False)
        batch_op.create_index('ix_sync_event_station_seq', ['station_code', 'seq'], unique=False)

    op.create_table('sync_row',
    sa.Column('row_id', sa.String(length=36), nullable=False),
    sa.Column('table_name', sa.String(length=40), nullable=False),
    sa.Column('stream', sa.String(length=4), nullable=False),
    sa.Column('scope_code', sa.String(length=20), nullable=True),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('h0', sa.String(length=64), nullable=False),
    sa.Column('fh', sa.Text(), nullable=False),
    sa.Column('fv', sa.Text(), nullable=False),
    sa.Column('cols', sa.Text(), nullable=False),
    sa.Column('vals', sa.Text(), nullable=False),
    sa.Column('natural_key', sa.String(length=255), nullable=True),
    sa.Column('origin', sa.String(length=32), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('compacted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('row_id', name=op.f('pk_sync_row')),
    sa.UniqueConstraint('seq', name=op.f('uq_sync_row_seq')),
    sa.UniqueConstraint('table_name', 'natural_key', name=op.f('uq_sync_row_table_name_natural_key'))
    )
    with op.batch_alter_table('sync_row', schema=None) as batch_op:
        batch_op.create_index('ix_sync_row_scope_seq', ['scope_code', 'seq'], unique=False)
        batch_op.create_index('ix_sync_row_stream_seq', ['stream', 'seq'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sync_row', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_row_stream_seq')
        batch_op.drop_index('ix_sync_row_scope_seq')

    op.drop_table('sync_row')
    with op.batch_alter_table('sync_event', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_event_station_seq')
        batch_op.drop_index('ix_sync_event_scope_seq')

    op.drop_table('sync_event')
    op.drop_table('station')
    with op.batch_alter_table('push_op', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_op_created_at'))

    op.drop_table('push_op')
    op.drop_table('push_batch')
    with op.batch_alter_table('place', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_place_parent_code'))

    op.drop_table('place')
    op.drop_table('counter')
    op.drop_table('bundle_import')
