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
from .chronic import resident_or_404
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


def record_outcome(ws: Workspace, actor: Actor, resident_id: str, *, list_kind: str, result: str,
                   year: int | None = None, promised_date: date | None = None, reason: str = "",
                   on: date | None = None) -> str:
    """Record what a call or visit came to; returns the outcome's id."""
    on = on or date.today()
    list_kind = _list_kind(list_kind)
    try:
        result = OutreachResult(result).value
    except ValueError:
        raise ValidationError("请选择联系结果：已打通、未接通、已承诺、拒缴或已缴。", field="result") from None
    reason = (reason or "").strip()
    if result == OutreachResult.PROMISED.value:
        if promised_date is None:
            raise ValidationError("已承诺缴费：请填写承诺的缴费日期。", field="promised_date")
        if promised_date < on:
            raise ValidationError("承诺缴费日期不能早于今天。", field="promised_date")
    else:
        promised_date = None
    if result == OutreachResult.REFUSED.value and not reason:
        raise ValidationError("拒缴：请填写原因（如已在外地参保、经济困难）。", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(f"原因不能超过 {MAX_REASON} 个字。", field="reason")
    with ws.unit_of_work(actor, "outreach_record") as session:
        person = resident_or_404(session, actor, resident_id)
        row = Outreach(resident_id=person.id, village_code=person.village_code, list_kind=list_kind, year=year,
                       result=result, promised_date=promised_date, reason=reason, done_on=on,
                       done_by=actor.username)
        session.add(row)
        session.flush()
        return row.id


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


def sms_rows(people: Iterable[tuple[str, str, int | None]], *, year: int, deadline: date | None,
             template: str = DEFAULT_SMS_TEMPLATE) -> list[SmsRow]:
    """(name, phone, due fen) → rows for the county SMS platform; people without a mobile are left out."""
    rows = []
    for name, phone, due in people:
        mobile = "".join(ch for ch in (phone or "") if ch.isdigit())
        if len(mobile) != 11 or not mobile.startswith("1"):
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



