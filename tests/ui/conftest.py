"""UI fixtures: synchronous tasks, an isolated settings file, a signed-in main window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from station_app.ui.tasks import TaskManager


@pytest.fixture
def tasks(qapp):
    """Tasks run inline, so a widget shows its result as soon as it asks."""
    return TaskManager.synchronous()


@pytest.fixture
def threaded_tasks(qapp):
    manager = TaskManager()
    yield manager
    manager.wait_for_done()


@pytest.fixture
def ui_settings(tmp_path):
    return QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def main_window(qtbot, township_ws, tasks, ui_settings):
    from station_app.ui.app import build_main_window

    ws, admin = township_ws
    window = build_main_window(ws, admin, tasks, ui_settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window
