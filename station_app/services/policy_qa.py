"""政策问答: answers at hand for the 答疑 a village doctor gives (seed 003: 16,136 questions answered).

The list is built from the county's reference data — premium and window, subsidies,
reimbursement rates, the 慢特病 catalogue, the county's policy texts — plus the station's own
entries. Searched by Chinese text or pinyin initials; an answer given is logged as a 答疑
service with its topic, so the 工作台 can count what villagers ask most.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select

from station_app.domain.enums import ServiceKind, SpecialGroup
from station_app.domain.errors import NotFound, ValidationError
from station_app.domain.names import pinyin_keys
from station_app.services.changes import Actor
from station_app.services.enrollment import default_year, yuan
from station_app.services.reference import year_setting
from station_app.services.service_log import record_service
from station_app.services.workspace import Workspace
from station_app.store.models import (
    CountyYearSetting,
    Disease,
    Policy,
    QaEntry,
    ReimbursementRate,
    ServiceEntry,
    SubsidyRule,
)

#: Topics, in the order the list shows them (the county's policy categories map onto these).
TOPICS = ("参保缴费", "资助参保", "待遇报销", "门诊慢特病", "医疗救助", "异地就医", "其他")
_CATEGORY_TOPIC = {"参保缴费": "参保缴费", "资助参保": "资助参保", "待遇标准": "待遇报销", "门诊慢特病": "门诊慢特病",
                   "医疗救助": "医疗救助", "异地就医": "异地就医"}
LEVEL_NAMES = {"township": "乡镇卫生院", "county": "县级医院", "city": "市级医院", "province": "省级医院"}
MAX_QUESTION = 200
MAX_ANSWER = 2000


@dataclass(frozen=True)
class QaItem:
    key: str  # "county:…" for entries built from reference data, the row id for the station's own
    topic: str
    question: str
    answer: str
    source: str  # 县医保局 | 本站
    basis: str = ""  # 政策依据 (文号), where the county gave one
    #: Lower-case search text and pinyin keys, built once.
    haystack: str = field(default="", compare=False, repr=False)
    initials: str = field(default="", compare=False, repr=False)
    spelled: str = field(default="", compare=False, repr=False)

    @property
    def own(self) -> bool:
        return self.source == "本站"


def _indexed(item: QaItem) -> QaItem:
    spelled, initials = pinyin_keys(item.question)
    return QaItem(item.key, item.topic, item.question, item.answer, item.source, item.basis,
                  f"{item.topic}\n{item.question}\n{item.answer}".lower(), initials.lower(), spelled.lower())


# ---------------------------------------------------------------------------- building


def _county_items(ws: Workspace, session, today: date) -> list[QaItem]:
    county = ws.station.county_code
    items: list[QaItem] = []
    year = default_year(ws, today)
    setting = year_setting(session, county, year) if year is not None else None
    if setting is not None:
        items.append(QaItem(
            f"county:premium:{year}", "参保缴费", f"{year}年度医保费每人交多少钱？什么时候缴费？",
            f"{year}年度城乡居民医保个人缴费标准为每人每年{yuan(setting.premium_fen)}元，集中缴费期为"
            f"{setting.collection_start:%Y年%-m月%-d日}至{setting.deadline:%Y年%-m月%-d日}。在集中缴费期内缴费的，"
            f"自{year}年1月1日起享受待遇。可通过税务微信公众号或小程序、国家医保服务平台APP、银行办理，"
            "也可到村卫生室咨询、代办。", "县医保局"))
        rules = list(session.scalars(select(SubsidyRule).where(
            SubsidyRule.county_code == county, SubsidyRule.year == year, SubsidyRule.deleted.is_(False))
            .order_by(SubsidyRule.level, SubsidyRule.special_group)))
        if rules:
            lines = []
            for rule in rules:
                try:
                    who = SpecialGroup(rule.special_group).label
                except ValueError:
                    who = rule.category_name
                what = "全额资助个人缴费" if rule.full else f"每人资助{yuan(rule.amount_fen)}元"
                lines.append(f"{who}：{what}")
            items.append(QaItem(
                f"county:subsidy:{year}", "资助参保", "特困、低保等困难群众交医保费有资助吗？",
                f"{year}年度本县资助参保标准：" + "；".join(lines) + "。资助由政府直接代缴或抵扣，"
                "身份以民政、乡村振兴等部门认定为准，有变化请及时告诉村医。", "县医保局"))
    rate_year = session.scalar(select(func.max(ReimbursementRate.year)).where(
        ReimbursementRate.county_code == county, ReimbursementRate.deleted.is_(False)))
    if rate_year is not None:
        rates = list(session.scalars(select(ReimbursementRate).where(
            ReimbursementRate.county_code == county, ReimbursementRate.year == rate_year,
            ReimbursementRate.deleted.is_(False))))
        order = list(LEVEL_NAMES)
        rates.sort(key=lambda r: order.index(r.hospital_level) if r.hospital_level in order else 99)
        parts = [f"{LEVEL_NAMES.get(r.hospital_level, r.hospital_level)}报销{r.ratio_pct}%（起付标准{yuan(r.deductible_fen)}元）"
                 for r in rates]
        items.append(QaItem(
            f"county:rates:{rate_year}", "待遇报销", "住院能报销多少？起付线是多少？",
            f"{rate_year}年度在定点医疗机构住院，政策范围内费用扣除起付标准后按医院级别报销：" + "，".join(parts)
            + "。到外地就医请先办理异地就医备案。", "县医保局"))
    diseases = list(session.scalars(select(Disease.name).where(Disease.deleted.is_(False)).order_by(Disease.code)))
    if diseases:
        shown = "、".join(diseases[:12]) + ("等" if len(diseases) > 12 else "")
        items.append(QaItem(
            "county:chronic", "门诊慢特病", "哪些慢性病可以办门诊慢特病卡？怎么办？",
            f"本县门诊慢特病病种共{len(diseases)}种，包括{shown}。带身份证、医保电子凭证和二级及以上医院的"
            "诊断证明、近期病历到村卫生室提出申请，村医帮助整理材料报乡镇，县医保局认定后发卡，"
            "从认定通过后开始享受门诊慢特病待遇。", "县医保局"))
    for policy in session.scalars(select(Policy).where(
            Policy.county_code == county, Policy.deleted.is_(False)).order_by(Policy.sort_order, Policy.title)):
        if policy.year is not None and year is not None and policy.year not in (year, year - 1):
            continue  # an older year's text would answer today's question wrongly
        items.append(QaItem(f"county:policy:{policy.id}", _CATEGORY_TOPIC.get(policy.category, "其他"),
                            f"{policy.title}是怎么规定的？", policy.body, "县医保局", policy.doc_no))
    return items


_cache_lock = threading.Lock()
_cache: dict[tuple, list[QaItem]] = {}


def _fingerprint(session) -> tuple:
    """Changes whenever reference data or the station's entries change (their HLCs grow)."""
    parts = []
    for model in (CountyYearSetting, SubsidyRule, ReimbursementRate, Disease, Policy, QaEntry):
        parts.append(session.execute(select(func.count(), func.max(model.updated_hlc))).one())
    return tuple(parts)


