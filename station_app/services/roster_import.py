"""Roster import (xlsx/csv): find the header, map columns, validate every row, insert the valid rows in one go."""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterable
from xml.etree import ElementTree

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from station_app import paths
from station_app.domain import roster as R
from station_app.domain.enums import (
    EnrollmentStatus,
    PlaceLevel,
    Relation,
    ResidentStatus,
)
from station_app.domain.errors import DomainError, PermissionDenied, ValidationError
from station_app.domain.idnumber import IdNumberError, parse_id
from station_app.domain.masking import mask_name
from station_app.domain.names import pinyin_keys, validate_name, validate_phone
from station_app.store.base import chunks, new_id, utcnow
from station_app.store.models import AuditEntry, Enrollment, Household, Place, Resident

from . import backup as backup_service
from .changes import Actor
from .household_numbers import allocate_household_numbers
from .overview import current_benefit_year
from .reference import subsidy_rules, suggest_subsidy, year_setting
from .scope import villages_in_scope
from .workspace import Workspace

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool]

XLSX_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".txt")
BATCH = 1000
#: Rows read or checked between two progress reports / cancel checks.
STEP = 500

NEW, EXISTS, ENROLL, ERROR = "new", "exists", "enroll", "error"
STATUS_LABELS = {NEW: "新增", EXISTS: "已存在，未更改", ENROLL: "已存在，补录参保状态", ERROR: "错误"}


class ImportCancelled(DomainError):
    """The user cancelled; nothing was written."""

    def __init__(self) -> None:
        super().__init__("导入已取消，数据库没有任何更改。", code="cancelled")


def _never() -> bool:
    return False


def _quiet(_done: int, _total: int, _message: str = "") -> None:
    pass


# -- reading ------------------------------------------------------------------------------------


@dataclass
class RosterTable:
    """A roster as read: the header found, and every data row with its original row number."""

    path: Path
    sheet: str
    labels: list[str]
    header_rows: tuple[int, int]  # 1-based, first and last header row
    rows: list[tuple[int, list[Any]]]
    detected: dict[int, str]  # column → field, as guessed

    @property
    def width(self) -> int:
        return len(self.labels)

    def column_samples(self, column: int, count: int = 3) -> list[str]:
        values = []
        for _row_no, cells in self.rows:
            if column < len(cells) and cells[column] not in (None, ""):
                values.append(R.display_value(cells[column]))
                if len(values) >= count:
                    break
        return values


def read_roster(path: str | Path, *, sheet: str | None = None, progress: Progress | None = None,
                cancel: Cancel | None = None) -> RosterTable:
    """Read an xlsx or csv roster and find its header; raises ValidationError in Chinese."""
    path = Path(path)
    progress, cancel = progress or _quiet, cancel or _never
    if not path.is_file():
        raise ValidationError(f"找不到文件：{path}")
    suffix = path.suffix.lower()
    if suffix in (".xls", ".et", ".wps"):
        raise ValidationError("不支持旧版 .xls/.et 格式：请在 Excel 或 WPS 中“另存为” .xlsx 后再导入。")
    if suffix in CSV_SUFFIXES:
        return _table_from_grid(path, "CSV", _read_csv(path, progress, cancel))
    if suffix not in XLSX_SUFFIXES:
        raise ValidationError("只能导入 Excel（.xlsx）或 CSV 文件。")
    return _read_xlsx(path, sheet, progress, cancel)


def _read_csv(path: Path, progress: Progress, cancel: Cancel) -> list[list[Any]]:
    data = path.read_bytes()
    # Excel on a Chinese Windows saves CSV as GBK; newer tools as UTF-8 with a BOM.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ValidationError("无法识别 CSV 文件的编码（应为 UTF-8 或 GBK）。")
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    rows: list[list[Any]] = []
    for i, row in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
        rows.append(row)
        if i % STEP == 0:
            if cancel():
                raise ImportCancelled()
            progress(i, 0, "读取文件")
    return rows


def _sheet_paths(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title → path of its XML inside the xlsx."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.findall("p:Relationship", ns)}
    result = {}
    for sheet in workbook.iter(f"{{{ns['m']}}}sheet"):
        target = targets.get(sheet.get(f"{{{ns['r']}}}id"), "")
        target = target.lstrip("/")
        result[sheet.get("name", "")] = target if target.startswith("xl/") else f"xl/{target}"
    return result


_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\s+ref=\"([A-Z]+[0-9]+:[A-Z]+[0-9]+)\"")


def merged_ranges(path: Path, sheet_title: str) -> list[tuple[int, int, int, int]]:
    """(min_col, min_row, max_col, max_row) of merged cells; read-only openpyxl does not give them."""
    from openpyxl.utils.cell import range_boundaries

    try:
        with zipfile.ZipFile(path) as archive:
            member = _sheet_paths(archive).get(sheet_title)
            if not member:
                return []
            data = archive.read(member)
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return []
    return [tuple(range_boundaries(ref.decode())) for ref in _MERGE.findall(data)]  # type: ignore[misc]


