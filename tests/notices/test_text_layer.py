"""The PDF's text layer is what the page shows, and the same input gives the same bytes.

Findings (issue 11.4/11.6): pdftotext read ``******** X`` for ``610921********287X`` (the digits next
to the X had no text); the same command gave two different SHA-256 values. Causes, fixed at the
source: Noto Sans SC's 'locl' feature swaps those digits for glyphs outside the cmap, and Qt names
embedded glyphs by cmap only; QPdfWriter writes its fonts in QHash order, randomly seeded per process.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from station_app.domain.idnumber import make_id
from station_app.domain.masking import mask_id
from station_app.notices.data import ENROLLMENT_COLUMNS, NoticeDocument
from station_app.services import notices
from tests.conftest import GROUP_A1, VILLAGE_A

from .conftest import add_people, pdftotext_raw

TODAY = date(2027, 4, 1)
#: Everything a notice can print beyond the ideographs: digits, X, *, full-width punctuation,
#: the marks and Roman numerals of the catalogue (Ⅰ类/Ⅱ类), dashes and the middle dot.
SPECIALS = "0123456789X*.%（）：，。、；·—〔〕「」《》※△Ⅰ Ⅱ类号元人"
SAMPLE_CELLS = ["610921********287X", "610921********0000", "*" * 18, "※△", "Ⅰ类（按住院待遇）", "Ⅱ类",
                "〔2026〕12号", "「本年度无…」", "已缴费（已故）", "资助 150 元；全额", "96.4%", "3,456.00",
                "2027-03-20", "一、二、三：", "张*丰·李*"]


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(autouse=True)
def _qt(qapp):
    from station_app.notices.qtenv import ensure_fonts

    ensure_fonts()


def _shaped(text: str, bold: bool = False) -> tuple[list[int], list[int]]:
    from PySide6.QtGui import QTextLayout

    from station_app.notices.qtenv import notice_font

    layout = QTextLayout(text, notice_font(12, bold))
    layout.beginLayout()
    line = layout.createLine()
    layout.endLayout()
    shaped, raw = [], None
    for run in line.glyphRuns():
        shaped += list(run.glyphIndexes())
        raw = run.rawFont()
    return shaped, list(raw.glyphIndexesForString(text))


@pytest.mark.parametrize("bold", [False, True])
def test_every_glyph_a_notice_draws_is_named_by_the_font_cmap(bold):
    """Qt's PDF text layer can only name cmap glyphs: shaping must not substitute any."""
    for text in SAMPLE_CELLS + [SPECIALS, "ID 610921********961X 已缴费"]:
        shaped, by_cmap = _shaped(text, bold)
        assert shaped == by_cmap, text


def _doc(rows: list[list[str]]) -> NoticeDocument:
    return NoticeDocument(kind="enrollment", title="群英村2027年度城乡居民医保参保情况公示", county_name="汉阴县",
                          township_name="漩涡镇", village_code=VILLAGE_A, village_name="群英村", group_code=None,
                          group_name="", year=2027, period_start=TODAY, period_end=date(2027, 4, 7),
                          supervision_phone="0915-5212345", issuer="漩涡镇医保服务中心", issue_date=TODAY,
                          columns=list(ENROLLMENT_COLUMNS), rows=rows, layout="detail")


@pytest.mark.parametrize("paper", ["A4L", "A3"])
def test_text_layer_equals_what_is_drawn_for_every_printable_character(tmp_path, paper):
    rows = [[str(n), "一组", "张*丰", "李*", "本人", cell, "普通居民", "—", "400.00", "—", "已缴费"]
            for n, cell in enumerate(SAMPLE_CELLS, 1)]
    pieces = [squeeze(SPECIALS)[i:i + 4] for i in range(0, len(squeeze(SPECIALS)), 4)]
    rows += [["99", "二组", "王*", "王*", "本人", "610921********2873", piece, "—", "—", "—", "未缴费"]
             for piece in pieces]
    out = tmp_path / "chars.pdf"
    notices.render_notice(_doc(rows), paper, out)
    text = squeeze(pdftotext_raw(out))
    for cell in SAMPLE_CELLS + pieces:
        assert squeeze(cell) in text, cell
    assert not [c for c in text if 0x2E80 <= ord(c) < 0x2FE0]  # no radical look-alikes (公⽰)


