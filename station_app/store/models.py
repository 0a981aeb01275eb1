"""The station database: places, people, the three archives, notices, audit and sync bookkeeping.

Money is stored as integer 分 (fen) to stay exact; years are benefit years (待遇年度).
Enumerated columns hold the English codes of ``station_app.domain.enums``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, SyncedMixin, utcnow

# --------------------------------------------------------------------------- places


class Place(SyncedMixin, Base):
    """County → township → village → group; codes are the administrative division codes."""

    __tablename__ = "place"
    __reference__ = True

    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    level: Mapped[str] = mapped_column(String(12))
    parent_code: Mapped[str | None] = mapped_column(String(20), index=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class Station(SyncedMixin, Base):
    """A village clinic station or a township centre; this database belongs to one."""

    __tablename__ = "station"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    scope: Mapped[str] = mapped_column(String(12))  # StationScope
    place_code: Mapped[str] = mapped_column(String(20))
    county_code: Mapped[str] = mapped_column(String(20))
    supervision_phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(120), default="")


class User(SyncedMixin, Base):
    __tablename__ = "app_user"
    __local_fields__ = frozenset({"password_hash", "failed_logins", "locked_until", "last_login_at"})

    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(20))  # Role
    #: Place the user works for: a village code for 村医, a township code for 专干.
    place_code: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str] = mapped_column(String(20), default="")
    password_hash: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)


# --------------------------------------------------------------------------- people


class Household(SyncedMixin, Base):
    __tablename__ = "household"

    household_no: Mapped[str] = mapped_column(String(30), index=True)
    group_code: Mapped[str | None] = mapped_column(String(20), index=True)
    head_name: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    category: Mapped[str] = mapped_column(String(20), default="general")  # HouseholdCategory
    category_since: Mapped[date | None] = mapped_column(Date)
    helper_name: Mapped[str] = mapped_column(String(40), default="")  # 包帮责任人
    helper_phone: Mapped[str] = mapped_column(String(20), default="")
    note: Mapped[str] = mapped_column(Text, default="")

    members: Mapped[list[Resident]] = relationship(back_populates="household")


class Resident(SyncedMixin, Base):
    __tablename__ = "resident"
    # Search keys are recomputed wherever the name changes; they never travel.
    __local_fields__ = frozenset({"name_pinyin", "name_initials"})
    __table_args__ = (
        Index("ix_resident_village_group", "village_code", "group_code"),
        Index("ix_resident_name_birth", "name", "birth_date"),
        # Covering for the 工作台's one pass over the residents (参保率) and the hardship settlements (0070).
        Index("ix_resident_figures", "deleted", "village_code", "group_code", "special_groups", "status",
              "status_date", "id"),
    )

    household_id: Mapped[str | None] = mapped_column(ForeignKey("household.id"), index=True)
    group_code: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(40))
    name_pinyin: Mapped[str] = mapped_column(String(120), default="")
    name_initials: Mapped[str] = mapped_column(String(20), default="")
    sex: Mapped[str] = mapped_column(String(1))  # Sex
    id_number: Mapped[str] = mapped_column(String(18), index=True)
    birth_date: Mapped[date] = mapped_column(Date)
    phone: Mapped[str] = mapped_column(String(20), default="")
    relation: Mapped[str] = mapped_column(String(20), default="other")  # Relation to head
    status: Mapped[str] = mapped_column(String(12), default="registered")  # ResidentStatus
    status_date: Mapped[date | None] = mapped_column(Date)
    #: Sorted ``,``-joined SpecialGroup codes: one field, so sync merges it as a unit.
    special_groups: Mapped[str] = mapped_column(String(120), default="")
    note: Mapped[str] = mapped_column(Text, default="")

    household: Mapped[Household | None] = relationship(back_populates="members")


# --------------------------------------------------------------------------- county reference


class CountyYearSetting(SyncedMixin, Base):
    """Per benefit year: individual premium and the collection window (汉阴 "时限制")."""

    __tablename__ = "county_year_setting"
    __reference__ = True
    __table_args__ = (UniqueConstraint("county_code", "year"),)

    county_code: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    premium_fen: Mapped[int] = mapped_column(Integer)
    collection_start: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    fiscal_subsidy_fen: Mapped[int] = mapped_column(Integer, default=0)


class SubsidyRule(SyncedMixin, Base):
    """资助参保: how much of the premium the county pays for a special group in a year."""

    __tablename__ = "subsidy_rule"
    __reference__ = True
    __table_args__ = (UniqueConstraint("county_code", "year", "special_group"),)

    county_code: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    special_group: Mapped[str] = mapped_column(String(20))  # SpecialGroup
    category_name: Mapped[str] = mapped_column(String(40))  # e.g. 一类资助
    level: Mapped[int] = mapped_column(Integer, default=1)  # lower = more generous, wins
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    amount_fen: Mapped[int] = mapped_column(Integer, default=0)


class CountyRule(SyncedMixin, Base):
    """A county rule that is not one year's figure, as JSON: enrollment windows and waiting
    periods, who counts as 困难群众, what happens to a 慢特病 card, the targets the county set.

    Keys and their meaning: ``station_app.domain.county_rules``. Reference data like the rest:
    loaded from the county's file, carried to stations by the reference feed, never edited here.
    """

    __tablename__ = "county_rule"
    __reference__ = True
    __table_args__ = (UniqueConstraint("county_code", "key"),)

    county_code: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(60))
    value: Mapped[str] = mapped_column(Text, default="null")  # JSON
    #: Where the rule comes from (文号 or the county's note), shown beside it.
    source: Mapped[str] = mapped_column(Text, default="")


class Disease(SyncedMixin, Base):
    """门诊慢特病 catalogue entry; the catalogue is county reference data, never hard-coded."""

    __tablename__ = "disease"
    __reference__ = True

    county_code: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    category: Mapped[str] = mapped_column(String(40), default="")  # shown on notices
    annual_limit_fen: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AssistanceType(SyncedMixin, Base):
    __tablename__ = "assistance_type"
    __reference__ = True

    county_code: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Which 救助比例 applies: inpatient (住院) or outpatient (门诊慢特病) — domain.entitlement.VisitKind.
    kind: Mapped[str] = mapped_column(String(12), default="inpatient")


class AssistanceRule(SyncedMixin, Base):
    """医疗救助 rule of one 救助对象类别 (1–4) for one kind (住院 / 门诊慢特病) in one year.

    起付标准, 救助比例 (县域内或规范转诊 / 自行异地就医), 年度救助限额 and the 倾斜救助 tier;
    see ``station_app.domain.entitlement`` for how they combine.
    """

    __tablename__ = "assistance_rule"
    __reference__ = True
    __table_args__ = (UniqueConstraint("county_code", "year", "subject_class", "kind"),)

    county_code: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    subject_class: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    deductible_fen: Mapped[int] = mapped_column(Integer, default=0)
    ratio_pct: Mapped[int] = mapped_column(Integer)
    self_referred_ratio_pct: Mapped[int] = mapped_column(Integer)
    annual_limit_fen: Mapped[int] = mapped_column(Integer)
    tilt_threshold_fen: Mapped[int] = mapped_column(Integer, default=0)
    tilt_ratio_pct: Mapped[int] = mapped_column(Integer, default=0)
    tilt_limit_fen: Mapped[int] = mapped_column(Integer, default=0)
    validity_months: Mapped[int] = mapped_column(Integer, default=0)


class BurdenAlertRule(SyncedMixin, Base):
    """高额费用预警 (seed 004 三类户 dynamic monitoring): the yearly 自付 that flags a resident."""

    __tablename__ = "burden_alert_rule"
    __reference__ = True
    __table_args__ = (UniqueConstraint("county_code", "year"),)

    county_code: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    threshold_fen: Mapped[int] = mapped_column(Integer)
    #: Or this share of household income, where the income is known (0: not used).
    income_share_pct: Mapped[int] = mapped_column(Integer, default=0)


class ReimbursementRate(SyncedMixin, Base):
    __tablename__ = "reimbursement_rate"
    __reference__ = True
    __table_args__ = (UniqueConstraint("county_code", "year", "hospital_level"),)

    county_code: Mapped[str] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    hospital_level: Mapped[str] = mapped_column(String(20))  # HospitalLevel
    ratio_pct: Mapped[int] = mapped_column(Integer)
    deductible_fen: Mapped[int] = mapped_column(Integer, default=0)


class Policy(SyncedMixin, Base):
    """A county policy text for the 医保惠民政策 notice."""

    __tablename__ = "policy"
    __reference__ = True

    county_code: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(40), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    doc_no: Mapped[str] = mapped_column(String(80), default="")  # 政策依据（文号）
    year: Mapped[int | None] = mapped_column(Integer)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


# --------------------------------------------------------------------------- archive 1: enrollment


class Enrollment(SyncedMixin, Base):
    __tablename__ = "enrollment"
    __table_args__ = (
        UniqueConstraint("resident_id", "year"),
        Index("ix_enrollment_year_status", "year", "status"),
        # Covering for the 参保率 join of each resident's record of a year (0070).
        Index("ix_enrollment_resident_cover", "resident_id", "year", "deleted", "status"),
    )

    resident_id: Mapped[str] = mapped_column(ForeignKey("resident.id"))
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="unpaid")  # EnrollmentStatus
    subsidy_category: Mapped[str] = mapped_column(String(40), default="")
    subsidy_fen: Mapped[int] = mapped_column(Integer, default=0)
    paid_fen: Mapped[int] = mapped_column(Integer, default=0)
    paid_date: Mapped[date | None] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(20), default="")  # PaymentChannel
    other_channel_note: Mapped[str] = mapped_column(String(60), default="")  # 职工医保, 外地参保 …
    note: Mapped[str] = mapped_column(Text, default="")
    #: First day benefits are paid for this year: 1 January for the 集中缴费期, the birth date
    #: for a newborn, after the 待遇等待期 for a late enrollment (domain.county_rules).
    benefit_start: Mapped[date | None] = mapped_column(Date)


# --------------------------------------------------------------------------- archive 2: chronic cards


class ChronicCard(SyncedMixin, Base):
    __tablename__ = "chronic_card"

    resident_id: Mapped[str] = mapped_column(ForeignKey("resident.id"), index=True)
    disease_code: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="applied")  # CardStatus
    applied_date: Mapped[date] = mapped_column(Date)
    materials: Mapped[str] = mapped_column(Text, default="")
    assessed_date: Mapped[date | None] = mapped_column(Date)
    assessed_by: Mapped[str] = mapped_column(String(60), default="")
    issued_date: Mapped[date | None] = mapped_column(Date)
    card_no: Mapped[str] = mapped_column(String(30), default="")
    benefit_start: Mapped[date | None] = mapped_column(Date)
    refused_reason: Mapped[str] = mapped_column(Text, default="")
    cancelled_date: Mapped[date | None] = mapped_column(Date)
    cancel_reason: Mapped[str] = mapped_column(String(60), default="")
    last_refill_date: Mapped[date | None] = mapped_column(Date)
    supply_days: Mapped[int] = mapped_column(Integer, default=30)
    #: Free-text diagnosis: sensitive, never printed on a notice.
    diagnosis_note: Mapped[str] = mapped_column(Text, default="")
    #: 复审 due (county rule ``card_review_months``); None when the county asks for none.
    review_due: Mapped[date | None] = mapped_column(Date)
    #: 暂停: when and why (参保中断 …); cleared when the card is resumed.
    suspended_date: Mapped[date | None] = mapped_column(Date)
    suspend_reason: Mapped[str] = mapped_column(String(60), default="")


class CardUsage(SyncedMixin, Base):
    """Whether a card holder used the card in a month (卡月使用率)."""

    __tablename__ = "card_usage"
    __table_args__ = (
        UniqueConstraint("card_id", "month"),
        # Covering for the 卡月使用率's used months per card (0070).
        Index("ix_card_usage_cover", "card_id", "month", "used", "deleted", "village_code"),
    )

    card_id: Mapped[str] = mapped_column(ForeignKey("chronic_card.id"))
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM
    used: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(12), default="clinic")  # clinic | settlement
    amount_fen: Mapped[int] = mapped_column(Integer, default=0)


# --------------------------------------------------------------------------- archive 3: assistance


class AssistanceCase(SyncedMixin, Base):
    __tablename__ = "assistance_case"

    resident_id: Mapped[str] = mapped_column(ForeignKey("resident.id"), index=True)
    type_code: Mapped[str] = mapped_column(String(20))
    subject_category: Mapped[str] = mapped_column(String(40), default="")  # 救助对象类别
    hospital: Mapped[str] = mapped_column(String(80), default="")
    hospital_level: Mapped[str] = mapped_column(String(20), default="")
    admitted_on: Mapped[date | None] = mapped_column(Date)
    discharged_on: Mapped[date | None] = mapped_column(Date)
    total_fen: Mapped[int] = mapped_column(Integer, default=0)
    basic_insurance_fen: Mapped[int] = mapped_column(Integer, default=0)
    serious_illness_fen: Mapped[int] = mapped_column(Integer, default=0)  # 大病保险
    assistance_fen: Mapped[int] = mapped_column(Integer, default=0)
    self_pay_fen: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), default="applied")  # AssistanceStatus
    applied_date: Mapped[date] = mapped_column(Date)
    reviewed_date: Mapped[date | None] = mapped_column(Date)
    reviewed_by: Mapped[str] = mapped_column(String(40), default="")
    paid_date: Mapped[date | None] = mapped_column(Date)
    refused_reason: Mapped[str] = mapped_column(Text, default="")
    diagnosis_note: Mapped[str] = mapped_column(Text, default="")  # sensitive
    note: Mapped[str] = mapped_column(Text, default="")
    #: The county's 结算 the case assists (None: entered by hand).
    settlement_id: Mapped[str | None] = mapped_column(String(36), index=True)
    #: 政策范围内个人自付: the base of the entitlement (domain.entitlement).
    policy_self_pay_fen: Mapped[int] = mapped_column(Integer, default=0)
    route: Mapped[str] = mapped_column(String(16), default="")  # Route
    #: 四类 (因病致贫重病患者): the date the identity was recognised (valid 12 months).
    subject_since: Mapped[date | None] = mapped_column(Date)
    #: The amount the county's rules suggested when the case was saved (None: no rule applied).
    suggested_fen: Mapped[int | None] = mapped_column(Integer)
    #: Why the amount departs from the suggestion (required when it does).
    deviation_reason: Mapped[str] = mapped_column(Text, default="")


class Settlement(SyncedMixin, Base):
    """One 结算 summary from the national platform's one-stop settlement, as the county gives it.

    Written by the county server only and delivered to the stations of the resident's village;
    stations read it (待落实, 落实率, 高额费用预警) and never write it.
    """

    __tablename__ = "settlement"
    __server_authored__ = True
    __table_args__ = (Index("ix_settlement_resident_day", "resident_id", "settled_on"),)

    #: The platform's 结算流水号 (the natural key).
    settlement_no: Mapped[str] = mapped_column(String(40), unique=True)
    resident_id: Mapped[str] = mapped_column(String(36))
    settled_on: Mapped[date] = mapped_column(Date)
    admitted_on: Mapped[date | None] = mapped_column(Date)
    hospital: Mapped[str] = mapped_column(String(80), default="")
    hospital_level: Mapped[str] = mapped_column(String(20), default="")  # HospitalLevel
    kind: Mapped[str] = mapped_column(String(12))  # VisitKind
    route: Mapped[str] = mapped_column(String(16), default="in_county")  # Route
    total_fen: Mapped[int] = mapped_column(Integer, default=0)
    basic_insurance_fen: Mapped[int] = mapped_column(Integer, default=0)
    serious_illness_fen: Mapped[int] = mapped_column(Integer, default=0)
    #: 政策范围内个人自付 (after 基本医保 and 大病保险).
    policy_self_pay_fen: Mapped[int] = mapped_column(Integer, default=0)


class SettlementReview(SyncedMixin, Base):
    """A 待落实 settlement marked 不适用 by the clerk, with the reason (audited, synced)."""

    __tablename__ = "settlement_review"

    settlement_id: Mapped[str] = mapped_column(String(36), unique=True)
    resident_id: Mapped[str] = mapped_column(String(36), index=True)
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(40), default="")
    decided_on: Mapped[date] = mapped_column(Date)


class BurdenAlert(SyncedMixin, Base):
    """高额费用预警 of one resident in one year and the township clerk's outcome."""

    __tablename__ = "burden_alert"
    __table_args__ = (UniqueConstraint("resident_id", "year"),)

    resident_id: Mapped[str] = mapped_column(String(36))
    year: Mapped[int] = mapped_column(Integer)
    #: Evidence when decided: the year's 政策范围内自付 and the threshold it passed.
    burden_fen: Mapped[int] = mapped_column(Integer, default=0)
    threshold_fen: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(16), default="")  # monitor | not_monitor
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(40), default="")
    decided_on: Mapped[date | None] = mapped_column(Date)


