"""自助查询机 (seed 004, 安康): a villager looks up their own household, and nothing else.

Look-up is by 姓名 + the last 6 characters of the ID number (what a villager knows, what an
ID-card reader types). What comes back is the household's own status, masked as a notice is.
Five misses in a row lock the kiosk for a minute. Each look-up is audited as *who was looked
up*, never what was typed (PIPL: a kiosk must not become a way to probe who lives here).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from sqlalchemy import func, select

from station_app.domain.enums import (
    AssistanceStatus,
    CardStatus,
    EnrollmentStatus,
    Relation,
    ResidentStatus,
    Role,
    SpecialGroup,
)
from station_app.domain.errors import PermissionDenied, ValidationError
from station_app.domain.masking import mask_id, mask_name
from station_app.services.changes import Actor
from station_app.services.enrollment import yuan
from station_app.services.reference import subsidy_rules, year_setting
from station_app.services.workspace import Workspace
from station_app.store.base import utcnow
from station_app.store.models import (
    AssistanceCase,
    AuditEntry,
    CardUsage,
    ChronicCard,
    Enrollment,
    Policy,
    Resident,
    User,
)

#: Issue 13: five wrong tries lock the kiosk for a minute; back to the start after 60 s idle.
MAX_MISSES = 5
LOCK_SECONDS = 60
IDLE_SECONDS = 60
_LAST6 = re.compile(r"^[0-9]{5}[0-9X]$")


def kiosk_actor(ws: Workspace) -> Actor:
    """Writes (audit only) made by the kiosk itself."""
    return Actor("kiosk", "自助查询机", Role.VILLAGE_DOCTOR.value, "", ws.station.code if ws.station else "")


@dataclass(frozen=True)
class YearLine:
    year: int
    status: str  # label, e.g. 已缴费 / 未缴费 / 资助参保 / 未登记
    covered: bool
    paid_text: str  # "个人缴费 400 元（2026-10-08）" / "政府资助 150 元" / ""
    deadline_text: str  # "缴费截止 2026-12-31" / ""


@dataclass(frozen=True)
class CardLine:
    status: str
    since: str  # 待遇起始 or the application date
    months_used: int
    months_so_far: int


@dataclass(frozen=True)
class AidLine:
    day: str
    amount_text: str
    status: str


@dataclass(frozen=True)
class MemberView:
    masked_name: str
    masked_id: str
    relation: str
    years: tuple[YearLine, ...]
    cards: tuple[CardLine, ...]
    aid: tuple[AidLine, ...]
    groups: tuple[str, ...]
    is_asker: bool


@dataclass(frozen=True)
class HouseholdView:
    village_name: str
    members: tuple[MemberView, ...]
    policies: tuple[tuple[str, str], ...]  # (title, text) that apply to this household
    looked_up_at: date = field(default_factory=date.today)


class KioskLock(PermissionDenied):
    """The kiosk is locked after too many misses; ``seconds`` until it opens again."""

    def __init__(self, seconds: int):
        super().__init__(f"查询失败次数过多，请 {seconds} 秒后再试。")
        self.seconds = seconds


def _money(fen: int | None) -> str:
    """Whole yuan without “.00”: large type reads easier (400 元, 150.50 元)."""
    return yuan(fen).removesuffix(".00")


def normalise_last6(text: str) -> str:
    return (text or "").strip().upper().replace("x", "X")


class KioskSession:
    """The kiosk's state between villagers: misses and the lock (clock injectable for tests)."""

    def __init__(self, ws: Workspace, *, clock: Callable[[], float] = time.monotonic,
                 today: Callable[[], date] = date.today):
        self.ws = ws
        self.clock = clock
        self.today = today
        self.misses = 0
        self.locked_until = 0.0
        self._lock = threading.Lock()

    def seconds_locked(self) -> int:
        left = self.locked_until - self.clock()
        return max(0, int(left + 0.999))

    def lookup(self, name: str, last6: str) -> HouseholdView:
        """The household of the one registered resident with this name and ID ending.

        Raises ValidationError for malformed input (not counted as a miss), KioskLock when
        locked, and ValidationError("没有查到…") on a miss (counted).
        """
        name = "".join((name or "").split())
        last6 = normalise_last6(last6)
        if not name:
            raise ValidationError("请输入姓名。", field="name")
        if not _LAST6.match(last6):
            raise ValidationError("请输入身份证号码的后 6 位（数字，最后一位可以是 X）。", field="last6")
        with self._lock:
            left = self.seconds_locked()
            if left:
                raise KioskLock(left)
            person = _find(self.ws, name, last6)
            if person is None:
                self.misses += 1
                if self.misses >= MAX_MISSES:
                    self.misses = 0
                    self.locked_until = self.clock() + LOCK_SECONDS
                    _audit(self.ws, "kiosk_locked", "", f"自助查询连续 {MAX_MISSES} 次未查到，锁定 {LOCK_SECONDS} 秒")
                    raise KioskLock(LOCK_SECONDS)
                raise ValidationError(f"没有查到，请核对姓名和身份证号后 6 位（还可以试 {MAX_MISSES - self.misses} 次）。")
            self.misses = 0
        view = household_view(self.ws, person, today=self.today())
        _audit(self.ws, "kiosk_lookup", person, "自助查询：查看本户参保、慢病卡、救助情况")
        return view


