"""The command line of the edges: import-roster (dry run and real) and the installer's self-check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from station_app.cli.main import main

from tests.conftest import VILLAGE_A
from .rosters import person_id, write_xlsx

ROOT = Path(__file__).resolve().parents[3]


def test_import_roster_dry_run_then_real(township_ws, tmp_path, capsys):
    ws, _admin = township_ws
    roster = write_xlsx(tmp_path / "r.xlsx", [["姓名", "身份证号码"], ["甲", person_id(1)], ["乙", "123"]])
    report = tmp_path / "report.xlsx"
    args = ["import-roster", str(roster), "--village", VILLAGE_A, "--report", str(report), "--db", str(ws.db_path)]
    assert main(args + ["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "将新增 1 人" in out and "试运行" in out and str(report) in out
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "新增 1 人（1 户）" in out and "错误 1 行" in out and "导入前备份" in out
    assert main(args) == 0
    assert "新增 0 人" in capsys.readouterr().out


def test_import_roster_reports_a_bad_file_in_chinese(township_ws, tmp_path, capsys):
    ws, _admin = township_ws
    (tmp_path / "x.xls").write_bytes(b"old")
    assert main(["import-roster", str(tmp_path / "x.xls"), "--village", VILLAGE_A, "--db", str(ws.db_path)]) == 1
    assert "另存为" in capsys.readouterr().err


def test_self_check_from_the_command_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), STATION_APP_DATA_DIR=str(tmp_path / "data"),
               QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-m", "station_app", "self-check"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "OK"
    assert any("临时数据库已创建并升级" in line for line in lines)
    assert any("公示 PDF" in line for line in lines)
    assert not list((tmp_path / "data").glob("**/*.db"))  # nothing left in the user's data folder
