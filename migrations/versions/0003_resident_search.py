"""resident search index (narrow copy + FTS5 trigram, kept by triggers)

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23

The index is derived data, built from ``resident`` by ``station_app.services.search_index``
(its docstring explains the design). Its tables are not models: migrations/env.py leaves
tables named ``resident_search*`` out of ``alembic check``. Building it on the 60,000-resident
demo takes ~1.5 s.
"""
from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from station_app.services import search_index

    search_index.install(op.get_bind())


def downgrade() -> None:
    from station_app.services import search_index

    search_index.uninstall(op.get_bind())