def _fill_merges(rows: list[list[Any]], merges: Iterable[tuple[int, int, int, int]]) -> None:
    """Give every cell of a merged range the top-left value (title, header and household columns)."""
    for min_col, min_row, max_col, max_row in merges:
        if min_row > len(rows):
            continue
        top = rows[min_row - 1]
        value = top[min_col - 1] if min_col - 1 < len(top) else None
        for r in range(min_row, min(max_row, len(rows)) + 1):
            row = rows[r - 1]
            if len(row) < max_col:
                row.extend([None] * (max_col - len(row)))
            for c in range(min_col, max_col + 1):
                row[c - 1] = value


def _read_xlsx(path: Path, sheet: str | None, progress: Progress, cancel: Cancel) -> RosterTable:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
        raise ValidationError(f"无法打开 Excel 文件（文件可能已损坏或正被加密）：{type(error).__name__}") from error
    try:
        if sheet:
            if sheet not in workbook.sheetnames:
                raise ValidationError(f"工作簿中没有名为“{sheet}”的工作表。")
            candidates = [workbook[sheet]]
        else:
            active = workbook.active
            candidates = [active] + [ws for ws in workbook.worksheets if ws is not active]
        for worksheet in candidates:
            estimate = worksheet.max_row or 0
            worksheet.reset_dimensions()  # WPS and scripts often write a wrong <dimension>
            rows: list[list[Any]] = []
            for i, row in enumerate(worksheet.iter_rows(values_only=True), start=1):
                rows.append(list(row))
                if i % STEP == 0:
                    if cancel():
                        raise ImportCancelled()
                    progress(i, max(estimate, i), "读取文件")
            _fill_merges(rows, merged_ranges(path, worksheet.title))
            try:
                return _table_from_grid(path, worksheet.title, rows)
            except ValidationError:
                if sheet or worksheet is candidates[-1]:
                    raise
    finally:
        workbook.close()
    raise ValidationError("文件中没有工作表。")  # pragma: no cover


def _table_from_grid(path: Path, sheet: str, rows: list[list[Any]]) -> RosterTable:
    guess = R.detect_header(rows)
    if guess is None:
        raise ValidationError("没有找到表头：表格前 30 行中需要有“姓名”和“身份证号”（或“身份证号码”“公民身份号码”）两列。")
    data = [(i + 1, cells) for i, cells in enumerate(rows[guess.data_start:], start=guess.data_start)
            if any(c not in (None, "") for c in cells)]
    width = max([len(guess.labels)] + [len(cells) for _n, cells in data[:200]])
    labels = R.unique_labels(guess.labels + [""] * (width - len(guess.labels)))
    return RosterTable(path, sheet, labels, (guess.first_row + 1, guess.last_row + 1), data, guess.mapping)


# -- planning -----------------------------------------------------------------------------------


@dataclass
class RowResult:
    """What will happen (or happened) to one data row, with the reason in Chinese."""

    row_no: int
    cells: list[Any]
    status: str = NEW
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    name: str = ""
    id_number: str = ""
    sex: str = ""
    birth_date: date | None = None
    phone: str = ""
    relation: str = Relation.OTHER.value
    is_head: bool = False
    special_groups: str = ""
    note: str = ""
    village_code: str | None = None
    group_code: str | None = None
    head_name: str = ""
    household_no: str = ""
    address: str = ""
    household_key: tuple = ()
    enrollment_status: str | None = None
    enrollment_note: str = ""
    enrollment_year: int | None = None
    paid_fen: int | None = None
    subsidy: tuple[str, int] | None = None
    duplicate_in_file: bool = False
    existing_resident_id: str | None = None
    existing_household_id: str | None = None
    existing_village: str | None = None

    @property
    def message(self) -> str:
        if self.status == ERROR:
            return "；".join(self.reasons)
        text = STATUS_LABELS[self.status]
        if self.status == ENROLL and self.enrollment_year:
            text = f"已存在，补录{self.enrollment_year}年度参保状态"
        return "；".join([text] + self.notes)

    @property
    def status_label(self) -> str:
        return "错误" if self.status == ERROR else STATUS_LABELS[self.status].split("，")[0]


@dataclass
class HouseholdDraft:
    key: tuple
    village_code: str
    group_code: str | None = None
    head_name: str = ""
    household_no: str = ""
    address: str = ""
    phone: str = ""
    existing_id: str | None = None
    rows: list[RowResult] = field(default_factory=list)


