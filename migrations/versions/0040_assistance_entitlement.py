"""应享尽享: assistance rules, settlements from the county, 待落实 reviews, 高额费用预警; 一至四类

Revision ID: 0040_assistance_entitlement
Revises: 0090
Create Date: 2026-12-06

* ``assistance_rule`` / ``burden_alert_rule``: county reference data (read-only at stations).
* ``settlement``: the county's 结算 summaries, server-authored, read-only at stations.
* ``settlement_review`` (待落实 marked 不适用) and ``burden_alert`` (高额费用预警 outcome).
* ``assistance_case`` gains the entitlement's inputs and the suggestion; ``assistance_type``
  gains the kind (住院 / 门诊慢特病).
* Issue 17.7: ``subject_category`` moves to the 一至四类 classification
  (DOMAIN_FACTS_zh.md §3); names outside it (脱贫人口, 重度残疾 …) are left as they were.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0040_assistance_entitlement'
down_revision = '0090'
branch_labels = None
depends_on = None

def _bookkeeping() -> list[sa.Column]:
    return [
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('village_code', sa.String(length=20), nullable=True),
        sa.Column('updated_hlc', sa.String(length=64), nullable=False),
        sa.Column('row_version', sa.Integer(), nullable=False),
        sa.Column('deleted', sa.Boolean(), nullable=False),
    ]

#: Old 救助对象类别 values → the 一至四类 labels (station_app.domain.entitlement.SUBJECT_LABELS).
SUBJECT_MAP = {
    "特困人员": "一类（特困人员、孤儿）",
    "孤儿/事实无人抚养儿童": "一类（特困人员、孤儿）",
    "低保对象": "二类（低保对象、返贫致贫人口）",
    "返贫致贫人口": "二类（低保对象、返贫致贫人口）",
    "低保边缘家庭成员": "三类（低保边缘家庭成员、监测对象）",
    "返贫致贫风险监测对象": "三类（低保边缘家庭成员、监测对象）",
    "因病致贫重病患者": "四类（因病致贫重病患者）",
}


def _synced(name: str, *columns, unique=None):
    args = [*columns, *_bookkeeping(), sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}'))]
    if unique:
        args.append(sa.UniqueConstraint(*unique, name=op.f(f"uq_{name}_{'_'.join(unique)}")))
    op.create_table(name, *args)
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f'ix_{name}_village_code'), ['village_code'], unique=False)


def upgrade() -> None:
    _synced('assistance_rule',
            sa.Column('county_code', sa.String(length=20), nullable=False),
            sa.Column('year', sa.Integer(), nullable=False),
            sa.Column('subject_class', sa.Integer(), nullable=False),
            sa.Column('kind', sa.String(length=12), nullable=False),
            sa.Column('deductible_fen', sa.Integer(), nullable=False),
            sa.Column('ratio_pct', sa.Integer(), nullable=False),
            sa.Column('self_referred_ratio_pct', sa.Integer(), nullable=False),
            sa.Column('annual_limit_fen', sa.Integer(), nullable=False),
            sa.Column('tilt_threshold_fen', sa.Integer(), nullable=False),
            sa.Column('tilt_ratio_pct', sa.Integer(), nullable=False),
            sa.Column('tilt_limit_fen', sa.Integer(), nullable=False),
            sa.Column('validity_months', sa.Integer(), nullable=False),
            unique=('county_code', 'year', 'subject_class', 'kind'))
    _synced('burden_alert_rule',
            sa.Column('county_code', sa.String(length=20), nullable=False),
            sa.Column('year', sa.Integer(), nullable=False),
            sa.Column('threshold_fen', sa.Integer(), nullable=False),
            sa.Column('income_share_pct', sa.Integer(), nullable=False),
            unique=('county_code', 'year'))
    _synced('settlement',
            sa.Column('settlement_no', sa.String(length=40), nullable=False),
            sa.Column('resident_id', sa.String(length=36), nullable=False),
            sa.Column('settled_on', sa.Date(), nullable=False),
            sa.Column('admitted_on', sa.Date(), nullable=True),
            sa.Column('hospital', sa.String(length=80), nullable=False),
            sa.Column('hospital_level', sa.String(length=20), nullable=False),
            sa.Column('kind', sa.String(length=12), nullable=False),
            sa.Column('route', sa.String(length=16), nullable=False),
            sa.Column('total_fen', sa.Integer(), nullable=False),
            sa.Column('basic_insurance_fen', sa.Integer(), nullable=False),
            sa.Column('serious_illness_fen', sa.Integer(), nullable=False),
            sa.Column('policy_self_pay_fen', sa.Integer(), nullable=False),
            unique=('settlement_no',))
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.create_index('ix_settlement_resident_day', ['resident_id', 'settled_on'], unique=False)
    _synced('settlement_review',
            sa.Column('settlement_id', sa.String(length=36), nullable=False),
            sa.Column('resident_id', sa.String(length=36), nullable=False),
            sa.Column('reason', sa.Text(), nullable=False),
            sa.Column('decided_by', sa.String(length=40), nullable=False),
            sa.Column('decided_on', sa.Date(), nullable=False),
            unique=('settlement_id',))
    with op.batch_alter_table('settlement_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_settlement_review_resident_id'), ['resident_id'], unique=False)
    _synced('burden_alert',
            sa.Column('resident_id', sa.String(length=36), nullable=False),
            sa.Column('year', sa.Integer(), nullable=False),
            sa.Column('burden_fen', sa.Integer(), nullable=False),
            sa.Column('threshold_fen', sa.Integer(), nullable=False),
            sa.Column('outcome', sa.String(length=16), nullable=False),
            sa.Column('reason', sa.Text(), nullable=False),
            sa.Column('decided_by', sa.String(length=40), nullable=False),
            sa.Column('decided_on', sa.Date(), nullable=True),
            unique=('resident_id', 'year'))

    with op.batch_alter_table('assistance_type', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=12), nullable=False, server_default='inpatient'))
    with op.batch_alter_table('assistance_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('settlement_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('policy_self_pay_fen', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('route', sa.String(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('subject_since', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('suggested_fen', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('deviation_reason', sa.Text(), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_assistance_case_settlement_id'), ['settlement_id'], unique=False)

    bind = op.get_bind()
    case = sa.table('assistance_case', sa.column('subject_category', sa.String))
    for old, new in SUBJECT_MAP.items():
        bind.execute(case.update().where(case.c.subject_category == old).values(subject_category=new))
    # 门诊 types take the 门诊慢特病 ratio.
    kind = sa.table('assistance_type', sa.column('name', sa.String), sa.column('kind', sa.String))
    bind.execute(kind.update().where(kind.c.name.like('门诊%')).values(kind='outpatient'))


def downgrade() -> None:
    bind = op.get_bind()
    case = sa.table('assistance_case', sa.column('subject_category', sa.String))
    for old, new in (("特困人员", SUBJECT_MAP["特困人员"]), ("低保对象", SUBJECT_MAP["低保对象"]),
                     ("返贫致贫风险监测对象", SUBJECT_MAP["返贫致贫风险监测对象"]),
                     ("因病致贫重病患者", SUBJECT_MAP["因病致贫重病患者"])):
        bind.execute(case.update().where(case.c.subject_category == new).values(subject_category=old))
    with op.batch_alter_table('assistance_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assistance_case_settlement_id'))
        for name in ('deviation_reason', 'suggested_fen', 'subject_since', 'route', 'policy_self_pay_fen',
                     'settlement_id'):
            batch_op.drop_column(name)
    with op.batch_alter_table('assistance_type', schema=None) as batch_op:
        batch_op.drop_column('kind')
    for name in ('burden_alert', 'settlement_review', 'settlement', 'burden_alert_rule', 'assistance_rule'):
        op.drop_table(name)