def qa_items(ws: Workspace, *, today: date | None = None) -> list[QaItem]:
    """Every entry, county ones first in topic order, then the station's own."""
    today = today or date.today()
    if ws.station is None:
        return []
    with ws.read() as session:
        key = (id(ws), today, _fingerprint(session))
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        items = _county_items(ws, session, today)
        for row in session.scalars(select(QaEntry).where(QaEntry.deleted.is_(False)).order_by(QaEntry.topic)):
            items.append(QaItem(row.id, row.topic, row.question, row.answer, "本站"))
    items = [_indexed(i) for i in items]
    items.sort(key=lambda i: (TOPICS.index(i.topic) if i.topic in TOPICS else len(TOPICS), i.own))
    with _cache_lock:
        _cache.clear()  # one workspace's current list is all a station needs to keep
        _cache[key] = items
    return items


# ---------------------------------------------------------------------------- searching


def search(items: list[QaItem], text: str, *, topic: str = "") -> list[QaItem]:
    """Entries matching every word of ``text`` (Chinese, full pinyin or initials), best first.

    A question hit ranks above an answer-only hit; pure Latin words also match the pinyin of
    the question (``jf`` finds 缴费, ``jiaofei`` too).
    """
    pool = [i for i in items if not topic or i.topic == topic]
    words = [w for w in text.lower().split() if w]
    if not words:
        return pool
    scored = []
    for item in pool:
        score = 0
        for word in words:
            if word in item.question.lower():
                score += 3
            elif word.isascii() and (word in item.initials or word in item.spelled):
                score += 2
            elif word in item.haystack:
                score += 1
            else:
                score = -1
                break
        if score > 0:
            scored.append((-score, item))
    scored.sort(key=lambda pair: pair[0])
    return [item for _score, item in scored]