def _ids_ending_in_x(count: int) -> list[str]:
    out, n = [], 0
    while len(out) < count:
        number = make_id("610921", date(1950 + n % 50, 1 + n % 12, 1 + n % 28), 100 + n % 900)
        if number.endswith("X") and number not in out:
            out.append(number)
        n += 1
    return out


def test_every_masked_id_of_a_village_is_in_the_text_layer(village, tmp_path):
    from station_app.services.households import ResidentInput, register_household

    for i, number in enumerate(_ids_ending_in_x(12)):
        register_household(village.ws, village.admin, village_code=VILLAGE_A,
                           head=ResidentInput(name="孙" + "秀德玉建春国明华丽强芳军"[i], id_number=number,
                                              relation="head", group_code=GROUP_A1))
    add_people(village.ws, village.admin, [(f"马{g}", "head", GROUP_A1, ()) for g in "一二三四五六七八九十"], start=900)
    with village.ws.read() as session:
        from sqlalchemy import select

        from station_app.store.models import Resident

        ids = list(session.scalars(select(Resident.id_number).where(Resident.village_code == VILLAGE_A)))
    assert sum(1 for n in ids if n.endswith("X")) >= 12
    for layout in ("roster", "detail"):
        doc = notices.prepare_notice(village.ws, village.admin, "enrollment", VILLAGE_A, 2027, today=TODAY,
                                     layout=layout)
        out = tmp_path / f"{layout}.pdf"
        notices.render_notice(doc, notices.NoticeSettings().paper_for("enrollment", layout), out)
        text = squeeze(pdftotext_raw(out))
        missing = [mask_id(n) for n in ids if mask_id(n) not in text]
        assert missing == [], (layout, missing)


def test_qt_alone_still_needs_the_two_remaining_pdf_fixes(village, tmp_path, monkeypatch):
    """Proof that the two byte substitutions left in render.fix_pdf are still needed."""
    from station_app.notices import render

    doc = notices.prepare_notice(village.ws, village.admin, "policy", VILLAGE_A, 2027, today=TODAY)
    monkeypatch.setattr(render, "fix_pdf", lambda pdf, _issued: pdf)
    raw = render.render_pdf(doc, "A4").pdf
    stamp = re.search(rb"/CreationDate \(D:(\d{8})", raw).group(1).decode()
    assert stamp == date.today().strftime("%Y%m%d") != TODAY.strftime("%Y%m%d")  # Qt dates it "now"
    (tmp_path / "raw.pdf").write_bytes(raw)
    assert [c for c in pdftotext_raw(tmp_path / "raw.pdf") if 0x2E80 <= ord(c) < 0x2FE0]  # 公⽰ without the fix
    monkeypatch.undo()
    fixed = render.render_pdf(doc, "A4").pdf
    assert b"/CreationDate (D:20270401" in fixed and len(fixed) == len(raw)


CHILD = r"""
import sys
from datetime import date
from pathlib import Path
from station_app.notices.qtenv import ensure_app
ensure_app()
from station_app.notices.data import NoticeDocument
from station_app.notices.render import render_pdf
import json
doc = NoticeDocument.from_dict(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
print(render_pdf(doc, sys.argv[2]).sha256)
"""


@pytest.mark.parametrize("kind, paper", [("enrollment", "A4"), ("chronic", "A4L"), ("policy", "A3")])
def test_same_notice_gives_the_same_bytes_in_separate_processes(village, tmp_path, kind, paper):
    doc = notices.prepare_notice(village.ws, village.admin, kind, VILLAGE_A, 2027, today=TODAY)
    source = tmp_path / "doc.json"
    source.write_text(doc.to_json(), encoding="utf-8")
    root = str(Path(__file__).resolve().parents[2])
    env = {"PYTHONPATH": root, "QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}
    digests = {subprocess.run([sys.executable, "-c", CHILD, str(source), paper], capture_output=True, text=True,
                              check=True, env=env, cwd=root).stdout.strip() for _ in range(3)}
    assert len(digests) == 1
    from station_app.notices.render import render_pdf

    assert render_pdf(doc, paper).sha256 in digests
