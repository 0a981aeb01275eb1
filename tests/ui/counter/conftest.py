"""A small demo township (2 villages, 400 residents, cards, cases, a year in force) per test.

Built once per session with the demo builder (a few seconds), copied for each test so every
test may write. Actors: the admin, the clerk zg01 and the first village's doctor.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from station_app.services.changes import Actor
from station_app.services.workspace import Workspace


@dataclass
class Demo:
    ws: Workspace
    admin: Actor
    clerk: Actor
    doctor: Actor
    village_name: str


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory) -> Path:
    from station_app.services.demo import build_demo

    path = tmp_path_factory.mktemp("counter") / "demo.db"
    build_demo(path, villages=2, residents=400, seed=1)
    return path


def _actor(ws: Workspace, username: str) -> Actor:
    from sqlalchemy import select

    from station_app.store.models import User

    with ws.read() as session:
        user = session.scalar(select(User).where(User.username == username))
    return Actor(user.username, user.display_name, user.role, user.place_code or "", ws.station.code)


@pytest.fixture
def demo(demo_file, tmp_path, monkeypatch) -> Demo:
    monkeypatch.setenv("STATION_APP_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "station.db"
    shutil.copy(demo_file, path)
    ws = Workspace.open(path, backups=tmp_path / "backups")
    from sqlalchemy import select

    from station_app.store.models import Place, User

    with ws.read() as session:
        doctor_name = session.scalar(select(User.username).where(User.role == "village_doctor")
                                     .order_by(User.username))
    doctor = _actor(ws, doctor_name)
    with ws.read() as session:
        village_name = session.scalar(select(Place.name).where(Place.code == doctor.place_code))
    yield Demo(ws, _actor(ws, "admin"), _actor(ws, "zg01"), doctor, village_name)
    ws.close()


@pytest.fixture
def sync_tasks(qapp):
    from station_app.ui.tasks import TaskManager

    return TaskManager.synchronous()


@pytest.fixture
def window_for(qtbot, demo, sync_tasks, tmp_path):
    """window_for(actor, size=(w, h)) → a shown main window of that size."""
    from station_app.ui.app import build_main_window

    def make(actor: Actor, size: tuple[int, int] = (1366, 728)):
        settings = QSettings(str(tmp_path / f"ui-{actor.username}.ini"), QSettings.Format.IniFormat)
        window = build_main_window(demo.ws, actor, sync_tasks, settings)
        qtbot.addWidget(window)
        window.resize(*size)
        window.show()
        qtbot.waitExposed(window)
        return window

    return make


@pytest.fixture(autouse=True)
def app_look(qapp):
    """The app's real font (Noto Sans SC 11 pt), stylesheet and Qt zh_CN catalogue — sizes and
    words as a user sees them; restored afterwards so other test folders are unaffected."""
    from station_app.ui.app import install_fonts, install_translations
    from station_app.ui.style import STYLESHEET

    font, sheet = qapp.font(), qapp.styleSheet()
    install_fonts(qapp)
    qapp.setStyleSheet(STYLESHEET)
    install_translations(qapp)
    yield
    qapp.setFont(font)
    qapp.setStyleSheet(sheet)


@pytest.fixture
def threaded_tasks_window(qtbot, demo, tmp_path):
    """Like window_for, with real worker threads (for off-UI-thread behaviour)."""
    from station_app.ui.app import build_main_window
    from station_app.ui.tasks import TaskManager

    managers = []

    def make(actor: Actor, size: tuple[int, int] = (1366, 728)):
        tasks = TaskManager()
        managers.append(tasks)
        settings = QSettings(str(tmp_path / f"ui-t-{actor.username}.ini"), QSettings.Format.IniFormat)
        window = build_main_window(demo.ws, actor, tasks, settings)
        qtbot.addWidget(window)
        window.resize(*size)
        window.show()
        qtbot.waitExposed(window)
        return window

    yield make
    for tasks in managers:
        tasks.wait_for_done()
