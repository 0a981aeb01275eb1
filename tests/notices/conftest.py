"""A small village with people in all three archives, and the county's policies, for notice tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from datetime import date

import pytest

from station_app.domain.idnumber import make_id
from tests.conftest import COUNTY, GROUP_A1, GROUP_A2, VILLAGE_A, require_tool

POLICY_REFERENCE = {
    "county": {"code": COUNTY, "name": "汉阴县"},
    "reimbursement_rates": [
        {"year": 2027, "hospital_level": "township", "ratio_pct": 85, "deductible_yuan": 100},
        {"year": 2027, "hospital_level": "county", "ratio_pct": 75, "deductible_yuan": 400},
        {"year": 2027, "hospital_level": "city", "ratio_pct": 60, "deductible_yuan": 800},
    ],
    "policies": [
        {"title": "城乡居民医保缴费标准和缴费时间", "category": "参保缴费", "year": 2027, "sort_order": 1,
         "doc_no": "汉医保发〔2026〕12号",
         "body": "2027年度城乡居民医保个人缴费标准为每人每年400元，集中缴费期为2026年9月1日至12月31日。"
                 "\n逾期未缴费的，2027年待遇享受设3个月等待期。可通过陕西税务微信公众号、国家医保服务平台APP或村级代收缴纳。"},
        {"title": "门诊慢特病待遇", "category": "慢特病", "year": 2027, "sort_order": 2,
         "body": "经认定的门诊慢特病患者，在定点医疗机构发生的政策范围内门诊费用按规定比例报销，不设起付线。"
                 "认定通过后次月起享受待遇。"},
    ],
}

#: Names chosen so every masked form differs from every clear one (张三丰 → 张*丰, 李四 → 李*).
PEOPLE = [
    # name, relation, group, special groups
    ("张三丰", "head", GROUP_A1, ()),
    ("李四", "spouse", GROUP_A1, ()),
    ("欧阳娜娜", "daughter", GROUP_A1, ("dibao",)),
    ("王秀英", "head", GROUP_A2, ("tekun",)),
    ("赵德华", "son", GROUP_A2, ()),
]
DIAGNOSIS_TEXT = "原发性高血压三级伴左心室肥厚"
CASE_DIAGNOSIS = "肺恶性肿瘤化疗后"


@dataclass
class Village:
    ws: object
    admin: object
    names: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    resident_ids: list[str] = field(default_factory=list)


def _id(n: int) -> str:
    """A distinct valid ID number for each n (birth date and sequence vary together)."""
    return make_id("610921", date(1940 + (n // 336) % 60, 1 + n % 12, 1 + (n // 12) % 28), n % 1000)


def add_people(ws, admin, people, *, start: int = 0, village=VILLAGE_A):
    """Register households through the residents service; returns (names, ids, resident ids)."""
    from station_app.services.households import ResidentInput, add_member, register_household

    names, ids, rids = [], [], []
    household = None
    for offset, (name, relation, group, groups) in enumerate(people):
        number = _id(start + offset)
        data = ResidentInput(name=name, id_number=number, relation=relation, group_code=group,
                             special_groups=tuple(groups))
        if relation == "head" or household is None:
            household, rid = register_household(ws, admin, village_code=village, head=data)
        else:
            rid = add_member(ws, admin, household, data)
        names.append(name)
        ids.append(number)
        rids.append(rid)
    return names, ids, rids


def add_archives(ws, admin, rids, year=2027):
    """Enrollments, a chronic card and an assistance case (no service exists yet: a recorded unit of work)."""
    from station_app.store.models import (
        AssistanceCase, CardUsage, ChronicCard, Enrollment, Resident,
    )

    with ws.unit_of_work(admin, "test") as session:
        statuses = ["paid", "paid", "subsidised", "subsidised", "unpaid"]
        for rid, status in zip(rids, statuses):
            village = session.get(Resident, rid).village_code
            session.add(Enrollment(
                resident_id=rid, year=year, status=status, village_code=village,
                paid_fen=40000 if status == "paid" else (25000 if rid == rids[2] else 0),
                subsidy_fen=40000 if rid == rids[3] else (15000 if rid == rids[2] else 0),
                subsidy_category={rids[2]: "二类（低保）定额资助", rids[3]: "一类（特困）全额资助"}.get(rid, ""),
                paid_date=date(2026, 10, 8) if status == "paid" else None))
        card = ChronicCard(resident_id=rids[0], village_code=session.get(Resident, rids[0]).village_code,
                           disease_code="MB001", status="issued", applied_date=date(2027, 1, 5),
                           assessed_date=date(2027, 1, 20), issued_date=date(2027, 2, 1),
                           benefit_start=date(2027, 2, 1), card_no="K001", diagnosis_note=DIAGNOSIS_TEXT)
        session.add(card)
        session.add(ChronicCard(resident_id=rids[3], village_code=session.get(Resident, rids[3]).village_code,
                                disease_code="MB001", status="applied", applied_date=date(2027, 3, 2),
                                diagnosis_note=DIAGNOSIS_TEXT + "待查"))
        session.flush()
        for month in ("2027-02", "2027-03", "2027-04"):
            session.add(CardUsage(card_id=card.id, month=month, used=True, village_code=card.village_code))
        session.add(AssistanceCase(
            resident_id=rids[3], village_code=session.get(Resident, rids[3]).village_code, type_code="ZY",
            subject_category="特困人员", hospital="汉阴县人民医院", hospital_level="county",
            total_fen=1234500, assistance_fen=345600, status="paid", applied_date=date(2027, 3, 1),
            paid_date=date(2027, 3, 20), diagnosis_note=CASE_DIAGNOSIS))


@pytest.fixture
def village(township_ws):
    from station_app.services.reference import load_reference

    ws, admin = township_ws
    load_reference(ws, POLICY_REFERENCE)
    names, ids, rids = add_people(ws, admin, PEOPLE)
    add_archives(ws, admin, rids)
    return Village(ws, admin, names, ids, rids)


def _tool(name: str) -> str:
    return require_tool(name, "poppler-utils")


def pdftotext(path) -> str:
    return subprocess.run([_tool("pdftotext"), "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def pdftotext_raw(path) -> str:
    return subprocess.run([_tool("pdftotext"), str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def pdffonts(path) -> str:
    return subprocess.run([_tool("pdffonts"), str(path)], check=True, capture_output=True, text=True).stdout


def printed_text(path) -> str:
    """Text of a PDF made through QPrinter (print to file), which is not post-processed: map the
    radical look-alikes Qt names glyphs by back to ideographs, and drop spaces."""
    from station_app.notices.qtenv import radical_aliases

    table = {r: u for r, u in radical_aliases().items()}
    return pdftotext_raw(path).translate(table).replace(" ", "")
