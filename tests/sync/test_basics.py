"""End to end on a real server: a village edit reaches the township and back, and both converge."""

from __future__ import annotations

from station_app.store.models import Household

from .conftest import assert_converged, pending, sync_until_quiet
from .helpers import edit, household, member
from tests.conftest import VILLAGE_A


def test_a_village_edit_reaches_the_township_and_back(county, stations):
    village, township = stations(county, "VA", "TS")
    household_id, head_id = household(village, VILLAGE_A, "王大明")
    member(village, household_id, "王小明")
    report = village.sync()
    # the station row from set-up, the household and its two residents
    assert report.accepted == 4 and report.rejected == 0 and pending(village) == 0
    report = township.sync()
    assert township.row("resident", head_id)["name"] == "王大明"
    assert township.row("resident", head_id)["name_pinyin"] == "wangdaming"
    edit(township, Household, household_id, phone="13800138000")
    township.sync()
    village.sync()
    assert village.row("household", household_id)["phone"] == "13800138000"
    sync_until_quiet(county, [village, township])
    assert_converged(county, village)
    assert_converged(county, township)


def test_a_fresh_stations_initial_sync_rebuilds_every_index_it_deferred(county, stations):
    from sqlalchemy import text

    def indexes(station) -> set[str]:
        with station.ws.engine.connect() as conn:
            return set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())

    village, township = stations(county, "VA", "TS")
    household(village, VILLAGE_A, "王大明")
    village.sync()
    expected = indexes(township)
    report = township.sync()  # its first pull: plain indexes deferred, then built once
    assert report.rejected == 0
    assert indexes(township) == expected
    with township.ws.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sync_state WHERE key = 'deferred_indexes'")).scalar() == 0
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
