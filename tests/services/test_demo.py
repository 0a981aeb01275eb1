"""The demo township: deterministic, valid IDs, whole households, plausible archives, no outbox."""

from __future__ import annotations

from datetime import date
from statistics import mean

import pytest
from sqlalchemy import func, select

from station_app.domain.enums import CardStatus, EnrollmentStatus, PlaceLevel, Relation, SpecialGroup
from station_app.domain.errors import ValidationError
from station_app.domain.idnumber import parse_id
from station_app.domain.kpi import enrollment_rate_of
from station_app.services.auth import login
from station_app.services.demo import DEFAULT_TODAY, DemoSummary, build_demo
from station_app.services.workspace import Workspace
from station_app.store.models import (
    AssistanceCase,
    AuditEntry,
    ChronicCard,
    CountyYearSetting,
    Enrollment,
    OutboxOp,
    Place,
    Policy,
    Resident,
    SubsidyRule,
    User,
)

VILLAGES, RESIDENTS, SEED = 2, 600, 7
#: The only document numbers the facts file verified (DOMAIN_FACTS_zh.md).
KNOWN_DOC_NOS = {"", "国办发〔2021〕42号", "医保发〔2024〕19号", "国办发〔2024〕38号"}


def _build(path, seed=SEED, **kwargs) -> DemoSummary:
    return build_demo(path, villages=VILLAGES, residents=RESIDENTS, seed=seed, **kwargs)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One small township shared by the read-only checks (a build takes about a second)."""
    root = tmp_path_factory.mktemp("demo")
    # Module scope runs before the autouse data-dir fixture, so isolate the same way here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STATION_APP_DATA_DIR", str(root / "userdata"))
        progress: list[tuple[int, int, str]] = []
        summary = _build(root / "demo.db", progress=lambda *step: progress.append(step))
    ws = Workspace.open(root / "demo.db")
    yield ws, summary, progress
    ws.close()


def _people(path) -> list[tuple[str, str]]:
    with Workspace.open(path) as ws, ws.read() as session:
        return sorted(session.execute(select(Resident.id_number, Resident.name)).tuples())


def test_same_seed_gives_same_residents_other_seed_differs(tmp_path):
    first = _build(tmp_path / "a.db")
    second = _build(tmp_path / "b.db")
    other = _build(tmp_path / "c.db", seed=SEED + 1)
    assert first == second  # every count
    assert _people(tmp_path / "a.db") == _people(tmp_path / "b.db")
    assert _people(tmp_path / "a.db") != _people(tmp_path / "c.db")
    with Workspace.open(tmp_path / "a.db") as a, Workspace.open(tmp_path / "b.db") as b:
        query = select(Enrollment.id, Enrollment.year, Enrollment.status, Enrollment.paid_date).order_by(Enrollment.id)
        with a.read() as sa, b.read() as sb:
            assert sa.execute(query).all() == sb.execute(query).all()


def test_summary_counts_and_progress(demo):
    ws, summary, progress = demo
    assert str(summary).startswith(f"{VILLAGES} 个村，{RESIDENTS} 名居民")
    with ws.read() as session:
        assert session.scalar(select(func.count()).select_from(Resident)) == RESIDENTS == summary.residents
        assert session.scalar(select(func.count()).select_from(Enrollment)) == summary.enrollments
    done = [d for d, _total, _msg in progress]
    assert done == sorted(done) and progress[-1][0] == progress[-1][1]
    assert all(message for _d, _t, message in progress)


def test_places_and_reference(demo):
    ws, _summary, _progress = demo
    with ws.read() as session:
        villages = session.scalars(select(Place).where(Place.level == PlaceLevel.VILLAGE.value)).all()
        assert [v.code for v in villages] == ["610921103201", "610921103202"]
        assert len({v.name for v in villages}) == VILLAGES and all(v.name.endswith("村") for v in villages)
        for village in villages:
            groups = session.scalars(select(Place.code).where(Place.parent_code == village.code)).all()
            assert 4 <= len(groups) <= 9 and all(g.startswith(village.code) for g in groups)
        years = session.scalars(select(CountyYearSetting.year)).all()
        assert sorted(years) == [2024, 2025, 2026, 2027]
        for year in years:
            groups = session.scalars(select(SubsidyRule.special_group).where(SubsidyRule.year == year)).all()
            assert sorted(groups) == sorted(g.value for g in SpecialGroup)
        policies = session.scalars(select(Policy)).all()
        assert 6 <= len(policies) <= 8
        assert {p.doc_no for p in policies} <= KNOWN_DOC_NOS


def test_id_numbers_valid_unique_and_match_sex_and_birth(demo):
    ws, _summary, _progress = demo
    with ws.read() as session:
        rows = session.execute(select(Resident.id_number, Resident.sex, Resident.birth_date)).all()
    assert len({r.id_number for r in rows}) == len(rows)
    for number, sex, birth in rows:
        info = parse_id(number, today=DEFAULT_TODAY)
        assert info.region_code == "610921"
        assert info.sex == sex
        assert info.birth_date == birth


def test_every_household_has_exactly_one_head(demo):
    ws, _summary, _progress = demo
    with ws.read() as session:
        rows = session.execute(select(Resident.household_id, Resident.relation)).all()
    heads: dict[str, int] = {}
    for household, relation in rows:
        heads[household] = heads.get(household, 0) + (relation == Relation.HEAD.value)
    assert heads and all(count == 1 for count in heads.values())


def test_finished_year_coverage_and_unpaid_are_younger(demo):
    ws, _summary, _progress = demo
    year = DEFAULT_TODAY.year - 1
    with ws.read() as session:
        rows = session.execute(select(Enrollment.status, Resident.birth_date)
                               .join(Resident, Resident.id == Enrollment.resident_id)
                               .where(Enrollment.year == year)).all()
    rate = enrollment_rate_of(status for status, _birth in rows).value
    assert 0.90 <= rate <= 1.0

    def age(birth: date) -> float:
        return (DEFAULT_TODAY - birth).days / 365.25

    paid = [age(b) for s, b in rows if s == EnrollmentStatus.PAID.value]
    unpaid = [age(b) for s, b in rows if s == EnrollmentStatus.UNPAID.value]
    assert unpaid and mean(unpaid) < mean(paid)


def test_open_year_is_partly_collected(demo):
    ws, _summary, _progress = demo
    with ws.read() as session:
        statuses = session.scalars(select(Enrollment.status).where(Enrollment.year == DEFAULT_TODAY.year + 1)).all()
        latest = session.scalar(select(func.max(Enrollment.paid_date)))
    rate = enrollment_rate_of(statuses).value
    assert 0.70 <= rate < 0.97
    assert latest <= DEFAULT_TODAY


def test_assistance_split_adds_up(demo):
    ws, _summary, _progress = demo
    with ws.read() as session:
        cases = session.scalars(select(AssistanceCase)).all()
    assert cases
    for case in cases:
        parts = (case.basic_insurance_fen, case.serious_illness_fen, case.assistance_fen, case.self_pay_fen)
        assert sum(parts) == case.total_fen and min(parts) >= 0
        assert (case.paid_date is not None) == (case.status == "paid")


def test_cards_carry_what_each_step_needs(demo):
    ws, _summary, _progress = demo
    with ws.read() as session:
        cards = session.scalars(select(ChronicCard)).all()
    issued = [c for c in cards if c.status == CardStatus.ISSUED.value]
    assert issued
    for card in issued:
        assert card.card_no and card.issued_date and card.assessed_date
        # The demo county's rule: benefits from the month after 审批通过 (认定), issue 17.4.
        start = card.assessed_date
        assert card.benefit_start == date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    for card in cards:
        if card.status == CardStatus.REFUSED.value:
            assert card.refused_reason
        if card.status == CardStatus.CANCELLED.value:
            assert card.cancel_reason and card.cancelled_date


def test_no_outbox_one_audit_summary_per_batch_synced_rows(demo):
    ws, _summary, _progress = demo
    with ws.read() as session:
        assert session.scalar(select(func.count()).select_from(OutboxOp)) == 0
        summaries = session.scalars(select(AuditEntry.summary).where(AuditEntry.action == "build_demo")).all()
        assert any(s.startswith("演示数据：居民") for s in summaries)
        assert any(s.startswith("演示数据：家庭户") for s in summaries)
        assert session.scalar(select(func.count()).select_from(Resident).where(Resident.row_version != 1)) == 0


def test_admin_and_demo_users_can_sign_in(demo):
    ws, _summary, _progress = demo
    assert login(ws, "admin", "admin123").role == "admin"
    assert login(ws, "cy01", "demo123").place_code == "610921103201"
    assert login(ws, "zg01", "demo123").role == "township_clerk"
    with ws.read() as session:
        hashes = session.scalars(select(User.password_hash).where(User.username != "admin")).all()
    assert len(hashes) == VILLAGES + 1 and len(set(hashes)) == 1  # hashed once, reused


@pytest.mark.parametrize("kwargs", [{"villages": 0}, {"villages": 100}, {"residents": 0}])
def test_bad_sizes_are_refused_before_anything_is_written(tmp_path, kwargs):
    with pytest.raises(ValidationError):
        build_demo(tmp_path / "x.db", **kwargs)
    assert not (tmp_path / "x.db").exists()
