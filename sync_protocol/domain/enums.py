"""Closed vocabularies of the domain, stored by English code, shown by Chinese label."""

from __future__ import annotations

from enum import StrEnum


class LabelledEnum(StrEnum):
    """A StrEnum whose members know their Chinese label (``__labels__`` on the class; dunder so Enum does not make it a member)."""

    @property
    def label(self) -> str:
        return type(self).__labels__[self.value]  # type: ignore[attr-defined]

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]

    @classmethod
    def label_for(cls, code: str | None, default: str | None = None) -> str:
        """The label of a stored code: "" for none; an unknown code shown as is (or ``default``)."""
        if not code:
            return "" if default is None else default
        labels = cls.__labels__  # type: ignore[attr-defined]
        if code in labels:
            return labels[code]
        return code if default is None else default

    @classmethod
    def from_label(cls, label: str):
        for member in cls:
            if member.label == label:
                return member
        raise KeyError(label)


class PlaceLevel(LabelledEnum):
    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"
    GROUP = "group"
    __labels__ = {"county": "县", "township": "乡镇", "village": "行政村", "group": "村民小组"}  # type: ignore[assignment]


class StationScope(LabelledEnum):
    VILLAGE = "village"
    TOWNSHIP = "township"
    __labels__ = {"village": "村医保服务工作站", "township": "乡镇医保服务中心"}  # type: ignore[assignment]


class Role(LabelledEnum):
    VILLAGE_DOCTOR = "village_doctor"
    TOWNSHIP_CLERK = "township_clerk"
    ADMIN = "admin"
    __labels__ = {"village_doctor": "村医", "township_clerk": "乡镇医保专干", "admin": "管理员"}  # type: ignore[assignment]


class Sex(LabelledEnum):
    MALE = "M"
    FEMALE = "F"
    __labels__ = {"M": "男", "F": "女"}  # type: ignore[assignment]


class ResidentStatus(LabelledEnum):
    REGISTERED = "registered"
    MOVED_OUT = "moved_out"
    DIED = "died"
    __labels__ = {"registered": "在册", "moved_out": "迁出", "died": "死亡"}  # type: ignore[assignment]


class HouseholdCategory(LabelledEnum):
    """Seed 004 (平利) "三类户"; changes over time."""

    GENERAL = "general"
    ILL = "ill"
    SERIOUSLY_ILL = "seriously_ill"
    __labels__ = {"general": "一般参保对象户", "ill": "一般患病户", "seriously_ill": "重病户"}  # type: ignore[assignment]


class SpecialGroup(LabelledEnum):
    """Special groups a resident may belong to (several at once), as policy names them.

    国办发〔2021〕42号 and the 医疗救助对象 classification (DOMAIN_FACTS_zh.md §3): 特困人员 and
    孤儿/事实无人抚养儿童; 低保对象 and 返贫致贫人口; 低保边缘家庭成员 and the 三类户 of 防返贫监测
    (脱贫不稳定户, 边缘易致贫户, 突发严重困难户); 脱贫人口; 重度残疾. ``monitor`` is a 监测对象
    whose kind is not known (older records, rosters that do not say). Which of them count as
    困难群众 and which subsidy each draws is the county's (domain.county_rules, SubsidyRule).
    """

    EXTREME_POVERTY = "tekun"
    ORPHAN = "orphan"
    MINIMUM_LIVING = "dibao"
    RETURNED_TO_POVERTY = "fanpin"
    LOW_INCOME_EDGE = "dibao_edge"
    UNSTABLE = "unstable"
    EDGE_POOR = "edge_poor"
    SUDDEN_HARDSHIP = "sudden"
    MONITORED = "monitor"
    LIFTED_FROM_POVERTY = "tuopin"
    SEVERE_DISABILITY = "disabled"
    __labels__ = {  # type: ignore[assignment]
        "tekun": "特困人员",
        "orphan": "孤儿/事实无人抚养儿童",
        "dibao": "低保对象",
        "fanpin": "返贫致贫人口",
        "dibao_edge": "低保边缘家庭成员",
        "unstable": "脱贫不稳定户",
        "edge_poor": "边缘易致贫户",
        "sudden": "突发严重困难户",
        "monitor": "返贫致贫风险监测对象",
        "tuopin": "脱贫人口",
        "disabled": "重度残疾",
    }

    @classmethod
    def parse_codes(cls, text: str | None) -> list["SpecialGroup"]:
        """Codes are stored as one sorted ``,``-joined string so sync merges it as one field."""
        if not text:
            return []
        return [cls(code) for code in text.split(",") if code]

    @classmethod
    def join_codes(cls, groups) -> str:
        return ",".join(sorted({cls(g).value for g in groups}))


