"""The console in a real browser: Debian's chromium driven by Playwright against ``county-server serve``.

The server is the real command in its own process on 127.0.0.1, on a small synthetic county
(``county-server gen-synthetic``). Screenshots go to ``$CONSOLE_SHOTS`` when it is set.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from station_app.cli.main import main as station_main
from station_app.services.workspace import Workspace
from station_app.store.models import CountyYearSetting, Resident

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                                    reason="Debian's chromium is not installed (make sysdeps)")]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(db_url: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "county_server", "--db-url", db_url, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-browser")
    db_url = f"sqlite:///{folder / 'county.db'}"
    made = _cli(db_url, "gen-synthetic", "--townships", "2", "--villages", "6", "--residents", "900", "--seed", "3")
    assert made.returncode == 0, made.stderr
    added = _cli(db_url, "add-user", "--username", "chief", "--role", "county_admin", "--display-name", "县局管理员",
                 env={"COUNTY_USER_PASSWORD": "chief-pass-1"})
    assert added.returncode == 0, added.stderr
    port = _port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "county_server", "--db-url", db_url, "serve", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(url + "/v1/health", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        assert server.poll() is None, server.stderr.read().decode()
        assert time.monotonic() < deadline, "county-server serve did not start"
        time.sleep(0.1)  # polling a process start, not fixing a race
    yield url, folder
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def _shot(page, name: str) -> None:
    folder = os.environ.get("CONSOLE_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _sign_in(page, url: str, password: str = "chief-pass-1") -> None:
    page.goto(url + "/console/")
    assert "/console/login" in page.url
    page.fill("#username", "chief")
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_sign_in_and_drill_down_to_a_village_list(served, page):
    url, _folder = served
    _sign_in(page, url, "wrong-password")
    assert "用户名或密码不正确" in page.inner_text(".error")
    _shot(page, "01-login-error")
    page.fill("#username", "chief")
    page.fill("#password", "chief-pass-1")
    page.click("button[type=submit]")
    page.wait_for_selector("#kpi-enrollment")
    assert "模拟县" in page.inner_text("h1")
    county_rate = page.inner_text("#kpi-enrollment .value")
    assert re.fullmatch(r"\d+\.\d%", county_rate)
    assert page.locator("svg.chart rect").count() == 12  # 12 months of 卡月使用率, drawn by the server
    _shot(page, "02-county")
    page.click("#children a.drill >> nth=0")
    page.wait_for_selector("text=下辖村")
    assert "第1镇" in page.inner_text("h1")
    _shot(page, "03-township")
    page.click("#children a.drill >> nth=0")
    page.wait_for_selector("#kpi-unpaid")
    assert "1镇1村" in page.inner_text("h1") and page.locator("#children").count() == 0
    crumbs = page.inner_text(".crumbs")
    assert "模拟县" in crumbs and "第1镇" in crumbs
    _shot(page, "04-village")
    unpaid = int(page.inner_text("#kpi-unpaid .value"))
    page.click("#kpi-unpaid")
    page.wait_for_selector("#list")
    rows = page.locator("#list tbody tr")
    assert rows.count() == max(unpaid, 1)
    _shot(page, "05-unpaid-list")


def test_station_added_set_up_by_cli_and_reference_edit_reaches_it(served, page, tmp_path):
    url, _folder = served
    _sign_in(page, url)
    page.wait_for_selector("#kpi-enrollment")
    page.goto(url + "/console/stations")
    form = page.locator("#add-station")
    form.locator("[name=code]").fill("PC600")
    form.locator("[name=name]").fill("1镇3村卫生室（新电脑）")
    form.locator("[name=place_code]").select_option("610999100202")
    form.locator("[name=admin_password]").fill("new-pass-123")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#issued")
    token = page.inner_text("#token").strip()
    assert page.locator("#issued svg").count() == 1
    _shot(page, "06-station-added")

    data = tmp_path / "pc600"
    assert station_main(["--data-dir", str(data), "setup", "--server", url, "--token", token, "-q"]) == 0
    ws = Workspace.open(data / "station.db")
    try:
        with ws.read() as session:
            assert session.query(Resident).filter(Resident.village_code == "610999100202").count() > 0
    finally:
        ws.close()
    page.goto(url + "/console/stations")
    row = page.locator("tr[data-code=PC600]")
    assert "从未" not in row.inner_text()  # it synced
    _shot(page, "07-stations")

    page.goto(url + "/console/reference/county_year_setting")
    page.click("#ref-rows a >> nth=-1")  # the latest year
    page.fill("#ref-form [name=premium_fen]", "-5")
    page.click("#ref-form button[type=submit]")
    assert "金额" in page.inner_text(".error")
    page.fill("#ref-form [name=premium_fen]", "425")
    page.click("#ref-form button[type=submit]")
    page.wait_for_selector("text=v2")
    _shot(page, "08-reference")
    year = max(int(t) for t in page.locator("#ref-rows tbody tr td:first-child").all_inner_texts())

    assert station_main(["--data-dir", str(data), "sync", "-q"]) == 0
    ws = Workspace.open(data / "station.db")
    try:
        with ws.read() as session:
            premium = session.scalar(select(CountyYearSetting.premium_fen).where(CountyYearSetting.year == year))
    finally:
        ws.close()
    assert premium == 42500
    page.goto(url + "/console/audit")
    text = page.inner_text("table")
    assert "add_station" in text and "edit_reference" in text
    _shot(page, "09-audit")
