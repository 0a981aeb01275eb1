"""Enrollment fixtures: the small township with a dozen residents (fresh, or shared read-only)."""

from __future__ import annotations

from datetime import date

import pytest

from .town import TODAY, YEAR, Town, build_town


@pytest.fixture
def town(township_ws) -> Town:
    ws, admin = township_ws
    return build_town(ws, admin)


def settle_year(town: Town) -> Town:
    """2027 started; the 张 household: old couple and grandchild paid, the son not (seed 000);
    赵六 paid; 周老汉 (died) set 无需参保; 钱七 其他渠道."""
    from station_app.services import enrollment as en

    ws, admin = town.ws, town.admin
    en.start_new_year(ws, admin, YEAR)
    en.mark_paid(ws, admin, [town[n] for n in ("张大山", "刘桂兰", "张朵朵", "赵六")], YEAR,
                 paid_on=date(2026, 10, 20), channel="wechat", today=TODAY)
    en.set_not_required(ws, admin, town["周老汉"], YEAR, "死亡")
    en.set_other_channel(ws, admin, town["钱七"], YEAR, "职工医保")
    return town


@pytest.fixture(scope="module")
def shared_year_town(tmp_path_factory):
    """The settled year, built once per module: only for tests that do not write."""
    from station_app.services.auth import login, setup_station
    from station_app.services.reference import load_reference
    from station_app.services.workspace import Workspace
    from tests.conftest import ADMIN_PASSWORD, SMALL_REFERENCE, TOWNSHIP

    ws = Workspace.open(tmp_path_factory.mktemp("enrollment") / "station.db")
    load_reference(ws, SMALL_REFERENCE)
    setup_station(ws, code="XW-TS", name="漩涡镇医保服务中心", scope="township", place_code=TOWNSHIP,
                  admin_username="admin", admin_password=ADMIN_PASSWORD)
    town = settle_year(build_town(ws, login(ws, "admin", ADMIN_PASSWORD)))
    yield town
    ws.close()