#: 困难群众 when the county has not said otherwise (county rule ``hardship_groups`` decides):
#: the 资助参保 groups of 国办发〔2021〕42号 and the 防返贫监测 三类户, and 脱贫人口 (seed 001:
#: "建档立卡已脱贫人口 … 100%全员参保").
HARDSHIP_GROUPS = frozenset(
    {SpecialGroup.EXTREME_POVERTY, SpecialGroup.ORPHAN, SpecialGroup.MINIMUM_LIVING,
     SpecialGroup.RETURNED_TO_POVERTY, SpecialGroup.LOW_INCOME_EDGE, SpecialGroup.UNSTABLE,
     SpecialGroup.EDGE_POOR, SpecialGroup.SUDDEN_HARDSHIP, SpecialGroup.MONITORED,
     SpecialGroup.LIFTED_FROM_POVERTY}
)


class Relation(LabelledEnum):
    HEAD = "head"
    SPOUSE = "spouse"
    SON = "son"
    DAUGHTER = "daughter"
    DAUGHTER_IN_LAW = "daughter_in_law"
    SON_IN_LAW = "son_in_law"
    GRANDSON = "grandson"
    GRANDDAUGHTER = "granddaughter"
    FATHER = "father"
    MOTHER = "mother"
    SIBLING = "sibling"
    OTHER = "other"
    __labels__ = {  # type: ignore[assignment]
        "head": "户主", "spouse": "配偶", "son": "子", "daughter": "女",
        "daughter_in_law": "儿媳", "son_in_law": "女婿", "grandson": "孙子",
        "granddaughter": "孙女", "father": "父亲", "mother": "母亲",
        "sibling": "兄弟姐妹", "other": "其他",
    }


class EnrollmentStatus(LabelledEnum):
    PAID = "paid"
    UNPAID = "unpaid"
    SUBSIDISED = "subsidised"
    OTHER_CHANNEL = "other_channel"
    NOT_REQUIRED = "not_required"
    #: 其他渠道参保 last year, carried into a new year until a clerk confirms it (or not).
    TO_VERIFY = "to_verify"
    __labels__ = {  # type: ignore[assignment]
        "paid": "已缴费", "unpaid": "未缴费", "subsidised": "资助参保",
        "other_channel": "其他渠道参保", "not_required": "无需参保", "to_verify": "待核实",
    }

    @property
    def is_required(self) -> bool:
        """Counted in 参保率's denominator: not 无需参保, not 待核实 (unknown until confirmed)."""
        return self not in (EnrollmentStatus.NOT_REQUIRED, EnrollmentStatus.TO_VERIFY)

    @property
    def is_covered(self) -> bool:
        return self in (EnrollmentStatus.PAID, EnrollmentStatus.SUBSIDISED, EnrollmentStatus.OTHER_CHANNEL)


class PaymentChannel(LabelledEnum):
    TAX_APP = "tax_app"
    WECHAT = "wechat"
    BANK = "bank"
    PROXY = "proxy"
    NHSA_APP = "nhsa_app"
    __labels__ = {  # type: ignore[assignment]
        "tax_app": "税务APP", "wechat": "微信", "bank": "银行",
        "proxy": "村级代缴", "nhsa_app": "国家医保服务平台",
    }


