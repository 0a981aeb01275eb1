"""Issue 18.5: the same ID number registered at two stations is found by sync and merged —
one person kept, the other's enrollments, cards, cases and services moved, audited, synced."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from station_app.services.person_merge import find_double_registrations, merge_people
from station_app.services.households import ResidentInput, register_household
from station_app.store.models import AuditEntry, ChronicCard, Enrollment, ServiceEntry

from tests.conftest import GROUP_A1, VILLAGE_A
from .conftest import assert_converged, sync_until_quiet
from .helpers import new_id_number


def _add(station, model, **values) -> str:
    with station.ws.unit_of_work(station.actor, "test_add") as session:
        row = model(village_code=VILLAGE_A, **values)
        session.add(row)
        session.flush()
        return row.id


def _twice_registered(county, stations):
    village, township = stations(county, "VA", "TS")
    number = new_id_number()
    _hv, at_village = register_household(village.ws, village.actor, village_code=VILLAGE_A,
                                         head=ResidentInput("王小明", number, group_code=GROUP_A1))
    _ht, at_township = register_household(township.ws, township.actor, village_code=VILLAGE_A,
                                          head=ResidentInput("王小明", number, group_code=GROUP_A1))
    _add(village, Enrollment, resident_id=at_village, year=2026, status="unpaid")
    _add(township, Enrollment, resident_id=at_township, year=2026, status="paid", paid_fen=40000)
    _add(township, Enrollment, resident_id=at_township, year=2025, status="paid", paid_fen=38000)
    card = _add(township, ChronicCard, resident_id=at_township, disease_code="I10", applied_date=date(2026, 3, 1))
    return village, township, at_village, at_township, card


def test_sync_finds_a_person_registered_at_two_stations_and_the_merge_moves_everything(county, stations):
    village, township, at_village, at_township, card = _twice_registered(county, stations)
    village.sync()
    township.sync()
    report = village.sync()
    assert report.double_registrations == 1 and "重复登记" in report.summary()
    (group,) = find_double_registrations(village.ws, village.actor)
    assert {p.resident_id for p in group.people} == {at_village, at_township}
    keep = group.people[0].resident_id
    assert keep == at_township  # more linked records: the suggested one to keep
    moved = merge_people(village.ws, village.actor, keep, at_village)
    assert moved == 1
    sync_until_quiet(county, [village, township], rounds=2)
    for station in (village, township):
        assert find_double_registrations(station.ws) == []
        assert station.row("resident", at_village)["deleted"] == 1
        assert station.row("chronic_card", card)["resident_id"] == keep
        with station.ws.read() as session:
            enrollments = {e.year: e.status for e in session.scalars(
                select(Enrollment).where(Enrollment.resident_id == keep, Enrollment.deleted.is_(False)))}
        assert enrollments == {2025: "paid", 2026: "paid"}
        assert_converged(county, station)
    with village.ws.read() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "merge_person")).all()
    assert {a.row_id for a in audited} >= {at_village}
    assert township.sync().double_registrations == 0


def test_the_cli_lists_and_merges_double_registrations(sqlite_county, stations, capsys):
    from station_app.cli.main import main as station_main

    village, township, at_village, at_township, _card = _twice_registered(sqlite_county, stations)
    service = _add(village, ServiceEntry, resident_id=at_village, service_date=date(2026, 4, 1), kind="home_visit",
                   doctor_username="admin")
    village.sync()
    township.sync()
    village.sync()
    path = str(village.path)
    village.close()
    assert station_main(["merge-people", "--db", path]) == 0
    out = capsys.readouterr().out
    assert "登记了 2 次" in out and "--all" in out
    assert station_main(["merge-people", "--db", path, "--all"]) == 0
    assert "已合并 1 条" in capsys.readouterr().out
    assert station_main(["merge-people", "--db", path]) == 0
    assert "没有重复登记" in capsys.readouterr().out
    village.reopen()
    assert village.row("service_entry", service)["resident_id"] == at_township


def test_the_sync_page_offers_the_merge(county, stations, qtbot):
    import pytest

    pytest.importorskip("pytestqt")
    from station_app.ui.sections.sync_page import SyncPage
    from station_app.ui.tasks import TaskManager

    village, township, at_village, at_township, card = _twice_registered(county, stations)
    village.sync()
    township.sync()
    village.sync()
    page = SyncPage(village.ws, village.actor, tasks=TaskManager.synchronous())
    page.timer.stop()
    qtbot.addWidget(page)
    assert page.tabs.tabText(2) == "重复登记（1）" and page.double_table.rowCount() == 2
    assert not page.merge_button.isEnabled()
    assert page.double_table.item(0, 5).text() == "建议保留"
    page.double_table.selectRow(0)
    page.merge_button.click()
    assert page.tabs.tabText(2) == "重复登记（0）"
    assert village.row("resident", at_village)["deleted"] == 1
    assert village.row("chronic_card", card)["resident_id"] == at_township


def test_a_no_op_sync_does_not_rescan_households_and_residents(county, stations, monkeypatch):
    """The 户号 renumbering and the double-registration count group every household and
    resident (~150 ms on the 60,000-resident township): a sync that moved none of those rows
    skips them and reports the count stored by the last sync that did."""
    from station_app.services import household_numbers, person_merge

    village, township, _at_village, _at_township, _card = _twice_registered(county, stations)
    village.sync()
    township.sync()
    assert village.sync().double_registrations == 1  # pulled the township's resident: counted
    scans: list[str] = []
    renumber, count = household_numbers.renumber_duplicate_households, person_merge.count_double_registrations
    monkeypatch.setattr(household_numbers, "renumber_duplicate_households",
                        lambda ws: scans.append("renumber") or renumber(ws))
    monkeypatch.setattr(person_merge, "count_double_registrations", lambda ws: scans.append("count") or count(ws))
    report = village.sync()
    assert scans == [] and report.double_registrations == 1 and "重复登记" in report.summary()
    # A resident arriving with the pull is counted again.
    register_household(township.ws, township.actor, village_code=VILLAGE_A,
                       head=ResidentInput("王小明", new_id_number(), group_code=GROUP_A1))
    township.sync()
    scans.clear()
    assert village.sync().double_registrations == 1 and scans == ["renumber", "count"]
