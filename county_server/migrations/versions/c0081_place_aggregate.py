"""county server: console aggregates per place (village, township, county) — village_aggregate → place_aggregate

The console's dashboard reads a place's figures and its children's, summed in advance; the
table holds townships and the county beside the villages now.

Revision ID: c0081
Revises: c0080
Create Date: 2026-12-07
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = 'c0081'
down_revision = 'c0080'
branch_labels = None
depends_on = None


def _table(name: str, key: str) -> None:
    op.create_table(name,
    sa.Column(key, sa.String(length=20), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint(key, name=op.f(f'pk_{name}'))
    )


def upgrade() -> None:
    _table('place_aggregate', 'place_code')
    op.execute("INSERT INTO place_aggregate (place_code, seq, data, updated_at) "
               "SELECT village_code, seq, data, updated_at FROM village_aggregate")
    op.drop_table('village_aggregate')
    # Only village rows existed: the next refresh recounts every village and sums the levels above.
    op.execute("DELETE FROM county_setting WHERE key = 'aggregate_seq'")


def downgrade() -> None:
    _table('village_aggregate', 'village_code')
    op.execute("INSERT INTO village_aggregate (village_code, seq, data, updated_at) "
               "SELECT place_code, seq, data, updated_at FROM place_aggregate "
               "WHERE place_code IN (SELECT code FROM place WHERE level = 'village')")
    op.drop_table('place_aggregate')
