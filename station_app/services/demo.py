"""Deterministic demo township (汉阴县漩涡镇): places, users, households and the three archives."""

from __future__ import annotations

import heapq
import logging
import random
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any, Callable, Sequence

from sqlalchemy import delete, text, update
from sqlalchemy.orm import Session

from station_app.domain.enums import (
    HARDSHIP_GROUPS,
    AssistanceStatus,
    CardStatus,
    EnrollmentStatus,
    HouseholdCategory,
    PaymentChannel,
    PlaceLevel,
    ReferralAgency,
    Relation,
    ResidentStatus,
    Role,
    ServiceKind,
    SpecialGroup,
)
from station_app.domain.county_rules import PaymentRefused, decide_benefit_start, parse_rules
from station_app.domain.errors import ValidationError
from station_app.domain.idnumber import make_id
from station_app.domain.names import pinyin_keys
from station_app.store.base import chunks
from station_app.store.models import (
    AssistanceCase,
    AssistanceReferral,
    CardUsage,
    ChronicCard,
    Enrollment,
    Household,
    OutboxOp,
    Resident,
    ServiceEntry,
    Station,
    User,
)

from station_app.domain import entitlement as ent
from station_app.store.models import Settlement, SettlementReview

from .auth import hash_password, setup_station
from .changes import system_actor
from .reference import demo_reference_path, load_reference, read_reference_file, yuan_to_fen
from .workspace import Workspace

logger = logging.getLogger(__name__)

#: The default "today": a fixed date so two runs with one seed give the same database.
DEFAULT_TODAY = date(2026, 11, 23)

REGION_CODE = "610921"  # 汉阴县, the address code of every demo ID number
TOWNSHIP_CODE = "610921103000"
TOWNSHIP_NAME = "漩涡镇"
STATION_CODE = "610921103-ZX"
STATION_NAME = "漩涡镇医保服务中心"
SUPERVISION_PHONE = "0915-5212345"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin123"
DEMO_PASSWORD = "demo123"
MAX_VILLAGES = 99  # village committee codes run 201–299 (GB/T 10114: 2xx = 村委会)

#: Rows per bulk insert: big enough to amortise the statement, small enough to keep memory flat.
CHUNK = 5000
#: How far back the service log and the card-usage history reach.
SERVICE_DAYS = 182
USAGE_MONTHS = 12

ProgressFn = Callable[[int, int, str], None]

#: 困难群众 codes (see enums.HARDSHIP_GROUPS) as plain strings for the hot loops.
HARDSHIP_CODES = frozenset(g.value for g in HARDSHIP_GROUPS)


@dataclass
class DemoSummary:
    """What ``build_demo`` wrote; ``str()`` is the short Chinese line the CLI prints."""

    villages: int = 0
    groups: int = 0
    households: int = 0
    residents: int = 0
    users: int = 0
    enrollments: int = 0
    chronic_cards: int = 0
    card_usages: int = 0
    assistance_cases: int = 0
    referrals: int = 0
    settlements: int = 0
    settlement_reviews: int = 0
    service_entries: int = 0
    #: Wall seconds per phase, for the benchmark; not part of the data.
    phase_seconds: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    #: The encrypted database's recovery key made at set-up (None: plaintext), printed once by the CLI.
    recovery_key: str | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return (f"{self.villages} 个村，{self.residents} 名居民（{self.households} 户），"
                f"参保记录 {self.enrollments} 条，慢特病卡 {self.chronic_cards} 张，"
                f"医疗救助 {self.assistance_cases} 件，服务记录 {self.service_entries} 条")


# --------------------------------------------------------------------------- vocabularies

# Approximate national frequencies (per mille), most common first; villages boost a few clans.
SURNAMES = (
    ("王", 72), ("李", 72), ("张", 68), ("刘", 54), ("陈", 45), ("杨", 31), ("黄", 22), ("赵", 23),
    ("吴", 20), ("周", 19), ("徐", 17), ("孙", 15), ("马", 15), ("朱", 13), ("胡", 13), ("郭", 12),
    ("何", 12), ("林", 8), ("高", 10), ("罗", 9), ("郑", 8), ("梁", 7), ("谢", 7), ("宋", 6),
    ("唐", 6), ("许", 5), ("韩", 5), ("冯", 5), ("邓", 5), ("曹", 5), ("彭", 5), ("曾", 4),
    ("肖", 4), ("田", 4), ("董", 4), ("袁", 4), ("潘", 3), ("蒋", 3), ("蔡", 3), ("余", 3),
    ("杜", 3), ("叶", 3), ("程", 3), ("苏", 3), ("魏", 3), ("吕", 3), ("丁", 3), ("任", 3),
    ("沈", 4), ("姚", 2), ("卢", 2), ("姜", 2), ("崔", 2), ("钟", 2), ("谭", 2), ("陆", 2),
    ("汪", 2), ("范", 2), ("金", 2), ("石", 2), ("廖", 2), ("贾", 2), ("夏", 2), ("付", 2),
    ("方", 2), ("邹", 2), ("熊", 2), ("秦", 2), ("邱", 2), ("江", 2), ("侯", 2), ("雷", 2),
    ("龚", 2), ("万", 1), ("段", 1), ("史", 1), ("陶", 1), ("贺", 1), ("毛", 1), ("郝", 1),
)

# Given names by birth cohort and sex: a 1950s grandmother is 秀英, her granddaughter 梓涵.
GIVEN_NAMES = {
    (0, "M"): "德明 家富 永福 有才 世荣 富贵 长林 德贵 光明 振华 国庆 建国 学文 明亮 万福 金山 玉林 "
              "正兴 海清 忠良 兴旺 长顺 文斌 保国 春生 德胜 宗林 发财 顺成 世明".split(),
    (0, "F"): "秀英 桂英 玉兰 秀兰 淑珍 桂兰 凤英 兰英 玉珍 翠花 素芳 春兰 秀珍 金花 桂芳 菊花 玉梅 "
              "秀芝 凤兰 月娥 巧云 冬梅 银花 翠英 德秀 淑英 玉芳 招弟".split(),
    (1, "M"): "建华 建军 国强 志刚 卫东 红军 小平 勇 军 平 伟 强 明 涛 斌 建平 志勇 海峰 永红 文华 "
              "国平 新民 长江 振国 宏伟 德华 春林 庆华 立新 安平 朝阳".split(),
    (1, "F"): "红梅 丽华 秀梅 春霞 小红 艳 霞 芳 丽 燕 红 琴 萍 玲 敏 桂香 晓燕 海燕 丽萍 会琴 "
              "翠萍 小琴 彩霞 凤琴 艳萍 春梅 红英".split(),
    (2, "M"): "磊 鹏 杰 超 浩 亮 刚 波 辉 俊 帅 飞 龙 鑫 晓东 海涛 建伟 俊杰 文杰 小龙 志强 明辉 "
              "晓峰 家乐 振宇 成龙 林 洋 阳".split(),
    (2, "F"): "婷 静 丹 娟 莉 倩 敏 娜 雪 慧 佳 琳 蕾 晶 丽娟 小燕 婷婷 丹丹 晓丽 雪梅 春燕 佳佳 "
              "金凤 欢 露 瑶".split(),
    (3, "M"): "子轩 浩然 宇轩 俊熙 梓豪 一鸣 皓轩 子豪 博文 宇航 浩宇 思远 宇泽 睿 奕辰 俊宇 嘉豪 "
              "明轩 天佑 铭 泽宇 梓睿 若轩 沐阳 锦程".split(),
    (3, "F"): "欣怡 梓涵 诗涵 雨桐 可馨 梓萱 思涵 紫涵 语嫣 一诺 佳怡 雨涵 若曦 欣妍 梦瑶 雨萱 子萱 "
              "诗琪 思彤 静怡 悦 芮 语桐 梓琪 安琪".split(),
}

MOBILE_PREFIXES = ("130 131 132 133 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 "
                   "173 177 180 181 182 183 185 186 187 188 189 191 198 199").split()

VILLAGE_NAMES = ("群英 堰坪 中堰 观音河 田堰 东河 茨沟 黄龙 金星 马河 兴隆 胜利 梨树 凤江 甘岩 塘坊 "
                 "双河 新联 天星 石门 长松 柳树 白果 茶园 板桥 大河 麻柳 桂花 油坊 龙泉 太平 红岩 "
                 "青龙 花园 水井 中心 前进").split()
VILLAGE_PREFIXES = "石 龙 凤 金 青 白 黄 桃 杨 竹 松 枫 花 茶 柏 鹿 三 双 新 庙 狮 云 铜 银".split()
VILLAGE_SUFFIXES = "坪 沟 河 湾 坝 岭 垭 岩 园 台 关 桥 滩 溪".split()
GROUP_NUMERALS = "一 二 三 四 五 六 七 八 九 十 十一 十二".split()

HOSPITALS = {
    "township": ("漩涡镇中心卫生院", "汉阳镇中心卫生院"),
    "county": ("汉阴县人民医院", "汉阴县中医医院"),
    "city": ("安康市中心医院", "安康市中医医院"),
    "province": ("西安交通大学第一附属医院", "陕西省人民医院", "空军军医大学西京医院"),
}

#: Disease weights for card holders over 40 (by catalogue name); 高血压 and 糖尿病 dominate.
DISEASE_WEIGHTS_ADULT = {
    "高血压": 38, "糖尿病": 20, "冠心病": 7, "脑卒中": 6, "慢性阻塞性肺疾病": 6, "慢性心力衰竭": 2,
    "心房颤动": 1.5, "心肌病": 0.5, "支气管哮喘": 2, "慢性病毒性肝炎（中度或重度）": 1, "肝硬化": 1,
    "慢性肾脏病": 1.5, "类风湿性关节炎": 2, "强直性脊柱炎": 0.3, "帕金森病": 1.2, "癫痫": 0.6,
    "严重精神障碍": 2, "耐多药肺结核": 0.3, "重度骨质疏松症": 1.2, "青光眼": 0.8, "特发性血小板减少性紫癜": 0.1,
    "恶性肿瘤门诊治疗（含白血病）": 3, "慢性肾功能衰竭（尿毒症期）": 1.2, "器官移植抗排异治疗": 0.2,
    "再生障碍性贫血": 0.2, "系统性红斑狼疮": 0.3, "重症肌无力": 0.2, "阿尔茨海默病": 1,
}
#: Younger holders have other diseases: children's conditions, epilepsy, psychosis, lupus …
DISEASE_WEIGHTS_YOUNG = {
    "儿童孤独症": 3, "儿童脑瘫": 3, "癫痫": 4, "严重精神障碍": 5, "系统性红斑狼疮": 1.5, "强直性脊柱炎": 1.5,
    "慢性肾功能衰竭（尿毒症期）": 1.5, "恶性肿瘤门诊治疗（含白血病）": 1.5, "血友病": 0.5,
    "再生障碍性贫血": 0.8, "重症肌无力": 0.5, "特发性血小板减少性紫癜": 1, "支气管哮喘": 2, "糖尿病": 1,
    "慢性病毒性肝炎（中度或重度）": 1,
}
CHILD_ONLY = ("儿童孤独症", "儿童脑瘫")
ELDER_ONLY = {"阿尔茨海默病": 60, "帕金森病": 50, "重度骨质疏松症": 50}

