"""Registry fixtures: the small township with a few households, and a village doctor of 群英村."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from station_app.domain.idnumber import make_id
from station_app.services import registry
from station_app.services.changes import Actor
from station_app.services.households import ResidentInput

from tests.conftest import GROUP_A1, GROUP_A2, GROUP_B1, VILLAGE_A, VILLAGE_B

REGION = "610921"


def an_id(birth: date, seq: int) -> str:
    return make_id(REGION, birth, seq)


@dataclass
class People:
    """Ids of the residents registered by the ``people`` fixture, by name."""

    ids: dict[str, str]
    households: dict[str, str]
    numbers: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.ids[name]


#: (household key, village, group, name, birth, seq, phone, relation, special groups)
ROWS = (
    ("zhang", VILLAGE_A, GROUP_A1, "张三", date(1960, 3, 15), 11, "13812345678", "head", ("tekun",)),
    ("zhang", VILLAGE_A, GROUP_A1, "李秀英", date(1962, 7, 1), 22, "", "spouse", ()),
    ("zhang", VILLAGE_A, GROUP_A1, "张建国", date(1990, 1, 1), 33, "15905597194", "son", ("tuopin",)),
    ("wang", VILLAGE_A, GROUP_A2, "王芳", date(1975, 5, 20), 44, "13700001111", "head", ("dibao",)),
    ("wang", VILLAGE_A, GROUP_A2, "赵子豪", date(2010, 9, 9), 55, "", "son", ()),
    ("liu", VILLAGE_B, GROUP_B1, "刘梓豪", date(1988, 12, 31), 66, "18105597000", "head", ()),
)


def register_people(ws, actor) -> People:
    ids: dict[str, str] = {}
    households: dict[str, str] = {}
    for key, village, group, name, birth, seq, phone, relation, groups in ROWS:
        data = ResidentInput(name, an_id(birth, seq), phone, relation, groups, "", group)
        if key not in households:
            households[key], ids[name] = registry.register_household(
                ws, actor, village_code=village, head=data, address=f"{name}家")
        else:
            ids[name] = registry.add_member(ws, actor, households[key], data)
    numbers = {key: registry.household_view(ws, actor, hid).household_no for key, hid in households.items()}
    return People(ids, households, numbers)


@pytest.fixture
def people(township_ws) -> People:
    ws, admin = township_ws
    return register_people(ws, admin)


@pytest.fixture
def doctor_a() -> Actor:
    """A 村医 of 群英村 (VILLAGE_A); no sign-in needed to act in services."""
    return Actor("cy_a", "村医甲", "village_doctor", VILLAGE_A, "XW-TS")


def names_of(ws, ids) -> list[str]:
    rows = registry.resident_rows(ws, ids)
    return [rows[i]["name"] for i in ids]


def search(ws, actor, text: str, **filters) -> list[str]:
    return names_of(ws, registry.resident_ids(ws, actor, registry.RegistryFilter(search=text, **filters)))


__all__ = ["GROUP_A1", "GROUP_A2", "GROUP_B1", "VILLAGE_A", "VILLAGE_B", "People", "an_id", "names_of",
           "register_people", "search"]


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    """(ws, admin, people) built once per module, for tests that only read."""
    from station_app.services.auth import login, setup_station
    from station_app.services.reference import load_reference
    from station_app.services.workspace import Workspace

    from tests.conftest import ADMIN_PASSWORD, SMALL_REFERENCE, TOWNSHIP

    folder = tmp_path_factory.mktemp("town")
    ws = Workspace.open(folder / "station.db", backups=folder / "backups")
    load_reference(ws, SMALL_REFERENCE)
    setup_station(ws, code="XW-TS", name="漩涡镇医保服务中心", scope="township", place_code=TOWNSHIP,
                  admin_username="admin", admin_password=ADMIN_PASSWORD)
    admin = login(ws, "admin", ADMIN_PASSWORD)
    yield ws, admin, register_people(ws, admin)
    ws.close()
