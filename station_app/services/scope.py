"""Which villages an actor may read and write: 村医 their village, 专干 their township's."""

from __future__ import annotations


from sqlalchemy import select, true
from sqlalchemy.orm import Session

from station_app.domain.enums import PlaceLevel, Role
from station_app.domain.errors import PermissionDenied
from station_app.store.models import Place

from .changes import Actor


def villages_in_scope(session: Session, actor: Actor) -> set[str] | None:
    """Village codes the actor may touch; None means every village (admin, system)."""
    if actor.role == Role.ADMIN.value or not actor.place_code:
        return None
    place = session.scalar(select(Place).where(Place.code == actor.place_code))
    if place is None or place.level == PlaceLevel.VILLAGE.value:
        return {actor.place_code}
    rows = session.scalars(select(Place.code).where(
        Place.parent_code == actor.place_code, Place.level == PlaceLevel.VILLAGE.value))
    return set(rows)


def check_village(session: Session, actor: Actor, village_code: str | None) -> None:
    allowed = villages_in_scope(session, actor)
    if allowed is not None and village_code not in allowed:
        raise PermissionDenied("无权操作其他村的数据。")


def place_name(session: Session, code: str | None) -> str:
    if not code:
        return ""
    return session.scalar(select(Place.name).where(Place.code == code)) or code


def in_scope(column, villages: set[str] | None):
    """``column IN villages``, or no condition at all for an unrestricted actor (None)."""
    return true() if villages is None else column.in_(sorted(villages))


def place_names(session: Session) -> dict[str, str]:
    """Every place's name by code (a few hundred rows: cheaper than a join per list row)."""
    return dict(session.execute(select(Place.code, Place.name).where(Place.deleted.is_(False))).all())
