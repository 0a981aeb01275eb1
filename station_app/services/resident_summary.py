"""One resident at the counter: 参保 per year, 慢病卡, 医疗救助 — the status lines the 居民档案 panel shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select

from station_app.domain.assistance import fen_text
from station_app.domain.enums import AssistanceStatus, CardStatus, EnrollmentStatus, PaymentChannel
from station_app.store.models import AssistanceCase, ChronicCard, Disease, Enrollment

from .changes import Actor
from .chronic import resident_or_404
from .workspace import Workspace


@dataclass(frozen=True)
class YearLine:
    year: int
    status: str
    status_label: str
    text: str  # "已缴费 380.00 元（微信，2025-10-12）"


@dataclass(frozen=True)
class CardLine:
    status: str
    text: str  # "高血压 · 已发卡（待遇自 2025-03-01）· 下次取药 2026-12-20"


@dataclass(frozen=True)
class CaseLine:
    status: str
    text: str  # "2025-06-02 住院救助 · 已发放 2,000.00 元"


@dataclass
class ResidentBenefits:
    enrollment: list[YearLine] = field(default_factory=list)  # newest year first
    cards: list[CardLine] = field(default_factory=list)
    cases: list[CaseLine] = field(default_factory=list)

    def enrollment_text(self, year: int | None = None) -> str:
        line = next((e for e in self.enrollment if year is None or e.year == year), None)
        if line is None:
            return f"{year} 年度未登记" if year else "未登记"
        return f"{line.year} 年度：{line.text}"

    def cards_text(self) -> str:
        return "\n".join(c.text for c in self.cards) or "无"

    def cases_text(self) -> str:
        return "\n".join(c.text for c in self.cases[:3]) + (f"\n… 共 {len(self.cases)} 件" if len(self.cases) > 3 else "") \
            if self.cases else "无"


def year_text(row: Enrollment) -> str:
    """One year's 参保 in a line: "已缴费 380.00 元（微信，2025-10-12）"."""
    label = EnrollmentStatus.label_for(row.status)
    parts = [label]
    if row.status == EnrollmentStatus.PAID.value:
        parts.append(f"{fen_text(row.paid_fen)} 元")
        extra = [x for x in (PaymentChannel.label_for(row.channel) if row.channel else "",
                             f"{row.paid_date:%Y-%m-%d}" if row.paid_date else "") if x]
        if extra:
            parts.append(f"（{'，'.join(extra)}）")
    elif row.status == EnrollmentStatus.SUBSIDISED.value:
        parts.append(f"资助 {fen_text(row.subsidy_fen)} 元" + (f"（{row.subsidy_category}）" if row.subsidy_category else ""))
    elif row.status == EnrollmentStatus.OTHER_CHANNEL.value and row.other_channel_note:
        parts.append(f"（{row.other_channel_note}）")
    return " ".join(parts)


def resident_benefits(ws: Workspace, actor: Actor, resident_id: str, *, today: date | None = None) -> ResidentBenefits:
    """参保 of every year, the resident's 慢病卡 and 救助 cases, as short Chinese lines (scope-checked)."""
    today = today or date.today()
    result = ResidentBenefits()
    with ws.read() as session:
        person = resident_or_404(session, actor, resident_id)
        for row in session.scalars(select(Enrollment).where(Enrollment.resident_id == person.id,
                                                            Enrollment.deleted.is_(False))
                                   .order_by(Enrollment.year.desc())):
            result.enrollment.append(YearLine(row.year, row.status, EnrollmentStatus.label_for(row.status),
                                              year_text(row)))
        diseases = dict(session.execute(select(Disease.code, Disease.name)).all())
        for card in session.scalars(select(ChronicCard).where(ChronicCard.resident_id == person.id,
                                                               ChronicCard.deleted.is_(False))
                                    .order_by(ChronicCard.applied_date.desc())):
            text = f"{diseases.get(card.disease_code, card.disease_code)} · {CardStatus.label_for(card.status)}"
            if card.status == CardStatus.ISSUED.value:
                if card.benefit_start:
                    text += f"（待遇自 {card.benefit_start:%Y-%m-%d}）"
                if card.last_refill_date:
                    due = card.last_refill_date + timedelta(days=card.supply_days)
                    text += f" · 下次取药 {due:%Y-%m-%d}" + ("（已到期）" if due < today else "")
            result.cards.append(CardLine(card.status, text))
        for case in session.scalars(select(AssistanceCase).where(AssistanceCase.resident_id == person.id,
                                                                 AssistanceCase.deleted.is_(False))
                                    .order_by(AssistanceCase.applied_date.desc())):
            amount = f" {fen_text(case.assistance_fen)} 元" if case.assistance_fen else ""
            result.cases.append(CaseLine(case.status, f"{case.applied_date:%Y-%m-%d} · "
                                                      f"{AssistanceStatus.label_for(case.status)}{amount}"))
    return result
