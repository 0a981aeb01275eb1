"""A small township with a clerk, two village doctors and a few residents, for the archive services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest

from station_app.domain.idnumber import make_id
from station_app.services.changes import Actor
from tests.conftest import COUNTY, GROUP_A1, GROUP_A2, GROUP_B1, TOWNSHIP, VILLAGE_A, VILLAGE_B

EXTRA_REFERENCE = {
    "county": {"code": COUNTY, "name": "汉阴县"},
    "diseases": [
        {"code": "MB001", "name": "高血压（Ⅱ级及以上）", "category": "心脑血管类"},
        {"code": "MB002", "name": "糖尿病", "category": "内分泌类"},
        {"code": "MB099", "name": "已停用病种", "category": "其他", "active": False},
    ],
    "assistance_types": [{"code": "ZY", "name": "住院救助"}, {"code": "MZ", "name": "门诊救助"},
                         {"code": "OLD", "name": "已停用类型", "active": False}],
}

PEOPLE = [
    # key, name, village, group, special groups
    ("a1", "王秀英", VILLAGE_A, GROUP_A1, ("dibao",)),
    ("a2", "张建国", VILLAGE_A, GROUP_A2, ()),
    ("a3", "李桂兰", VILLAGE_A, GROUP_A1, ("tekun", "disabled")),
    ("b1", "赵德华", VILLAGE_B, GROUP_B1, ()),
    ("b2", "刘明", VILLAGE_B, GROUP_B1, ()),
]


@dataclass
class Town:
    ws: object
    admin: Actor
    clerk: Actor
    doctor_a: Actor
    doctor_b: Actor
    people: dict[str, str] = field(default_factory=dict)


def _id(n: int) -> str:
    return make_id("610921", date(1950 + n, 1 + n % 12, 1 + n), 100 + n)


def build_town(ws, admin) -> Town:
    from station_app.services.auth import create_user
    from station_app.services.reference import load_reference
    from station_app.services.households import ResidentInput, register_household

    load_reference(ws, EXTRA_REFERENCE)
    station = ws.station.code
    users = [("zg01", "周专干", "township_clerk", TOWNSHIP), ("cy01", "张村医", "village_doctor", VILLAGE_A),
             ("cy02", "陈村医", "village_doctor", VILLAGE_B)]
    actors = []
    for username, name, role, place in users:
        create_user(ws, admin, username=username, display_name=name, role=role, place_code=place,
                    password="demo-pass-123")
        actors.append(Actor(username, name, role, place, station))
    town = Town(ws, admin, *actors)
    for n, (key, name, village, group, groups) in enumerate(PEOPLE):
        data = ResidentInput(name=name, id_number=_id(n), group_code=group, special_groups=groups,
                             phone=f"1391234567{n}")
        _hid, rid = register_household(ws, admin, village_code=village, head=data)
        town.people[key] = rid
    return town


@pytest.fixture
def fast_hash(monkeypatch):
    """These users never sign in: skip argon2's deliberate slowness (~40 ms a user)."""
    monkeypatch.setattr("station_app.services.auth.hash_password", lambda _password: "test-not-a-hash")


@pytest.fixture
def town(township_ws, fast_hash) -> Town:
    ws, admin = township_ws
    return build_town(ws, admin)