DIAGNOSIS_NOTES = {
    "高血压": ("原发性高血压2级", "原发性高血压3级（高危）", "高血压2级，规律服药"),
    "糖尿病": ("2型糖尿病", "2型糖尿病伴周围神经病变", "2型糖尿病，胰岛素治疗"),
    "冠心病": ("冠状动脉粥样硬化性心脏病", "冠心病，PCI术后"),
    "脑卒中": ("脑梗死后遗症", "脑出血恢复期"),
    "慢性阻塞性肺疾病": ("慢性阻塞性肺疾病（GOLD 3级）", "慢阻肺，长期家庭氧疗"),
    "慢性肾功能衰竭（尿毒症期）": ("慢性肾衰竭（尿毒症期），规律血液透析",),
    "恶性肿瘤门诊治疗（含白血病）": ("肺恶性肿瘤化疗中", "胃恶性肿瘤术后", "乳腺恶性肿瘤内分泌治疗"),
}
MEDICINES = {
    "高血压": ("降压药（硝苯地平缓释片）", "降压药（苯磺酸氨氯地平片）", "降压药（厄贝沙坦片）"),
    "糖尿病": ("降糖药（二甲双胍缓释片）", "降糖药（格列美脲片）", "胰岛素注射液"),
    "冠心病": ("阿司匹林肠溶片、阿托伐他汀钙片",),
    "脑卒中": ("阿司匹林肠溶片、阿托伐他汀钙片",),
    "慢性阻塞性肺疾病": ("吸入剂（噻托溴铵粉雾剂）",),
}
ASSIST_DIAGNOSES = ("脑梗死", "肺部感染", "慢性阻塞性肺疾病急性加重", "股骨颈骨折", "冠心病（PCI术后）",
                    "胆囊结石伴胆囊炎", "上消化道出血", "肺恶性肿瘤", "胃恶性肿瘤", "乳腺恶性肿瘤",
                    "重症肺炎", "脑出血", "糖尿病酮症酸中毒", "腰椎间盘突出症", "急性心肌梗死")

CARD_MATERIALS = "身份证复印件；二级及以上医院诊断证明；近期检查报告"
CARD_MATERIALS_SERIOUS = "身份证复印件；二级及以上医院出院小结；病理或检查报告"
CARD_REFUSALS = ("检查结果未达到该病种认定标准", "材料不全：未提供二级及以上医院诊断证明",
                 "病程记录不足，建议规范治疗3个月后再申请", "所患疾病不在本县门诊慢特病目录内")
DEVIATION_REASONS = ("部分费用经复核属于政策范围外", "已获民政临时救助，按规定扣减", "经乡镇复核，本次住院部分为转诊前费用")
NOT_APPLICABLE_REASONS = ("外伤由第三方承担，不属于医疗救助范围", "已在县外一站式结算时享受救助",
                          "本人书面放弃申请")
ASSIST_REFUSALS = ("不属于医疗救助对象范围", "费用不属于政策范围内费用", "未在定点医疗机构就医",
                   "申请材料不全，逾期未补齐")
MOVE_NOTES = ("婚迁外县", "迁往安康市区", "迁往西安市", "随子女迁往外地")
OTHER_CHANNELS = {
    "employee": "职工医保", "elsewhere": "外地参保", "military": "军人", "student": "学生在外地",
}

REMINDER_NOTES = ("电话提醒按时取药，药快用完了", "提醒按时服药、定期复查", "提醒本月慢特病卡取药",
                  "提醒复查血压、血糖")
VISIT_NOTES = ("上门随访，测血压", "上门随访，测血糖", "上门了解用药情况", "上门随访，讲解慢特病报销")
QUESTION_NOTES = ("解答{y}年度缴费标准和截止日期", "解答住院报销比例", "解答异地就医备案办法",
                  "解答门诊慢特病办理流程", "解答大病保险报销", "解答医疗救助申请条件", "解答参保等待期规定")
ERRAND_NOTES = ("代办异地就医备案", "代交报销材料到镇卫生院", "协助激活医保电子凭证")

# Payment day within the 122-day window (day ranges, share): most households pay in the first
# weeks; young adults working away often pay in the last weeks before the deadline.
PAY_DAY_SEGMENTS = ((0, 29, 0.5), (30, 60, 0.3), (61, 90, 0.12), (91, 121, 0.08))
LATE_PAY_DAY_SEGMENTS = ((0, 29, 0.25), (30, 60, 0.3), (61, 90, 0.25), (91, 121, 0.2))


# --------------------------------------------------------------------------- small helpers


class _Pick:
    """Weighted choice with precomputed cumulative weights (rng.choices recomputes them)."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, items: Sequence[Any], weights: Sequence[float]):
        self.items = list(items)
        self.cum = list(accumulate(weights))
        self.total = self.cum[-1]

    def __call__(self, rng: random.Random) -> Any:
        # min(): random() * total can round up to total itself.
        return self.items[min(bisect_right(self.cum, rng.random() * self.total), len(self.items) - 1)]


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)


def _uuid(rng: random.Random) -> str:
    """Same text as ``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, without the object."""
    h = f"{(rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` exactly (largest remainder)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    parts = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _sample_weighted(rng: random.Random, items: Sequence[Any], weights: Sequence[float], k: int) -> list[Any]:
    """k items without replacement, chance in proportion to weight (Efraimidis–Spirakis keys)."""
    keyed = [(rng.random() ** (1.0 / w), i) for i, w in enumerate(weights) if w > 0]
    return [items[i] for _key, i in heapq.nlargest(k, keyed)]


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year - years, day=28)


def _next_month_start(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def _month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _phone(rng: random.Random) -> str:
    # random() scaled rather than choice()/randrange(): this runs for most of 60,000 people.
    return MOBILE_PREFIXES[int(rng.random() * len(MOBILE_PREFIXES))] + f"{int(rng.random() * 1e8):08d}"


def _cohort(birth_year: int) -> int:
    return 0 if birth_year < 1960 else 1 if birth_year < 1980 else 2 if birth_year < 2000 else 3


# --------------------------------------------------------------------------- in-memory model


class _Village:
    __slots__ = ("code", "name", "groups", "doctor", "surnames", "households", "people")

    def __init__(self, code: str, name: str, groups: list[tuple[str, str]]):
        self.code, self.name, self.groups = code, name, groups
        self.doctor = ""
        self.surnames: _Pick | None = None
        self.households: list[_Household] = []
        self.people: list[_Person] = []


class _Household:
    __slots__ = ("id", "no", "village", "group", "group_name", "members", "category", "category_since",
                 "helper_name", "helper_phone", "address", "kind")

    def __init__(self, hid: str, no: str, village: _Village, group: str, group_name: str, kind: str):
        self.id, self.no, self.village, self.group, self.group_name = hid, no, village, group, group_name
        self.kind = kind
        self.members: list[_Person] = []
        self.category = HouseholdCategory.GENERAL.value
        self.category_since: date | None = None
        self.helper_name = self.helper_phone = self.address = ""


class _Person:
    __slots__ = ("id", "household", "name", "sex", "age", "birth", "relation", "phone", "id_number",
                 "status", "status_date", "groups", "other_channel", "other_since", "note", "cards",
                 "cases", "medicine_runner")

    def __init__(self, pid: str, household: _Household, relation: str, sex: str, age: int):
        self.id, self.household, self.relation, self.sex, self.age = pid, household, relation, sex, age
        self.name = self.phone = self.id_number = self.note = self.other_channel = ""
        self.birth = DEFAULT_TODAY
        self.status = ResidentStatus.REGISTERED.value
        self.status_date: date | None = None
        self.groups: list[str] = []
        self.other_since = 0
        self.cards: list[dict[str, Any]] = []
        self.cases: list[dict[str, Any]] = []
        self.medicine_runner = False

    @property
    def village(self) -> _Village:
        return self.household.village

    def active_on(self, day: date) -> bool:
        """Still living in the village on ``day`` (not yet died or moved out)."""
        return self.status_date is None or day < self.status_date


# --------------------------------------------------------------------------- household shapes

HEAD, SPOUSE, SON, DAUGHTER = Relation.HEAD.value, Relation.SPOUSE.value, Relation.SON.value, Relation.DAUGHTER.value
DIL, SIL = Relation.DAUGHTER_IN_LAW.value, Relation.SON_IN_LAW.value
GRANDSON, GRANDDAUGHTER = Relation.GRANDSON.value, Relation.GRANDDAUGHTER.value
FATHER, MOTHER, SIBLING = Relation.FATHER.value, Relation.MOTHER.value, Relation.SIBLING.value

Member = tuple[str, str, int]  # (relation, sex, age)

#: Household sizes 1–7 (mean ≈ 3.5, rural Shaanxi: many elderly couples and three-generation homes).
SIZE_PICK = _Pick(range(1, 8), (10, 20, 20, 22, 15, 9, 4))
#: Household shape by size: nuclear family, elderly head with a married son ("down"), a couple
#: with the head's parents ("up"), grandparents raising grandchildren ("skip", 隔代户).
KIND_PICK = {
    3: _Pick(("nuclear", "down", "up", "skip"), (55, 15, 15, 15)),
    4: _Pick(("nuclear", "down", "up", "skip"), (50, 22, 20, 8)),
    5: _Pick(("nuclear", "down", "up", "skip"), (25, 47, 25, 3)),
    6: _Pick(("nuclear", "down", "up"), (8, 62, 30)),
    7: _Pick(("nuclear", "down", "up"), (3, 67, 30)),
}


def _couple(rng: random.Random, head_age: int) -> tuple[list[Member], int]:
    """Head and spouse; returns them and the wife's age (children are counted from her)."""
    if rng.random() < 0.88:
        wife = max(19, head_age - rng.randint(-2, 5))
        return [(HEAD, "M", head_age), (SPOUSE, "F", wife)], wife
    husband = min(98, head_age + rng.randint(-2, 5))
    return [(HEAD, "F", head_age), (SPOUSE, "M", husband)], head_age


def _children(rng: random.Random, mother_age: int, count: int, boy: str, girl: str) -> list[Member]:
    out: list[Member] = []
    age = mother_age - rng.randint(21, 32)
    if age < 0:
        age = rng.randint(0, max(0, mother_age - 19))
    for _ in range(count):
        sex = "M" if rng.random() < 0.52 else "F"
        out.append((boy if sex == "M" else girl, sex, _child_age(rng, age)))
        age -= rng.randint(1, 6)
    return out


def _child_age(rng: random.Random, age: int) -> int:
    """A child the spacing would place before birth gets a young age spread over 0–9 rather than 0:
    clamping them all to 0 made the demo's births of this year ~1.7× last year's (issue 17.8)."""
    return age if age >= 0 else rng.randint(0, 9)


