"""A small township with residents for the enrollment tests: who is who, and their ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import cycle
from datetime import date

from station_app.domain.idnumber import make_id
from station_app.services.changes import Actor
from station_app.services.households import ResidentInput, add_member, register_household, set_status
from station_app.services.workspace import Workspace
from tests.conftest import GROUP_A1, GROUP_A2, GROUP_B1, VILLAGE_A, VILLAGE_B

#: Inside the 2027 collection window (2026-09-01 … 2026-12-31) of SMALL_REFERENCE.
TODAY = date(2026, 11, 20)
YEAR = 2027
PREMIUM = 40_000
DIBAO_SUBSIDY = 15_000


@dataclass
class Town:
    ws: Workspace
    admin: Actor
    ids: dict[str, str] = field(default_factory=dict)
    households: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.ids[name]

    def doctor(self, village: str = VILLAGE_A) -> Actor:
        """A 村医 of ``village`` (scope comes from the place code)."""
        return Actor("cy_test", "村医甲", "village_doctor", village, self.admin.station_code)


#: Sequence numbers for the ID numbers; cycled: every town is its own database, and a whole test
#: session builds far more than 899 residents.
_seq = cycle(range(100, 999))


def _input(name: str, born: date, relation: str = "other", groups: tuple[str, ...] = (), phone: str = "",
           group: str | None = None) -> ResidentInput:
    return ResidentInput(name, make_id("610921", born, next(_seq)), phone=phone, relation=relation,
                         special_groups=groups, group_code=group)


def build_town(ws: Workspace, admin: Actor) -> Town:
    """Village A 一组: 张 (old couple + working-age son + grandchild), 李 (特困), 王 (低保 mother and
    daughter), 周 (a member who died); A 二组: 赵; Village B 一组: 钱 and 孙 (监测对象)."""
    town = Town(ws, admin)

    def household(key: str, village: str, head: ResidentInput, phone: str = "") -> None:
        hid, rid = register_household(ws, admin, village_code=village, head=head, phone=phone,
                                      address=f"{key}家")
        town.households[key] = hid
        town.ids[head.name] = rid

    def member(key: str, data: ResidentInput) -> None:
        town.ids[data.name] = add_member(ws, admin, town.households[key], data)

    household("张", VILLAGE_A, _input("张大山", date(1955, 3, 1), group=GROUP_A1), phone="13800000001")
    member("张", _input("刘桂兰", date(1957, 6, 1), "spouse"))
    member("张", _input("张小龙", date(1990, 5, 5), "son", phone="13900000002"))
    member("张", _input("张朵朵", date(2018, 2, 2), "granddaughter"))
    household("李", VILLAGE_A, _input("李特困", date(1960, 1, 1), groups=("tekun",), group=GROUP_A1))
    household("王", VILLAGE_A, _input("王低保", date(1975, 7, 7), groups=("dibao",), phone="13700000003",
                                      group=GROUP_A1))
    member("王", _input("王小妹", date(2005, 8, 8), "daughter", groups=("dibao",)))
    household("周", VILLAGE_A, _input("周老汉", date(1940, 1, 1), group=GROUP_A1), phone="13600000004")
    member("周", _input("周二", date(1970, 1, 1), "son"))
    set_status(ws, admin, town["周老汉"], "died", date(2026, 10, 1))
    household("赵", VILLAGE_A, _input("赵六", date(1985, 4, 4), group=GROUP_A2), phone="13500000005")
    household("钱", VILLAGE_B, _input("钱七", date(1980, 9, 9), group=GROUP_B1), phone="13400000006")
    member("钱", _input("孙八", date(1982, 10, 10), "spouse", groups=("monitor",)))
    return town
