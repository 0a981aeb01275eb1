"""On screen, minimum necessary (PIPL): ID numbers and phones are masked in lists and the detail
panel; 「显示」 reveals one resident's for a minute, and every reveal is audited (who, whom, when)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from station_app.domain.errors import NotFound
from station_app.domain.masking import mask_id, mask_name, mask_phone
from station_app.store.base import utcnow
from station_app.store.models import AuditEntry, Resident

from .changes import Actor
from .scope import check_village
from .workspace import Workspace

#: How long a revealed ID number and phone stay on screen.
REVEAL_SECONDS = 60


@dataclass(frozen=True)
class Revealed:
    resident_id: str
    id_number: str
    phone: str


def masked_id(value: str | None) -> str:
    return mask_id(value) if value else ""


def masked_phone(value: str | None) -> str:
    return mask_phone(value) if value else ""


def reveal_resident(ws: Workspace, actor: Actor, resident_id: str) -> Revealed:
    """The full ID number and phone of one resident of the actor's villages, with an audit entry."""
    with ws.read() as session:
        row = session.execute(select(Resident.name, Resident.id_number, Resident.phone, Resident.village_code)
                              .where(Resident.id == resident_id)).first()
        if row is None:
            raise NotFound("找不到该居民。")
        check_village(session, actor, row.village_code)
    with ws.unit_of_work(actor, "reveal", skip_outbox=True) as session:
        session.add(AuditEntry(at=utcnow(), username=actor.username, station_code=actor.station_code,
                               action="reveal", table_name="resident", row_id=resident_id,
                               summary=f"查看了 {mask_name(row.name)} 的完整身份证号和电话"))
    return Revealed(resident_id, row.id_number or "", row.phone or "")
