"""Households and residents: register, edit, with the domain's validation and duplicate checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from station_app.domain.enums import (
    HouseholdCategory,
    Relation,
    ResidentStatus,
    SpecialGroup,
)
from station_app.domain.errors import NotFound, ValidationError
from station_app.domain.idnumber import parse_id
from station_app.domain.masking import mask_name
from station_app.domain.names import pinyin_keys, validate_name, validate_phone
from station_app.store.models import Household, Place, Resident

from .changes import Actor
from .household_numbers import allocate_household_numbers
from .scope import check_village
from .workspace import Workspace


@dataclass
class ResidentInput:
    """What a clerk types for one person; validated as a whole before anything is written."""

    name: str
    id_number: str
    phone: str = ""
    relation: str = Relation.OTHER.value
    special_groups: tuple[str, ...] = ()
    note: str = ""
    group_code: str | None = None


@dataclass
class CleanResident:
    name: str
    id_number: str
    sex: str
    birth_date: date
    phone: str
    relation: str
    special_groups: str
    note: str
    group_code: str | None
    name_pinyin: str = field(default="")
    name_initials: str = field(default="")


def clean_resident(data: ResidentInput, *, today: date | None = None) -> CleanResident:
    """Validate every field; the first fault raises a ValidationError with a Chinese message."""
    name = validate_name(data.name)
    info = parse_id(data.id_number, today=today)
    phone = validate_phone(data.phone)
    if not data.relation:  # the form starts at 「请选择」, not at a silent 「其他」
        raise ValidationError("请选择与户主的关系。", field="relation")
    try:
        relation = Relation(data.relation).value
    except ValueError:
        raise ValidationError("与户主关系无效。", field="relation") from None
    try:
        groups = SpecialGroup.join_codes(data.special_groups)
    except ValueError:
        raise ValidationError("人员类别无效。", field="special_groups") from None
    full, initials = pinyin_keys(name)
    return CleanResident(name, info.number, info.sex, info.birth_date, phone, relation, groups,
                         data.note.strip(), data.group_code, full, initials)


def _check_group(session: Session, village_code: str, group_code: str | None) -> None:
    if group_code is None:
        return
    parent = session.scalar(select(Place.parent_code).where(Place.code == group_code))
    if parent != village_code:
        raise ValidationError("村民小组不属于该村。", field="group_code")


def _check_duplicate_id(session: Session, id_number: str, exclude_id: str | None = None) -> None:
    query = select(Resident).where(Resident.id_number == id_number, Resident.deleted.is_(False))
    if exclude_id:
        query = query.where(Resident.id != exclude_id)
    existing = session.scalar(query.limit(1))
    if existing is not None:
        raise ValidationError(f"该身份证号已登记（{mask_name(existing.name)}），请勿重复录入。",
                              field="id_number", code="duplicate")


def _new_resident(clean: CleanResident, *, village_code: str, household_id: str) -> Resident:
    return Resident(
        village_code=village_code, household_id=household_id, group_code=clean.group_code,
        name=clean.name, name_pinyin=clean.name_pinyin, name_initials=clean.name_initials,
        sex=clean.sex, id_number=clean.id_number, birth_date=clean.birth_date, phone=clean.phone,
        relation=clean.relation, status=ResidentStatus.REGISTERED.value,
        special_groups=clean.special_groups, note=clean.note,
    )


def next_household_no(session: Session, village_code: str) -> str:
    """The next 户号 from this station's own series (see services/household_numbers.py)."""
    return allocate_household_numbers(session, village_code)[0]


def register_household(ws: Workspace, actor: Actor, *, village_code: str, head: ResidentInput,
                       address: str = "", phone: str = "",
                       category: str = HouseholdCategory.GENERAL.value) -> tuple[str, str]:
    """A new household with its head; returns (household id, head resident id)."""
    head.relation = Relation.HEAD.value
    clean = clean_resident(head)
    phone = validate_phone(phone) or clean.phone
    category = HouseholdCategory(category).value
    with ws.unit_of_work(actor, "register_household") as session:
        check_village(session, actor, village_code)
        _check_group(session, village_code, clean.group_code)
        _check_duplicate_id(session, clean.id_number)
        household = Household(village_code=village_code, group_code=clean.group_code,
                              household_no=next_household_no(session, village_code),
                              head_name=clean.name, address=address.strip(), phone=phone,
                              category=category)
        session.add(household)
        session.flush()
        person = _new_resident(clean, village_code=village_code, household_id=household.id)
        session.add(person)
        session.flush()
        return household.id, person.id


def add_member(ws: Workspace, actor: Actor, household_id: str, data: ResidentInput) -> str:
    clean = clean_resident(data)
    with ws.unit_of_work(actor, "add_resident") as session:
        household = session.get(Household, household_id)
        if household is None or household.deleted:
            raise NotFound("找不到该户。")
        check_village(session, actor, household.village_code)
        clean.group_code = clean.group_code or household.group_code
        _check_group(session, household.village_code, clean.group_code)
        _check_duplicate_id(session, clean.id_number)
        person = _new_resident(clean, village_code=household.village_code, household_id=household.id)
        session.add(person)
        session.flush()
        return person.id


def update_resident(ws: Workspace, actor: Actor, resident_id: str, data: ResidentInput) -> None:
    clean = clean_resident(data)
    with ws.unit_of_work(actor, "update_resident") as session:
        person = session.get(Resident, resident_id)
        if person is None or person.deleted:
            raise NotFound("找不到该居民。")
        check_village(session, actor, person.village_code)
        _check_group(session, person.village_code, clean.group_code)
        _check_duplicate_id(session, clean.id_number, exclude_id=person.id)
        for key in ("name", "name_pinyin", "name_initials", "id_number", "sex", "birth_date", "phone",
                    "relation", "special_groups", "note", "group_code"):
            setattr(person, key, getattr(clean, key))


def set_status(ws: Workspace, actor: Actor, resident_id: str, status: str, on: date) -> None:
    """Mark died / moved out (or back to registered); the record stays, history kept."""
    status = ResidentStatus(status).value
    with ws.unit_of_work(actor, f"resident_{status}") as session:
        person = session.get(Resident, resident_id)
        if person is None or person.deleted:
            raise NotFound("找不到该居民。")
        check_village(session, actor, person.village_code)
        person.status = status
        person.status_date = on
        # Cards follow the person (issue 17.4): the county's rule for a death or a move.
        from .chronic import follow_holder

        follow_holder(session, ws.station.county_code if ws.station else None, person.id, status, on)
