"""The self-query kiosk's look-up: own household only, masked, misses lock it, every look-up audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.services import kiosk
from station_app.services.enrollment import mark_paid
from station_app.store.models import AuditEntry, Resident
from tests.services.enrollment.town import TODAY, YEAR, build_town


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def town(township_ws):
    ws, admin = township_ws
    return build_town(ws, admin)


def _id(town, name: str) -> str:
    with town.ws.read() as session:
        return session.get(Resident, town[name]).id_number


def test_lookup_shows_the_own_household_masked(town):
    mark_paid(town.ws, town.admin, [town["张大山"]], YEAR, paid_on=TODAY, channel="wechat", today=TODAY)
    session = kiosk.KioskSession(town.ws, today=lambda: TODAY)
    view = session.lookup("张小龙", _id(town, "张小龙")[-6:])
    assert view.village_name == "群英村"
    assert [m.is_asker for m in view.members] == [True, False, False, False]
    assert {m.masked_name for m in view.members} == {"张*龙", "张*山", "刘*兰", "张*朵"}
    everything = repr(view)
    for name in ("张大山", "刘桂兰", "张小龙", "张朵朵"):
        assert name not in everything
        assert _id(town, name) not in everything
    assert len(view.members) == 4  # the household and nobody else
    head = next(m for m in view.members if m.relation == "户主")
    year = next(line for line in head.years if line.year == YEAR)
    assert (year.status, year.covered) == ("已缴费", True)
    son = view.members[0]
    unpaid = next(line for line in son.years if line.year == YEAR)
    assert unpaid.covered is False and "缴费截止 2026-12-31" in unpaid.deadline_text


def test_a_reader_typing_lowercase_x_and_spaces_still_matches(town):
    session = kiosk.KioskSession(town.ws, today=lambda: TODAY)
    number = _id(town, "赵六")
    view = session.lookup(" 赵 六 ", number[-6:].lower())
    assert view.members[0].masked_name == "赵*"


def test_five_misses_lock_for_a_minute_then_it_opens(town):
    clock = Clock()
    session = kiosk.KioskSession(town.ws, clock=clock, today=lambda: TODAY)
    for attempt in range(kiosk.MAX_MISSES - 1):
        with pytest.raises(ValidationError, match="没有查到"):
            session.lookup("张小龙", "000000")
    with pytest.raises(kiosk.KioskLock):
        session.lookup("张小龙", "000000")
    right = _id(town, "张小龙")[-6:]
    with pytest.raises(kiosk.KioskLock):  # even the right answer waits out the lock
        session.lookup("张小龙", right)
    clock.now += kiosk.LOCK_SECONDS + 1
    assert session.lookup("张小龙", right).members[0].is_asker


def test_malformed_input_is_a_message_not_a_miss(town):
    session = kiosk.KioskSession(town.ws, today=lambda: TODAY)
    for name, last6 in (("", "123456"), ("张小龙", "12345"), ("张小龙", "12345Y"), ("张小龙", "X12345")):
        with pytest.raises(ValidationError):
            session.lookup(name, last6)
    assert session.misses == 0


def test_the_dead_and_a_name_shared_with_the_wrong_id_find_nobody(town):
    session = kiosk.KioskSession(town.ws, today=lambda: TODAY)
    with pytest.raises(ValidationError, match="没有查到"):
        session.lookup("周老汉", _id(town, "周老汉")[-6:])  # died: not a villager any more
    with pytest.raises(ValidationError, match="没有查到"):
        session.lookup("张小龙", _id(town, "赵六")[-6:])


def test_every_lookup_is_audited_as_who_not_what_was_typed(town):
    session = kiosk.KioskSession(town.ws, today=lambda: TODAY)
    last6 = _id(town, "王低保")[-6:]
    session.lookup("王低保", last6)
    with town.ws.read() as db:
        entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "kiosk_lookup")).all()
    assert [(e.row_id, e.username) for e in entries] == [(town["王低保"], "kiosk")]
    assert last6 not in entries[0].summary + entries[0].after_json + entries[0].before_json


def test_only_an_admin_or_clerk_password_opens_the_way_out(town):
    from tests.conftest import ADMIN_PASSWORD

    kiosk.verify_admin(town.ws, "admin", ADMIN_PASSWORD)
    with pytest.raises(PermissionDenied):
        kiosk.verify_admin(town.ws, "admin", "wrong-password")
