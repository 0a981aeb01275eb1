"""`station-app notice …` and `station-app notice-batch …` for scripts and batch printing."""

from __future__ import annotations

import pytest

from station_app.cli.main import main
from station_app.services import notices
from tests.conftest import VILLAGE_A

from .conftest import pdftotext_raw


@pytest.fixture(autouse=True)
def _qt(qapp):
    pass


def test_notice_command_writes_a_pdf_and_can_archive(village, tmp_path, capsys):
    db = str(village.ws.db_path)
    out = tmp_path / "out" / "enrollment.pdf"
    assert main(["notice", "enrollment", "--db", db, "--village", VILLAGE_A, "--year", "2027",
                 "--out", str(out), "--paper", "A3", "--start", "2027-04-01"]) == 0
    assert "参保情况公示" in capsys.readouterr().out
    assert "张*丰" in pdftotext_raw(out).replace(" ", "")
    assert notices.list_notices(village.ws, village.admin) == []
    assert main(["notice", "policy", "--db", db, "--village", VILLAGE_A, "--year", "2027",
                 "--out", str(tmp_path / "p.pdf"), "--archive", "--user", "admin"]) == 0
    [archived] = notices.list_notices(village.ws, village.admin)
    assert archived.kind == "policy" and archived.issued_by == "admin"
    assert (tmp_path / "p.pdf").read_bytes() == archived.pdf_path.read_bytes()


def test_notice_command_errors_in_chinese(village, tmp_path, capsys):
    db = str(village.ws.db_path)
    assert main(["notice", "chronic", "--db", db, "--village", "999", "--year", "2027",
                 "--out", str(tmp_path / "x.pdf")]) == 1
    assert "找不到行政村" in capsys.readouterr().err
    assert main(["notice", "chronic", "--db", str(tmp_path / "none.db"), "--village", VILLAGE_A,
                 "--year", "2027", "--out", str(tmp_path / "x.pdf")]) == 1
    assert "数据库不存在" in capsys.readouterr().err


def test_batch_command(village, tmp_path, capsys):
    db = str(village.ws.db_path)
    assert main(["notice-batch", "--db", db, "--year", "2027", "--out-dir", str(tmp_path / "all")]) == 0
    captured = capsys.readouterr()
    assert "已生成 5 份公示（2 个村" in captured.out
    assert "跳过 3 份" in captured.out and "堰坪村2027年度没有参保记录" in captured.out
    assert "100.0%" in captured.err
    assert len(list((tmp_path / "all").glob("*.pdf"))) == 5


# --------------------------------------------------------------------------- issue 11: refusals, no tracebacks


def _run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured


@pytest.mark.parametrize("kind, year, message", [
    ("enrollment", "2019", "2019年度没有参保记录"),
    ("assistance", "2030", "没有已发放的医疗救助"),
    ("policy", "2019", "尚未发布2019年度医保政策"),
])
def test_empty_or_unpublished_year_is_refused_then_printed_on_purpose(village, tmp_path, capsys, kind, year, message):
    db = str(village.ws.db_path)
    out = tmp_path / "x.pdf"
    code, captured = _run(["notice", kind, "--db", db, "--village", VILLAGE_A, "--year", year, "--out", str(out)], capsys)
    assert code == 1 and message in captured.err and "--allow-empty" in captured.err
    assert not out.exists()
    code, captured = _run(["notice", kind, "--db", db, "--village", VILLAGE_A, "--year", year, "--out", str(out),
                           "--allow-empty"], capsys)
    assert code == 0 and out.is_file()
    assert "本年度无" in pdftotext_raw(out).replace(" ", "")


def test_file_errors_are_chinese_messages_not_tracebacks(village, tmp_path, capsys):
    import os

    db = str(village.ws.db_path)
    base = ["notice", "policy", "--db", db, "--village", VILLAGE_A, "--year", "2027"]
    folder = tmp_path / "folder"
    folder.mkdir()
    code, captured = _run(base + ["--out", str(folder)], capsys)
    assert code == 1 and "是一个文件夹" in captured.err
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    code, captured = _run(base + ["--out", str(a_file / "p.pdf")], capsys)
    assert code == 1 and "是一个文件，不是文件夹" in captured.err
    if os.geteuid() != 0:  # root writes anywhere
        readonly = tmp_path / "ro"
        readonly.mkdir()
        readonly.chmod(0o500)
        try:
            code, captured = _run(base + ["--out", str(readonly / "p.pdf")], capsys)
            assert code == 1 and "无法写入" in captured.err
        finally:
            readonly.chmod(0o700)
    code, captured = _run(["notice-batch", "--db", db, "--out-dir", str(a_file)], capsys)
    assert code == 1 and "是一个文件，不是文件夹" in captured.err
    code, captured = _run(["notice-batch", "--db", db, "--out-dir", str(a_file / "sub")], capsys)
    assert code == 1 and "是一个文件，不是文件夹" in captured.err or "无法创建输出目录" in captured.err


