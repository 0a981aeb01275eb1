"""政策问答: a station's own Q&A entries, and the topic of each 答疑 service

Revision ID: 0090
Revises: 0003
Create Date: 2026-12-06

``service_entry.topic`` lets the 工作台 count questions by topic (issue 13); existing rows get
"" (no topic recorded). ``qa_entry`` holds the station's own answers beside those built from
the county's reference data; it stays on the station (sync.tables.LOCAL_ONLY_TABLES).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0090'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('service_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('topic', sa.String(length=40), nullable=False, server_default=''))
    op.create_table('qa_entry',
    sa.Column('topic', sa.String(length=40), nullable=False),
    sa.Column('question', sa.String(length=200), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('village_code', sa.String(length=20), nullable=True),
    sa.Column('updated_hlc', sa.String(length=64), nullable=False),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_entry'))
    )
    with op.batch_alter_table('qa_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_entry_village_code'), ['village_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('qa_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_entry_village_code'))
    op.drop_table('qa_entry')
    with op.batch_alter_table('service_entry', schema=None) as batch_op:
        batch_op.drop_column('topic')