@dataclass
class ImportPlan:
    table: RosterTable
    mapping: dict[int, str]
    rows: list[RowResult]
    households: dict[tuple, HouseholdDraft]
    skipped: int
    county_code: str
    default_village: str | None
    year: int | None

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def errors(self) -> list[RowResult]:
        return [r for r in self.rows if r.status == ERROR]

    @property
    def writes(self) -> bool:
        return any(r.status in (NEW, ENROLL) for r in self.rows)


@dataclass
class ImportResult:
    file_name: str
    total_rows: int
    added: int
    existing: int
    enrollments_added: int
    errors: int
    skipped: int
    households_added: int
    dry_run: bool
    report_path: Path | None = None
    backup_path: Path | None = None
    plan: ImportPlan | None = field(default=None, repr=False)

    @property
    def summary(self) -> str:
        will = "将" if self.dry_run else ""
        parts = [f"共 {self.total_rows} 行", f"{will}新增 {self.added} 人（{self.households_added} 户）"]
        if self.enrollments_added:
            parts.append(f"{will}写入参保状态 {self.enrollments_added} 人")
        parts += [f"已登记过 {self.existing} 人（个人信息未更改）", f"错误 {self.errors} 行"]
        if self.skipped:
            parts.append(f"跳过空行/合计行 {self.skipped} 行")
        return "，".join(parts) + ("（试运行，未写入）" if self.dry_run else "")


@dataclass
class ImportTarget:
    code: str
    name: str


@dataclass
class _Context:
    villages: dict[str, str]  # code → name
    village_by_name: dict[str, str]
    groups: dict[str, dict[str, str]]  # village → group_key → group code
    group_names: dict[str, list[str]]
    county_code: str


def import_targets(ws: Workspace, actor: Actor) -> list[ImportTarget]:
    """Villages the actor may import into (for the dialog's 村 choice)."""
    with ws.read() as session:
        ctx = _load_context(ws, session, actor)
    return [ImportTarget(code, name) for code, name in ctx.villages.items()]


def suggested_year(ws: Workspace, today: date | None = None) -> int:
    """The benefit year a roster's 缴费状态 most likely means: the one being collected now."""
    today = today or date.today()
    with ws.read() as session:
        year = current_benefit_year(session, ws.station.county_code if ws.station else "", today)
    # Collection runs September–December for the next benefit year.
    return year or (today.year + 1 if today.month >= 9 else today.year)


def _load_context(ws: Workspace, session: Session, actor: Actor) -> _Context:
    allowed = villages_in_scope(session, actor)
    query = select(Place.code, Place.name).where(Place.level == PlaceLevel.VILLAGE.value,
                                                  Place.deleted.is_(False)).order_by(Place.sort_order, Place.code)
    if allowed is not None:
        query = query.where(Place.code.in_(allowed))
    villages = {code: name for code, name in session.execute(query)}
    by_name: dict[str, str] = {}
    for code, name in villages.items():
        for alias in {name, re.sub(r"(村委会|村民委员会|社区|村)$", "", name), code}:
            by_name.setdefault(alias, code)
    groups: dict[str, dict[str, str]] = {code: {} for code in villages}
    names: dict[str, list[str]] = {code: [] for code in villages}
    rows = session.execute(select(Place.code, Place.name, Place.parent_code).where(
        Place.level == PlaceLevel.GROUP.value, Place.deleted.is_(False),
        Place.parent_code.in_(list(villages))).order_by(Place.sort_order, Place.code))
    for code, name, parent in rows:
        groups[parent][R.group_key(name)] = code
        groups[parent].setdefault(code, code)
        if code.startswith(parent) and code[len(parent):].isdigit():
            groups[parent].setdefault(f"#{int(code[len(parent):])}", code)
        names[parent].append(name)
    county = ws.station.county_code if ws.station else ""
    return _Context(villages, by_name, groups, names, county)


def _check_mapping(mapping: dict[int, str]) -> None:
    columns_by_field: dict[str, list[int]] = {}
    for column, name in mapping.items():
        if name:
            if name not in R.FIELD_LABELS:
                raise ValidationError(f"未知的字段：{name}")
            columns_by_field.setdefault(name, []).append(column)
    missing = [R.FIELD_LABELS[f] for f in R.REQUIRED_FIELDS if f not in columns_by_field]
    if missing:
        raise ValidationError(f"请为“{'”“'.join(missing)}”指定对应的列。")
    from openpyxl.utils import get_column_letter

    for name, columns in columns_by_field.items():
        if len(columns) > 1:
            letters = "、".join(get_column_letter(c + 1) for c in columns)
            raise ValidationError(f"“{R.FIELD_LABELS[name]}”被指定给了多列（{letters}），每个字段只能对应一列。")


