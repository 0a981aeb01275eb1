"""Suspected duplicate residents: the same ID number, or the same name and birth date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Callable

from sqlalchemy import and_, func, select

from station_app.domain.enums import (
    ResidentStatus,
    Sex,
)
from station_app.domain.masking import mask_id
from station_app.store.models import (
    Household,
    Resident,
)

from .changes import Actor
from .scope import place_names, villages_in_scope
from .workspace import Workspace

Progress = Callable[[int, int, str], None]


# -- duplicate scan -----------------------------------------------------------------------------


@dataclass
class DuplicateMember:
    id: str
    name: str
    sex: str
    birth_date: date
    id_number: str
    village: str
    group: str
    household_no: str
    status: str


@dataclass
class DuplicateGroup:
    kind: str          # "id_number" | "name_birth"
    key: str           # what they share, as shown
    members: list[DuplicateMember]

    @property
    def kind_label(self) -> str:
        return "身份证号相同" if self.kind == "id_number" else "姓名和出生日期相同"


def _quiet(_done: int, _total: int, _message: str = "") -> None:
    pass


def duplicate_scan(ws: Workspace, actor: Actor, progress: Progress | None = None) -> list[DuplicateGroup]:
    """Suspected duplicates among the residents the actor may see (not deleted):
    the same ID number (should never be; sync or an import can cause it), then the same name and
    birth date (a typo in the ID number, a person registered in two villages)."""
    progress = progress or _quiet
    total = 3
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
        live = [Resident.deleted.is_(False)]
        if allowed is not None:
            live.append(Resident.village_code.in_(sorted(allowed)))
        progress(0, total, "查找身份证号相同的居民")
        same_id = list(session.scalars(select(Resident.id_number).where(*live)
                                       .group_by(Resident.id_number).having(func.count() > 1)))
        progress(1, total, "查找姓名和出生日期相同的居民")
        same_name = session.execute(select(Resident.name, Resident.birth_date).where(*live)
                                    .group_by(Resident.name, Resident.birth_date).having(func.count() > 1)).all()
        progress(2, total, "整理结果")
        names = place_names(session)

        def members(condition) -> list[DuplicateMember]:
            rows = session.execute(select(Resident, Household.household_no)
                                   .outerjoin(Household, Household.id == Resident.household_id)
                                   .where(condition, *live).order_by(Resident.village_code, Resident.id)).all()
            return [DuplicateMember(p.id, p.name, Sex.label_for(p.sex), p.birth_date, p.id_number,
                                    names.get(p.village_code or "", ""), names.get(p.group_code or "", ""),
                                    no or "", ResidentStatus.label_for(p.status)) for p, no in rows]

        groups: list[DuplicateGroup] = []
        seen: set[frozenset[str]] = set()
        for number in same_id:
            group = DuplicateGroup("id_number", mask_id(number), members(Resident.id_number == number))
            seen.add(frozenset(m.id for m in group.members))
            groups.append(group)
        for name, birth in same_name:
            group = DuplicateGroup("name_birth", f"{name}　{birth.isoformat()}",
                                   members(and_(Resident.name == name, Resident.birth_date == birth)))
            if frozenset(m.id for m in group.members) not in seen:
                groups.append(group)
    progress(total, total, f"查重完成：{len(groups)} 组疑似重复")
    return groups
