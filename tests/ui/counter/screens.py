"""Screenshots of every page and dialog at 1366×768, as a person sees them (issue 10).

Run on a real (virtual) screen, not offscreen, so window frames and fonts are the real ones:

    ../shared/tools/shot /tmp/last.png 240 .venv/bin/python -m tests.ui.counter.screens /tmp/screens

Writes one PNG per page (for the township clerk and the village doctor) and per dialog into the
folder, named by what it shows; look at each. Not a test: a person judges the look.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def _settle(app, seconds: float = 0.6) -> None:
    """Let queued paints and background reads finish (a person waits about as long)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _grab(app, out: Path, name: str) -> None:
    _settle(app)
    screen = app.primaryScreen()
    safe = name.replace("/", "_").replace(" ", "_")
    screen.grabWindow(0).save(str(out / f"{safe}.png"))
    print("saved", out / f"{safe}.png", flush=True)


def main(argv: list[str]) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from station_app.services.demo import build_demo
    from station_app.services.workspace import Workspace
    from station_app.ui.app import build_main_window, install_fonts, install_translations
    from station_app.ui.sections import SECTIONS
    from station_app.ui.style import STYLESHEET
    from station_app.ui.tasks import TaskManager
    from tests.ui.counter.catalogue import dialogs
    from tests.ui.counter.conftest import Demo, _actor

    out = Path(argv[0] if argv else "screens")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    install_fonts(app)
    app.setStyleSheet(STYLESHEET)
    install_translations(app)

    folder = Path(tempfile.mkdtemp(prefix="screens-"))
    path = folder / "demo.db"
    build_demo(path, villages=2, residents=400, seed=1)
    ws = Workspace.open(path, backups=folder / "backups")
    from sqlalchemy import select

    from station_app.store.models import Place, User

    with ws.read() as session:
        doctor_name = session.scalar(select(User.username).where(User.role == "village_doctor")
                                     .order_by(User.username))
    doctor = _actor(ws, doctor_name)
    with ws.read() as session:
        village_name = session.scalar(select(Place.name).where(Place.code == doctor.place_code))
    demo = Demo(ws, _actor(ws, "admin"), _actor(ws, "zg01"), doctor, village_name)
    tasks = TaskManager.synchronous()

    def window_for(actor):
        settings = QSettings(str(folder / f"ui-{actor.username}.ini"), QSettings.Format.IniFormat)
        window = build_main_window(ws, actor, tasks, settings)
        window.move(0, 0)
        window.resize(1366, 728 - 30)  # the work area less the title bar
        window.show()
        return window

    for actor, who in ((demo.clerk, "专干"), (demo.doctor, "村医"), (demo.admin, "管理员")):
        window = window_for(actor)
        for section in SECTIONS:
            window.show_section(section.key)
            _grab(app, out, f"page-{who}-{section.title}")
        window.close()

    window = window_for(demo.clerk)
    for name, factory in dialogs(demo, tasks, window):
        dialog = factory()
        dialog.show()
        _grab(app, out, f"dialog-{name}")
        dialog.reject()
        dialog.close()
    window.close()
    ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