def plan_import(ws: Workspace, actor: Actor, table: RosterTable, *, mapping: dict[int, str] | None = None,
                village_code: str | None = None, year: int | None = None, limit: int | None = None,
                today: date | None = None, progress: Progress | None = None,
                cancel: Cancel | None = None) -> ImportPlan:
    """Validate every row against the rules and the database; nothing is written."""
    progress, cancel = progress or _quiet, cancel or _never
    mapping = dict(table.detected if mapping is None else mapping)
    _check_mapping(mapping)
    if ws.station is None:
        raise ValidationError("本站尚未完成初始设置，不能导入。")
    today = today or date.today()
    fields = set(mapping.values())
    with ws.read() as session:
        ctx = _load_context(ws, session, actor)
        if village_code is not None and village_code not in ctx.villages:
            raise PermissionDenied("无权向该村导入，或该村不存在。")
        default_village = village_code or (next(iter(ctx.villages)) if len(ctx.villages) == 1 else None)
        if "village" not in fields and default_village is None:
            raise ValidationError("请选择要导入到哪个村（表中没有“村”列）。")
        if "enrollment_status" in fields and year is None and "year" not in fields:
            year = current_benefit_year(session, ctx.county_code, today)
            if year is None:
                raise ValidationError("表中有“缴费状态”列，请指定待遇年度。")
        source_rows = table.rows if limit is None else table.rows[:limit]
        rows: list[RowResult] = []
        skipped = 0
        for i, (row_no, cells) in enumerate(source_rows, start=1):
            values = R.map_row(cells, mapping)
            if R.is_filler_row(values):
                skipped += 1
                continue
            rows.append(_check_row(row_no, cells, values, ctx, default_village, year, today))
            if i % STEP == 0:
                if cancel():
                    raise ImportCancelled()
                progress(i, len(source_rows), "逐行校验")
        households = _assign_households(rows, fields)
        _mark_file_duplicates(rows)
        _match_database(session, rows, set(ctx.villages), cancel)
        _finish_households(session, households, rows, set(ctx.villages))
        _price_enrollments(session, ctx.county_code, rows)
    progress(len(source_rows), len(source_rows), "校验完成")
    return ImportPlan(table, mapping, rows, households, skipped, ctx.county_code, default_village, year)


def _check_row(row_no: int, cells: list[Any], values: R.RowValues, ctx: _Context,
               default_village: str | None, year: int | None, today: date) -> RowResult:
    row = RowResult(row_no, cells)
    reasons = row.reasons
    raw_name = values.text("name")
    try:
        row.name = validate_name(raw_name)
    except ValidationError as error:
        row.name = raw_name
        reasons.append(error.message)
    number, problem = R.id_from_cell(values.raw("id_number"))
    if problem:
        reasons.append(problem)
    else:
        try:
            info = parse_id(number, today=today)
            row.id_number, row.sex, row.birth_date = info.number, info.sex, info.birth_date
        except IdNumberError as error:
            reasons.append(error.message)
    try:
        row.phone = validate_phone(R.phone_from_cell(values.raw("phone")))
    except ValidationError as error:
        reasons.append(error.message)
    row.head_name = re.sub(r"\s+", "", values.text("head_name"))
    row.household_no = values.text("household_no")
    row.address = values.text("address")
    relation_text = values.text("relation")
    row.relation, known = R.relation_from_text(relation_text)
    if not known:
        row.notes.append(f"与户主关系“{relation_text}”无法识别，按“其他”导入")
        row.note = f"原与户主关系：{relation_text}"
    if not values.has("relation") or not relation_text:
        if row.head_name and row.head_name == row.name:
            row.relation = Relation.HEAD.value
        elif not row.head_name and not row.household_no and not values.has("relation"):
            row.relation = Relation.HEAD.value  # a list of single people: each heads their own household
    row.is_head = row.relation == Relation.HEAD.value
    codes, unknown = R.special_groups_from_text(values.text("special_groups"))
    if unknown:
        reasons.append(f"人员类别“{'、'.join(unknown)}”无法识别（可填：{R.SPECIAL_GROUP_HINT}）")
    row.special_groups = ",".join(sorted(codes))
    extra_note = values.text("note")
    if extra_note:
        row.note = f"{row.note}；{extra_note}" if row.note else extra_note
    # village and group
    village_text = values.text("village")
    if village_text:
        code = ctx.village_by_name.get(village_text) or ctx.village_by_name.get(
            re.sub(r"(村委会|村民委员会|社区|村)$", "", village_text))
        if code is None:
            reasons.append(f"村“{village_text}”不在本站管辖范围内")
        row.village_code = code
    else:
        row.village_code = default_village
        if default_village is None:
            reasons.append("未填写村")
    group_text = values.text("group")
    if group_text and row.village_code:
        code = ctx.groups.get(row.village_code, {}).get(R.group_key(group_text)) \
            or ctx.groups.get(row.village_code, {}).get(group_text)
        if code is None:
            existing = "、".join(ctx.group_names.get(row.village_code, [])) or "无"
            reasons.append(f"村民小组“{group_text}”在{ctx.villages[row.village_code]}不存在（现有：{existing}）")
        row.group_code = code
    # enrollment of a year
    status_text = values.text("enrollment_status")
    if status_text:
        status, keep = R.enrollment_status_from_text(status_text)
        if status is None:
            reasons.append(f"缴费状态“{status_text}”无法识别（可填：{R.STATUS_HINT}）")
        row.enrollment_status, row.enrollment_note = status, keep
        row_year = R.parse_year(values.raw("year")) if values.has("year") else None
        if values.has("year") and values.text("year") and row_year is None:
            reasons.append(f"待遇年度“{values.text('year')}”无效，应为四位年份")
        row.enrollment_year = row_year or year
        if row.enrollment_year is None:
            reasons.append("未指定待遇年度")
        amount = values.raw("paid_amount")
        row.paid_fen = R.parse_amount_yuan(amount)
        if amount not in (None, "") and row.paid_fen is None:
            reasons.append(f"实缴金额“{R.cell_text(amount)}”不是数字")
    if reasons:
        row.status = ERROR
    return row


