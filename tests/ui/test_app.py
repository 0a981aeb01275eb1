"""Start-up pieces: bundled font, a clear message for a database that cannot open, auto sign-in."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from station_app.domain.errors import ValidationError
from station_app.ui import app as app_module
from tests.conftest import ADMIN_PASSWORD


@pytest.fixture(autouse=True)
def _restore_hooks(monkeypatch):
    # run_gui installs the app's excepthooks; put pytest-qt's back afterwards.
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)


def test_bundled_chinese_font_is_the_application_font(qapp):
    family = app_module.install_fonts(qapp)
    assert family == "Noto Sans SC"
    assert QApplication.font().family() == "Noto Sans SC"
    assert QApplication.font().pointSize() == 11


def test_error_message_shows_domain_messages_as_is():
    assert app_module.error_message(ValidationError("请输入姓名。")) == "请输入姓名。"
    assert "意外错误" in app_module.error_message(RuntimeError("boom"))


def test_a_corrupt_database_gives_a_chinese_message_and_exit_code_1(qapp, tmp_path, monkeypatch):
    db = tmp_path / "broken.db"
    db.write_bytes(b"this is not a database" * 100)
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda *args: shown.append(args)))
    assert app_module.run_gui(db) == 1
    assert "无法打开或升级数据库文件" in shown[0][2]
    assert str(db) in shown[0][2]


def test_autologin_opens_the_main_window(qapp, township_ws, monkeypatch):
    ws, _admin = township_ws
    ws.close()  # run_gui opens the file itself
    windows = []
    real_build = app_module.build_main_window

    def build(*args, **kwargs):
        window = real_build(*args, **kwargs)
        windows.append(window)
        return window

    monkeypatch.setattr(app_module, "build_main_window", build)
    monkeypatch.setattr(QApplication, "exec", lambda self=None: 0)
    monkeypatch.setenv(app_module.AUTOLOGIN_ENV, f"admin:{ADMIN_PASSWORD}")
    assert app_module.run_gui(ws.db_path) == 0
    assert windows and windows[0].actor.username == "admin"
    assert "漩涡镇医保服务中心" in windows[0].windowTitle()
    windows[0].close()
