"""Shared fixtures: offscreen Qt, an isolated data dir, migrated databases with a small township."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil

import pytest

from station_app.services.changes import Actor


def require_tool(name: str, package: str) -> str:
    """The path of an external tool; skip without it on a laptop, fail in CI (REQUIRE_TOOLS=1)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} ({package}) is not installed: run `make sysdeps`"
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path

#: A small township for tests: 1 county, 1 township, 2 villages with 2 groups each.
COUNTY = "610921000000"
TOWNSHIP = "610921103000"
VILLAGE_A = "610921103201"
VILLAGE_B = "610921103202"
GROUP_A1 = VILLAGE_A + "01"
GROUP_A2 = VILLAGE_A + "02"
GROUP_B1 = VILLAGE_B + "01"
ADMIN_PASSWORD = "admin-pass-1"

SMALL_REFERENCE = {
    "county": {"code": COUNTY, "name": "汉阴县"},
    "places": [
        {"code": TOWNSHIP, "name": "漩涡镇", "level": "township", "parent_code": COUNTY},
        {"code": VILLAGE_A, "name": "群英村", "level": "village", "parent_code": TOWNSHIP},
        {"code": VILLAGE_B, "name": "堰坪村", "level": "village", "parent_code": TOWNSHIP},
        {"code": GROUP_A1, "name": "一组", "level": "group", "parent_code": VILLAGE_A},
        {"code": GROUP_A2, "name": "二组", "level": "group", "parent_code": VILLAGE_A},
        {"code": GROUP_B1, "name": "一组", "level": "group", "parent_code": VILLAGE_B},
    ],
    "year_settings": [
        {"year": 2026, "premium_yuan": 400, "collection_start": "2025-09-01", "deadline": "2025-12-31"},
        {"year": 2027, "premium_yuan": 400, "collection_start": "2026-09-01", "deadline": "2026-12-31"},
    ],
    "subsidy_rules": [
        {"year": 2027, "special_group": "tekun", "category_name": "一类（特困）全额资助", "level": 1, "full": True},
        {"year": 2027, "special_group": "dibao", "category_name": "二类（低保）定额资助", "level": 2,
         "amount_yuan": 150},
    ],
    "diseases": [{"code": "MB001", "name": "高血压（Ⅱ级及以上）", "category": "心脑血管类"}],
    "assistance_types": [{"code": "ZY", "name": "住院救助"}],
}


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """No test may touch the real user data folder."""
    monkeypatch.setenv("STATION_APP_DATA_DIR", str(tmp_path / "userdata"))


@pytest.fixture(autouse=True)
def _no_logging_handlers_left_behind():
    """A CLI run in-process installs the app's log handlers on the root logger (a file in that
    test's folder, stderr as pytest captured it); the next test must not write into either."""
    import logging

    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_station_app", False)]:
        root.removeHandler(handler)
        handler.close()


@pytest.fixture
def workspace(tmp_path):
    """A fresh, migrated, empty station database."""
    from station_app.services.workspace import Workspace

    ws = Workspace.open(tmp_path / "station.db")
    yield ws
    ws.close()


@pytest.fixture
def township_ws(workspace):
    """The small township loaded and a township station set up; yields (workspace, admin actor)."""
    from station_app.services.auth import setup_station
    from station_app.services.reference import load_reference

    load_reference(workspace, SMALL_REFERENCE)
    setup_station(workspace, code="XW-TS", name="漩涡镇医保服务中心", scope="township", place_code=TOWNSHIP,
                  admin_username="admin", admin_password=ADMIN_PASSWORD)
    from station_app.services.auth import login

    return workspace, login(workspace, "admin", ADMIN_PASSWORD)


@pytest.fixture
def admin(township_ws) -> Actor:
    return township_ws[1]