def _compose(rng: random.Random, size: int) -> tuple[str, list[Member]]:
    """A household of ``size`` people with relations and ages that fit together."""
    if size == 1:
        if rng.random() < 0.62:
            return "single_elder", [(HEAD, "F" if rng.random() < 0.55 else "M", rng.randint(62, 92))]
        return "single", [(HEAD, "M" if rng.random() < 0.8 else "F", rng.randint(26, 61))]
    if size == 2:
        r = rng.random()
        if r < 0.62:
            return "couple", _couple(rng, rng.randint(48, 88))[0]
        if r < 0.80:
            return "young_couple", _couple(rng, rng.randint(22, 40))[0]
        if r < 0.95:
            age = rng.randint(52, 88)
            child_age = max(18, age - rng.randint(22, 34))
            sex = "M" if rng.random() < 0.65 else "F"
            return "parent_child", [(HEAD, "F" if rng.random() < 0.6 else "M", age),
                                    (SON if sex == "M" else DAUGHTER, sex, child_age)]
        age = rng.randint(40, 80)
        sex = "M" if rng.random() < 0.6 else "F"
        return "siblings", [(HEAD, "M", age), (SIBLING, sex, max(30, age + rng.randint(-8, 8)))]

    kind = KIND_PICK[size](rng)
    if kind == "nuclear":
        kids = size - 2
        members, wife = _couple(rng, rng.randint(min(26 + 3 * kids, 50), 58))
        return kind, members + _children(rng, wife, kids, SON, DAUGHTER)
    if kind == "up":
        room = size - 2
        parents = 2 if room >= 3 and rng.random() < 0.45 else 1
        kids = room - parents
        head_age = rng.randint(max(28, 24 + 3 * kids), 55)
        members, wife = _couple(rng, head_age)
        elder = min(96, head_age + rng.randint(22, 33))
        if parents == 2:
            members += [(FATHER, "M", elder), (MOTHER, "F", max(head_age + 19, elder - rng.randint(0, 4)))]
        elif rng.random() < 0.7:
            members.append((MOTHER, "F", elder))
        else:
            members.append((FATHER, "M", elder))
        return kind, members + _children(rng, wife, kids, SON, DAUGHTER)
    if kind == "skip":
        head_age = rng.randint(56, 80)
        if size >= 4 and rng.random() < 0.85:
            members = _couple(rng, head_age)[0]
        else:
            members = [(HEAD, "F" if rng.random() < 0.5 else "M", head_age)]
        for _ in range(size - len(members)):
            sex = "M" if rng.random() < 0.52 else "F"
            members.append((GRANDSON if sex == "M" else GRANDDAUGHTER, sex, rng.randint(1, 16)))
        return kind, members
    # "down": an elderly head, the married child and grandchildren, maybe a younger child.
    head_age = rng.randint(52, 82)
    if size >= 4 and rng.random() < 0.8:
        members = _couple(rng, head_age)[0]
    else:
        members = [(HEAD, "M" if rng.random() < 0.55 else "F", head_age)]
    child_age = max(22, head_age - rng.randint(22, 32))
    if rng.random() < 0.88:
        partner = max(20, child_age - rng.randint(-2, 5))
        members += [(SON, "M", child_age), (DIL, "F", partner)]
        mother = partner
    else:  # 上门女婿: the daughter stays and her husband joins the household
        members += [(DAUGHTER, "F", child_age), (SIL, "M", child_age + rng.randint(-2, 5))]
        mother = child_age
    room = size - len(members)
    grandchildren = room if room <= 3 else room - 1
    members += _children(rng, mother, grandchildren, GRANDSON, GRANDDAUGHTER)
    for _ in range(room - grandchildren):
        sex = "M" if rng.random() < 0.5 else "F"
        members.append((SON if sex == "M" else DAUGHTER, sex, max(14, child_age - rng.randint(2, 10))))
    return kind, members


# --------------------------------------------------------------------------- the builder


@dataclass(frozen=True)
class _YearSetting:
    premium_fen: int
    start: date
    deadline: date


@dataclass(frozen=True)
class _Rule:
    category: str
    level: int
    full: bool
    amount_fen: int


