"""Reviewing conflicts: keep mine (pushed, wins everywhere) or take theirs; refused edits listed."""

from __future__ import annotations

import pytest

from station_app.domain.errors import ValidationError
from station_app.store.models import Household, Resident
from station_app.sync.conflicts import keep_mine, list_conflicts, take_theirs

from tests.conftest import VILLAGE_A
from .conftest import assert_converged, sync_until_quiet
from .helpers import delete, edit, household


def _phone_conflict(county, stations):
    village, township = stations(county, "VA", "TS")
    household_id, head_id = household(village, VILLAGE_A, "张三")
    sync_until_quiet(county, [village, township], rounds=1)
    edit(village, Resident, head_id, phone="13800000001")
    edit(township, Resident, head_id, phone="13800000002")
    village.sync()
    township.sync()
    village.sync()
    return village, township, head_id


def test_the_conflict_list_shows_both_values_masked_where_personal(county, stations):
    village, township, head_id = _phone_conflict(county, stations)
    (view,) = list_conflicts(village.ws)
    assert (view.table_label, view.field_label) == ("居民", "联系电话")
    assert (view.local_display, view.remote_display) == ("13800000001", "13800000002")
    assert view.row_label == "张*"  # a name on screen in this list is masked
    assert list_conflicts(township.ws) == []


def test_keep_mine_is_pushed_and_wins_everywhere(county, stations):
    village, township, head_id = _phone_conflict(county, stations)
    (view,) = list_conflicts(village.ws)
    keep_mine(village.ws, village.actor, view.id)
    assert village.row("resident", head_id)["phone"] == "13800000001"
    assert list_conflicts(village.ws) == []
    assert list_conflicts(village.ws, include_resolved=True)[0].resolution == "mine"
    village.sync()
    township.sync()
    assert county.store.row_state(head_id).data["phone"] == "13800000001"
    assert township.row("resident", head_id)["phone"] == "13800000001"
    assert township.conflicts() == []  # a deliberate choice made after seeing both is no new conflict
    assert_converged(county, village)
    assert_converged(county, township)
    with pytest.raises(ValidationError, match="已处理"):
        keep_mine(village.ws, village.actor, view.id)


def test_take_theirs_settles_without_a_new_edit(county, stations):
    village, township, head_id = _phone_conflict(county, stations)
    (view,) = list_conflicts(village.ws)
    before = village.outbox_states()
    take_theirs(village.ws, village.actor, view.id)
    assert village.outbox_states() == before  # the value already stands everywhere
    assert village.row("resident", head_id)["phone"] == "13800000002"
    assert list_conflicts(village.ws) == []


def test_keep_mine_on_an_edit_against_delete_restores_the_row(county, stations):
    village, township = stations(county, "VA", "TS")
    household_id, _ = household(village, VILLAGE_A)
    sync_until_quiet(county, [village, township], rounds=1)
    delete(village, Household, household_id)
    village.sync()
    edit(township, Household, household_id, phone="13600000000")
    township.sync()
    township.sync()
    (view,) = list_conflicts(township.ws)
    assert (view.field, view.local_display, view.remote_display) == ("deleted", "未删除", "已删除")
    keep_mine(township.ws, township.actor, view.id)
    township.sync()
    village.sync()
    record = county.store.row_state(household_id)
    assert not record.deleted and record.data["phone"] == "13600000000"
    assert village.row("household", household_id)["deleted"] == 0
    assert_converged(county, village)