def _find(ws: Workspace, name: str, last6: str) -> str | None:
    """The id of the registered resident; None when nobody, or more than one, matches."""
    with ws.read() as session:
        rows = session.execute(select(Resident.id, Resident.id_number).where(
            Resident.name == name, Resident.deleted.is_(False),
            Resident.status == ResidentStatus.REGISTERED.value)).all()
    hits = [rid for rid, number in rows if (number or "").upper().endswith(last6)]
    return hits[0] if len(hits) == 1 else None


def _audit(ws: Workspace, action: str, resident_id: str, summary: str) -> None:
    actor = kiosk_actor(ws)
    with ws.unit_of_work(actor, action) as session:
        session.add(AuditEntry(at=utcnow(), username=actor.username, station_code=actor.station_code,
                               action=action, table_name="resident" if resident_id else "",
                               row_id=resident_id, summary=summary))


def _years_shown(session, county: str, today: date) -> list[int]:
    """This benefit year and the next one, where the county has set them or records exist."""
    years = []
    for year in (today.year, today.year + 1):
        if year_setting(session, county, year) is not None or session.scalar(
                select(Enrollment.id).where(Enrollment.year == year).limit(1)):
            years.append(year)
    return years


def _year_line(setting, year: int, record: Enrollment | None, today: date) -> YearLine:
    deadline = f"缴费截止 {setting.deadline:%Y-%m-%d}" if setting is not None and setting.deadline >= today else ""
    if record is None:
        return YearLine(year, "未登记", False, "", deadline)
    status = EnrollmentStatus(record.status)
    paid = ""
    if status == EnrollmentStatus.PAID:
        paid = f"个人缴费 {_money(record.paid_fen)} 元" + (f"（{record.paid_date:%Y-%m-%d}）" if record.paid_date else "")
        if record.subsidy_fen:
            paid += f"，政府资助 {_money(record.subsidy_fen)} 元"
    elif status == EnrollmentStatus.SUBSIDISED:
        paid = f"政府资助 {_money(record.subsidy_fen)} 元" if record.subsidy_fen else "政府资助"
    elif status == EnrollmentStatus.UNPAID and setting is not None:
        due = max(0, setting.premium_fen - (record.subsidy_fen or 0))
        paid = f"应缴 {_money(due)} 元"
    return YearLine(year, status.label, status.is_covered, paid, deadline if not status.is_covered else "")


