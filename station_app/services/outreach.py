"""Work lists that close the loop (4134 应办尽办): the outcome of each call or visit on the
未缴清单 and the 续药提醒, who made it and when; counted on the 工作台; an SMS file for the county.

Outcomes are a synced table (``outreach``) written through a unit of work: audit + outbox.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterable, Sequence

from sqlalchemy import select

from station_app.domain.enums import OutreachList, OutreachResult
from station_app.domain.errors import ValidationError
from station_app.domain.masking import mask_id
from station_app.store.models import Outreach, User

from .changes import Actor
from .chronic import RefillDue, apply_refill_outcome, resident_or_404
from .scope import in_scope, villages_in_scope
from .workspace import Workspace

MAX_REASON = 200
#: The county SMS platform's default message; {name} {year} {due} {deadline} are filled in.
DEFAULT_SMS_TEMPLATE = "{name}您好：{year}年度城乡居民医保个人缴费{due}元，请于{deadline}前通过税务APP、微信或村卫生室缴纳。"


@dataclass(frozen=True)
class OutreachView:
    resident_id: str
    result: str
    result_label: str
    promised_date: date | None
    reason: str
    done_on: date
    done_by: str  # display name

    @property
    def text(self) -> str:
        """"已承诺 12-20 缴 · 张村医 12-06" — shown on the list the next time it is opened."""
        what = self.result_label
        if self.result == OutreachResult.PROMISED.value and self.promised_date:
            what += f" {self.promised_date:%m-%d}缴"
        if self.reason:
            what += f"（{self.reason}）"
        return f"{what} · {self.done_by} {self.done_on:%m-%d}"


def _list_kind(value: str) -> str:
    try:
        return OutreachList(value).value
    except ValueError:
        raise ValidationError("工作清单类型无效。", field="list_kind") from None


def _result(list_kind: str, result: str) -> str:
    allowed = OutreachResult.of_list(list_kind)
    if result not in {r.value for r in allowed}:
        names = "、".join(r.label for r in allowed)
        raise ValidationError(f"请选择联系结果：{names}。", field="result")
    return result


def _add(session, actor: Actor, person, *, list_kind: str, result: str, year: int | None, on: date,
         promised_date: date | None = None, reason: str = "") -> str:
    row = Outreach(resident_id=person.id, village_code=person.village_code, list_kind=list_kind, year=year,
                   result=result, promised_date=promised_date, reason=reason, done_on=on, done_by=actor.username)
    session.add(row)
    session.flush()
    return row.id


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise ValidationError(f"原因不能超过 {MAX_REASON} 个字。", field="reason")
    return reason


def record_outcome(ws: Workspace, actor: Actor, resident_id: str, *, list_kind: str, result: str,
                   year: int | None = None, promised_date: date | None = None, reason: str = "",
                   on: date | None = None) -> str:
    """Record what a call or visit came to; returns the outcome's id. (A 续药提醒 outcome of a
    card goes through ``record_refill_outcome``, which also does what the outcome means.)"""
    on = on or date.today()
    list_kind = _list_kind(list_kind)
    result = _result(list_kind, result)
    reason = _reason(reason)
    if result == OutreachResult.PROMISED.value:
        if promised_date is None:
            raise ValidationError("已承诺缴费：请填写承诺的缴费日期。", field="promised_date")
        if promised_date < on:
            raise ValidationError("承诺缴费日期不能早于今天。", field="promised_date")
    else:
        promised_date = None
    if result == OutreachResult.REFUSED.value and not reason:
        raise ValidationError("拒缴：请填写原因（如已在外地参保、经济困难）。", field="reason")
    with ws.unit_of_work(actor, "outreach_record") as session:
        person = resident_or_404(session, actor, resident_id)
        return _add(session, actor, person, list_kind=list_kind, result=result, year=year, on=on,
                    promised_date=promised_date, reason=reason)


def record_refill_outcome(ws: Workspace, actor: Actor, card_id: str, *, result: str, reason: str = "",
                          on: date | None = None, today: date | None = None) -> str:
    """A call or visit from the 续药提醒 of one card, in one unit of work with what it means:
    已提醒 counts as a 提醒 service, 已取药 moves the card's last refill to the day (off the list),
    未接通 only records the try (services.chronic.apply_refill_outcome). Returns the outcome's id."""
    kind = OutreachList.REFILL.value
    result = _result(kind, result)
    reason = _reason(reason)
    with ws.unit_of_work(actor, "outreach_record") as session:
        person, on = apply_refill_outcome(session, actor, card_id, result, on=on, today=today, note=reason)
        return _add(session, actor, person, list_kind=kind, result=result, year=None, on=on, reason=reason)


def refill_outcomes(ws: Workspace, actor: Actor, rows: Sequence[RefillDue]) -> dict[str, OutreachView]:
    """card id → the holder's latest 续药提醒 outcome since that card's last refill: what the list
    shows in 上次联系 (older calls belong to an earlier refill and are not shown)."""
    if not rows:
        return {}
    views = latest_outcomes(ws, actor, OutreachList.REFILL.value, resident_ids=[r.resident_id for r in rows])
    out = {}
    for row in rows:
        view = views.get(row.resident_id)
        if view is not None and view.done_on >= row.last_refill_date:
            out[row.card_id] = view
    return out


