"""Edits the sync tests make through the real services (so the outbox records them)."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy import select

from station_app.domain.idnumber import make_id
from station_app.services.households import ResidentInput, add_member, register_household, set_status
from station_app.store.models import Household, Place, Resident

_serial = itertools.count(1)


def new_id_number(birth: date | None = None) -> str:
    """A valid, unique ID number (GB 11643 check digit) for test residents."""
    n = next(_serial)
    birth = birth or date(1950 + n % 50, 1 + n % 12, 1 + n % 28)
    return make_id("610921", birth, n % 1000)


def household(station, village: str, name: str = "张三", **kwargs) -> tuple[str, str]:
    """A new household; in the village's first 村民小组 unless ``group_code`` is given."""
    if "group_code" not in kwargs:
        with station.ws.read() as session:
            kwargs["group_code"] = session.scalar(select(Place.code).where(
                Place.parent_code == village, Place.level == "group").order_by(Place.code).limit(1))
    return register_household(station.ws, station.actor, village_code=village,
                              head=ResidentInput(name, new_id_number(), **kwargs))


def member(station, household_id: str, name: str = "李四") -> str:
    return add_member(station.ws, station.actor, household_id, ResidentInput(name, new_id_number()))


def edit(station, table_model, row_id: str, **values) -> None:
    """Set fields on one row through a unit of work (recorded and pushed like any service write)."""
    with station.ws.unit_of_work(station.actor, "test_edit") as session:
        row = session.get(table_model, row_id)
        for key, value in values.items():
            setattr(row, key, value)


def delete(station, table_model, row_id: str) -> None:
    edit(station, table_model, row_id, deleted=True)


__all__ = ["Household", "Resident", "household", "member", "edit", "delete", "set_status", "new_id_number"]