class _Builder:
    """Generates the township in memory, phase by phase, then writes it with bulk inserts."""

    def __init__(self, reference: dict[str, Any], *, villages: int, residents: int, seed: int, today: date):
        self.reference = reference
        self.n_villages, self.n_residents, self.today = villages, residents, today
        master = random.Random(seed)
        # One stream per phase, so tuning one phase never reshuffles what the others generate.
        (self.rng_places, self.rng_people, self.rng_groups, self.rng_enroll, self.rng_cards,
         self.rng_assist, self.rng_service, self.rng_ids) = (random.Random(master.getrandbits(64)) for _ in range(8))
        self.rng_settle = random.Random(master.getrandbits(64))
        self.settlements: list[dict[str, Any]] = []
        self.settlement_reviews: list[dict[str, Any]] = []
        self.county_code: str = reference["county"]["code"]
        self._read_reference()
        self._init_county_rules()
        self.villages: list[_Village] = []
        self.households: list[_Household] = []
        self.people: list[_Person] = []
        self.cards: list[dict[str, Any]] = []
        self.usages: list[dict[str, Any]] = []
        self.cases: list[dict[str, Any]] = []
        self.referrals: list[dict[str, Any]] = []
        self.services: list[dict[str, Any]] = []
        self.unpaid_open_year: list[_Person] = []
        self._id_used: set[int] = set()
        self._birth_spans: dict[int, tuple[int, int]] = {}
        self._never_last: dict[int, bool] = {}
        self._skip_last: dict[int, bool] = {}
        self.all_surnames = _Pick([s for s, _w in SURNAMES], [w for _s, w in SURNAMES])

    # -- reference ----------------------------------------------------------------------------

    def _read_reference(self) -> None:
        d = date.fromisoformat
        ref = self.reference
        self.settings = {int(s["year"]): _YearSetting(yuan_to_fen(s["premium_yuan"]), d(s["collection_start"]),
                                                      d(s["deadline"])) for s in ref.get("year_settings", [])}
        self.rules: dict[int, dict[str, _Rule]] = {}
        for r in ref.get("subsidy_rules", []):
            self.rules.setdefault(int(r["year"]), {})[r["special_group"]] = _Rule(
                r["category_name"], int(r.get("level", 1)), bool(r.get("full")), yuan_to_fen(r.get("amount_yuan", 0)))
        self.diseases = [(x["code"], x["name"], x.get("category", "")) for x in ref.get("diseases", [])
                         if x.get("active", True)]
        self.disease_by_code = {code: (name, category) for code, name, category in self.diseases}
        self.assistance_types = [(x["code"], x["name"]) for x in ref.get("assistance_types", [])]
        self.rates = {(int(x["year"]), x["hospital_level"]): (int(x["ratio_pct"]), yuan_to_fen(x.get("deductible_yuan", 0)))
                      for x in ref.get("reimbursement_rates", [])}
        self.assistance_rules = {(int(x["year"]), int(x["subject_class"]), x["kind"]): ent.AssistanceRule(
            int(x["subject_class"]), x["kind"], yuan_to_fen(x.get("deductible_yuan", 0)), int(x["ratio_pct"]),
            int(x.get("self_referred_ratio_pct", x["ratio_pct"])), yuan_to_fen(x["annual_limit_yuan"]),
            yuan_to_fen(x.get("tilt_threshold_yuan", 0)), int(x.get("tilt_ratio_pct", 0)),
            yuan_to_fen(x.get("tilt_limit_yuan", 0)), int(x.get("validity_months", 0)))
            for x in ref.get("assistance_rules", [])}
        self.assistance_types = [(code, name) for code, name in self.assistance_types
                                 if next((x.get("active", True) for x in ref.get("assistance_types", [])
                                          if x["code"] == code), True)]
        if not (self.settings and self.diseases and self.assistance_types):
            raise ValueError("demo reference needs year_settings, diseases and assistance_types")

    def year_setting(self, year: int) -> _YearSetting:
        if year in self.settings:
            return self.settings[year]
        # Outside the file's years: the nearest year's premium with the usual Sep–Dec window.
        nearest = self.settings[min(self.settings, key=lambda y: (abs(y - year), -y))]
        return _YearSetting(nearest.premium_fen, date(year - 1, 9, 1), date(year - 1, 12, 31))

    def year_rules(self, year: int) -> dict[str, _Rule]:
        if not self.rules:
            return {}
        return self.rules.get(year) or self.rules[min(self.rules, key=lambda y: (abs(y - year), -y))]

    def rate(self, year: int, level: str) -> tuple[int, int]:
        if (year, level) in self.rates:
            return self.rates[(year, level)]
        years = [y for (y, lv) in self.rates if lv == level]
        if not years:
            return 70, 0
        return self.rates[(min(years, key=lambda y: (abs(y - year), -y)), level)]

    def assistance_code(self, name_prefix: str) -> str:
        for code, name in self.assistance_types:
            if name.startswith(name_prefix):
                return code
        return self.assistance_types[0][0]

    def new_id(self) -> str:
        return _uuid(self.rng_ids)

    # -- places ---------------------------------------------------------------------------

    def make_places(self) -> list[dict[str, Any]]:
        rng = self.rng_places
        fixed = VILLAGE_NAMES[:4]  # 群英村, 堰坪村 … come first, as in the seeds and test fixtures
        rest = list(VILLAGE_NAMES[4:])
        rng.shuffle(rest)
        names = fixed + rest
        if self.n_villages > len(names):
            extra = [p + s for p in VILLAGE_PREFIXES for s in VILLAGE_SUFFIXES if p + s not in VILLAGE_NAMES]
            rng.shuffle(extra)
            names += extra
        places = [dict(code=TOWNSHIP_CODE, name=TOWNSHIP_NAME, level=PlaceLevel.TOWNSHIP.value,
                       parent_code=self.county_code, sort_order=1)]
        for i, name in enumerate(names[: self.n_villages], start=1):
            code = f"{TOWNSHIP_CODE[:9]}{200 + i:03d}"
            groups = [(f"{code}{g:02d}", f"{GROUP_NUMERALS[g - 1]}组") for g in range(1, rng.randint(4, 9) + 1)]
            village = _Village(code, name + "村", groups)
            village.doctor = f"cy{i:02d}"
            clans = rng.sample(range(30), 3)  # two or three big clans per village
            village.surnames = _Pick([s for s, _w in SURNAMES],
                                     [w * (8 if k in clans else 1) for k, (_s, w) in enumerate(SURNAMES)])
            self.villages.append(village)
            places.append(dict(code=code, name=village.name, level=PlaceLevel.VILLAGE.value,
                               parent_code=TOWNSHIP_CODE, sort_order=i))
            places += [dict(code=g, name=gname, level=PlaceLevel.GROUP.value, parent_code=code, sort_order=k)
                       for k, (g, gname) in enumerate(groups, start=1)]
        return places

    # -- people ---------------------------------------------------------------------------

    def make_people(self) -> None:
        rng = self.rng_people
        sizes = _apportion(self.n_residents, [rng.uniform(0.6, 1.5) for _ in self.villages])
        for village, target in zip(self.villages, sizes):
            group_sizes = _apportion(target, [rng.uniform(0.5, 1.5) for _ in village.groups])
            serial = 0
            for (group, group_name), left in zip(village.groups, group_sizes):
                while left > 0:
                    size = min(SIZE_PICK(rng), left)
                    left -= size
                    serial += 1
                    self._household(rng, village, group, group_name, serial, size)

    def _household(self, rng: random.Random, village: _Village, group: str, group_name: str,
                   serial: int, size: int) -> None:
        kind, shape = _compose(rng, size)
        hh = _Household(self.new_id(), f"{village.code[-6:]}{serial:04d}", village, group, group_name, kind)
        hh.address = f"汉阴县漩涡镇{village.name}{group_name}{rng.randint(1, 90)}号"
        head_surname = village.surnames(rng)  # type: ignore[misc]
        spouse_surname = self._other_surname(rng, head_surname)
        head_sex = shape[0][1]
        has_spouse = any(rel == SPOUSE for rel, _s, _a in shape)
        # Children carry the father's line: the head's, a husband's, or a late husband's.
        if head_sex == "M":
            family = head_surname
        elif has_spouse:
            family = spouse_surname
        else:
            family = village.surnames(rng)  # type: ignore[misc]
        taken: set[str] = set()
        for relation, sex, age in shape:
            if relation == HEAD or relation in (FATHER, SIBLING):
                surname = head_surname
            elif relation == SPOUSE:
                surname = spouse_surname
            elif relation in (SON, DAUGHTER, GRANDSON, GRANDDAUGHTER):
                surname = family
            else:  # daughters- and sons-in-law, the head's mother: born into another family
                surname = self._other_surname(rng, head_surname)
            person = _Person(self.new_id(), hh, relation, sex, age)
            person.birth = self._birth(rng, age)
            pool = GIVEN_NAMES[(_cohort(person.birth.year), sex)]
            for _ in range(12):
                name = surname + pool[int(rng.random() * len(pool))]
                if name not in taken:
                    break
            taken.add(name)
            person.name = name
            person.id_number = self._id_number(rng, person.birth, sex)
            if age >= 18:
                has_phone = rng.random() < (0.9 if age <= 70 else 0.45)
            else:
                has_phone = age >= 16 and rng.random() < 0.3
            person.phone = _phone(rng) if has_phone else ""
            hh.members.append(person)
            village.people.append(person)
            self.people.append(person)
        village.households.append(hh)
        self.households.append(hh)

    def _other_surname(self, rng: random.Random, avoid: str) -> str:
        surname = self.all_surnames(rng)
        return surname if surname != avoid else self.all_surnames(rng)

    def _birth(self, rng: random.Random, age: int) -> date:
        """A birthday that makes the person exactly ``age`` today (周岁)."""
        span = self._birth_spans.get(age)
        if span is None:
            latest = _years_before(self.today, age).toordinal()
            earliest = _years_before(self.today, age + 1).toordinal() + 1
            span = self._birth_spans[age] = (earliest, latest)
        return date.fromordinal(span[0] + int(rng.random() * (span[1] - span[0] + 1)))

    def _id_number(self, rng: random.Random, birth: date, sex: str) -> str:
        odd = 1 if sex == "M" else 0  # GB 11643: odd sequence for men, even for women
        while True:
            sequence = int(rng.random() * 500) * 2 + odd
            key = birth.toordinal() * 1000 + sequence
            if key not in self._id_used:
                self._id_used.add(key)
                return make_id(REGION_CODE, birth, sequence)

    def adult_name(self, rng: random.Random, village: _Village | None = None) -> str:
        surname = village.surnames(rng) if village else self.all_surnames(rng)  # type: ignore[misc]
        sex = "M" if rng.random() < 0.7 else "F"
        return surname + rng.choice(GIVEN_NAMES[(rng.choice((1, 2)), sex)])

    # -- special groups, statuses, other channels -------------------------------------------

    def assign_attributes(self) -> None:
        rng = self.rng_groups
        n = len(self.people)
        hhs = self.households
        code = SpecialGroup

        def mark(person: _Person, group: str) -> None:
            if group not in person.groups:
                person.groups.append(group)

        def take_households(weights: list[float], share: float, group: str, single_share: float = 0.0) -> None:
            covered, target = 0, share * n
            for hh in _sample_weighted(rng, hhs, weights, len(hhs)):
                if covered >= target:
                    break
                members = hh.members
                if single_share and len(members) >= 4 and rng.random() < single_share:
                    members = [max(members, key=lambda p: p.age)]  # 单人保: usually the old or ill one
                for person in members:
                    mark(person, group)
                covered += len(members)

        def in_group(hh: _Household, *groups: str) -> bool:
            return any(g in p.groups for p in hh.members for g in groups)

        # Household-based identities first (脱贫户, 低保户, 监测户, 低保边缘户).
        take_households([1.0] * len(hhs), 0.12, code.LIFTED_FROM_POVERTY.value)
        take_households([3.0 if in_group(h, code.LIFTED_FROM_POVERTY.value) else
                         2.5 if h.kind in ("single_elder", "couple", "siblings") else 1.0 for h in hhs],
                        0.05, code.MINIMUM_LIVING.value, single_share=0.3)
        take_households([0.0 if in_group(h, code.MINIMUM_LIVING.value) else
                         2.0 if in_group(h, code.LIFTED_FROM_POVERTY.value) else 1.0 for h in hhs],
                        0.02, code.MONITORED.value)
        take_households([0.0 if in_group(h, code.MINIMUM_LIVING.value, code.MONITORED.value) else 1.0 for h in hhs],
                        0.008, code.LOW_INCOME_EDGE.value)

        # 特困: old people with nobody to support them; exclusive of 低保 by definition.
        weights = [6.0 if p.household.kind == "single_elder" else 4.0 if p.household.kind == "siblings" and p.age >= 50
                   else 0.15 if p.age >= 60 else 0.02 if p.age >= 18 else 0.0 for p in self.people]
        for person in _sample_weighted(rng, self.people, weights, round(0.008 * n)):
            person.groups = [g for g in person.groups if g not in (
                code.MINIMUM_LIVING.value, code.LOW_INCOME_EDGE.value, code.MONITORED.value)]
            mark(person, code.EXTREME_POVERTY.value)
        weights = [2.0 if p.age >= 60 else 1.0 if p.age >= 18 else 0.6 for p in self.people]
        for person in _sample_weighted(rng, self.people, weights, round(0.015 * n)):
            mark(person, code.SEVERE_DISABILITY.value)
        # 孤儿/事实无人抚养儿童: children living with grandparents only (隔代户).
        weights = [1.0 if p.household.kind == "skip" and p.age < 18 else 0.0 for p in self.people]
        for person in _sample_weighted(rng, self.people, weights, round(0.001 * n)):
            mark(person, code.ORPHAN.value)

        # Died (mostly the old) and moved out (mostly young adults); heads stay to keep households whole.
        candidates = [p for p in self.people if p.relation != HEAD]
        weights = [12.0 if p.age >= 80 else 6.0 if p.age >= 70 else 2.0 if p.age >= 60 else 0.15 for p in candidates]
        died = _sample_weighted(rng, candidates, weights, round(0.01 * n))
        for person in died:
            person.status = ResidentStatus.DIED.value
            person.status_date = max(person.birth + timedelta(days=1), self.today - timedelta(days=rng.randint(1, 730)))
        left = [p for p in candidates if p.status_date is None]
        weights = [5.0 if 18 <= p.age <= 40 else 1.0 if 41 <= p.age <= 60 else 0.4 for p in left]
        for person in _sample_weighted(rng, left, weights, round(0.02 * n)):
            person.status = ResidentStatus.MOVED_OUT.value
            person.status_date = max(person.birth + timedelta(days=1), self.today - timedelta(days=rng.randint(1, 1095)))
            person.note = rng.choice(MOVE_NOTES)

        # 其他渠道参保: employees, insured where they work, soldiers, students away at college.
        year = self.today.year
        candidates = [p for p in self.people if 18 <= p.age <= 58 and not p.groups and p.status_date is None]
        weights = [3.0 if p.age <= 22 else 1.5 if p.age <= 45 else 0.8 for p in candidates]
        for person in _sample_weighted(rng, candidates, weights, round(0.04 * n)):
            r = rng.random()
            if person.age <= 22:
                kind = "student" if r < 0.7 else "military" if r < 0.8 and person.sex == "M" else "elsewhere"
            elif person.age <= 25 and person.sex == "M" and r < 0.08:
                kind = "military"
            else:
                kind = "employee" if rng.random() < 0.5 else "elsewhere"
            person.other_channel = OTHER_CHANNELS[kind]
            r = rng.random()
            person.other_since = year - 1 if r < 0.85 else year if r < 0.95 else year + 1

    # -- archive 1: enrollment ------------------------------------------------------------

    @staticmethod
    def _pay_day(rng: random.Random, start: date, segments=PAY_DAY_SEGMENTS) -> date:
        r, acc = rng.random(), 0.0
        for first, last, share in segments:
            acc += share
            if r < acc:
                break
        return start + timedelta(days=first + int(rng.random() * (last - first + 1)))

    @staticmethod
    def _channel(rng: random.Random, elderly_only: bool) -> str:
        c = PaymentChannel
        r = rng.random()
        if elderly_only:  # old people mostly pay through the village (代缴)
            return (c.PROXY if r < 0.5 else c.WECHAT if r < 0.65 else c.TAX_APP if r < 0.8 else
                    c.BANK if r < 0.95 else c.NHSA_APP).value
        return (c.TAX_APP if r < 0.32 else c.WECHAT if r < 0.62 else c.PROXY if r < 0.80 else
                c.BANK if r < 0.88 else c.NHSA_APP).value

    def enrollment_rows(self, year: int) -> list[dict[str, Any]]:
        """One row per resident alive in the benefit year; [] before its collection opens."""
        rng = self.rng_enroll
        random_ = rng.random
        setting = self.year_setting(year)
        today = self.today
        if today < setting.start:
            return []
        premium, start = setting.premium_fen, setting.start
        rules = self.year_rules(year)
        year_start, year_end = date(year, 1, 1), date(year, 12, 31)
        is_open = today <= setting.deadline
        # Enum values hoisted: this loop runs once per resident per year.
        paid_, unpaid_, subsidised_ = EnrollmentStatus.PAID.value, EnrollmentStatus.UNPAID.value, EnrollmentStatus.SUBSIDISED.value
        other_, not_required_ = EnrollmentStatus.OTHER_CHANNEL.value, EnrollmentStatus.NOT_REQUIRED.value
        proxy_, died_ = PaymentChannel.PROXY.value, ResidentStatus.DIED.value
        rows: list[dict[str, Any]] = []
        append = rows.append
        for index, hh in enumerate(self.households):
            members = hh.members
            village_code = hh.village.code
            ages = [p.age for p in members]
            adults = [a for a in ages if a >= 18]
            young_household = bool(adults) and max(adults) <= 45
            has_young = any(18 <= a <= 45 for a in ages)
            mixed = has_young and any(a < 18 or a > 45 for a in ages)
            # Seed 000: whole young households that do not pay, and homes where "only the old and
            # the young paid"; a household that skipped last year is likely to skip again.
            never = random_() < (0.4 if self._never_last.get(index) else 0.03 if young_household else 0.005)
            skip_young = mixed and random_() < (0.4 if self._skip_last.get(index) else 0.06)
            self._never_last[index], self._skip_last[index] = never, skip_young
            household_day = self._pay_day(rng, start)
            channel = self._channel(rng, bool(adults) and min(adults) >= 60)
            for person in members:
                if person.birth > year_end:
                    continue
                status, subsidy_category, subsidy, paid, paid_date, pay_channel = unpaid_, "", 0, 0, None, ""
                other_note = note = ""
                day = household_day if random_() < 0.85 else self._pay_day(rng, start)
                newborn = person.birth >= start  # enrolled after birth, outside the window
                if newborn:
                    day = min(year_end, max(day, person.birth + timedelta(days=rng.randint(5, 40))))
                if person.status_date is not None and person.status_date < year_start:
                    status = not_required_
                    note = "已死亡" if person.status == died_ else "已迁出"
                elif person.other_channel and year >= person.other_since:
                    status, other_note = other_, person.other_channel
                else:
                    rule = None
                    for group in person.groups:
                        candidate = rules.get(group)
                        if candidate and (rule is None or (candidate.level, -candidate.amount_fen)
                                          < (rule.level, -rule.amount_fen)):
                            rule = candidate
                    if rule is not None:
                        if rule.full:  # paid by the county in bulk early in the window (资助代缴)
                            day = max(start + timedelta(days=rng.randint(10, 75)), day if newborn else start)
                            if day <= today:
                                status, subsidy_category, subsidy = subsidised_, rule.category, premium
                                paid_date, pay_channel = day, proxy_
                        else:
                            if any(g in HARDSHIP_CODES for g in person.groups):
                                # 困难群众 target 100%: the village sees to it early in the window.
                                day = min(day, start + timedelta(days=rng.randint(10, 75)))
                                declines = False
                            else:
                                declines = never and random_() < 0.5
                            if not declines and day <= today:
                                subsidy = min(rule.amount_fen, premium)
                                status, subsidy_category, paid = subsidised_, rule.category, premium - subsidy
                                paid_date, pay_channel = day, channel
                    else:
                        young = 18 <= person.age <= 45
                        declines = never or (skip_young and young) or random_() < (0.004 if young else 0.0015)
                        if young and not newborn and random_() < 0.5:
                            day = self._pay_day(rng, start, LATE_PAY_DAY_SEGMENTS)
                        if not declines and day <= today:
                            status, paid, paid_date, pay_channel = paid_, premium, day, channel
                    if status == unpaid_ and is_open and person.status_date is None:
                        self.unpaid_open_year.append(person)
                append(self._apply_enrollment_rules(person, setting, year, dict(
                    id=self.new_id(), village_code=village_code, row_version=1, resident_id=person.id,
                    year=year, status=status, subsidy_category=subsidy_category, subsidy_fen=subsidy,
                    paid_fen=paid, paid_date=paid_date, channel=pay_channel, other_channel_note=other_note,
                    note=note)))
        return rows

    # -- the county's rules (issue 17: enrollment through the year, cards that follow the person) ---

    def _init_county_rules(self) -> None:
        rules = self.reference.get("rules") or {}
        self.county_rules = parse_rules({k: (v.get("value") if isinstance(v, dict) else v) for k, v in rules.items()})
        #: Person id → benefit years covered, for the cards' yearly check.
        self.covered_years: dict[str, set[int]] = {}

    def _apply_enrollment_rules(self, person: _Person, setting: _YearSetting, year: int,
                                row: dict[str, Any]) -> dict[str, Any]:
        """What the app would accept: no payment before birth, none the county's rules refuse
        (a year already over, a waiting period past the year's end) — those stay 未缴费 —
        and the 待遇起始 the rules give (domain.county_rules.decide_benefit_start)."""
        paid_on = row["paid_date"]
        row["benefit_start"] = None
        if row["status"] == EnrollmentStatus.OTHER_CHANNEL.value:
            self.covered_years.setdefault(person.id, set()).add(year)
        if paid_on is None:
            return row
        if paid_on < person.birth:
            paid_on = person.birth + timedelta(days=self.rng_enroll.randint(5, 40))
        try:
            if paid_on > self.today:
                raise PaymentRefused("", "future")
            decision = decide_benefit_start(
                year=year, paid_on=paid_on, collection_start=setting.start, deadline=setting.deadline,
                birth_date=person.birth, special_groups=",".join(sorted(person.groups)), gap_years=0,
                rules=self.county_rules)
        except PaymentRefused:
            row.update(status=EnrollmentStatus.UNPAID.value, subsidy_category="", subsidy_fen=0, paid_fen=0,
                       paid_date=None, channel="")
            return row
        row.update(paid_date=paid_on, benefit_start=decision.benefit_start)
        self.covered_years.setdefault(person.id, set()).add(year)
        return row

    def _card_dates(self, rng: random.Random, assessed: date, issued: date) -> dict[str, Any]:
        """待遇起始 by the county's rule (month after 审批通过), and the next 复审 due: the first
        anniversary not long before today (reviews done on time, a few overdue)."""
        rules = self.county_rules
        start = rules.card_benefit_start_of(assessed, issued)
        due = rules.review_due(start)
        if due is not None:
            horizon = self.today - timedelta(days=rng.randint(0, 40))
            while due < horizon:
                due = rules.review_due(due)
        return dict(benefit_start=start, review_due=due)

    def follow_enrollment_cards(self) -> None:
        """Cards follow the person: an issued card of a holder not covered for this year is paused
        (参保中断) from 1 January, or cancelled, as the county's rule says."""
        action = self.county_rules.card_without_enrollment
        if action == "keep":
            return
        year = self.today.year
        year_start = date(year, 1, 1)
        for card in self.cards:
            if card["status"] != CardStatus.ISSUED.value or card["benefit_start"] is None:
                continue
            if year in self.covered_years.get(card["resident_id"], ()):
                continue
            on = max(year_start, card["issued_date"])
            if action == "cancel":
                card.update(status=CardStatus.CANCELLED.value, cancelled_date=on, cancel_reason="参保中断")
            else:
                card.update(status=CardStatus.SUSPENDED.value, suspended_date=on, suspend_reason="参保中断")

    # -- archive 2: chronic cards ---------------------------------------------------------

    def _disease_pick(self, weights: dict[str, float], default: float) -> _Pick:
        codes = [code for code, _name, _cat in self.diseases]
        return _Pick(codes, [weights.get(name, default) for _code, name, _cat in self.diseases])

    def make_cards(self) -> None:
        rng = self.rng_cards
        adult_pick = self._disease_pick(DISEASE_WEIGHTS_ADULT, 0.05)
        young_pick = self._disease_pick(DISEASE_WEIGHTS_YOUNG, 0.0)
        fallback_adult = self.diseases[0][0]
        counter = 0
        for person in self.people:
            age = person.age
            if age > 40:
                chance = 0.03 if age <= 50 else 0.065 if age <= 60 else 0.12 if age <= 70 else 0.16
            elif age >= 3:
                chance = 0.004
            else:
                continue
            if rng.random() >= chance:
                continue
            count = 2 if age > 40 and rng.random() < 0.06 else 1  # e.g. 高血压 and 糖尿病 together
            chosen: list[str] = []
            for _ in range(count):
                for _try in range(8):
                    code = (adult_pick if age > 40 else young_pick)(rng)
                    name = self.disease_by_code[code][0]
                    fits = (age < 18 or name not in CHILD_ONLY) and age >= ELDER_ONLY.get(name, 0)
                    if fits and code not in chosen:
                        break
                else:
                    if age <= 40 or fallback_adult in chosen:
                        continue
                    code = fallback_adult
                chosen.append(code)
                counter += 1
                self._card(rng, person, code, counter)

    def _card(self, rng: random.Random, person: _Person, code: str, counter: int) -> None:
        today = self.today
        name, category = self.disease_by_code[code]
        class_one = category.startswith("Ⅰ")
        C = CardStatus
        card = dict(
            id=self.new_id(), village_code=person.village.code, row_version=1, resident_id=person.id,
            disease_code=code, status=C.ISSUED.value, applied_date=today,
            materials=CARD_MATERIALS_SERIOUS if class_one else CARD_MATERIALS, assessed_date=None,
            assessed_by="", issued_date=None, card_no="", benefit_start=None, refused_reason="",
            cancelled_date=None, cancel_reason="", last_refill_date=None, supply_days=30,
            diagnosis_note=rng.choice(DIAGNOSIS_NOTES.get(name, (name,))),
            review_due=None, suspended_date=None, suspend_reason="",
        )
        assessor = (rng.choice(("汉阴县人民医院", "县医保局专家组")) if class_one
                    else "漩涡镇中心卫生院" if rng.random() < 0.7 else "汉阴县人民医院")
        earliest = person.birth + timedelta(days=365)

        def issue(issued: date) -> None:
            assessed = issued - timedelta(days=rng.randint(7, 15))  # 公示 7 days before the card
            card.update(applied_date=max(earliest, assessed - timedelta(days=rng.randint(7, 25))),
                        assessed_date=assessed, assessed_by=assessor, issued_date=issued,
                        card_no=f"MT{issued.year}{counter:05d}", **self._card_dates(rng, assessed, issued))

        if person.status_date is not None:
            # Died or moved: the card was cancelled when the village learned of it.
            issued = max(earliest + timedelta(days=40), person.status_date - timedelta(days=rng.randint(30, 2000)))
            if issued >= person.status_date:
                return  # gone before a card could have been issued
            issue(issued)
            card.update(status=C.CANCELLED.value,
                        cancelled_date=min(today, person.status_date + timedelta(days=rng.randint(1, 30))),
                        cancel_reason="死亡" if person.status == ResidentStatus.DIED.value else "迁出")
        else:
            r = rng.random()
            if r < 0.86:
                # Most cards are a few years old; new ones keep coming (新增门诊慢特病卡).
                issue(max(earliest + timedelta(days=40),
                          today - timedelta(days=1 + int(2190 * rng.random() ** 1.35))))
                if card["benefit_start"] <= today:
                    supply = rng.choice((15, 30, 30, 30, 60))
                    refill = today - timedelta(days=rng.randint(0, min(40, supply + 3)))
                    card.update(supply_days=supply, last_refill_date=max(card["benefit_start"], refill))
                    person.medicine_runner = rng.random() < (0.45 if person.age >= 70 else 0.12)
            elif r < 0.91:
                applied = max(earliest, today - timedelta(days=rng.randint(20, 1000)))
                card.update(status=C.REFUSED.value, applied_date=applied, assessed_by=assessor,
                            assessed_date=min(today, applied + timedelta(days=rng.randint(7, 25))),
                            refused_reason=rng.choice(CARD_REFUSALS))
            elif r < 0.94:
                issue(max(earliest + timedelta(days=40), today - timedelta(days=rng.randint(200, 2000))))
                card.update(status=C.CANCELLED.value,
                            cancelled_date=min(today, card["issued_date"] + timedelta(days=rng.randint(90, 900))),
                            cancel_reason=("治愈" if name in ("耐多药肺结核", "慢性病毒性肝炎（中度或重度）") else
                                           rng.choice(("其他：本人申请注销", "参保中断", "复审未通过"))))
            elif r < 0.97:
                card.update(status=C.APPLIED.value, applied_date=today - timedelta(days=rng.randint(0, 20)))
            else:
                assessed = today - timedelta(days=rng.randint(0, 6))  # in its 公示 week
                card.update(status=C.ASSESSED.value, assessed_date=assessed, assessed_by=assessor,
                            applied_date=assessed - timedelta(days=rng.randint(7, 25)))
        person.cards.append(card)
        self.cards.append(card)

    def make_usage(self) -> None:
        """Monthly use of every card held in the last 12 months, rising from ~51% to ~80% (seed 003)."""
        rng = self.rng_cards
        months: list[date] = []
        first = date(self.today.year, self.today.month, 1)
        for _ in range(USAGE_MONTHS):
            months.append(first)
            first = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
        months.reverse()
        last = len(months) - 1
        for card in self.cards:
            benefit_start = card["benefit_start"]
            if benefit_start is None:
                continue
            class_one = self.disease_by_code[card["disease_code"]][1].startswith("Ⅰ")
            bias = rng.uniform(-0.18, 0.18) + (0.2 if class_one else 0.0)  # dialysis is monthly
            cancelled = card["cancelled_date"] or card.get("suspended_date")
            for i, month in enumerate(months):
                if month < benefit_start:
                    continue
                if cancelled is not None and month > cancelled:
                    break
                chance = min(0.98, max(0.03, 0.51 + 0.29 * i / last + bias))
                used = rng.random() < chance
                amount = 0
                if used:
                    amount = rng.randint(150_000, 800_000) if class_one else rng.randint(3_000, 30_000)
                self.usages.append(dict(
                    id=self.new_id(), village_code=card["village_code"], row_version=1, card_id=card["id"],
                    month=_month_key(month), used=used,
                    source="settlement" if rng.random() < 0.85 else "clinic", amount_fen=amount))

    # -- archive 3: medical assistance ----------------------------------------------------

    def make_cases(self) -> None:
        """A year of the county's 结算 and the cases opened for them, then older cases entered by hand."""
        self.make_settlements()
        self.settlement_cases()
        rng = self.rng_assist
        hardship = HARDSHIP_CODES
        weights = []
        for p in self.people:
            w = 1.0
            if any(g in hardship for g in p.groups):
                w += 8
            elif p.groups:
                w += 3
            for card in p.cards:
                if card["issued_date"] is not None:
                    w += 6 if self.disease_by_code[card["disease_code"]][1].startswith("Ⅰ") else 3
            if p.age >= 60:
                w += 1
            if p.age < 18:
                w *= 0.5
            if p.status == ResidentStatus.MOVED_OUT.value:
                w *= 0.3
            weights.append(w)
        # Before the settlement year only (those cases came from paper claims).
        for person in _sample_weighted(rng, self.people, weights, round(0.008 * len(self.people))):
            self._case(rng, person, hardship)

    def _subject(self, person: _Person) -> tuple[str, int | None]:
        """救助对象类别 (一至三类 by special group; issue 17.7) and the class, or 四类 for anyone else."""
        klass = ent.class_of_groups(SpecialGroup(g).label for g in person.groups)
        if klass is None:
            return ent.SUBJECT_LABELS[ent.ILLNESS_CLASS], None
        return ent.SUBJECT_LABELS[klass], klass

    def _case(self, rng: random.Random, person: _Person, hardship: frozenset[str]) -> None:
        today = self.today
        subject, klass = self._subject(person)
        code = self.assistance_code
        r = rng.random()
        if klass is not None:
            type_name = "住院救助" if r < 0.62 else "门诊救助" if r < 0.84 else "重特大疾病救助" if r < 0.93 else "倾斜救助"
        else:
            type_name = "重特大疾病救助" if r < 0.6 else "住院救助"
        outpatient = type_name == "门诊救助"
        serious = type_name in ("重特大疾病救助", "倾斜救助")
        r = rng.random()
        if outpatient:
            level = "township" if r < 0.6 else "county"
        elif serious:
            level = "county" if r < 0.3 else "city" if r < 0.7 else "province"
        else:
            level = "township" if r < 0.25 else "county" if r < 0.7 else "city" if r < 0.9 else "province"
        latest = self.settlement_start - timedelta(days=30)
        if person.status_date is not None:
            latest = min(latest, person.status_date - timedelta(days=1))
        earliest = max(today - timedelta(days=700), person.birth + timedelta(days=1))
        if latest < earliest:
            return
        admitted = earliest + timedelta(days=rng.randint(0, (latest - earliest).days))
        stay = 0 if outpatient else rng.randint(*{"township": (3, 10), "county": (5, 15), "city": (7, 20),
                                                     "province": (10, 30)}[level])
        discharged = min(admitted + timedelta(days=stay), latest)
        total, basic, serious_fen, in_policy = self._bill(rng, level, outpatient, serious, discharged,
                                                          klass is not None)
        policy_self_pay = in_policy - basic - serious_fen
        route = ent.default_route(level).value
        since = None if klass is not None else discharged - timedelta(days=rng.randint(10, 200))
        rule = self.assistance_rules.get((discharged.year, klass or ent.ILLNESS_CLASS,
                                          "outpatient" if outpatient else "inpatient"))
        suggested = ent.entitle(rule, ent.Visit(rule.kind, route, policy_self_pay, discharged),
                                identity_since=since).suggested_fen if rule else None
        self._add_case(rng, person, code(type_name), subject, since, level, route, admitted, discharged, total,
                       basic, serious_fen, policy_self_pay, suggested, None, serious)

    def _bill(self, rng: random.Random, level: str, outpatient: bool, serious: bool, day: date,
              poor: bool) -> tuple[int, int, int, int]:
        """(总费用, 基本医保, 大病保险, 政策范围内费用) of one stay, from the county's reimbursement rates."""
        if outpatient:
            low, high = 800, 6000
        elif serious:
            low, high = {"county": (30_000, 80_000), "city": (50_000, 200_000), "province": (80_000, 400_000)}[level]
        else:
            low, high = {"township": (1_500, 6_000), "county": (4_000, 25_000), "city": (12_000, 60_000),
                         "province": (30_000, 150_000)}[level]
        total = int(round(100 * low * (high / low) ** rng.random()))  # log-uniform: many small bills
        in_policy = int(round(total * rng.uniform(0.82, 0.95)))
        if outpatient:
            basic = int(round(in_policy * 0.65))
        else:
            ratio, deductible = self.rate(day.year, level)
            basic = max(0, int(round((in_policy - deductible) * ratio / 100)))
        threshold = 400_000 if poor else 800_000  # 大病 threshold halved for 困难群众
        serious_fen = 0 if outpatient else max(0, int(round((in_policy - basic - threshold) * (0.65 if poor else 0.6))))
        return total, basic, serious_fen, in_policy

    def _add_case(self, rng: random.Random, person: _Person, type_code: str, subject: str, since: date | None,
                  level: str, route: str, admitted: date, discharged: date, total: int, basic: int,
                  serious_fen: int, policy_self_pay: int, suggested: int | None, settlement_id: str | None,
                  serious: bool, hospital: str | None = None) -> dict[str, Any]:
        today = self.today
        assistance = suggested or 0
        reason = ""
        if suggested and rng.random() < 0.03:
            # A clerk's adjustment, with the reason (the audit keeps it beside the suggestion).
            assistance = int(suggested * rng.uniform(0.6, 0.95)) // 100 * 100
            reason = rng.choice(DEVIATION_REASONS)
        applied = min(today, discharged + timedelta(days=rng.randint(1, 20)))
        A = AssistanceStatus
        r = rng.random()
        if (today - applied).days <= 20:
            status = A.APPLIED.value if r < 0.45 else A.REVIEWED.value if r < 0.85 else A.PAID.value
        else:
            status = A.PAID.value if r < 0.93 else A.REFUSED.value if r < 0.96 else A.REVIEWED.value
        reviewed = paid_date = None
        if status != A.APPLIED.value:
            reviewed = applied + timedelta(days=rng.randint(3, 15))
            if reviewed > today:
                status, reviewed = A.APPLIED.value, None
        if status == A.PAID.value:
            paid_date = reviewed + timedelta(days=rng.randint(5, 25))  # type: ignore[operator]
            if paid_date > today:
                status, paid_date = A.REVIEWED.value, None
        if status == A.REFUSED.value:
            assistance, reason = 0, ""  # nothing granted
        elif assistance != (suggested or 0) and not reason:
            reason = rng.choice(DEVIATION_REASONS)
        diagnosis = (self.disease_by_code[person.cards[0]["disease_code"]][0] if person.cards and rng.random() < 0.6
                     else rng.choice(ASSIST_DIAGNOSES))
        case = dict(
            id=self.new_id(), village_code=person.village.code, row_version=1, resident_id=person.id,
            type_code=type_code, subject_category=subject, hospital=hospital or rng.choice(HOSPITALS[level]),
            hospital_level=level, admitted_on=admitted, discharged_on=discharged, total_fen=total,
            basic_insurance_fen=basic, serious_illness_fen=serious_fen, assistance_fen=assistance,
            self_pay_fen=total - basic - serious_fen - assistance, status=status, applied_date=applied,
            reviewed_date=reviewed, reviewed_by="汉阴县医疗保障局" if reviewed else "", paid_date=paid_date,
            refused_reason=rng.choice(ASSIST_REFUSALS) if status == A.REFUSED.value else "",
            diagnosis_note=diagnosis, note="", settlement_id=settlement_id, policy_self_pay_fen=policy_self_pay,
            route=route, subject_since=since, suggested_fen=suggested, deviation_reason=reason)
        person.cases.append(case)
        self.cases.append(case)
        if (serious or total >= 5_000_000) and status != A.REFUSED.value and rng.random() < 0.10:
            self._referrals(rng, person, case)
        return case

    # -- the county's settlements (结算) and 应享尽享 ----------------------------------------

    @property
    def settlement_start(self) -> date:
        """The settlements cover the 365 days up to yesterday."""
        return self.today - timedelta(days=365)

    def make_settlements(self) -> None:
        """A year of the national platform's one-stop 结算 for the township, as the county gives them.

        About 1 in 7 residents has a hospital stay in a year (more of the old and the ill); every
        holder of a 门诊慢特病 card settles most months.
        """
        rng = self.rng_settle
        start, end = self.settlement_start, self.today - timedelta(days=1)
        span = (end - start).days
        counter = 0

        def add(person: _Person, day: date, admitted: date | None, level: str, kind: str, total: int, basic: int,
                serious_fen: int, policy_self_pay: int, route: str, hospital: str) -> None:
            nonlocal counter
            counter += 1
            row = dict(id=_uuid(rng), village_code=person.village.code, row_version=1,
                       settlement_no=f"JS{day:%Y%m%d}{counter:07d}", resident_id=person.id, settled_on=day,
                       admitted_on=admitted, hospital=hospital, hospital_level=level, kind=kind, route=route,
                       total_fen=total, basic_insurance_fen=basic, serious_illness_fen=serious_fen,
                       policy_self_pay_fen=policy_self_pay)
            self.settlements.append(row)
            self._person_settlements.setdefault(person.id, []).append(row)

        self._person_settlements: dict[str, list[dict[str, Any]]] = {}
        for person in self.people:
            poor = any(g in HARDSHIP_CODES for g in person.groups)
            ill = any(c["status"] == CardStatus.ISSUED.value for c in person.cards)
            chance = (0.30 if person.age >= 70 else 0.18 if person.age >= 60 else 0.08 if person.age >= 18 else 0.05)
            chance *= (1.5 if poor else 1.0) * (1.6 if ill else 1.0)
            stays = 0
            while rng.random() < chance and stays < 4:
                stays += 1
                chance *= 0.35
            for _ in range(stays):
                day = start + timedelta(days=rng.randint(0, span))
                if not person.active_on(day) or day <= person.birth:
                    continue
                r = rng.random()
                level = "township" if r < 0.3 else "county" if r < 0.75 else "city" if r < 0.93 else "province"
                serious = level != "township" and rng.random() < 0.08
                if serious and level == "township":
                    level = "county"
                total, basic, serious_fen, in_policy = self._bill(rng, level, False, serious, day, poor)
                stay = rng.randint(*{"township": (3, 10), "county": (5, 15), "city": (7, 20),
                                     "province": (10, 30)}[level])
                route = ent.default_route(level).value
                if route == ent.Route.REFERRED.value and rng.random() < 0.2:
                    route = ent.Route.SELF_REFERRED.value
                add(person, day, max(person.birth, day - timedelta(days=stay)), level, "inpatient", total, basic,
                    serious_fen, in_policy - basic - serious_fen, route, rng.choice(HOSPITALS[level]))
            for card in person.cards:
                if card["status"] != CardStatus.ISSUED.value or card["benefit_start"] is None:
                    continue
                class_one = self.disease_by_code[card["disease_code"]][1].startswith("Ⅰ")
                month = date(start.year, start.month, 1)
                while month <= end:
                    day = month + timedelta(days=rng.randint(0, 27))
                    month = _next_month_start(month)
                    if day < start or day > end or day < card["benefit_start"] or not person.active_on(day):
                        continue
                    if rng.random() > (0.9 if class_one else 0.65):
                        continue
                    total = rng.randint(150_000, 800_000) if class_one else rng.randint(5_000, 40_000)
                    in_policy = int(total * rng.uniform(0.9, 0.98))
                    basic = int(round(in_policy * (0.7 if class_one else 0.6)))
                    level = "county" if class_one else "township"
                    add(person, day, None, level, "outpatient", total, basic, 0, in_policy - basic,
                        ent.Route.IN_COUNTY.value, rng.choice(HOSPITALS[level]))
        self.settlements.sort(key=lambda row: (row["village_code"], row["settled_on"]))

    def settlement_cases(self) -> None:
        """Cases opened for the 救助对象's settlements, as a township would: most, not all.

        Each settlement's suggestion comes from the county's rules over the person's year in date
        order (``domain.entitlement``); the ones left without a case are the 待落实 the app finds.
        """
        rng = self.rng_settle
        types = {"inpatient": self.assistance_code("住院救助"), "outpatient": self.assistance_code("门诊救助")}
        serious_type = self.assistance_code("重特大疾病救助")
        by_id = {p.id: p for p in self.people}
        for person_id, rows in self._person_settlements.items():
            person = by_id[person_id]
            subject, klass = self._subject(person)
            rows.sort(key=lambda row: (row["settled_on"], row["settlement_no"]))
            if klass is None:
                self._illness_case(rng, person, rows)
                continue
            states: dict[int, ent.YearState] = {}
            for row in rows:
                year = row["settled_on"].year
                rule = self.assistance_rules.get((year, klass, row["kind"]))
                if rule is None:
                    continue
                visit = ent.Visit(row["kind"], row["route"], row["policy_self_pay_fen"], row["settled_on"])
                state = states.get(year, ent.YearState())
                result = ent.entitle(rule, visit, state)
                states[year] = result.after
                if result.suggested_fen <= 0:
                    continue
                age = (self.today - row["settled_on"]).days
                chance = 0.95 if age > 60 else 0.8 if age > 20 else 0.35
                if rng.random() >= chance:
                    if age > 60 and rng.random() < 0.15:
                        self.settlement_reviews.append(dict(
                            id=_uuid(rng), village_code=row["village_code"], row_version=1,
                            settlement_id=row["id"], resident_id=person.id, reason=rng.choice(NOT_APPLICABLE_REASONS),
                            decided_by="周专干", decided_on=min(self.today, row["settled_on"] + timedelta(days=30))))
                    continue
                serious = row["total_fen"] >= 5_000_000
                type_code = serious_type if serious and row["kind"] == "inpatient" else types[row["kind"]]
                case = self._add_case(
                    rng, person, type_code, subject, None, row["hospital_level"], row["route"],
                    row["admitted_on"] or row["settled_on"], row["settled_on"], row["total_fen"],
                    row["basic_insurance_fen"], row["serious_illness_fen"], row["policy_self_pay_fen"],
                    result.suggested_fen, row["id"], serious, row["hospital"])
                if case["status"] != AssistanceStatus.REFUSED.value and case["assistance_fen"] != result.suggested_fen:
                    states[year] = ent.advance(rule, visit, state, case["assistance_fen"])

    def _illness_case(self, rng: random.Random, person: _Person, rows: list[dict[str, Any]]) -> None:
        """四类 因病致贫重病患者: a heavy year's burden (over 2 万元) recognised, then assisted."""
        big = [row for row in rows if row["kind"] == "inpatient" and row["policy_self_pay_fen"] >= 2_000_000]
        if not big or rng.random() > 0.35:
            return
        row = big[0]
        since = max(self.settlement_start, row["settled_on"] - timedelta(days=rng.randint(0, 20)))
        rule = self.assistance_rules.get((row["settled_on"].year, ent.ILLNESS_CLASS, "inpatient"))
        if rule is None:
            return
        result = ent.entitle(rule, ent.Visit("inpatient", row["route"], row["policy_self_pay_fen"], row["settled_on"]),
                             identity_since=since)
        self._add_case(rng, person, self.assistance_code("重特大疾病救助"), ent.SUBJECT_LABELS[ent.ILLNESS_CLASS],
                       since, row["hospital_level"], row["route"], row["admitted_on"] or row["settled_on"],
                       row["settled_on"], row["total_fen"], row["basic_insurance_fen"], row["serious_illness_fen"],
                       row["policy_self_pay_fen"], result.suggested_fen, row["id"], True, row["hospital"])

    def _referrals(self, rng: random.Random, person: _Person, case: dict[str, Any]) -> None:
        """Seed 004 "1+N": a serious case passed on to one or two more agencies."""
        R = ReferralAgency
        agencies = [R.CIVIL_AFFAIRS.value, R.CHARITY.value, R.RED_CROSS.value, R.HUMAN_RESOURCES.value]
        weights = [4.0, 3.0, 2.0, 1.0]
        if SpecialGroup.SEVERE_DISABILITY.value in person.groups:
            agencies.append(R.DISABLED_FEDERATION.value)
            weights.append(4.0)
        outcomes = {
            R.CIVIL_AFFAIRS.value: ((1000, 5000), "已发放临时救助金{a}元"),
            R.CHARITY.value: ((2000, 10000), "县慈善协会大病救助{a}元已到账"),
            R.RED_CROSS.value: ((1000, 5000), "红十字会博爱救助{a}元已发放"),
            R.DISABLED_FEDERATION.value: ((1000, 3000), "残联康复救助{a}元已发放"),
            R.HUMAN_RESOURCES.value: ((0, 0), "已推荐家庭成员到社区工厂就业"),
        }
        count = 1 if rng.random() < 0.7 else 2
        for agency in _sample_weighted(rng, agencies, weights, count):
            referred = min(self.today, case["applied_date"] + timedelta(days=rng.randint(0, 10)))
            outcome, outcome_date, amount = "", None, 0
            if (self.today - referred).days >= 15 and rng.random() < 0.75:
                (low, high), template = outcomes[agency]
                yuan = rng.randint(low // 100, high // 100) * 100 if high else 0
                outcome_date = min(self.today, referred + timedelta(days=rng.randint(7, 40)))
                outcome, amount = template.format(a=yuan), yuan * 100
            self.referrals.append(dict(
                id=self.new_id(), village_code=case["village_code"], row_version=1, case_id=case["id"],
                agency=agency, referred_date=referred, outcome=outcome, outcome_date=outcome_date,
                amount_fen=amount))

    # -- 三类户 ---------------------------------------------------------------------------

    def classify_households(self) -> None:
        """~3% 重病户 (with a 包帮责任人), ~12% 一般患病户, following the cards and cases."""
        rng = self.rng_groups
        hhs = self.households

        def heavy(hh: _Household) -> bool:
            for p in hh.members:
                if p.status_date is not None:
                    continue
                if any(self.disease_by_code[c["disease_code"]][1].startswith("Ⅰ") and c["status"] != CardStatus.REFUSED.value
                       and c["status"] != CardStatus.CANCELLED.value for c in p.cards):
                    return True
                if any(c["total_fen"] >= 5_000_000 and c["status"] != AssistanceStatus.REFUSED.value for c in p.cases):
                    return True
            return False

        def ill(hh: _Household) -> bool:
            return any(p.status_date is None and (p.cases or any(c["status"] == CardStatus.ISSUED.value for c in p.cards))
                       for p in hh.members)

        weights = [20.0 if heavy(h) else 1.0 if ill(h) else 0.02 for h in hhs]
        serious = _sample_weighted(rng, hhs, weights, round(0.03 * len(hhs)))
        for hh in serious:
            hh.category = HouseholdCategory.SERIOUSLY_ILL.value
            hh.helper_name = self.adult_name(rng)
            hh.helper_phone = _phone(rng)
        weights = [0.0 if h.category != HouseholdCategory.GENERAL.value else 10.0 if ill(h)
                   else 1.0 if any(p.age >= 65 for p in h.members) else 0.3 for h in hhs]
        for hh in _sample_weighted(rng, hhs, weights, round(0.12 * len(hhs))):
            hh.category = HouseholdCategory.ILL.value
        for hh in hhs:
            if hh.category != HouseholdCategory.GENERAL.value:
                hh.category_since = self.today - timedelta(days=rng.randint(30, 900))

    # -- service log ----------------------------------------------------------------------

    def make_services(self) -> None:
        """Six months of each village doctor's work, most of it with chronic card holders."""
        rng = self.rng_service
        today = self.today
        since = today - timedelta(days=SERVICE_DAYS)
        K = ServiceKind
        open_year = next((y for y in (today.year + 1, today.year)
                          if self.year_setting(y).start <= today <= self.year_setting(y).deadline), today.year + 1)
        window_start = max(since, self.year_setting(open_year).start)

        def add(person: _Person, kind: str, day: date, note: str) -> None:
            if since <= day <= today and person.active_on(day):
                self.services.append(dict(
                    id=self.new_id(), village_code=person.village.code, row_version=1, resident_id=person.id,
                    kind=kind, service_date=day, doctor_username=person.village.doctor, note=note))

        def some_day(start: date = since) -> date:
            return start + timedelta(days=rng.randint(0, max(0, (today - start).days)))

        for village in self.villages:
            for person in village.people:
                issued = [c for c in person.cards if c["status"] == CardStatus.ISSUED.value and c["last_refill_date"]]
                if issued:
                    card = issued[0]
                    name = self.disease_by_code[card["disease_code"]][0]
                    if person.medicine_runner:
                        # 代购药 on each refill the doctor made, every supply period back from the last.
                        day = card["last_refill_date"]
                        medicine = rng.choice(MEDICINES.get(name, ("慢特病用药",)))
                        while day >= max(since, card["benefit_start"]):
                            add(person, K.MEDICINE.value, day, f"代购{medicine}")
                            day -= timedelta(days=card["supply_days"] + rng.randint(-2, 3))
                    for _ in range(rng.randint(0, 3)):
                        add(person, K.REMINDER.value, some_day(), rng.choice(REMINDER_NOTES))
                    for _ in range(rng.randint(1, 3) if person.age >= 70 else rng.randint(0, 1)):
                        add(person, K.HOME_VISIT.value, some_day(), rng.choice(VISIT_NOTES))
                for card in person.cards:
                    if card["applied_date"] >= since and rng.random() < 0.6:
                        add(person, K.ERRAND.value, card["applied_date"], "代办门诊慢特病申请材料")
                for case in person.cases:
                    if case["applied_date"] >= since and rng.random() < 0.5:
                        type_name = next(n for c, n in self.assistance_types if c == case["type_code"])
                        add(person, K.ERRAND.value, case["applied_date"], f"代办{type_name}申请")
                if person.age >= 16 and rng.random() < 0.04:
                    add(person, K.QUESTION.value, some_day(), rng.choice(QUESTION_NOTES).format(y=open_year))
                if person.age >= 18 and rng.random() < 0.004:
                    add(person, K.ERRAND.value, some_day(), rng.choice(ERRAND_NOTES))
        # Reminders to pay for the year now being collected, to adults who have not paid yet.
        for person in self.unpaid_open_year:
            if person.age >= 18 and rng.random() < 0.3:
                add(person, K.REMINDER.value, some_day(window_start), f"提醒缴纳{open_year}年度城乡居民医保费")
        self.services.sort(key=lambda row: (row["village_code"], row["service_date"]))

    # -- rows -----------------------------------------------------------------------------

    def household_rows(self) -> list[dict[str, Any]]:
        rows = []
        for hh in self.households:
            head = hh.members[0]
            phone = head.phone or next((p.phone for p in hh.members if p.phone), "")
            rows.append(dict(
                id=hh.id, village_code=hh.village.code, row_version=1, household_no=hh.no, group_code=hh.group,
                head_name=head.name, address=hh.address, phone=phone, category=hh.category,
                category_since=hh.category_since, helper_name=hh.helper_name, helper_phone=hh.helper_phone,
                note=""))
        return rows

    def resident_rows(self) -> list[dict[str, Any]]:
        rows = []
        for p in self.people:
            full, initials = pinyin_keys(p.name)
            rows.append(dict(
                id=p.id, village_code=p.village.code, row_version=1, household_id=p.household.id,
                group_code=p.household.group, name=p.name, name_pinyin=full, name_initials=initials,
                sex=p.sex, id_number=p.id_number, birth_date=p.birth, phone=p.phone, relation=p.relation,
                status=p.status, status_date=p.status_date, special_groups=",".join(sorted(p.groups)),
                note=p.note))
        return rows

    def user_rows(self, password_hash: str) -> list[dict[str, Any]]:
        rng = self.rng_places
        rows = []

        def user(username: str, display_name: str, role: str, place: str) -> dict[str, Any]:
            return dict(id=self.new_id(), village_code=place, row_version=1, username=username,
                        display_name=display_name, role=role, place_code=place, phone=_phone(rng),
                        password_hash=password_hash, active=True, failed_logins=0)

        for village in self.villages:
            rows.append(user(village.doctor, self.adult_name(rng, village), Role.VILLAGE_DOCTOR.value, village.code))
        rows.append(user("zg01", self.adult_name(rng), Role.TOWNSHIP_CLERK.value, TOWNSHIP_CODE))
        return rows


# --------------------------------------------------------------------------- entry point


class _Progress:
    """Phases weighted by their share of the work; reports (done, 100, message)."""

    WEIGHTS = {"reference": 4, "station": 4, "generate": 10, "people": 14, "enrollment": 36,
               "chronic": 12, "assistance": 3, "service": 9, "finish": 8}

    def __init__(self, callback: ProgressFn | None, summary: DemoSummary):
        self.callback = callback
        self.summary = summary
        self.base = 0  # weight of the phases already finished
        self.started = time.perf_counter()

    def step(self, phase: str, message: str, fraction: float = 1.0) -> None:
        """Mark ``fraction`` of ``phase`` as done (call with fraction < 1 inside long phases)."""
        weight = self.WEIGHTS[phase]
        if fraction >= 1.0:
            now = time.perf_counter()
            self.summary.phase_seconds[phase] = round(now - self.started, 3)
            self.started = now
            self.base += weight
            done = self.base
        else:
            done = self.base + int(weight * fraction)
        if self.callback:
            self.callback(done, 100, message)


def _insert(ws: Workspace, session: Session, model: type, rows: list[dict[str, Any]], summary: str) -> int:
    count = 0
    for chunk in chunks(rows, CHUNK):
        count += ws.recorder.bulk_insert(session, model, chunk, summary=summary, record_outbox=False)
    return count


def build_demo(db_path: Path, *, villages: int = 20, residents: int = 60000, seed: int = 1,
               today: date | None = None, progress: ProgressFn | None = None) -> DemoSummary:
    """Create a new station database holding a whole demo township; same (seed, today) → same data.

    The rows stand for data already synced from the county server: row_version 1 and no outbox.
    """
    if not 1 <= villages <= MAX_VILLAGES:
        raise ValidationError(f"村的数量应在 1 到 {MAX_VILLAGES} 之间。", field="villages")
    if residents < 1:
        raise ValidationError("居民人数至少为 1。", field="residents")
    today = today or DEFAULT_TODAY
    reference = read_reference_file(demo_reference_path())
    builder = _Builder(reference, villages=villages, residents=residents, seed=seed, today=today)
    summary = DemoSummary()
    steps = _Progress(progress, summary)

    ws = Workspace.open(db_path)
    try:
        if ws.is_set_up:
            raise ValidationError("该数据库已有站点数据：演示数据只能生成到新的数据库文件。")
        places = builder.make_places()
        load_reference(ws, {**reference, "places": places})
        summary.villages = len(builder.villages)
        summary.groups = sum(len(v.groups) for v in builder.villages)
        steps.step("reference", "已载入县级参考数据和行政区划")

        setup_station(ws, code=STATION_CODE, name=STATION_NAME, scope="township", place_code=TOWNSHIP_CODE,
                      admin_username=ADMIN_USERNAME, admin_password=ADMIN_PASSWORD,
                      supervision_phone=SUPERVISION_PHONE)
        summary.recovery_key, ws.pending_recovery_key = ws.pending_recovery_key, None
        actor = system_actor(ws.station.code)  # type: ignore[union-attr]
        # argon2 is slow on purpose: hash the shared demo password once for every demo user.
        password_hash = hash_password(DEMO_PASSWORD)
        with ws.unit_of_work(actor, "build_demo", skip_outbox=True) as session:
            # The station and admin rows stand for ones already registered with the county,
            # so their pending ops from setup_station are dropped, like the rest of the demo's.
            session.execute(delete(OutboxOp))
            session.execute(update(Station).values(row_version=1))
            session.execute(update(User).values(row_version=1))  # only the admin exists yet
            summary.users = 1 + _insert(ws, session, User, builder.user_rows(password_hash), "演示数据：村医和乡镇专干账号")
        ws.refresh_key_wraps()  # every demo user's password unlocks the encrypted database
        steps.step("station", "已设置乡镇医保服务中心和用户")

        builder.make_people()
        builder.assign_attributes()
        builder.make_cards()
        builder.make_cases()
        builder.classify_households()
        steps.step("generate", "已生成居民、慢特病卡和救助案例")

        with ws.unit_of_work(actor, "build_demo", skip_outbox=True) as session:
            summary.households = _insert(ws, session, Household, builder.household_rows(), "演示数据：家庭户")
            steps.step("people", "正在写入居民", 0.3)
            summary.residents = _insert(ws, session, Resident, builder.resident_rows(), "演示数据：居民")
        steps.step("people", f"已写入 {summary.residents} 名居民")

        years = (today.year - 1, today.year, today.year + 1)
        with ws.unit_of_work(actor, "build_demo", skip_outbox=True) as session:
            for i, year in enumerate(years, start=1):
                rows = builder.enrollment_rows(year)
                summary.enrollments += _insert(ws, session, Enrollment, rows, f"演示数据：{year}年度参保")
                del rows
                if i < len(years):
                    steps.step("enrollment", f"已写入 {year} 年度参保记录", i / len(years))
        steps.step("enrollment", "已写入三个年度的参保记录")

        builder.follow_enrollment_cards()
        builder.make_usage()
        with ws.unit_of_work(actor, "build_demo", skip_outbox=True) as session:
            summary.chronic_cards = _insert(ws, session, ChronicCard, builder.cards, "演示数据：门诊慢特病卡")
            summary.card_usages = _insert(ws, session, CardUsage, builder.usages, "演示数据：慢特病卡月使用")
        steps.step("chronic", f"已写入 {summary.chronic_cards} 张慢特病卡")

        with ws.unit_of_work(actor, "build_demo", skip_outbox=True) as session:
            summary.assistance_cases = _insert(ws, session, AssistanceCase, builder.cases, "演示数据：医疗救助")
            summary.referrals = _insert(ws, session, AssistanceReferral, builder.referrals,
                                        "演示数据：救助“1+N”转介")
            summary.settlement_reviews = _insert(ws, session, SettlementReview, builder.settlement_reviews,
                                                 "演示数据：待落实标记不适用")
        # The county's settlements are server-authored: written as the county feed would.
        with ws.unit_of_work(actor, "build_demo", reference_write=True, skip_outbox=True) as session:
            summary.settlements = _insert(ws, session, Settlement, builder.settlements, "演示数据：一站式结算")
        steps.step("assistance", f"已写入 {summary.assistance_cases} 件医疗救助、{summary.settlements} 条结算")

        builder.make_services()
        with ws.unit_of_work(actor, "build_demo", skip_outbox=True) as session:
            summary.service_entries = _insert(ws, session, ServiceEntry, builder.services, "演示数据：签约服务记录")
        steps.step("service", f"已写入 {summary.service_entries} 条服务记录")

        # Statistics for the query planner: a fresh 60,000-row file is opened straight into lists.
        with ws.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        logger.info("demo township built: %s", summary)
    finally:
        ws.close()
    steps.step("finish", "演示数据生成完成")
    return summary
