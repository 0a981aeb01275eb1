"""renumber duplicate 户号 (issue 18.4)

Revision ID: 0020_household_numbers
Revises: 0060_notice_versions
Create Date: 2026-12-06

Before this version a township and a village station registering households offline in the
same village both took "count + 1". Live households sharing a number in one village keep it
for the smallest id; the others get ``<village6>-R<id prefix>`` (the same value at every
station), recorded in the audit log and the sync outbox. New numbers come from the station's
own series (station_app/services/household_numbers.py). No schema change.
"""
from __future__ import annotations

from alembic import op

revision = '0020_household_numbers'
down_revision = '0060_notice_versions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from station_app.services.household_numbers import renumber_in_migration

    renumber_in_migration(op.get_bind())


def downgrade() -> None:
    pass  # the new numbers stay: they are already recorded for sync
