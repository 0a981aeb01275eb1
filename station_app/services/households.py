"""Household and resident writes — the one write path (GUI, CLI, import self-check, fixtures).

Validation of what a clerk typed, duplicate ID numbers, similar residents (same name and birth
date), one registered head per household and its name on the household, groups, and the search
index kept current in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from station_app.domain.enums import (
    HouseholdCategory,
    PlaceLevel,
    Relation,
    ResidentStatus,
    SpecialGroup,
)
from station_app.domain.errors import NotFound, ValidationError
from station_app.domain.idnumber import parse_id
from station_app.domain.masking import mask_id, mask_name
from station_app.domain.names import pinyin_keys, validate_name, validate_phone
from station_app.store.models import Household, Place, Resident

from . import search_index
from .changes import Actor
from .household_numbers import allocate_household_numbers
from .scope import check_village, place_names
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


# -- saving: duplicates, heads of household, moves ----------------------------------------------


@dataclass(frozen=True)
class SimilarResident:
    id: str
    name: str
    birth_date: date
    village: str
    group: str
    household_no: str
    id_number_masked: str
    status: str

    @property
    def text(self) -> str:
        place = " ".join(p for p in (self.village, self.group) if p)
        return (f"{mask_name(self.name)}（{place or '未知村组'}，户号 {self.household_no or '—'}，"
                f"身份证 {self.id_number_masked}，{self.status}）")


class SimilarResidentsFound(ValidationError):
    """Same name and birth date as someone registered: probably the same person. The clerk may confirm."""

    def __init__(self, matches: list[SimilarResident]):
        lines = "\n".join(f"· {m.text}" for m in matches[:5])
        more = f"\n……共 {len(matches)} 人" if len(matches) > 5 else ""
        super().__init__(f"已有姓名和出生日期都相同的居民，可能是重复登记：\n{lines}{more}\n"
                         "如确认不是同一人，请选择“仍然保存”。", field="name", code="similar")
        self.matches = matches


def similar_residents(session: Session, name: str, birth_date: date, *, exclude_id: str | None = None) -> list[SimilarResident]:
    """Residents (any village, not deleted) with this name and birth date."""
    query = (select(Resident, Household.household_no)
             .outerjoin(Household, Household.id == Resident.household_id)
             .where(Resident.name == name, Resident.birth_date == birth_date, Resident.deleted.is_(False)))
    if exclude_id:
        query = query.where(Resident.id != exclude_id)
    names = None
    found = []
    for person, household_no in session.execute(query.limit(20)):
        names = names or place_names(session)
        found.append(SimilarResident(person.id, person.name, person.birth_date,
                                     names.get(person.village_code or "", ""), names.get(person.group_code or "", ""),
                                     household_no or "", mask_id(person.id_number),
                                     ResidentStatus.label_for(person.status)))
    return found


def _check_similar(session: Session, name: str, birth_date: date, exclude_id: str | None, confirmed: bool) -> None:
    if confirmed:
        return
    matches = similar_residents(session, name, birth_date, exclude_id=exclude_id)
    if matches:
        raise SimilarResidentsFound(matches)


def _registered_head(session: Session, household_id: str, exclude_id: str | None = None) -> Resident | None:
    query = select(Resident).where(Resident.household_id == household_id, Resident.deleted.is_(False),
                                   Resident.relation == Relation.HEAD.value,
                                   Resident.status == ResidentStatus.REGISTERED.value)
    if exclude_id:
        query = query.where(Resident.id != exclude_id)
    return session.scalar(query.limit(1))


def _refuse_second_head(session: Session, household_id: str, exclude_id: str | None = None) -> None:
    head = _registered_head(session, household_id, exclude_id)
    if head is not None:
        raise ValidationError(f"该户已有户主（{head.name}）。如要更换户主，请先把原户主的“与户主关系”改为其他。",
                              field="relation", code="second_head")


def _clean_household_fields(category: str, helper_name: str, helper_phone: str, address: str,
                            phone: str, phone_field: str = "phone") -> tuple[str, str, str, str, str]:
    try:
        category = HouseholdCategory(category).value
    except ValueError:
        raise ValidationError("户类别无效。", field="category") from None
    helper_name = " ".join((helper_name or "").split())
    if len(helper_name) > 40:
        raise ValidationError("包帮责任人最多 40 个字。", field="helper_name", code="length")
    if category == HouseholdCategory.SERIOUSLY_ILL.value and not helper_name:
        raise ValidationError("重病户须填写包帮责任人。", field="helper_name", code="helper_required")
    try:
        helper_phone = validate_phone(helper_phone)
    except ValidationError as error:
        raise ValidationError("包帮责任人" + error.message, field="helper_phone", code=error.code) from None
    address = (address or "").strip()
    if len(address) > 120:
        raise ValidationError("家庭住址最多 120 个字。", field="address")
    try:
        phone = validate_phone(phone)
    except ValidationError as error:
        raise ValidationError("家庭" + error.message, field=phone_field, code=error.code) from None
    return category, helper_name, helper_phone, address, phone


def register_household(ws: Workspace, actor: Actor, *, village_code: str, head: ResidentInput,
                       address: str = "", phone: str = "", category: str = HouseholdCategory.GENERAL.value,
                       helper_name: str = "", helper_phone: str = "", confirm_similar: bool = False,
                       today: date | None = None) -> tuple[str, str]:
    """A new household with its head, in one transaction; returns (household id, head id).

    Refused: an invalid field (ValidationError naming it), an ID number already registered.
    Same name + birth date as someone registered: SimilarResidentsFound unless confirmed.
    """
    head = ResidentInput(**{**head.__dict__, "relation": Relation.HEAD.value})
    clean = clean_resident(head, today=today)
    category, helper_name, helper_phone, address, phone = _clean_household_fields(
        category, helper_name, helper_phone, address, phone, phone_field="household_phone")
    with ws.unit_of_work(actor, "register_household") as session:
        check_village(session, actor, village_code)
        if not clean.group_code and session.scalar(select(Place.code).where(
                Place.parent_code == village_code, Place.level == PlaceLevel.GROUP.value).limit(1)):
            raise ValidationError("请选择村民小组。", field="group_code", code="empty")
        _check_group(session, village_code, clean.group_code)
        _check_duplicate_id(session, clean.id_number)
        _check_similar(session, clean.name, clean.birth_date, None, confirm_similar)
        household = Household(village_code=village_code, group_code=clean.group_code,
                              household_no=next_household_no(session, village_code), head_name=clean.name,
                              address=address, phone=phone or clean.phone, category=category,
                              category_since=(today or date.today()) if category != HouseholdCategory.GENERAL.value else None,
                              helper_name=helper_name, helper_phone=helper_phone)
        session.add(household)
        session.flush()
        person = _new_resident(clean, village_code=village_code, household_id=household.id)
        session.add(person)
        session.flush()
        # Index the new row in this transaction: a list refreshed right after the save must show
        # it even if another writer then holds the database (see search_index.refresh).
        search_index.catch_up(session.connection())
        return household.id, person.id


def add_member(ws: Workspace, actor: Actor, household_id: str, data: ResidentInput, *,
               confirm_similar: bool = False, today: date | None = None) -> str:
    """A new member of an existing household; the same checks as ``register_household``."""
    clean = clean_resident(data, today=today)
    with ws.unit_of_work(actor, "add_resident") as session:
        household = session.get(Household, household_id)
        if household is None or household.deleted:
            raise NotFound("找不到该户。")
        check_village(session, actor, household.village_code)
        clean.group_code = clean.group_code or household.group_code
        _check_group(session, household.village_code, clean.group_code)
        _check_duplicate_id(session, clean.id_number)
        if clean.relation == Relation.HEAD.value:
            _refuse_second_head(session, household_id)
        _check_similar(session, clean.name, clean.birth_date, None, confirm_similar)
        person = _new_resident(clean, village_code=household.village_code, household_id=household.id)
        session.add(person)
        if clean.relation == Relation.HEAD.value:
            household.head_name = clean.name
        session.flush()
        search_index.catch_up(session.connection())  # see register_household
        return person.id


def update_resident(ws: Workspace, actor: Actor, resident_id: str, data: ResidentInput, *,
                    confirm_similar: bool = False, today: date | None = None) -> None:
    """Save an edit; the household's head name follows when the head's name or relation changes."""
    clean = clean_resident(data, today=today)
    with ws.unit_of_work(actor, "update_resident") as session:
        person = session.get(Resident, resident_id)
        if person is None or person.deleted:
            raise NotFound("找不到该居民。")
        check_village(session, actor, person.village_code)
        _check_group(session, person.village_code, clean.group_code)
        _check_duplicate_id(session, clean.id_number, exclude_id=person.id)
        household = session.get(Household, person.household_id) if person.household_id else None
        becomes_head = clean.relation == Relation.HEAD.value and person.relation != Relation.HEAD.value
        if becomes_head and household is not None:
            _refuse_second_head(session, household.id, exclude_id=person.id)
        if (clean.name, clean.birth_date) != (person.name, person.birth_date):
            _check_similar(session, clean.name, clean.birth_date, person.id, confirm_similar)
        was_head = person.relation == Relation.HEAD.value
        for key in ("name", "name_pinyin", "name_initials", "id_number", "sex", "birth_date", "phone",
                    "relation", "special_groups", "note", "group_code"):
            setattr(person, key, getattr(clean, key))
        if household is not None:
            if clean.relation == Relation.HEAD.value and household.head_name != clean.name:
                household.head_name = clean.name
            elif was_head and clean.relation != Relation.HEAD.value and household.head_name == clean.name:
                household.head_name = ""


def update_household(ws: Workspace, actor: Actor, household_id: str, *, address: str, phone: str,
                     category: str, helper_name: str = "", helper_phone: str = "", note: str = "",
                     group_code: str | None = None, today: date | None = None) -> None:
    """Edit the household (三类户 category, 包帮责任人, address, phone); category changes are dated."""
    category, helper_name, helper_phone, address, phone = _clean_household_fields(
        category, helper_name, helper_phone, address, phone)
    with ws.unit_of_work(actor, "update_household") as session:
        household = session.get(Household, household_id)
        if household is None or household.deleted:
            raise NotFound("找不到该户。")
        check_village(session, actor, household.village_code)
        if group_code and group_code != household.group_code:
            _check_group(session, household.village_code, group_code)
            household.group_code = group_code
        if household.category != category:
            household.category = category
            household.category_since = today or date.today()
        household.address = address
        household.phone = phone
        household.helper_name = helper_name
        household.helper_phone = helper_phone
        household.note = (note or "").strip()


def move_to_household(ws: Workspace, actor: Actor, resident_id: str, household_id: str,
                      relation: str = Relation.OTHER.value) -> None:
    """Move a resident into another household of the same village (分户、并户).

    The resident takes the new household's group. A head whose household still has other
    registered members must first hand the role over (so no household is left headless).
    Moving to another village is a 迁出 here and a new registration there.
    """
    try:
        relation = Relation(relation).value
    except ValueError:
        raise ValidationError("与户主关系无效。", field="relation") from None
    with ws.unit_of_work(actor, "move_resident") as session:
        person = session.get(Resident, resident_id)
        if person is None or person.deleted:
            raise NotFound("找不到该居民。")
        target = session.get(Household, household_id)
        if target is None or target.deleted:
            raise NotFound("找不到要迁入的户。")
        check_village(session, actor, person.village_code)
        check_village(session, actor, target.village_code)
        if target.id == person.household_id:
            raise ValidationError("该居民已在这一户中。", field="household_id", code="same")
        if target.village_code != person.village_code:
            raise ValidationError("只能迁入本村的其他户；迁往外村请在本村标记“迁出”，由迁入村重新登记。",
                                  field="household_id", code="other_village")
        if person.status != ResidentStatus.REGISTERED.value:
            raise ValidationError("只有在册居民可以迁户。", field="status", code="not_registered")
        old = session.get(Household, person.household_id) if person.household_id else None
        if person.relation == Relation.HEAD.value and old is not None:
            others = session.scalar(select(func.count()).select_from(Resident).where(
                Resident.household_id == old.id, Resident.id != person.id, Resident.deleted.is_(False),
                Resident.status == ResidentStatus.REGISTERED.value)) or 0
            if others:
                raise ValidationError("该居民是原户的户主，原户还有其他成员：请先为原户指定新户主（编辑成员的“与户主关系”）。",
                                      field="relation", code="head_with_members")
        if relation == Relation.HEAD.value:
            _refuse_second_head(session, target.id)
        if old is not None and person.relation == Relation.HEAD.value and old.head_name == person.name:
            old.head_name = ""
        person.household_id = target.id
        person.group_code = target.group_code
        person.relation = relation
        if relation == Relation.HEAD.value:
            target.head_name = person.name


def set_status(ws: Workspace, actor: Actor, resident_id: str, status: str, on: date | None = None) -> None:
    """Mark died / moved out (or registered again); the record stays, its history kept."""
    on = on or date.today()
    if on > date.today():
        raise ValidationError("日期不能晚于今天。", field="status_date", code="future")
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


@dataclass(frozen=True)
class HouseholdChoice:
    id: str
    household_no: str
    head_name: str
    group: str
    members: int

    @property
    def text(self) -> str:
        return f"{self.household_no}　户主：{self.head_name or '（无）'}　{self.group}　{self.members} 人"


def find_households(ws: Workspace, actor: Actor, village_code: str, text: str = "", *,
                    exclude_id: str | None = None, limit: int = 50) -> list[HouseholdChoice]:
    """Households of a village whose number or head name contains the text (the move dialog)."""
    text = (text or "").strip()
    with ws.read() as session:
        check_village(session, actor, village_code)
        members = (select(func.count()).select_from(Resident)
                   .where(Resident.household_id == Household.id, Resident.deleted.is_(False),
                          Resident.status == ResidentStatus.REGISTERED.value).scalar_subquery())
        query = (select(Household.id, Household.household_no, Household.head_name, Household.group_code, members)
                 .where(Household.village_code == village_code, Household.deleted.is_(False)))
        if exclude_id:
            query = query.where(Household.id != exclude_id)
        if text:
            query = query.where(or_(Household.household_no.contains(text, autoescape=True),
                                    Household.head_name.contains(text, autoescape=True)))
        names = place_names(session)
        return [HouseholdChoice(i, no, head, names.get(group or "", ""), count or 0)
                for i, no, head, group, count in session.execute(
                    query.order_by(Household.household_no).limit(limit))]