class AssistanceReferral(SyncedMixin, Base):
    """Seed 004 "1+N": a serious case referred to another agency, and what came of it."""

    __tablename__ = "assistance_referral"

    case_id: Mapped[str] = mapped_column(ForeignKey("assistance_case.id"), index=True)
    agency: Mapped[str] = mapped_column(String(24))  # ReferralAgency
    referred_date: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(120), default="")
    outcome_date: Mapped[date | None] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(Integer, default=0)


# --------------------------------------------------------------------------- service log


class ServiceEntry(SyncedMixin, Base):
    __tablename__ = "service_entry"
    __table_args__ = (Index("ix_service_entry_date", "service_date"),)

    resident_id: Mapped[str] = mapped_column(ForeignKey("resident.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # ServiceKind
    service_date: Mapped[date] = mapped_column(Date)
    doctor_username: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")
    #: For 答疑: the policy topic asked about (政策问答's topic), so questions are counted by topic.
    topic: Mapped[str] = mapped_column(String(40), default="")


class QaEntry(SyncedMixin, Base):
    """A station's own 政策问答 entry, beside those built from the county's reference data."""

    __tablename__ = "qa_entry"

    topic: Mapped[str] = mapped_column(String(40))
    question: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(Text)


class Outreach(SyncedMixin, Base):
    """One call or visit of a work list (未缴清单, 续药提醒) and its outcome (issue 10: 应办尽办).

    Synced like the service log, so the next person working the list (the clerk, a colleague
    at the township) sees who was called, when, and what they said.
    """

    __tablename__ = "outreach"
    __table_args__ = (Index("ix_outreach_list", "list_kind", "year"),)

    resident_id: Mapped[str] = mapped_column(ForeignKey("resident.id"), index=True)
    list_kind: Mapped[str] = mapped_column(String(12))  # OutreachList: unpaid | refill
    year: Mapped[int | None] = mapped_column(Integer)  # the enrollment year of an 未缴 list
    result: Mapped[str] = mapped_column(String(12))  # OutreachResult
    promised_date: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    done_on: Mapped[date] = mapped_column(Date)
    done_by: Mapped[str] = mapped_column(String(40))


# --------------------------------------------------------------------------- notices


class Notice(SyncedMixin, Base):
    """An issued public notice, archived as printed (PDF, source data, hash)."""

    __tablename__ = "notice"
    #: Where this station keeps its copy of the PDF: a local path never taken from the wire
    #: (issue 9: a village could otherwise choose which file the township's 「打开」 opens).
    __local_fields__ = frozenset({"pdf_path"})

    kind: Mapped[str] = mapped_column(String(16))  # NoticeKind
    group_code: Mapped[str | None] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(120))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    supervision_phone: Mapped[str] = mapped_column(String(40), default="")
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(40))
    pdf_path: Mapped[str] = mapped_column(String(260), default="")
    data_json: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    #: The earlier version this notice replaces (same kind, place and year), and why (issue 11).
    replaces_id: Mapped[str | None] = mapped_column(String(36))
    change_reason: Mapped[str] = mapped_column(String(200), default="")