def latest_outcomes(ws: Workspace, actor: Actor, list_kind: str, *, year: int | None = None,
                    resident_ids: Sequence[str] | None = None) -> dict[str, OutreachView]:
    """The newest outcome per resident on a list (of the year for 未缴), in the actor's scope."""
    list_kind = _list_kind(list_kind)
    with ws.read() as session:
        villages = villages_in_scope(session, actor)
        query = select(Outreach).where(Outreach.list_kind == list_kind, Outreach.deleted.is_(False),
                                       in_scope(Outreach.village_code, villages))
        if year is not None:
            query = query.where(Outreach.year == year)
        rows = session.scalars(query.order_by(Outreach.done_on, Outreach.updated_hlc)).all()
        names = dict(session.execute(select(User.username, User.display_name)).all())
    wanted = set(resident_ids) if resident_ids is not None else None
    latest: dict[str, OutreachView] = {}
    for row in rows:  # oldest first: the last one wins
        if wanted is not None and row.resident_id not in wanted:
            continue
        latest[row.resident_id] = OutreachView(
            row.resident_id, row.result, OutreachResult(row.result).label, row.promised_date, row.reason,
            row.done_on, names.get(row.done_by, row.done_by))
    return latest


def outcome_counts(ws: Workspace, actor: Actor, list_kind: str, *, year: int | None = None,
                   resident_ids: Iterable[str] | None = None) -> Counter:
    """result → people whose latest outcome it is (the 工作台's 已联系 figure)."""
    views = latest_outcomes(ws, actor, list_kind, year=year,
                            resident_ids=list(resident_ids) if resident_ids is not None else None)
    return Counter(v.result for v in views.values())


@dataclass(frozen=True)
class SmsRow:
    name: str
    phone: str
    message: str


def _mobile(phone: str | None) -> str:
    """The 11-digit mobile number in a phone field, or "" (a landline cannot take an SMS)."""
    mobile = "".join(ch for ch in (phone or "") if ch.isdigit())
    return mobile if len(mobile) == 11 and mobile.startswith("1") else ""


def sms_rows(people: Iterable[tuple[str, str, int | None]], *, year: int, deadline: date | None,
             template: str = DEFAULT_SMS_TEMPLATE) -> list[SmsRow]:
    """(name, phone, due fen) → rows for the county SMS platform; people without a mobile are left out."""
    rows = []
    for name, phone, due in people:
        mobile = _mobile(phone)
        if not mobile:
            continue
        due_text = f"{(due or 0) / 100:.2f}".rstrip("0").rstrip(".") if due is not None else "—"
        try:
            message = template.format(name=name, year=year, due=due_text,
                                      deadline=f"{deadline:%Y年%m月%d日}" if deadline else "截止日期")
        except (KeyError, IndexError, ValueError):
            raise ValidationError("短信模板有误：只能使用 {name} {year} {due} {deadline} 四个占位符。",
                                  field="template") from None
        rows.append(SmsRow(name, mobile, message))
    return rows


#: The 续药提醒 message; {name} {disease} {due} are filled in.
REFILL_SMS_TEMPLATE = "{name}您好：您的{disease}用药预计{due}用完，请及时到村卫生室取药或联系村医代购。"


def refill_sms_rows(rows: Iterable[RefillDue], *, template: str = REFILL_SMS_TEMPLATE) -> list[SmsRow]:
    """The 续药提醒 for the county SMS platform, one message per person (their cards' diseases
    together, the earliest run-out date); people without a mobile are left out."""
    people: dict[str, list[RefillDue]] = {}
    for row in rows:
        people.setdefault(row.resident_id, []).append(row)
    out = []
    for cards in people.values():
        first = min(cards, key=lambda c: c.due_date)
        mobile = _mobile(first.phone)
        if not mobile:
            continue
        diseases = "、".join(dict.fromkeys(c.disease_name for c in cards))
        try:
            message = template.format(name=first.name, disease=diseases, due=f"{first.due_date:%m月%d日}")
        except (KeyError, IndexError, ValueError):
            raise ValidationError("短信模板有误：只能使用 {name} {disease} {due} 三个占位符。",
                                  field="template") from None
        out.append(SmsRow(first.name, mobile, message))
    return out


def write_sms_csv(path: Path, rows: Sequence[SmsRow]) -> int:
    """UTF-8 with BOM (Excel and the county platform read it), columns 姓名,手机号,短信内容."""
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "手机号", "短信内容"])
        for row in rows:
            writer.writerow([row.name, row.phone, row.message])
    return len(rows)


def resident_label(ws: Workspace, actor: Actor, resident_id: str) -> str:
    """姓名（masked ID）for a dialog heading."""
    with ws.read() as session:
        person = resident_or_404(session, actor, resident_id)
        return f"{person.name}（{mask_id(person.id_number)}）"



