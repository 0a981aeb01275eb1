"""Editing the county's reference data in the console, delivered to stations by the reference stream.

Each edit goes through ``Store.load_reference(rows=...)``: the row's version goes up, its changed
fields get a new stamp and seq, and every station pulls it with its next sync. Rules:

* a row of a past year (premiums, subsidy rules, reimbursement rates, policies of a year) is
  never rewritten: the console refuses it; next year's numbers are a new row;
* the key of a row (year, code …) is fixed once saved; a new key is a new row;
* values are checked (money ≥ 0, a ratio 0–100, dates that exist, the window before the deadline).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, select

from sync_protocol.tables import natural_key_text, table_specs

from ..models import Place, SyncRow
from ..store import Store

T_ROW = SyncRow.__table__


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | long | int | year | date | yuan | pct | bool
    #: Left empty it means 0 (or nothing, where the column allows it).
    optional: bool = False


@dataclass(frozen=True)
class RefTable:
    name: str
    title: str
    fields: tuple[Field, ...]
    yearly: bool = False


YEAR = Field("year", "年度", "year")
TABLES: dict[str, RefTable] = {t.name: t for t in (
    RefTable("county_year_setting", "缴费标准与征缴期", (
        YEAR, Field("premium_fen", "个人缴费标准（元）", "yuan"), Field("collection_start", "征缴开始", "date"),
        Field("deadline", "缴费截止", "date"), Field("fiscal_subsidy_fen", "财政补助（元）", "yuan", optional=True)), yearly=True),
    RefTable("subsidy_rule", "参保资助规则", (
        YEAR, Field("special_group", "人群代码"), Field("category_name", "资助类别名称"),
        Field("level", "档次", "int", optional=True), Field("full", "全额资助", "bool"), Field("amount_fen", "定额资助（元）", "yuan", optional=True)),
        yearly=True),
    RefTable("reimbursement_rate", "报销比例", (
        YEAR, Field("hospital_level", "医院等级"), Field("ratio_pct", "报销比例（%）", "pct"),
        Field("deductible_fen", "起付线（元）", "yuan", optional=True)), yearly=True),
    RefTable("disease", "慢特病目录", (
        Field("code", "病种编码"), Field("name", "病种名称"), Field("category", "类别", optional=True),
        Field("annual_limit_fen", "年度限额（元）", "yuan", optional=True), Field("active", "启用", "bool"))),
    RefTable("assistance_type", "救助类型", (
        Field("code", "类型编码"), Field("name", "名称"), Field("active", "启用", "bool"))),
    RefTable("policy", "政策文件", (
        Field("title", "标题"), Field("category", "类别", optional=True), Field("doc_no", "文号", optional=True), YEAR,
        Field("body", "正文", "long"), Field("sort_order", "排序", "int", optional=True)), yearly=True),
)}


class RefError(ValueError):
    """A value refused, with a Chinese message."""


@dataclass
class RefRow:
    row_id: str
    version: int
    data: dict[str, Any]


def county_code(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(select(Place.code).where(Place.level == "county")).scalar() or ""


def rows_of(engine: Engine, table: str) -> list[RefRow]:
    with engine.connect() as conn:
        rows = conn.execute(select(T_ROW.c.row_id, T_ROW.c.row_version, T_ROW.c.cols, T_ROW.c.vals).where(
            T_ROW.c.table_name == table, T_ROW.c.stream == "ref")).all()
    out = [RefRow(r.row_id, r.row_version, dict(zip(json.loads(r.cols), json.loads(r.vals)))) for r in rows]
    key = table_specs()[table].natural_key or ("id",)
    return sorted(out, key=lambda r: [str(r.data.get(k, "")) for k in key])


def row_by_id(engine: Engine, table: str, row_id: str) -> RefRow | None:
    return next((r for r in rows_of(engine, table) if r.row_id == row_id), None)


def display(field: Field, value: Any) -> str:
    if value is None:
        return ""
    if field.kind == "yuan":
        return f"{Decimal(value) / 100:.2f}".rstrip("0").rstrip(".")
    if field.kind == "bool":
        return "是" if value else "否"
    return str(value)


def _parse(field: Field, text: str) -> Any:
    text = (text or "").strip()
    if field.kind == "bool":
        return text in ("1", "on", "true", "是")
    if text == "":
        return None
    try:
        if field.kind in ("int", "year"):
            value = int(text)
            if field.kind == "year" and not 2000 <= value <= 2100:
                raise RefError(f"{field.label}应为 2000–2100 之间的年份。")
            return value
        if field.kind == "yuan":
            amount = Decimal(text)
            if amount < 0 or amount != amount.quantize(Decimal("0.01")):
                raise RefError(f"{field.label}应为不小于 0 的金额，最多两位小数。")
            return int(amount * 100)
        if field.kind == "pct":
            pct = int(text)
            if not 0 <= pct <= 100:
                raise RefError(f"{field.label}应在 0–100 之间。")
            return pct
        if field.kind == "date":
            return date.fromisoformat(text).isoformat()
    except RefError:
        raise
    except (ValueError, InvalidOperation):
        raise RefError(f"{field.label}格式不正确：{text}") from None
    return text


def save(store: Store, table: str, form: dict[str, str], *, row_id: str | None, today: date) -> tuple[RefRow | None, dict]:
    """Validate and deliver one row; returns (the row before, the fields saved)."""
    meta = TABLES.get(table)
    if meta is None:
        raise RefError("没有这类参考数据。")
    spec = table_specs()[table]
    keys = spec.natural_key or ()
    before = row_by_id(store.engine, table, row_id) if row_id else None
    if row_id and before is None:
        raise RefError("这条记录不存在。")
    data = dict(before.data) if before else {n: spec.defaults.get(n) for n in spec.fields}
    if before is None:
        data.update(county_code=county_code(store.engine), village_code=None, deleted=False)
    for field in meta.fields:
        if before is not None and field.name in keys:
            continue  # the key is fixed once saved
        value = _parse(field, form.get(field.name, ""))
        nullable = field.name not in spec.fields or spec.fields[field.name].nullable
        if value is None and field.optional and not nullable:
            value = "" if field.kind in ("text", "long") else 0
        if value is None and not nullable:
            raise RefError(f"请填写{field.label}。")
        data[field.name] = value
    # A past year is history: stations computed that year's premiums and subsidies with it.
    if meta.yearly and data.get("year") is not None and int(data["year"]) < today.year:
        raise RefError(f"{data['year']} 年已经过去，不能修改往年的参考数据；请新增 {today.year} 年或以后的记录。")
    if table == "county_year_setting" and data.get("collection_start") and data.get("deadline") \
            and data["collection_start"] > data["deadline"]:
        raise RefError("征缴开始日期不能晚于缴费截止日期。")
    if before is None:
        key_values = [data.get(k) for k in keys]
        if any(v in (None, "") for v in key_values):
            raise RefError("请填写" + "、".join(f.label for f in meta.fields if f.name in keys) + "。")
        wanted = natural_key_text(key_values)
        for row in rows_of(store.engine, table):
            if natural_key_text([row.data.get(k) for k in keys]) == wanted:
                raise RefError("已有相同的记录，请直接修改它。")
    fields = {k: v for k, v in data.items() if k in spec.fields}
    store.load_reference(rows=[(table, [fields.get(k) for k in keys], fields)])
    return before, fields
