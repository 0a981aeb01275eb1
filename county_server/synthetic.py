"""A synthetic county straight into the server database (benchmarks, the console's scale tests).

Deterministic (one ``random.Random(seed)``); rows go into ``sync_row`` as if pushed long ago, with
PostgreSQL's ``COPY`` (SQLite: executemany). Per resident: the archive row, an enrollment of the
current year, and — for some — a household head, a 慢特病 card with 12 months of use, an
assistance case, services. Places and the county's reference come through ``load_reference``;
one village station per village gets a token derived from the seed (``station_tokens``) so a
bench can sync as any of them.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from datetime import date, timedelta
from typing import Any, Callable

from sqlalchemy import Engine, insert, select, text, update

from sync_protocol.domain.chronic import month_key, months_ending
from sync_protocol.domain.idnumber import make_id
from sync_protocol.bundle_format import bundle_key
from sync_protocol.tables import natural_key_text, table_specs

from .auth import token_hash
from .console.aggregates import refresh
from .merge import encode_data
from .models import Counter, Station, SyncRow, utcnow
from .store import Store

COUNTY = "610999000000"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "明华建国秀英玉兰桂芳志强军平伟刚勇敏静丽霞燕红梅海涛斌峰杰磊鹏超文辉春生福德林"
NAMESPACE = uuid.UUID("0b7d7c2e-6a55-4c8e-9d0b-3f3c8f0a5e21")
HLC = "1700000000000-000000-synthetic"
KINDS = ("home_visit", "medicine", "question", "errand", "reminder")
COLUMNS = ("row_id", "table_name", "stream", "scope_code", "seq", "row_version", "deleted", "h0", "fh", "fv",
           "cols", "vals", "natural_key", "origin", "updated_at", "compacted")


def township_code(i: int) -> str:
    return f"610999{100 + i:03d}000"


def village_code(township: str, j: int) -> str:
    return f"{township[:9]}{200 + j:03d}"


def station_tokens(seed: int, villages: list[str]) -> dict[str, str]:
    """code → token of the generated village stations (derived from the seed: reproducible)."""
    return {f"S{v}": "ybs_" + hashlib.sha256(f"{seed}|{v}".encode()).hexdigest()[:43] for v in villages}


def reference(townships: int, villages: int, today: date) -> tuple[dict[str, Any], list[str]]:
    places: list[dict[str, Any]] = []
    codes = []
    per = [villages // townships + (1 if i < villages % townships else 0) for i in range(townships)]
    for i in range(townships):
        t = township_code(i)
        places.append({"code": t, "name": f"第{i + 1}镇", "level": "township", "parent_code": COUNTY})
        for j in range(per[i]):
            v = village_code(t, j)
            codes.append(v)
            places.append({"code": v, "name": f"{i + 1}镇{j + 1}村", "level": "village", "parent_code": t})
    year = today.year + (1 if today.month >= 9 else 0)
    data = {
        "county": {"code": COUNTY, "name": "模拟县"},
        "places": places,
        "year_settings": [{"year": y, "premium_yuan": 400, "collection_start": f"{y - 1}-09-01",
                           "deadline": f"{y - 1}-12-31"} for y in (year - 1, year)],
        "subsidy_rules": [{"year": year, "special_group": "tekun", "category_name": "一类（特困）全额资助",
                           "level": 1, "full": True}],
        "diseases": [{"code": "MB001", "name": "高血压（Ⅱ级及以上）", "category": "心脑血管类"},
                     {"code": "MB002", "name": "糖尿病", "category": "内分泌类"}],
        "assistance_types": [{"code": "ZY", "name": "住院救助"}],
    }
    return data, codes


def _rid(*parts: Any) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join(map(str, parts))))


def village_rows(rng: random.Random, village: str, residents: int, year: int, today: date) -> list[tuple[str, dict]]:
    """(table, fields) of one village's archives."""
    rows: list[tuple[str, dict]] = []
    months = months_ending(month_key(today), 12)
    doctors = [f"doc{village[-3:]}{k}" for k in range(2)]
    household = None
    for n in range(residents):
        if household is None or rng.random() < 0.3:
            hid = _rid(village, "h", n)
            household = hid
            rows.append(("household", {"id": hid, "household_no": f"{village}{n:05d}", "group_code": None,
                                       "head_name": "", "address": "", "phone": "", "category": "general",
                                       "helper_name": "", "helper_phone": "", "note": "", "village_code": village,
                                       "deleted": False}))
        rid = _rid(village, "r", n)
        birth = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 29000))
        hardship = rng.random() < 0.06
        rows.append(("resident", {
            "id": rid, "household_id": household, "group_code": None,
            "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else ""),
            "sex": rng.choice("12"), "id_number": make_id(village[:6], birth, (n % 999) + 1),
            "birth_date": birth.isoformat(), "phone": "", "relation": "other", "status": "registered",
            "status_date": None, "special_groups": rng.choice(("tekun", "dibao", "monitor")) if hardship else "",
            "note": "", "village_code": village, "deleted": False}))
        roll = rng.random()
        status = ("subsidised" if hardship and roll < 0.97 else "paid" if roll < 0.93
                  else "other_channel" if roll < 0.95 else "unpaid")
        rows.append(("enrollment", {
            "id": _rid(village, "e", n, year), "resident_id": rid, "year": year, "status": status,
            "subsidy_category": "", "subsidy_fen": 0, "paid_fen": 40000 if status == "paid" else 0,
            "paid_date": f"{year - 1}-10-15" if status == "paid" else None, "channel": "", "other_channel_note": "",
            "note": "", "village_code": village, "deleted": False}))
        if rng.random() < 0.08:
            cid = _rid(village, "c", n)
            start = today.replace(day=1) - timedelta(days=rng.randrange(60, 900))
            rows.append(("chronic_card", {
                "id": cid, "resident_id": rid, "disease_code": rng.choice(("MB001", "MB002")), "status": "issued",
                "applied_date": (start - timedelta(days=30)).isoformat(), "materials": "",
                "assessed_date": (start - timedelta(days=10)).isoformat(), "assessed_by": "县医保局",
                "issued_date": start.isoformat(), "card_no": f"MB{village[-6:]}{n:05d}",
                "benefit_start": start.isoformat(), "refused_reason": "", "cancelled_date": None,
                "cancel_reason": "", "last_refill_date": None, "supply_days": 30, "diagnosis_note": "",
                "village_code": village, "deleted": False}))
            usage_p = 0.45 + 0.4 * rng.random()
            for m in months:
                if m >= month_key(start) and rng.random() < usage_p:
                    rows.append(("card_usage", {"id": _rid(cid, m), "card_id": cid, "month": m, "used": True,
                                                "source": "clinic", "amount_fen": 0, "village_code": village,
                                                "deleted": False}))
        if rng.random() < 0.005:
            status = rng.choice(("reviewed", "paid", "paid", "paid", "applied"))
            rows.append(("assistance_case", {
                "id": _rid(village, "a", n), "resident_id": rid, "type_code": "ZY", "subject_category": "",
                "hospital": "县医院", "hospital_level": "2", "admitted_on": None, "discharged_on": None,
                "total_fen": 1_000_000, "basic_insurance_fen": 600_000, "serious_illness_fen": 0,
                "assistance_fen": 200_000, "self_pay_fen": 200_000, "status": status,
                "applied_date": f"{today.year}-{rng.randrange(1, today.month + 1):02d}-10", "reviewed_date": None,
                "reviewed_by": "", "paid_date": None, "refused_reason": "", "diagnosis_note": "", "note": "",
                "village_code": village, "deleted": False}))
        if rng.random() < 0.25:
            day = date(today.year, 1, 1) + timedelta(days=rng.randrange(0, (today - date(today.year, 1, 1)).days + 1))
            rows.append(("service_entry", {
                "id": _rid(village, "s", n), "resident_id": rid, "kind": rng.choice(KINDS),
                "service_date": day.isoformat(), "doctor_username": rng.choice(doctors), "note": "",
                "village_code": village, "deleted": False}))
    return rows