def _assign_households(rows: list[RowResult], fields: set[str]) -> dict[tuple, HouseholdDraft]:
    """Group rows into households by 户编号, else 户主姓名, else file order (head, then members)."""
    has_relation = "relation" in fields
    households: dict[tuple, HouseholdDraft] = {}
    latest_by_head: dict[tuple, tuple] = {}
    head_row: dict[tuple, RowResult] = {}
    current: tuple | None = None
    counter = 0
    for row in rows:
        village = row.village_code or ""
        if row.household_no:
            key: tuple = ("no", village, row.household_no)
        elif row.head_name:
            lookup = (village, row.head_name)
            key = latest_by_head.get(lookup)  # type: ignore[assignment]
            held = households.get(key) if key else None
            starts_new = (key is None or (row.is_head and key in head_row)
                          or (held is not None and row.group_code and held.group_code
                              and held.group_code != row.group_code))
            if starts_new:
                counter += 1
                key = ("head", village, row.head_name, counter)
                latest_by_head[lookup] = key
        elif row.is_head or current is None or not has_relation or current[1] != village:
            counter += 1
            key = ("row", village, counter)
        else:
            key = current
        draft = households.get(key)
        if draft is None:
            draft = households[key] = HouseholdDraft(key, village)
        if row.is_head:
            first = head_row.get(key)
            if first is not None and row.status != ERROR and first.id_number != row.id_number:
                row.reasons.append(f"同一户（户编号 {row.household_no}）已有户主（第 {first.row_no} 行）")
                row.status = ERROR
            elif first is None:
                head_row[key] = row
        row.household_key = key
        draft.rows.append(row)
        current = key
    for key, draft in households.items():
        head = head_row.get(key)
        lead = head or draft.rows[0]
        draft.group_code = lead.group_code or next((r.group_code for r in draft.rows if r.group_code), None)
        draft.head_name = lead.head_name or (head.name if head else "")
        draft.household_no = lead.household_no
        draft.address = lead.address or next((r.address for r in draft.rows if r.address), "")
        draft.phone = (head.phone if head else "") or next((r.phone for r in draft.rows if r.phone), "")
    return households


def _mark_file_duplicates(rows: list[RowResult]) -> None:
    """Same person twice: later rows are errors. Same ID, different names: every such row is."""
    by_id: dict[str, list[RowResult]] = {}
    for row in rows:
        if row.id_number:
            by_id.setdefault(row.id_number, []).append(row)
    for group in by_id.values():
        if len(group) < 2:
            continue
        names = {r.name for r in group}
        if len(names) == 1:
            first = group[0]
            for row in group[1:]:
                row.reasons.append(f"与第 {first.row_no} 行重复（同一人出现两次），本行未导入")
                row.status, row.duplicate_in_file = ERROR, True
        else:
            numbers = "、".join(str(r.row_no) for r in group)
            for row in group:
                row.reasons.append(f"身份证号在文件中出现多次且姓名不同（第 {numbers} 行），请核对")
                row.status, row.duplicate_in_file = ERROR, True


_IN_CHUNK = 500  # ids per IN (...) list


