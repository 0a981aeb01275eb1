"""Registry UI fixtures: the page on the small township, and a few thousand residents for the list."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from station_app.domain.idnumber import make_id
from station_app.domain.names import pinyin_keys
from station_app.services.changes import system_actor
from station_app.store.models import Household, Resident
from station_app.ui.sections import PageContext

from tests.conftest import GROUP_A1, GROUP_A2, GROUP_B1, VILLAGE_A, VILLAGE_B
from tests.services.registry.conftest import register_people
from tests.ui.conftest import tasks  # noqa: F401  (synchronous TaskManager)

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂"


def add_many(ws, count: int, seed: int = 7) -> None:
    """``count`` residents in households of 3, by the bulk path (as the demo and imports write)."""
    rng = random.Random(seed)
    actor = system_actor(ws.station.code if ws.station else "")
    groups = [(VILLAGE_A, GROUP_A1), (VILLAGE_A, GROUP_A2), (VILLAGE_B, GROUP_B1)]
    households, residents = [], []
    for h in range(count // 3 + 1):
        village, group = groups[h % 3]
        hid = f"hh-{h:05d}"
        households.append(dict(id=hid, village_code=village, group_code=group, household_no=f"B{h:06d}",
                               head_name="", address="", phone="", category="general", category_since=None,
                               helper_name="", helper_phone="", note=""))
        for k, relation in enumerate(("head", "spouse", "son")):
            n = h * 3 + k
            if n >= count:
                break
            name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if n % 2 else "")
            birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 80))
            full, initials = pinyin_keys(name)
            residents.append(dict(id=f"bulk-{n:06d}", village_code=village, household_id=hid, group_code=group,
                                  name=name, name_pinyin=full, name_initials=initials, sex="M" if n % 2 else "F",
                                  id_number=make_id("610921", birth, n % 1000), birth_date=birth,
                                  phone=f"139{n:08d}", relation=relation, status="registered", status_date=None,
                                  special_groups="", note=""))
    with ws.unit_of_work(actor, "test_bulk", skip_outbox=True) as session:
        ws.recorder.bulk_insert(session, Household, households, summary="测试户", record_outbox=False)
        ws.recorder.bulk_insert(session, Resident, residents, summary="测试居民", record_outbox=False)


@pytest.fixture
def ctx(township_ws, tasks):  # noqa: F811
    ws, admin = township_ws
    register_people(ws, admin)
    return PageContext(ws, admin, tasks)


@pytest.fixture
def page(qtbot, ctx):
    from station_app.ui.sections.residents_page import ResidentsPage

    widget = ResidentsPage(ctx)
    qtbot.addWidget(widget)
    widget.resize(1280, 760)
    widget.show()
    qtbot.waitExposed(widget)
    return widget
