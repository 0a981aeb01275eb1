"""Issue 18.1: resolving a conflict never puts an older value over a newer one unseen.

「采用服务器」 adopts the value standing now (nothing written); 「保留本地」 writes the local value
as a new edit; a conflict whose field changed since it was found shows the newer value and asks
again. The property: no sequence of edits, syncs and resolutions replaces a value with an older
one unless a conflict keeps the replaced value or the clerk chose it while seeing that value.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station_app.store.models import Resident
from station_app.sync.conflicts import (
    ConflictChanged,
    keep_mine,
    list_conflicts,
    resolve_conflicts,
    take_theirs,
)

from tests.conftest import VILLAGE_A
from .conftest import assert_converged, pending, sync_until_quiet
from .helpers import edit, household
from .test_convergence import SharedClock, _fresh_station, _reset_server


def _old_conflict(county, stations):
    """A conflict at the village, then the township corrects the note again (the issue's case)."""
    village, township = stations(county, "VA", "TS")
    _household_id, head_id = household(village, VILLAGE_A, "张三")
    sync_until_quiet(county, [village, township], rounds=1)
    edit(village, Resident, head_id, note="村里写的")
    edit(township, Resident, head_id, note="镇上写的")
    township.sync()
    village.sync()  # the village's older edit loses: a conflict at the village
    (view,) = list_conflicts(village.ws)
    assert (view.local_display, view.remote_display) == ("村里写的", "镇上写的")
    edit(township, Resident, head_id, note="镇上一周后改正的")
    township.sync()
    village.sync()
    return village, township, head_id, view


def test_take_theirs_on_an_old_conflict_keeps_the_newer_edit(county, stations):
    village, township, head_id, view = _old_conflict(county, stations)
    before = village.outbox_states()
    take_theirs(village.ws, village.actor, view.id)
    assert village.outbox_states() == before  # nothing written: the current value stands
    assert list_conflicts(village.ws) == []
    sync_until_quiet(county, [village, township], rounds=2)
    assert county.store.row_state(head_id).data["note"] == "镇上一周后改正的"
    assert village.row("resident", head_id)["note"] == "镇上一周后改正的"
    assert township.row("resident", head_id)["note"] == "镇上一周后改正的"
    assert_converged(county, village)
    assert_converged(county, township)


def test_keep_mine_on_a_field_changed_since_shows_the_newer_value_and_asks_again(county, stations):
    village, township, head_id, view = _old_conflict(county, stations)
    before = village.outbox_states()
    with pytest.raises(ConflictChanged, match="镇上一周后改正的"):
        keep_mine(village.ws, village.actor, view.id)
    assert village.outbox_states() == before  # nothing written
    (again,) = list_conflicts(village.ws)
    assert again.id == view.id and again.remote_display == "镇上一周后改正的"
    keep_mine(village.ws, village.actor, view.id)  # chosen again, now against the current value
    sync_until_quiet(county, [village, township], rounds=2)
    assert county.store.row_state(head_id).data["note"] == "村里写的"
    assert township.row("resident", head_id)["note"] == "村里写的"


def test_a_local_edit_after_the_conflict_is_not_overwritten_by_keep_mine(county, stations):
    village, township = stations(county, "VA", "TS")
    _household_id, head_id = household(village, VILLAGE_A, "张三")
    sync_until_quiet(county, [village, township], rounds=1)
    edit(village, Resident, head_id, phone="13800000001")
    edit(township, Resident, head_id, phone="13800000002")
    township.sync()
    village.sync()
    (view,) = list_conflicts(village.ws)
    edit(village, Resident, head_id, phone="13800000003")  # the clerk fixed it by hand meanwhile
    with pytest.raises(ConflictChanged):
        keep_mine(village.ws, village.actor, view.id)
    assert village.row("resident", head_id)["phone"] == "13800000003"


def test_bulk_resolution_settles_many_and_refreshes_the_changed_ones(county, stations):
    village, township = stations(county, "VA", "TS")
    heads = [household(village, VILLAGE_A, name)[1] for name in ("张一", "张二", "张三", "张四")]
    sync_until_quiet(county, [village, township], rounds=1)
    for i, head_id in enumerate(heads):
        edit(village, Resident, head_id, note=f"村{i}")
        edit(township, Resident, head_id, note=f"镇{i}")
    township.sync()
    village.sync()
    assert len(list_conflicts(village.ws)) == 4
    edit(township, Resident, heads[0], note="镇0改")
    township.sync()
    village.sync()
    ids = [c.id for c in list_conflicts(village.ws)]
    result = resolve_conflicts(village.ws, village.actor, ids, "mine")
    assert result.resolved == 3 and len(result.changed) == 1
    (left,) = list_conflicts(village.ws)
    assert left.remote_display == "镇0改"
    sync_until_quiet(county, [village, township], rounds=2)
    notes = {head_id: county.store.row_state(head_id).data["note"] for head_id in heads}
    assert notes == {heads[0]: "镇0改", heads[1]: "村1", heads[2]: "村2", heads[3]: "村3"}


# ---------------------------------------------------------------- the property

_examples = itertools.count()


def _age(value: str) -> int:
    return int(value[1:]) if value else 0


def _open_conflicts(station) -> list[dict]:
    return [c for c in station.conflicts() if not c["resolution"]]


def run_resolution_scenario(data, county, templates, folder) -> None:
    import json

    _reset_server(county)
    clock = SharedClock()
    members = [_fresh_station(code, county, templates, folder) for code in ("VA", "TS")]
    for station in members:
        station.ws.clock.inner._wall_clock = clock
    serial = itertools.count(1)
    presented: set[tuple[str, str]] = set()  # (value written by keep mine, value the clerk saw)
    transitions: list[tuple[str, str, str]] = []
    try:
        _hid, head_id = household(members[0], VILLAGE_A, "张三")
        for station in members:
            station.sync(wall_clock=clock)
        last = county.store.row_state(head_id).data["note"] or ""

        def observe(why: str) -> None:
            nonlocal last
            now = county.store.row_state(head_id).data["note"] or ""
            if now != last:
                transitions.append((last, now, why))
                last = now

        for step in range(data.draw(st.integers(min_value=6, max_value=30), label="steps")):
            station = data.draw(st.sampled_from(members), label="station")
            action = data.draw(st.sampled_from(["edit", "edit", "sync", "sync", "mine", "theirs"]), label="action")
            if action == "edit":
                edit(station, Resident, head_id, note=f"v{next(serial)}")
            elif action == "sync":
                station.sync(wall_clock=clock)
                observe(f"{step} sync {station.code}")
            else:
                open_ = _open_conflicts(station)
                if not open_:
                    continue
                conflict = data.draw(st.sampled_from(open_), label="conflict")
                seen = (json.loads(conflict["local_value"]) or "", json.loads(conflict["remote_value"]) or "")
                try:
                    if action == "mine":
                        keep_mine(station.ws, station.actor, conflict["id"])
                        presented.add(seen)
                    else:
                        take_theirs(station.ws, station.actor, conflict["id"])
                except ConflictChanged:
                    pass
        for _ in range(3):
            for station in members:
                station.sync(wall_clock=clock)
                observe(f"quiet sync {station.code}")
        for station in members:
            assert pending(station) == 0
            assert_converged(county, station)
        lost = {json.loads(c["local_value"]) or "" for station in members for c in station.conflicts()}
        for before, after, why in transitions:
            if _age(after) < _age(before):
                assert (after, before) in presented or before in lost, (
                    f"{before!r} replaced by the older {after!r} with no conflict kept ({why})", transitions)
    finally:
        for station in members:
            station.close()


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_resolution_replaces_a_value_with_an_older_one_unseen(data, sqlite_county, station_templates,
                                                                  tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"resolve{next(_examples)}")
    run_resolution_scenario(data, sqlite_county, station_templates, folder)