def _match_database(session: Session, rows: list[RowResult], in_scope: set[str], cancel: Cancel) -> None:
    """Rows whose ID number is already registered are skipped, or errors if the name differs."""
    wanted = [r for r in rows if r.id_number]
    found: dict[str, tuple[str, str, str | None, str | None]] = {}
    for chunk in chunks(sorted({r.id_number for r in wanted}), _IN_CHUNK):
        if cancel():
            raise ImportCancelled()
        for rid, number, name, household_id, village in session.execute(
                select(Resident.id, Resident.id_number, Resident.name, Resident.household_id,
                       Resident.village_code).where(Resident.id_number.in_(chunk), Resident.deleted.is_(False))):
            found[number] = (rid, name, household_id, village)
    village_names = dict(session.execute(select(Place.code, Place.name).where(
        Place.code.in_({v for _r, _n, _h, v in found.values() if v}))).all()) if found else {}
    for row in wanted:
        hit = found.get(row.id_number)
        if hit is None:
            continue
        rid, name, household_id, village = hit
        if name != row.name:
            row.reasons.append(f"该身份证号已登记为“{mask_name(name)}”（{village_names.get(village, village)}），"
                               "与本行姓名不一致，请核对")
            row.status = ERROR
            continue
        if row.duplicate_in_file:
            continue  # a duplicate inside the file stays reported as such
        row.status, row.reasons = EXISTS, []
        row.existing_resident_id, row.existing_household_id, row.existing_village = rid, household_id, village
        if village and row.village_code and village != row.village_code:
            scope_note = "" if village in in_scope else "，不在本站管辖范围"
            row.notes.append(f"已在{village_names.get(village, village)}登记{scope_note}")


def _finish_households(session: Session, households: dict[tuple, HouseholdDraft], rows: list[RowResult],
                       in_scope: set[str]) -> None:
    """New members join the household their registered relatives are in, or one with the same 户编号."""
    by_number: list[tuple[str, str]] = []
    for draft in households.values():
        # Only relatives registered in the same village: a household never spans two villages.
        present = [r for r in draft.rows if r.status == EXISTS and r.existing_household_id
                   and r.existing_village == draft.village_code]
        head = next((r for r in present if r.is_head), None)
        if present:
            draft.existing_id = (head or present[0]).existing_household_id
        elif draft.household_no and any(r.status == NEW for r in draft.rows):
            by_number.append((draft.village_code, draft.household_no))
    if by_number:
        found: dict[tuple[str, str], str] = {}
        for chunk in chunks(sorted({n for _v, n in by_number}), _IN_CHUNK):
            for hid, village, number in session.execute(select(Household.id, Household.village_code,
                                                               Household.household_no).where(
                    Household.household_no.in_(chunk), Household.deleted.is_(False))):
                found.setdefault((village, number), hid)
        for draft in households.values():
            if draft.existing_id is None and draft.household_no:
                draft.existing_id = found.get((draft.village_code, draft.household_no))
    # An already registered person whose enrollment of the year is missing gets it added — in
    # their own village, and only if that village is one the user may write to.
    enroll_rows = [r for r in rows if r.status == EXISTS and r.enrollment_status and r.enrollment_year
                   and r.existing_village in in_scope]
    have: set[tuple[str, int]] = set()
    for chunk in chunks([r.existing_resident_id for r in enroll_rows], _IN_CHUNK):
        have.update(session.execute(select(Enrollment.resident_id, Enrollment.year).where(
            Enrollment.resident_id.in_(chunk), Enrollment.deleted.is_(False))).tuples())
    for row in enroll_rows:
        if (row.existing_resident_id, row.enrollment_year) not in have:
            row.status = ENROLL
            row.village_code = row.existing_village


def _price_enrollments(session: Session, county_code: str, rows: list[RowResult]) -> None:
    """Subsidy and paid amount from the county's rules, where the roster gives none."""
    cache: dict[int, tuple[int | None, dict]] = {}
    for row in rows:
        if row.status not in (NEW, ENROLL) or not row.enrollment_status or not row.enrollment_year:
            continue
        if row.enrollment_year not in cache:
            setting = year_setting(session, county_code, row.enrollment_year)
            cache[row.enrollment_year] = (setting.premium_fen if setting else None,
                                          subsidy_rules(session, county_code, row.enrollment_year))
        premium, rules = cache[row.enrollment_year]
        if premium is None:
            continue
        suggestion = suggest_subsidy(rules, row.special_groups, premium)
        if row.enrollment_status == EnrollmentStatus.SUBSIDISED.value and suggestion:
            row.subsidy = suggestion
        if row.enrollment_status == EnrollmentStatus.PAID.value and row.paid_fen is None:
            row.paid_fen = premium - (suggestion[1] if suggestion else 0)


# -- writing ------------------------------------------------------------------------------------