# ---------------------------------------------------------------------------- writes


def check_entry(topic: str, question: str, answer: str) -> tuple[str, str, str]:
    topic, question, answer = (topic or "").strip(), " ".join((question or "").split()), (answer or "").strip()
    if topic not in TOPICS:
        raise ValidationError(f"请选择主题：{'、'.join(TOPICS)}。", field="topic")
    if not question:
        raise ValidationError("请填写问题。", field="question")
    if len(question) > MAX_QUESTION:
        raise ValidationError(f"问题不能超过 {MAX_QUESTION} 个字。", field="question")
    if not answer:
        raise ValidationError("请填写回答。", field="answer")
    if len(answer) > MAX_ANSWER:
        raise ValidationError(f"回答不能超过 {MAX_ANSWER} 个字。", field="answer")
    return topic, question, answer


def add_entry(ws: Workspace, actor: Actor, *, topic: str, question: str, answer: str) -> str:
    """The station's own entry (e.g. where to pay in this village, the doctor's hours)."""
    topic, question, answer = check_entry(topic, question, answer)
    with ws.unit_of_work(actor, "qa_add") as session:
        row = QaEntry(topic=topic, question=question, answer=answer, village_code=actor.place_code or None)
        session.add(row)
        session.flush()
        return row.id


def edit_entry(ws: Workspace, actor: Actor, entry_id: str, *, topic: str, question: str, answer: str) -> None:
    topic, question, answer = check_entry(topic, question, answer)
    with ws.unit_of_work(actor, "qa_edit") as session:
        row = session.get(QaEntry, entry_id)
        if row is None or row.deleted:
            raise NotFound("找不到这条问答（县医保局的问答不能在本站修改）。")
        row.topic, row.question, row.answer = topic, question, answer


def remove_entry(ws: Workspace, actor: Actor, entry_id: str) -> None:
    with ws.unit_of_work(actor, "qa_remove") as session:
        row = session.get(QaEntry, entry_id)
        if row is None or row.deleted:
            raise NotFound("找不到这条问答（县医保局的问答不能在本站删除）。")
        row.deleted = True


def log_answer(ws: Workspace, actor: Actor, item: QaItem, *, resident_id: str, on: date | None = None,
               today: date | None = None) -> str:
    """One click after answering: a 答疑 service for the person asking, with the topic."""
    note = f"政策问答：{item.question}"[:200]
    return record_service(ws, actor, resident_id=resident_id, kind=ServiceKind.QUESTION.value, on=on,
                          note=note, topic=item.topic, today=today)


def questions_by_topic(ws: Workspace, actor: Actor, *, since: date, until: date | None = None,
                       village_code: str | None = None) -> list[tuple[str, int]]:
    """答疑 counts by topic in a period, most asked first ("未分主题" for those logged without one)."""
    from station_app.services.scope import check_village, in_scope, villages_in_scope

    until = until or date.today()
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
        if village_code:
            check_village(session, actor, village_code)
        query = (select(ServiceEntry.topic, func.count()).where(
            ServiceEntry.deleted.is_(False), ServiceEntry.kind == ServiceKind.QUESTION.value,
            ServiceEntry.service_date >= since, ServiceEntry.service_date <= until,
            in_scope(ServiceEntry.village_code, allowed)).group_by(ServiceEntry.topic))
        if village_code:
            query = query.where(ServiceEntry.village_code == village_code)
        counts = Counter({(topic or "未分主题"): n for topic, n in session.execute(query)})
    return counts.most_common()