def test_write_failure_in_a_read_only_folder_is_a_chinese_message(tmp_path, monkeypatch):
    """Also as root (where chmod does not stop writes): the OSError itself becomes the message."""
    import errno
    from pathlib import Path as P

    def refuse(self, data):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(P, "write_bytes", refuse)
    with pytest.raises(notices.NoticeFileError, match="无法写入.*没有写入权限"):
        notices.write_pdf(tmp_path / "p.pdf", b"%PDF")
    assert not (tmp_path / "p.pdf.part").exists()


@pytest.mark.parametrize("days", ["0", "31", "-3"])
def test_days_outside_1_to_30_is_refused(village, tmp_path, capsys, days):
    code, captured = _run(["notice", "policy", "--db", str(village.ws.db_path), "--village", VILLAGE_A,
                           "--year", "2027", "--out", str(tmp_path / "p.pdf"), "--days", days], capsys)
    assert code == 1 and "公示天数应为 1 至 30 天" in captured.err


def test_batch_refuses_an_unknown_kind_in_chinese(village, tmp_path, capsys):
    code, captured = _run(["notice-batch", "--db", str(village.ws.db_path), "--out-dir", str(tmp_path / "o"),
                           "--kinds", "foo"], capsys)
    assert code == 1 and "未知的公示类型：foo" in captured.err
    code, captured = _run(["notice-batch", "--db", str(village.ws.db_path), "--out-dir", str(tmp_path / "o"),
                           "--years", "chronic=soon"], capsys)
    assert code == 1 and "年度写法无效" in captured.err


def test_batch_picks_each_kinds_year_and_says_so(village, tmp_path, capsys):
    """Finding: `notice-batch --year 2027` used one year for all four kinds (empty notices). Each
    kind now has its own year — chosen, or given per kind — and the choice is printed."""
    db = str(village.ws.db_path)
    code, captured = _run(["notice-batch", "--db", db, "--out-dir", str(tmp_path / "o"), "--kinds",
                           "enrollment,chronic,assistance", "--years", "enrollment=2027,chronic=2027,assistance=2027"],
                          capsys)
    assert code == 0
    assert "参保情况 2027 年，慢病卡办享情况 2027 年，医疗救助待遇享受情况 2027 年" in captured.out
    assert sorted(p.name for p in (tmp_path / "o").glob("*.pdf")) == [
        "610921103201-群英村-assistance-2027.pdf", "610921103201-群英村-chronic-2027.pdf",
        "610921103201-群英村-enrollment-2027.pdf"]
    assert notices.batch_years(["enrollment", "policy", "chronic", "assistance"],
                               today=__import__("datetime").date(2026, 11, 23)) == {
        "enrollment": 2027, "policy": 2027, "chronic": 2026, "assistance": 2026}
    code, captured = _run(["notice-batch", "--db", db, "--out-dir", str(tmp_path / "p"), "--kinds", "assistance",
                           "--year", "2030"], capsys)
    assert code == 1 and "跳过 2 份" in captured.out and "已生成 0 份" in captured.out


def test_layout_option_and_reason_on_the_command_line(village, tmp_path, capsys):
    db = str(village.ws.db_path)
    base = ["notice", "enrollment", "--db", db, "--village", VILLAGE_A, "--year", "2027", "--start", "2027-04-01"]
    code, captured = _run(base + ["--out", str(tmp_path / "s.pdf"), "--layout", "summary"], capsys)
    assert code == 0 and "summary" in captured.out
    text = pdftotext_raw(tmp_path / "s.pdf").replace(" ", "")
    assert "未缴费（1人）" in text and "新参保（与2026年度相比，4人）" in text and "合计" in text
    code, captured = _run(base + ["--out", str(tmp_path / "a.pdf"), "--archive"], capsys)
    assert code == 0 and "已发布并存档" in captured.out
    code, captured = _run(base + ["--out", str(tmp_path / "b.pdf"), "--archive"], capsys)
    assert code == 0 and "完全相同，未重复存档" in captured.out
    code, captured = _run(base + ["--out", str(tmp_path / "c.pdf"), "--archive", "--days", "10",
                                  "--reason", "延长公示期"], capsys)
    assert code == 0 and "已发布第 2 版，替代上一版（延长公示期）" in captured.out
