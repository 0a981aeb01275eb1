"""``station-app setup``: a station database made from the county with a token (or the console's set-up file)."""

from __future__ import annotations

import json
import re

from sqlalchemy import func, select

from station_app.cli.main import main as station_main
from station_app.services.auth import login
from station_app.services.workspace import Workspace
from station_app.store import keys
from station_app.store.models import Place, Resident, Station

from tests.conftest import COUNTY, VILLAGE_A
from ..sync.helpers import household
from .conftest import ADMIN


def _add_station(console, code: str, place: str, *, admin: bool = True) -> tuple[str, str]:
    s = console.session(ADMIN)
    csrf = console.csrf(s, console.url + "/stations")
    data = {"csrf": csrf, "code": code, "name": f"{code}卫生室", "scope": "village", "place_code": place}
    if admin:
        data.update(admin_username="cundoc", admin_display_name="村医甲", admin_password="cun-pass-123")
    page = s.post(console.url + "/stations/add", data=data).text
    token = re.search(r'id="token">([^<]+)<', page).group(1)
    href = re.search(r'id="setup-file" href="data:application/json;base64,([^"]+)"', page).group(1)
    import base64

    return token, base64.b64decode(href).decode("utf-8")


def test_setup_creates_the_station_from_the_county(console, stations, tmp_path, capsys):
    (va,) = stations(console.county, "VA")  # an existing station of the village has records on the server
    household(va, VILLAGE_A, "赵一")
    va.sync()
    token, _file = _add_station(console, "QY2", VILLAGE_A)
    data = tmp_path / "pc-17"
    code = station_main(["--data-dir", str(data), "setup", "--server", console.county.url, "--token", token, "-q"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "已设置村站 QY2" in out.out
    printed = [line.strip() for line in out.out.splitlines() if re.fullmatch(r"[A-Z2-9]{5}(-[A-Z2-9]{5}){4}", line.strip())]
    assert len(printed) == 1 and "只显示这一次" in out.out  # the recovery key, printed once
    ws = Workspace.open(data / "station.db")
    try:
        assert ws.is_set_up and ws.station.code == "QY2" and ws.station.place_code == VILLAGE_A
        assert ws.station.county_code == COUNTY
        with ws.read() as session:
            assert session.scalar(select(func.count()).select_from(Place)) >= 4  # the place tree came
            assert session.scalar(select(Resident.name).where(Resident.village_code == VILLAGE_A)) == "赵一"
            assert session.scalar(select(Station.name).where(Station.code == "QY2")) == "QY2卫生室"
        actor = login(ws, "cundoc", "cun-pass-123")  # the county's administrator and password
        assert actor.username == "cundoc"
    finally:
        ws.close()
    # an encrypted database opens with the county's administrator and password (no other key)
    with Workspace.open(data / "station.db", username="cundoc", password="cun-pass-123") as again_ws:
        assert again_ws.station.code == "QY2"
    keys.forget_all()
    with Workspace.open(data / "station.db", recovery_key=printed[0]) as recovered:
        assert recovered.station.code == "QY2"
    # a second run on the same folder refuses, nothing changes
    again = station_main(["--data-dir", str(data), "setup", "--server", console.county.url, "--token", token, "-q"])
    assert again == 1 and "已完成初始设置" in capsys.readouterr().err


def test_setup_file_from_the_console(console, tmp_path, capsys):
    _token, text = _add_station(console, "QY3", VILLAGE_A)
    assert json.loads(text)["station"] == "QY3"
    path = tmp_path / "QY3.ybsetup.json"
    path.write_text(text, encoding="utf-8")
    db = tmp_path / "x" / "station.db"
    assert station_main(["--db", str(db), "setup", "--setup-file", str(path), "-q"]) == 0
    ws = Workspace.open(db)
    try:
        assert ws.station.code == "QY3"
    finally:
        ws.close()


def test_setup_with_a_bad_token_or_no_server_says_so_and_leaves_nothing(console, tmp_path, capsys):
    db = tmp_path / "d" / "station.db"
    code = station_main(["--db", str(db), "setup", "--server", console.county.url, "--token", "ybs_" + "x" * 40])
    err = capsys.readouterr().err
    assert code == 1 and "同步令牌无效" in err and "Traceback" not in err
    assert not db.exists()
    code = station_main(["--db", str(db), "setup", "--server", "http://127.0.0.1:9", "--token", "ybs_" + "x" * 40])
    err = capsys.readouterr().err
    assert code == 1 and "无法连接县服务器" in err
    assert not db.exists()
    code = station_main(["--db", str(db), "setup", "--server", console.county.url])
    assert code == 2 and "--token" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    assert station_main(["--db", str(db), "setup", "--setup-file", str(bad)]) == 1
    assert "不是站点设置文件" in capsys.readouterr().err


def test_setup_without_a_county_administrator_needs_one_given(console, tmp_path, capsys):
    token, _ = _add_station(console, "QY4", VILLAGE_A, admin=False)
    db = tmp_path / "e" / "station.db"
    assert station_main(["--db", str(db), "setup", "--server", console.county.url, "--token", token, "-q"]) == 1
    assert "--admin-user" in capsys.readouterr().err
    assert station_main(["--db", str(db), "setup", "--server", console.county.url, "--token", token, "-q",
                         "--admin-user", "boss", "--admin-password", "boss-pass-99"]) == 0
    ws = Workspace.open(db)
    try:
        assert login(ws, "boss", "boss-pass-99").username == "boss"
    finally:
        ws.close()


def test_first_run_dialog_sets_up_from_the_county(qtbot, console, workspace):
    from PySide6.QtWidgets import QDialog

    from station_app.ui.setup_dialog import SetupDialog
    from station_app.ui.tasks import TaskManager

    tasks = TaskManager.synchronous()

    token, _ = _add_station(console, "QY5", VILLAGE_A)
    dialog = SetupDialog(workspace, tasks)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.server_edit.setText(console.county.url)
    dialog.token_edit.setText("ybs_" + "y" * 40)
    dialog.county_button.click()
    qtbot.waitUntil(lambda: dialog.error_label.isVisible() and dialog.county_button.isEnabled(), timeout=30_000)
    assert "同步令牌无效" in dialog.error_label.text()
    assert not workspace.is_set_up
    dialog.token_edit.setText(token)
    with qtbot.waitSignal(dialog.accepted, timeout=30_000):
        dialog.county_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert workspace.station.code == "QY5"
    assert login(workspace, "cundoc", "cun-pass-123").username == "cundoc"