class CardStatus(LabelledEnum):
    APPLIED = "applied"
    ASSESSED = "assessed"
    ISSUED = "issued"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"
    __labels__ = {  # type: ignore[assignment]
        "applied": "申请", "assessed": "认定", "issued": "已发卡",
        "refused": "未通过", "cancelled": "注销", "suspended": "暂停",
    }


class AssistanceStatus(LabelledEnum):
    APPLIED = "applied"
    REVIEWED = "reviewed"
    PAID = "paid"
    REFUSED = "refused"
    __labels__ = {"applied": "申请", "reviewed": "审核", "paid": "已发放", "refused": "未通过"}  # type: ignore[assignment]


class ReferralAgency(LabelledEnum):
    """Seed 004 "1+N": agencies a serious case can be referred to."""

    CIVIL_AFFAIRS = "civil_affairs"
    HUMAN_RESOURCES = "human_resources"
    DISABLED_FEDERATION = "disabled_federation"
    CHARITY = "charity"
    RED_CROSS = "red_cross"
    __labels__ = {  # type: ignore[assignment]
        "civil_affairs": "民政", "human_resources": "人社", "disabled_federation": "残联",
        "charity": "慈善", "red_cross": "红十字会",
    }


class HospitalLevel(LabelledEnum):
    TOWNSHIP = "township"
    COUNTY = "county"
    CITY = "city"
    PROVINCE = "province"
    __labels__ = {"township": "乡镇卫生院", "county": "县级", "city": "市级", "province": "省级及以上"}  # type: ignore[assignment]


class ServiceKind(LabelledEnum):
    HOME_VISIT = "home_visit"
    MEDICINE = "medicine"
    QUESTION = "question"
    ERRAND = "errand"
    REMINDER = "reminder"
    __labels__ = {  # type: ignore[assignment]
        "home_visit": "上门", "medicine": "代购药", "question": "答疑",
        "errand": "代办", "reminder": "提醒",
    }


class NoticeKind(LabelledEnum):
    ENROLLMENT = "enrollment"
    CHRONIC = "chronic"
    ASSISTANCE = "assistance"
    POLICY = "policy"
    __labels__ = {  # type: ignore[assignment]
        "enrollment": "参保情况", "chronic": "慢病卡办享情况",
        "assistance": "医疗救助待遇享受情况", "policy": "医保惠民政策",
    }


class OutreachList(LabelledEnum):
    """The work lists a doctor calls through (issue 10)."""

    UNPAID = "unpaid"
    REFILL = "refill"
    __labels__ = {"unpaid": "未缴清单", "refill": "续药提醒"}  # type: ignore[assignment]


class OutreachResult(LabelledEnum):
    """What a call or visit came to: 打通/未接/已承诺/拒缴/已缴 on the 未缴清单 (issue 10 finding 7);
    已提醒/未接通/已取药 on the 续药提醒."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    PROMISED = "promised"
    REFUSED = "refused"
    PAID = "paid"
    REMINDED = "reminded"
    REFILLED = "refilled"
    __labels__ = {  # type: ignore[assignment]
        "reached": "已打通", "no_answer": "未接通", "promised": "已承诺", "refused": "拒缴", "paid": "已缴",
        "reminded": "已提醒", "refilled": "已取药",
    }

    @classmethod
    def of_list(cls, list_kind: str) -> tuple["OutreachResult", ...]:
        """The results a work list offers (an unknown list: none)."""
        return _OUTREACH_RESULTS.get(list_kind, ())

    @classmethod
    def choices(cls, list_kind: str = "unpaid") -> list[tuple[str, str]]:  # type: ignore[override]
        """(code, label) of one list's results; the 未缴清单's unless told."""
        return [(m.value, m.label) for m in cls.of_list(list_kind)]


_OUTREACH_RESULTS: dict[str, tuple[OutreachResult, ...]] = {
    OutreachList.UNPAID.value: (OutreachResult.REACHED, OutreachResult.NO_ANSWER, OutreachResult.PROMISED,
                                OutreachResult.REFUSED, OutreachResult.PAID),
    OutreachList.REFILL.value: (OutreachResult.REMINDED, OutreachResult.NO_ANSWER, OutreachResult.REFILLED),
}