def execute_plan(ws: Workspace, actor: Actor, plan: ImportPlan, *, progress: Progress | None = None,
                 cancel: Cancel | None = None) -> tuple[int, int, int]:
    """Insert the plan's new rows in one transaction; returns (households, residents, enrollments)."""
    progress, cancel = progress or _quiet, cancel or _never
    new_rows = [r for r in plan.rows if r.status == NEW]
    enroll_rows = [r for r in plan.rows if r.status in (NEW, ENROLL) and r.enrollment_status]
    total = len(new_rows) + len(enroll_rows)
    file_name = plan.table.path.name
    with ws.unit_of_work(actor, "import_roster") as session:
        allowed = villages_in_scope(session, actor)
        if allowed is not None and any(r.village_code not in allowed for r in new_rows + enroll_rows):
            raise PermissionDenied("无权向其他村导入。")
        # Someone may have registered one of these people since the plan was made.
        for chunk in chunks([r.id_number for r in new_rows], _IN_CHUNK):
            clash = session.scalar(select(func.count()).select_from(Resident).where(
                Resident.id_number.in_(chunk), Resident.deleted.is_(False)))
            if clash:
                raise ValidationError("校验之后有人登记了表中的居民，请重新导入（已登记的会自动跳过）。")
        household_rows, household_ids = _new_households(session, plan, new_rows)
        done = 0
        for batch in chunks(household_rows, BATCH):
            if cancel():
                raise ImportCancelled()
            ws.recorder.bulk_insert(session, Household, batch, summary=f"花名册导入“{file_name}”：新增户")
        resident_ids: dict[int, str] = {}
        for batch in chunks(new_rows, BATCH):
            if cancel():
                raise ImportCancelled()
            values = []
            for row in batch:
                rid = new_id()
                resident_ids[row.row_no] = rid
                draft = plan.households[row.household_key]
                values.append(_resident_values(row, rid, household_ids[row.household_key],
                                               row.group_code or draft.group_code))
            ws.recorder.bulk_insert(session, Resident, values, summary=f"花名册导入“{file_name}”：新增居民")
            done += len(batch)
            progress(done, total, "写入居民")
        for batch in chunks(enroll_rows, BATCH):
            if cancel():
                raise ImportCancelled()
            values = [_enrollment_values(row, resident_ids.get(row.row_no) or row.existing_resident_id)
                      for row in batch]
            ws.recorder.bulk_insert(session, Enrollment, values, summary=f"花名册导入“{file_name}”：参保状态")
            done += len(batch)
            progress(done, total, "写入参保状态")
        if cancel():
            raise ImportCancelled()
        session.add(AuditEntry(
            at=utcnow(), username=actor.username, station_code=actor.station_code, action="import_roster",
            table_name="resident",
            summary=(f"导入花名册“{file_name}”：新增 {len(new_rows)} 人、{len(household_rows)} 户，"
                     f"已存在 {plan.count(EXISTS) + plan.count(ENROLL)} 人，错误 {plan.count(ERROR)} 行")[:200]))
    progress(total, total, "导入完成")
    return len(household_rows), len(new_rows), len(enroll_rows)


def _new_households(session: Session, plan: ImportPlan,
                    new_rows: list[RowResult]) -> tuple[list[dict[str, Any]], dict[tuple, str]]:
    """(insert values, household id per key) for the households the new rows go into.

    The plan is left as it was, so a cancelled run can be planned and run again.
    """
    needed = sorted({r.household_key for r in new_rows}, key=lambda k: min(
        r.row_no for r in plan.households[k].rows))
    counters: dict[str, str] = {}
    values = []
    ids: dict[tuple, str] = {}
    for key in needed:
        draft = plan.households[key]
        if draft.existing_id:
            ids[key] = draft.existing_id
            continue
        village = draft.village_code
        number = draft.household_no
        if not number:
            # This station's own series (services/household_numbers.py): never a number another
            # station can also give offline.
            if village not in counters:
                counters[village] = allocate_household_numbers(session, village)[0]
            else:
                prefix, _, serial = counters[village].rpartition("-")
                counters[village] = f"{prefix}-{int(serial) + 1:04d}"
            number = counters[village]
        ids[key] = new_id()
        head_name = draft.head_name or next((r.name for r in draft.rows if r.status == NEW), "")
        values.append(dict(id=ids[key], village_code=village, household_no=number,
                           group_code=draft.group_code, head_name=head_name, address=draft.address,
                           phone=draft.phone, category="general", category_since=None, helper_name="",
                           helper_phone="", note=""))
    return values, ids


def _resident_values(row: RowResult, rid: str, household_id: str, group_code: str | None) -> dict[str, Any]:
    full, initials = pinyin_keys(row.name)
    return dict(id=rid, village_code=row.village_code, household_id=household_id,
                group_code=group_code, name=row.name, name_pinyin=full,
                name_initials=initials, sex=row.sex, id_number=row.id_number, birth_date=row.birth_date,
                phone=row.phone, relation=row.relation, status=ResidentStatus.REGISTERED.value,
                status_date=None, special_groups=row.special_groups, note=row.note)