def _records(rows: list[tuple[str, dict]], seq: int, specs) -> tuple[list[tuple], int]:
    now = utcnow()
    out = []
    for table, fields in rows:
        spec = specs[table]
        data = {k: fields[k] for k in spec.fields if k in fields}
        cols, vals = encode_data(data)
        seq += 1
        key = None
        if spec.natural_key and all(data.get(k) is not None for k in spec.natural_key):
            key = natural_key_text([data[k] for k in spec.natural_key])
        out.append((fields["id"], table, "data", data.get("village_code"), seq, 1, False, HLC, "{}", "{}",
                    cols, vals, key, "synthetic", now, False))
    return out, seq


def _copy(engine: Engine, records: list[tuple]) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            cursor = conn.connection.driver_connection.cursor()
            with cursor.copy(f"COPY sync_row ({','.join(COLUMNS)}) FROM STDIN") as copy:
                for record in records:
                    copy.write_row(record)
        else:
            conn.execute(insert(SyncRow.__table__), [dict(zip(COLUMNS, r)) for r in records])


def generate(engine: Engine, *, townships: int = 30, villages: int = 600, residents: int = 1_200_000, seed: int = 1,
             today: date | None = None, progress: Callable[[str], None] | None = None,
             aggregate: bool = True) -> str:
    """Fill an empty server database with a synthetic county; returns a one-line summary."""
    if townships < 1 or villages < townships or residents < villages:
        raise ValueError("需要：乡镇数 ≥ 1，村数 ≥ 乡镇数，居民数 ≥ 村数。")
    today = today or date.today()
    say = progress or (lambda _text: None)
    from .db import init_db

    init_db(engine)
    store = Store(engine)
    with engine.connect() as conn:
        if conn.execute(select(SyncRow.row_id).where(SyncRow.stream == "data").limit(1)).first():
            raise ValueError("数据库中已有站点数据，模拟数据只能写入空数据库。")
    data, codes = reference(townships, villages, today)
    store.load_reference(data)
    year = max(s["year"] for s in data["year_settings"])
    rng = random.Random(seed)
    specs = table_specs()
    per = [residents // villages + (1 if i < residents % villages else 0) for i in range(villages)]
    started = time.perf_counter()
    total = 0
    pending: list[tuple] = []
    with engine.connect() as conn:
        seq = conn.execute(select(Counter.value).where(Counter.name == "seq")).scalar_one()
    for index, (village, count) in enumerate(zip(codes, per)):
        records, seq = _records(village_rows(rng, village, count, year, today), seq, specs)
        pending += records
        if len(pending) >= 50_000 or index == len(codes) - 1:
            _copy(engine, pending)
            total += len(pending)
            pending = []
            with engine.begin() as conn:
                conn.execute(update(Counter.__table__).where(Counter.name == "seq").values(value=seq))
            say(f"{index + 1}/{len(codes)} 村，{total:,} 行，{time.perf_counter() - started:.0f} 秒")
    with engine.begin() as conn:
        tokens = station_tokens(seed, codes)
        conn.execute(insert(Station.__table__), [dict(
            code=code, name=f"{code[1:]}村站", scope="village", place_code=code[1:], token_hash=token_hash(token),
            bundle_key=bundle_key(token).hex(), active=True, created_at=utcnow(), pulled_seq=0)
            for code, token in tokens.items()])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    if aggregate:
        refresh(engine, today=today, full=True)
        say(f"汇总完成，{time.perf_counter() - started:.0f} 秒")
    store._auth.clear()  # noqa: SLF001
    return (f"{townships} 个乡镇，{villages} 个村，{residents:,} 名居民，{total:,} 行同步数据，"
            f"{len(codes)} 个村站，用时 {time.perf_counter() - started:.0f} 秒")
