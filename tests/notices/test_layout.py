"""A notice a board can hold: the compact roster, the 汇总+变动 form, A3, headings kept with their text.

Finding (issue 11.1): the 参保情况 notice of one village was 141–324 A4 pages (10–13 rows a page,
wrapped cells). Now: ≤ 1 A4 page per 80 residents at ≥ 10 pt, one line per row. Finding 11.7: the
policy notice's heading 「二、…」 sat alone at the foot of page 1.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from datetime import date

import pytest

from station_app.domain.idnumber import make_id
from station_app.domain.masking import mask_id, mask_name
from station_app.services import notices
from tests.conftest import GROUP_A1, GROUP_A2, VILLAGE_A

from .conftest import pdftotext

TODAY = date(2027, 4, 1)
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = "秀英桂芳玉兰德伟强磊洋勇艳娜静敏丽涛明超霞刚鹏飞琳婷雪梅松柏"
PEOPLE = 400


@pytest.fixture(autouse=True)
def _qt(qapp):
    from station_app.notices.qtenv import ensure_fonts

    ensure_fonts()


@pytest.fixture
def big_village(township_ws):
    """400 residents in two groups with enrollments for 2026 and 2027 (bulk, one unit of work)."""
    from station_app.store.models import Enrollment, Household, Resident

    ws, admin = township_ws
    people = []
    with ws.unit_of_work(admin, "test") as session:
        for n in range(PEOPLE):
            group = GROUP_A1 if n % 2 else GROUP_A2
            if n % 4 == 0:
                household = Household(household_no=f"{n:05d}", group_code=group, village_code=VILLAGE_A,
                                      head_name="")
                session.add(household)
                session.flush()
            name = SURNAMES[n % len(SURNAMES)] + GIVEN[(n * 7) % len(GIVEN)] + GIVEN[(n * 3) % len(GIVEN)]
            number = make_id("610921", date(1940 + n % 60, 1 + n % 12, 1 + n % 28), n % 1000)
            person = Resident(household_id=household.id, group_code=group, name=name, sex="M" if n % 2 else "F",
                              id_number=number, birth_date=date(1940 + n % 60, 1 + n % 12, 1 + n % 28),
                              relation="head" if n % 4 == 0 else "son", village_code=VILLAGE_A)
            session.add(person)
            session.flush()
            status = "unpaid" if n % 25 == 0 else ("subsidised" if n % 7 == 0 else "paid")
            session.add(Enrollment(resident_id=person.id, year=2027, status=status, village_code=VILLAGE_A))
            if n % 40:
                session.add(Enrollment(resident_id=person.id, year=2026, status="paid", village_code=VILLAGE_A))
            people.append((name, number, status))
    return ws, admin, people


def _render(ws, admin, layout, paper, tmp_path):
    doc = notices.prepare_notice(ws, admin, "enrollment", VILLAGE_A, 2027, today=TODAY, layout=layout)
    out = tmp_path / f"{layout}-{paper}.pdf"
    _pdf, pages = notices.render_notice(doc, paper, out)
    return doc, out, pages


@pytest.mark.parametrize("paper", ["A4", "A4L", "A3", "A3L"])
def test_roster_fits_80_residents_a_page_one_line_per_person(big_village, tmp_path, paper):
    ws, admin, people = big_village
    _doc, out, pages = _render(ws, admin, "roster", paper, tmp_path)
    assert pages <= math.ceil(PEOPLE / 80), pages
    lines = pdftotext(out).splitlines()
    # Every person is one line: group, masked name, masked ID and status side by side.
    for name, number, _status in people:
        pattern = re.compile(rf"[一二]组\s+{re.escape(mask_name(name))}\s+{re.escape(mask_id(number))}\s+\S+")
        assert any(pattern.search(line) for line in lines), (name, mask_id(number))


def _word_heights(path) -> list[float]:
    tool = shutil.which("pdftotext")
    html = subprocess.run([tool, "-bbox", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return [float(b) - float(a) for a, b in re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">610921', html)]


@pytest.mark.parametrize("paper, points", [("A4", 10.0), ("A3", 14.0)])
def test_roster_text_is_at_least_10_points(big_village, tmp_path, paper, points):
    ws, admin, _people = big_village
    _doc, out, _pages = _render(ws, admin, "roster", paper, tmp_path)
    heights = _word_heights(out)
    assert heights
    # pdftotext's word box is the font's ascent + descent: 1.448 em for Noto Sans SC.
    assert min(heights) / 1.448 >= points - 0.05


def test_summary_form_is_a_few_pages_with_only_the_exceptions(big_village, tmp_path):
    ws, admin, people = big_village
    doc, out, pages = _render(ws, admin, "summary", "A4", tmp_path)
    assert pages <= 3
    [total] = [row for row in doc.rows if row[0] == "合计"]
    unpaid = [p for p in people if p[2] == "unpaid"]
    assert total[1] == str(PEOPLE) and total[5] == str(len(unpaid))
    titles = [b["title"] for b in doc.blocks]
    assert titles[0] == f"未缴费（{len(unpaid)} 人）"
    new = sum(1 for n, p in enumerate(people) if n % 40 == 0 and p[2] != "unpaid")
    assert titles[1] == f"新参保（与2026年度相比，{new} 人）" and titles[2].startswith("停保")
    text = re.sub(r"\s+", "", pdftotext(out))
    for name, number, _status in unpaid:
        assert mask_id(number) in text
    listed_ids = {row[2] for b in doc.blocks for row in b["rows"]}
    assert len(listed_ids) < PEOPLE // 5  # only the exceptions, not the roll


def test_roster_rows_are_reusable_for_other_lists(big_village, tmp_path):
    """The 未缴清单 printout can go through the same renderer: a roster document of any rows."""
    from station_app.notices.data import list_document
    from station_app.notices.render import render_pdf

    ws, admin, people = big_village
    rows = [["一组", mask_name(n), mask_id(i), "未缴费"] for n, i, s in people if s == "unpaid"]
    doc = list_document("群英村2027年度未缴费人员清单", rows, village_code=VILLAGE_A, village_name="群英村",
                        year=2027, county_name="汉阴县", township_name="漩涡镇", issuer="漩涡镇医保服务中心",
                        issue_date=TODAY)
    result = render_pdf(doc, "A4", tmp_path / "unpaid.pdf")
    assert result.pages == 1
    text = re.sub(r"\s+", "", pdftotext(tmp_path / "unpaid.pdf"))
    assert "未缴费人员清单" in text and "制表单位：漩涡镇医保服务中心" in text and "公示期" not in text
    assert all(mask_id(i) in text for _n, i, s in people if s == "unpaid")


def _policy_doc(village, body_chars: int):
    doc = notices.prepare_notice(village.ws, village.admin, "policy", VILLAGE_A, 2027, today=TODAY)
    doc.sections[0].body = "城乡居民医保个人缴费标准按县医保局文件执行，" * (body_chars // 20)
    return doc


def test_policy_headings_stay_with_the_text_that_follows(village):
    """Sweep the first section's length so the second heading lands at every point of page 1."""
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QPdfWriter

    from station_app.notices.render import PDF_RESOLUTION, Composer, page_layout

    checked = 0
    for chars in range(200, 1400, 40):
        doc = _policy_doc(village, chars)
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        writer = QPdfWriter(buffer)
        writer.setResolution(PDF_RESOLUTION)
        writer.setPageLayout(page_layout("A4"))
        pages = Composer(doc, "A4", writer).paginate()
        for page in pages[:-1]:
            flow = [atom for _y, atom in page if not atom.gap]
            assert not flow[-1].keep_with_next, f"a heading ends page (first section {chars} chars)"
            checked += 1
    assert checked > 10