def _enrollment_values(row: RowResult, resident_id: str | None) -> dict[str, Any]:
    subsidy = row.subsidy
    other = row.enrollment_note if row.enrollment_status == EnrollmentStatus.OTHER_CHANNEL.value else ""
    note = "花名册导入" + (f"（{row.enrollment_note}）" if row.enrollment_note and not other else "")
    return dict(resident_id=resident_id, village_code=row.village_code, year=row.enrollment_year,
                status=row.enrollment_status, subsidy_category=subsidy[0] if subsidy else "",
                subsidy_fen=subsidy[1] if subsidy else 0,
                paid_fen=row.paid_fen or 0 if row.enrollment_status == EnrollmentStatus.PAID.value else 0,
                paid_date=None, channel="", other_channel_note=other, note=note)


# -- the error report ---------------------------------------------------------------------------


def default_report_path(source: Path) -> Path:
    folder = paths.data_dir() / "import_reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{source.stem}-错误报告-{datetime.now():%Y%m%d-%H%M%S}.xlsx"


def write_error_report(plan: ImportPlan, path: Path) -> Path:
    """The invalid rows as the clerk wrote them, with the reason per row; plus every row's outcome."""
    from .exports import ID, INT, TEXT, WRAP, Column, XlsxBook

    id_columns = {c for c, f in plan.mapping.items() if f == "id_number"}
    labels = plan.table.labels
    # Every original value as text ("@"), so IDs stay text when the clerk fixes and re-imports this file.
    columns = [Column("原行号", INT, 8), Column("错误原因", WRAP, 60)] + [
        Column(label, ID, 22 if i in id_columns else max(10, len(label) * 2 + 4)) for i, label in enumerate(labels)]
    title = (f"花名册导入错误报告：{plan.table.path.name}（工作表“{plan.table.sheet}”），"
             f"共 {len(plan.errors)} 行未导入，生成于 {datetime.now():%Y-%m-%d %H:%M}")
    with XlsxBook(path, password="") as book:
        sheet = book.sheet("错误行", title, None, columns, freeze_columns=2)
        for row in plan.errors:
            values: list[Any] = [row.row_no, row.message]
            for i in range(len(labels)):
                value = row.cells[i] if i < len(row.cells) else None
                values.append(R.display_value(value) if value is not None else "")
            sheet.append(values)
        summary = book.sheet("逐行结果", None, None, [Column("原行号", INT, 8), Column("结果", TEXT, 14),
                                                      Column("姓名", TEXT, 12), Column("说明", TEXT, 60)])
        for row in plan.rows:
            summary.append([row.row_no, row.status_label, row.name, row.message])
        return book.save()


# -- the whole use case ----------------------------------------------------------------------------


def import_roster(ws: Workspace, actor: Actor, path: str | Path, *, mapping: dict[int, str] | None = None,
                  village_code: str | None = None, year: int | None = None, sheet: str | None = None,
                  dry_run: bool = False, report_path: str | Path | None = None, backups: Path | None = None,
                  progress: Progress | None = None, cancel: Cancel | None = None,
                  table: RosterTable | None = None) -> ImportResult:
    """Read, validate, back up, insert the valid rows (all or nothing) and write the error report.

    Importing the same file again adds nothing: registered people are "已存在，未更改".
    """
    progress, cancel = progress or _quiet, cancel or _never
    table = table or read_roster(path, sheet=sheet, progress=progress, cancel=cancel)
    plan = plan_import(ws, actor, table, mapping=mapping, village_code=village_code, year=year,
                       progress=progress, cancel=cancel)
    households = sum(1 for d in plan.households.values()
                     if not d.existing_id and any(r.status == NEW for r in d.rows))
    backup_path = None
    if not dry_run and plan.writes:
        if cancel():
            raise ImportCancelled()
        info = backup_service.backup_workspace(ws, backup_service.BEFORE_IMPORT, backups)
        backup_path = info.path if info else None
        households, _added, _enrolled = execute_plan(ws, actor, plan, progress=progress, cancel=cancel)
    report = None
    if plan.errors:
        report = write_error_report(plan, Path(report_path) if report_path else default_report_path(table.path))
    result = ImportResult(
        file_name=table.path.name, total_rows=len(plan.rows), added=plan.count(NEW),
        existing=plan.count(EXISTS) + plan.count(ENROLL), enrollments_added=sum(
            1 for r in plan.rows if r.status in (NEW, ENROLL) and r.enrollment_status),
        errors=plan.count(ERROR), skipped=plan.skipped, households_added=households, dry_run=dry_run,
        report_path=report, backup_path=backup_path, plan=plan)
    logger.info("roster %s: %s", table.path.name, result.summary)
    return result
