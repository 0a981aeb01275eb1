"""Issue 18.4: 户号 two stations working offline cannot both take; old duplicates renumbered
(by migration 0020 and after a sync), recorded for sync and audit, the same at every station."""

from __future__ import annotations

import json

from sqlalchemy import select

from station_app.services.changes import system_actor
from station_app.store import migrate
from station_app.store.models import AuditEntry, Household, OutboxOp

from tests.conftest import VILLAGE_A
from .conftest import assert_converged, sync_until_quiet
from .helpers import edit, household

NAMES = ("张一", "张二", "张三")


def _numbers(station) -> list[str]:
    with station.ws.engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql(
            "SELECT household_no FROM household WHERE deleted = 0 AND village_code = ? ORDER BY household_no",
            (VILLAGE_A,))]


def test_two_stations_registering_offline_in_one_village_never_take_the_same_number(county, stations):
    village, township = stations(county, "VA", "TS")
    for name in NAMES:
        household(village, VILLAGE_A, name)
        household(township, VILLAGE_A, name)
    sync_until_quiet(county, [village, township], rounds=2)
    numbers = _numbers(village)
    assert len(numbers) == 6 and len(set(numbers)) == 6, numbers
    assert numbers == _numbers(township)
    assert any("-VA-" in n for n in numbers) and any("-TS-" in n for n in numbers)


def _make_duplicates(station, count: int = 3) -> list[str]:
    ids = [household(station, VILLAGE_A, name)[0] for name in NAMES[:count]]
    for household_id in ids:
        edit(station, Household, household_id, household_no="2010010001")  # the old count+1 style
    return ids


def test_the_migration_renumbers_existing_duplicates_recorded_for_sync(county, stations):
    village, township = stations(county, "VA", "TS")
    ids = _make_duplicates(village)
    from alembic.script import ScriptDirectory

    # As if the database stopped just before 0020 (wherever it sits in the chain).
    before = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0020_household_numbers").down_revision
    migrate.downgrade(village.ws.engine, before)  # later revisions undone; 0020's own downgrade keeps numbers
    migrate.upgrade(village.ws.engine)
    village.reopen()
    numbers = {row_id: village.row("household", row_id)["household_no"] for row_id in ids}
    keeper = min(ids)
    assert numbers[keeper] == "2010010001"
    assert len(set(numbers.values())) == 3
    with village.ws.read() as session:
        ops = session.scalars(select(OutboxOp).where(OutboxOp.table_name == "household",
                                                     OutboxOp.state == "pending")).all()
        renumbered = {op.row_id: json.loads(op.fields_json) for op in ops if op.op == "update"
                      and "household_no" in json.loads(op.fields_json)}
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "renumber_duplicate_household")).all()
    assert {row_id: v["household_no"] for row_id, v in renumbered.items()
            if v["household_no"] != "2010010001"} == {i: numbers[i] for i in ids if i != keeper}
    assert {a.row_id for a in audit} == set(ids) - {keeper}
    assert all(a.username == system_actor().username for a in audit)
    sync_until_quiet(county, [village, township], rounds=2)
    assert len(set(_numbers(township))) == 3
    assert_converged(county, township)


def test_duplicates_arriving_from_a_station_on_the_old_numbering_are_renumbered_after_sync(county, stations):
    village, township = stations(county, "VA", "TS")
    _make_duplicates(village, 1)
    _make_duplicates(township, 1)  # same number given offline at the township
    sync_until_quiet(county, [village, township], rounds=3)
    for station in (village, township):
        numbers = _numbers(station)
        assert len(numbers) == 2 and len(set(numbers)) == 2, numbers
        assert_converged(county, station)
    assert village.conflicts() == [] and township.conflicts() == []  # both renumbered alike
