"""county rules, enrollment benefit start, card review / suspension, special groups as policy names them

Revision ID: 0030_year_round_rules
Revises: 0040_assistance_entitlement
Create Date: 2026-12-06

* ``county_rule``: county reference rules that are not one year's figure (JSON values), see
  ``station_app.domain.county_rules``.
* ``enrollment.benefit_start``: filled for existing covered records with 1 January of their year
  (they were all paid inside the 集中缴费期: the old code refused anything later, except
  困难群众, whose late payment the old rule did not delay either).
* ``chronic_card.review_due`` / ``suspended_date`` / ``suspend_reason``.
* Special groups: 返贫致贫人口 was recorded as 监测对象 ("monitor") for want of a code, and the
  roster import turned 脱贫不稳定户 into 脱贫人口. Where the resident's note still names the group
  as imported or typed (人员类别：脱贫不稳定户 …), the record moves to the code policy uses.
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = '0030_year_round_rules'
down_revision = '0040_assistance_entitlement'
branch_labels = None
depends_on = None

#: Words in a note → (code to remove, code to add); the codes of domain.enums.SpecialGroup.
_MOVES = (
    ("返贫致贫人口", "monitor", "fanpin"),
    ("脱贫不稳定户", "tuopin", "unstable"),
    ("边缘易致贫户", "monitor", "edge_poor"),
    ("突发严重困难户", "monitor", "sudden"),
)


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    # Idempotent: a database stamped back to an older revision (as a test of the search index
    # does) may already have these.
    if not inspector.has_table('county_rule'):
        op.create_table('county_rule',
        sa.Column('county_code', sa.String(length=20), nullable=False),
        sa.Column('key', sa.String(length=60), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('village_code', sa.String(length=20), nullable=True),
        sa.Column('updated_hlc', sa.String(length=64), nullable=False),
        sa.Column('row_version', sa.Integer(), nullable=False),
        sa.Column('deleted', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_county_rule')),
        sa.UniqueConstraint('county_code', 'key', name=op.f('uq_county_rule_county_code_key'))
        )
        with op.batch_alter_table('county_rule', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_county_rule_village_code'), ['village_code'], unique=False)
    if 'benefit_start' not in {c['name'] for c in inspector.get_columns('enrollment')}:
        with op.batch_alter_table('enrollment', schema=None) as batch_op:
            batch_op.add_column(sa.Column('benefit_start', sa.Date(), nullable=True))
    if 'review_due' not in {c['name'] for c in inspector.get_columns('chronic_card')}:
        with op.batch_alter_table('chronic_card', schema=None) as batch_op:
            batch_op.add_column(sa.Column('review_due', sa.Date(), nullable=True))
            batch_op.add_column(sa.Column('suspended_date', sa.Date(), nullable=True))
            batch_op.add_column(sa.Column('suspend_reason', sa.String(length=60), nullable=False, server_default=''))
    bind.execute(sa.text(
        "UPDATE enrollment SET benefit_start = printf('%04d-01-01', year) "
        "WHERE status IN ('paid', 'subsidised', 'other_channel') AND benefit_start IS NULL"))
    rows = bind.execute(sa.text(
        "SELECT id, special_groups, note FROM resident WHERE note LIKE '%返贫致贫人口%' OR note LIKE '%脱贫不稳定户%' "
        "OR note LIKE '%边缘易致贫户%' OR note LIKE '%突发严重困难户%'")).all()
    for rid, groups, note in rows:
        codes = set(filter(None, (groups or "").split(",")))
        for word, old, new in _MOVES:
            if re.search(word, note or ""):
                codes.discard(old)
                codes.add(new)
        bind.execute(sa.text("UPDATE resident SET special_groups = :g WHERE id = :id"),
                     {"g": ",".join(sorted(codes)), "id": rid})


def downgrade() -> None:
    with op.batch_alter_table('chronic_card', schema=None) as batch_op:
        batch_op.drop_column('suspend_reason')
        batch_op.drop_column('suspended_date')
        batch_op.drop_column('review_due')
    with op.batch_alter_table('enrollment', schema=None) as batch_op:
        batch_op.drop_column('benefit_start')
    with op.batch_alter_table('county_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_county_rule_village_code'))
    op.drop_table('county_rule')