class NoticeObjection(SyncedMixin, Base):
    """异议 received during the 公示期, with its outcome."""

    __tablename__ = "notice_objection"

    notice_id: Mapped[str] = mapped_column(ForeignKey("notice.id"), index=True)
    received_date: Mapped[date] = mapped_column(Date)
    raised_by: Mapped[str] = mapped_column(String(40), default="")
    content: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text, default="")
    outcome_date: Mapped[date | None] = mapped_column(Date)


# --------------------------------------------------------------------------- local bookkeeping


class AuditEntry(Base):
    """Who changed what, when, before → after. Local to the station; never synced."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_row", "table_name", "row_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(40))
    station_code: Mapped[str] = mapped_column(String(32), default="")
    action: Mapped[str] = mapped_column(String(40))  # insert | update | delete | a use-case name
    table_name: Mapped[str] = mapped_column(String(40), default="")
    row_id: Mapped[str] = mapped_column(String(36), default="")
    #: JSON; ID numbers inside are masked before they are written here (PIPL).
    before_json: Mapped[str] = mapped_column(Text, default="")
    after_json: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(String(200), default="")


class OutboxOp(Base):
    """One local change waiting to be pushed: only the fields that changed travel."""

    __tablename__ = "sync_outbox"
    __table_args__ = (Index("ix_outbox_state", "state", "seq"),)
    #: No RETURNING of server defaults (``username``): a data migration older than 0071 writes
    #: ops through this model into a table without that column.
    __mapper_args__ = {"eager_defaults": False}

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    op_id: Mapped[str] = mapped_column(String(36), unique=True)
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    table_name: Mapped[str] = mapped_column(String(40))
    row_id: Mapped[str] = mapped_column(String(36))
    village_code: Mapped[str | None] = mapped_column(String(20))
    op: Mapped[str] = mapped_column(String(8))  # insert | update | delete
    fields_json: Mapped[str] = mapped_column(Text)
    base_version: Mapped[int] = mapped_column(Integer, default=0)
    hlc: Mapped[str] = mapped_column(String(64))
    #: Who made the change (sent as op key ``u`` to a server that takes it).
    #: No Python default: an op written without it (a data migration older than 0071) leaves
    #: the column out of the INSERT and the database fills in "".
    username: Mapped[str] = mapped_column(String(40), server_default="")
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending|sent|accepted|rejected
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SyncState(Base):
    """Key/value sync bookkeeping: HLC state, pull cursors, last success, server skew."""

    __tablename__ = "sync_state"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class SyncConflict(Base):
    """A field where a remote change beat a local one: both values kept for review."""

    __tablename__ = "sync_conflict"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(40))
    row_id: Mapped[str] = mapped_column(String(36))
    field: Mapped[str] = mapped_column(String(40))
    local_value: Mapped[str] = mapped_column(Text, default="")
    remote_value: Mapped[str] = mapped_column(Text, default="")
    local_hlc: Mapped[str] = mapped_column(String(64), default="")
    remote_hlc: Mapped[str] = mapped_column(String(64), default="")
    detected_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: Who made the competing change, as the server said: its user and its station's name.
    remote_user: Mapped[str] = mapped_column(String(40), default="", server_default="")
    remote_station: Mapped[str] = mapped_column(String(80), default="", server_default="")
    resolution: Mapped[str] = mapped_column(String(12), default="")  # '' | mine | theirs
    resolved_by: Mapped[str] = mapped_column(String(40), default="")
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)


class AppSetting(Base):
    """Station-local settings (e.g. masking mode, 公示期 days); not synced."""

    __tablename__ = "app_setting"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


SYNCED_MODELS: tuple[type[SyncedMixin], ...] = tuple(
    m.class_ for m in Base.registry.mappers if issubclass(m.class_, SyncedMixin)
)
MODEL_BY_TABLE: dict[str, type[SyncedMixin]] = {m.__tablename__: m for m in SYNCED_MODELS}  # type: ignore[attr-defined]
