"""Notices drawn to PDF: the text a villager reads, the embedded font, pages, paper, reproducibility."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from datetime import date

import pytest

from station_app.domain.masking import mask_id
from station_app.services import notices
from tests.conftest import GROUP_A1, VILLAGE_A, require_tool

from .conftest import CASE_DIAGNOSIS, DIAGNOSIS_TEXT, add_people, pdffonts, pdftotext, pdftotext_raw

TODAY = date(2027, 4, 1)

EXPECTED = {
    # kind: (title, masked names that must show)
    "enrollment": ("群英村2027年度城乡居民医保参保情况公示", ["张*丰", "李*", "欧阳**", "王*英", "赵*华"]),
    "chronic": ("群英村2027年度门诊慢特病卡办理享受情况公示", ["张*丰", "王*英"]),
    "assistance": ("群英村2027年度医疗救助待遇享受情况公示", ["王*英"]),
    "policy": ("群英村2027年度医保惠民政策公示", []),
}


@pytest.fixture(autouse=True)
def _qt(qapp):
    from station_app.notices.qtenv import ensure_fonts

    ensure_fonts()


def render(village, kind, tmp_path, paper=None, **kw):
    doc = notices.prepare_notice(village.ws, village.admin, kind, VILLAGE_A, 2027, today=TODAY, **kw)
    paper = paper or notices.NoticeSettings().paper_for(kind, kw.get("layout"))
    out = tmp_path / f"{kind}-{paper}.pdf"
    pdf, pages = notices.render_notice(doc, paper, out)
    return out, pdf, pages, doc


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("kind", notices.KINDS)
def test_notice_pdf_reads_title_masked_values_and_no_clear_personal_data(village, kind, tmp_path):
    out, _pdf, pages, doc = render(village, kind, tmp_path)
    text = pdftotext_raw(out)
    flat = squeeze(text)
    title, masked_names = EXPECTED[kind]
    assert title in flat
    assert "群英村" in flat and "漩涡镇医保服务中心" in flat
    assert "公示期：2027年4月1日至2027年4月7日（共7天）" in flat
    assert "如有异议，请在公示期内向漩涡镇医保服务中心反映" in flat
    assert f"第1页共{pages}页" in flat
    for name in masked_names:
        assert name in flat
    if kind in ("enrollment", "chronic"):
        assert mask_id(village.ids[0]) in flat
    for number in village.ids:
        assert number not in flat
        assert number[6:14] not in flat  # not even the birth date part
    for name in village.names:
        assert name not in flat
    assert DIAGNOSIS_TEXT not in flat and CASE_DIAGNOSIS not in flat
    # The text layer names glyphs by their ideographs (公示, not the radical look-alike 公⽰).
    assert not [c for c in text if 0x2E80 <= ord(c) < 0x2FE0]


def test_policy_poster_shows_the_county_texts(village, tmp_path):
    out, *_ = render(village, "policy", tmp_path)
    flat = squeeze(pdftotext_raw(out))
    assert "一、城乡居民医保缴费标准和缴费时间" in flat
    assert "个人缴费标准400元/人·年" in flat
    assert "政策依据：汉医保发〔2026〕12号" in flat


def test_pdf_embeds_only_the_bundled_noto_font(village, tmp_path):
    out, *_ = render(village, "enrollment", tmp_path)
    lines = pdffonts(out).splitlines()[2:]
    assert lines, "no fonts listed"
    for line in lines:
        name, emb = line.split()[0], line.split()[-5]
        assert "NotoSansSC" in name, line
        assert emb == "yes", line


def test_long_notice_repeats_the_header_and_numbers_every_page(village, tmp_path):
    people = [(f"{s}{g}", "head" if i % 3 == 0 else "son", GROUP_A1, ())
              for i, (s, g) in enumerate((s, g) for s in "孙胡朱高林何郭马罗" for g in ["秀梅", "德刚", "玉兰", "建国", "春燕"])]
    add_people(village.ws, village.admin, people, start=500)
    out, _pdf, pages, doc = render(village, "enrollment", tmp_path, layout="detail")
    assert len(doc.rows) == 50 and pages >= 3
    for page in (2, pages):
        text = squeeze(subprocess.run([shutil.which("pdftotext"), "-f", str(page), "-l", str(page), str(out), "-"],
                                      capture_output=True, text=True, check=True).stdout)
        assert "身份证号" in text and "缴费状态" in text, f"header missing on page {page}"
        assert f"第{page}页共{pages}页" in text
        assert "（续）" in text
        assert "监督电话" in text
    last = squeeze(subprocess.run([shutil.which("pdftotext"), "-f", str(pages), "-l", str(pages), str(out), "-"],
                                  capture_output=True, text=True, check=True).stdout)
    assert "漩涡镇医保服务中心（盖章）" in last and "2027年4月1日" in last


@pytest.mark.parametrize("paper, size", [("A4", (595, 842)), ("A4L", (842, 595)),
                                         ("A3", (842, 1191)), ("A3L", (1191, 842))])
def test_paper_sizes(village, tmp_path, paper, size):
    tool = require_tool("pdfinfo", "poppler-utils")
    out, *_ = render(village, "chronic", tmp_path, paper=paper)
    info = subprocess.run([tool, str(out)], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert match, info
    assert (round(float(match.group(1))), round(float(match.group(2)))) == size


def test_same_content_gives_the_same_bytes(village, tmp_path):
    _out, first, *_ = render(village, "assistance", tmp_path)
    _out, second, *_ = render(village, "assistance", tmp_path)
    assert first == second


def test_renders_off_the_main_thread(village, tmp_path):
    """The UI renders in a worker: no widget is involved, the device is made in that thread."""
    from station_app.notices.render import render_pdf

    doc = notices.prepare_notice(village.ws, village.admin, "enrollment", VILLAGE_A, 2027, today=TODAY)
    box = {}
    worker = threading.Thread(target=lambda: box.update(result=render_pdf(doc, "A4L")))
    worker.start()
    worker.join(60)
    assert box["result"].pages == 1
    assert box["result"].pdf == render_pdf(doc, "A4L").pdf


def test_cancel_stops_between_pages(village):
    from station_app.notices.render import RenderCancelled, render_pdf

    doc = notices.prepare_notice(village.ws, village.admin, "policy", VILLAGE_A, 2027, today=TODAY)
    with pytest.raises(RenderCancelled):
        render_pdf(doc, "A4", cancel=lambda: True)
    seen = []
    render_pdf(doc, "A4", progress=lambda done, total, _msg: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1]


def test_empty_notice_only_on_purpose_and_then_says_so(township_ws, tmp_path, qapp):
    ws, admin = township_ws
    with pytest.raises(notices.NoticeEmpty, match="没有已发放的医疗救助"):
        notices.prepare_notice(ws, admin, "assistance", VILLAGE_A, 2027, today=TODAY)
    doc = notices.prepare_notice(ws, admin, "assistance", VILLAGE_A, 2027, today=TODAY, allow_empty=True)
    out = tmp_path / "empty.pdf"
    notices.render_notice(doc, "A4L", out)
    assert "本年度无医疗救助待遇享受记录" in squeeze(pdftotext(out))