def household_view(ws: Workspace, resident_id: str, *, today: date | None = None) -> HouseholdView:
    """The asker's household: every 在册 member, masked; their three archives; what applies."""
    today = today or date.today()
    county = ws.station.county_code if ws.station else ""
    with ws.read() as session:
        asker = session.get(Resident, resident_id)
        if asker.household_id:
            people = list(session.scalars(select(Resident).where(
                Resident.household_id == asker.household_id, Resident.deleted.is_(False),
                Resident.status == ResidentStatus.REGISTERED.value)))
        else:
            people = [asker]
        order = [r.value for r in Relation]
        people.sort(key=lambda p: (p.id != asker.id, order.index(p.relation) if p.relation in order else 99,
                                   p.birth_date))
        ids = [p.id for p in people]
        years = _years_shown(session, county, today)
        settings = {year: year_setting(session, county, year) for year in years}
        records = {(e.resident_id, e.year): e for e in session.scalars(select(Enrollment).where(
            Enrollment.resident_id.in_(ids), Enrollment.year.in_(years), Enrollment.deleted.is_(False)))}
        cards = list(session.scalars(select(ChronicCard).where(
            ChronicCard.resident_id.in_(ids), ChronicCard.deleted.is_(False))))
        months = [f"{today.year}-{m:02d}" for m in range(1, today.month + 1)]
        used = {}
        if cards:
            for card_id, n in session.execute(select(CardUsage.card_id, func.count()).where(
                    CardUsage.card_id.in_([c.id for c in cards]), CardUsage.month.in_(months),
                    CardUsage.used.is_(True), CardUsage.deleted.is_(False)).group_by(CardUsage.card_id)):
                used[card_id] = n
        cases = list(session.scalars(select(AssistanceCase).where(
            AssistanceCase.resident_id.in_(ids), AssistanceCase.deleted.is_(False),
            AssistanceCase.status == AssistanceStatus.PAID.value).order_by(AssistanceCase.paid_date.desc())))
        members = []
        groups_in_household: set[str] = set()
        for person in people:
            mine = [c for c in cards if c.resident_id == person.id and c.status != CardStatus.REFUSED.value]
            card_lines = tuple(CardLine(
                CardStatus(c.status).label,
                f"{(c.benefit_start or c.issued_date or c.applied_date):%Y-%m-%d}",
                used.get(c.id, 0), len(months)) for c in mine)
            aid = tuple(AidLine(f"{c.paid_date:%Y-%m-%d}" if c.paid_date else "", f"{_money(c.assistance_fen)} 元",
                                AssistanceStatus(c.status).label)
                        for c in cases if c.resident_id == person.id)
            groups = tuple(g.label for g in SpecialGroup.parse_codes(person.special_groups))
            groups_in_household.update(g.value for g in SpecialGroup.parse_codes(person.special_groups))
            members.append(MemberView(
                mask_name(person.name), mask_id(person.id_number), Relation(person.relation).label
                if person.relation in order else person.relation,
                tuple(_year_line(settings[y], y, records.get((person.id, y)), today) for y in years),
                card_lines, aid, groups, person.id == asker.id))
        village = asker.village_code
        from station_app.services.scope import place_name

        policies = _policies_for(session, county, years, groups_in_household,
                                 has_card=any(c.status == CardStatus.ISSUED.value for c in cards))
        return HouseholdView(place_name(session, village), tuple(members), tuple(policies), today)


def _policies_for(session, county: str, years: list[int], groups: set[str], *, has_card: bool) -> list[tuple[str, str]]:
    """What applies to this household: the premium, its subsidies, its cards' benefits."""
    out: list[tuple[str, str]] = []
    year = years[-1] if years else None
    if year is not None:
        setting = year_setting(session, county, year)
        if setting is not None:
            out.append((f"{year}年度缴费", f"个人缴费每人 {_money(setting.premium_fen)} 元，"
                        f"{setting.collection_start:%Y-%m-%d} 至 {setting.deadline:%Y-%m-%d} 集中缴费。"))
        rules = subsidy_rules(session, county, year)
        for code in sorted(groups):
            rule = rules.get(code)
            if rule is not None:
                what = "全额资助个人缴费" if rule.full else f"每人资助 {_money(rule.amount_fen)} 元"
                out.append((f"资助参保：{SpecialGroup(code).label}", f"{rule.category_name}，{what}。"))
    categories = {"参保缴费"}
    if has_card:
        categories.add("门诊慢特病")
    if groups & {"tekun", "dibao", "monitor", "dibao_edge", "orphan"}:
        categories.add("医疗救助")
    for policy in session.scalars(select(Policy).where(
            Policy.county_code == county, Policy.deleted.is_(False), Policy.category.in_(sorted(categories)))
            .order_by(Policy.sort_order)):
        if policy.year is not None and year is not None and policy.year != year:
            continue
        out.append((policy.title, policy.body))
    return out


def verify_admin(ws: Workspace, username: str, password: str) -> None:
    """The kiosk's way out: an administrator's (or clerk's) own sign-in."""
    from station_app.services.auth import login

    actor = login(ws, username.strip(), password)
    if actor.role not in (Role.ADMIN.value, Role.TOWNSHIP_CLERK.value):
        raise PermissionDenied("只有管理员或医保专干可以退出自助查询。")


def has_admin(ws: Workspace) -> bool:
    with ws.read() as session:
        return bool(session.scalar(select(func.count()).select_from(User).where(
            User.role.in_((Role.ADMIN.value, Role.TOWNSHIP_CLERK.value)), User.active.is_(True), User.deleted.is_(False))))

