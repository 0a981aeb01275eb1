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
