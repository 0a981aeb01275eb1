"""Excel exports of the archives and the unpaid list, in the layout a township forwards upward."""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import and_, case, select
from sqlalchemy.orm import Session, aliased

from station_app.domain.enums import (
    AssistanceStatus,
    CardStatus,
    EnrollmentStatus,
    HospitalLevel,
    HouseholdCategory,
    PaymentChannel,
    PlaceLevel,
    Relation,
    ResidentStatus,
    ServiceKind,
    Sex,
    SpecialGroup,
)
from station_app.domain.errors import ValidationError
from station_app.domain.kpi import enrollment_rate
from station_app.store.models import (
    AssistanceCase,
    AssistanceType,
    ChronicCard,
    Disease,
    Enrollment,
    Household,
    Place,
    Resident,
    ServiceEntry,
    User,
)

from . import export_protection as protection
from .changes import Actor
from .export_protection import export_password
from .overview import station_village_codes
from .scope import check_village, villages_in_scope
from .workspace import Workspace

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
KINDS = ("residents", "enrollment", "unpaid", "cards", "assistance", "services")
KIND_TITLES = {
    "residents": "居民花名册", "enrollment": "居民参保情况台账", "unpaid": "未缴费人员清单",
    "cards": "门诊慢特病卡台账", "assistance": "医疗救助台账", "services": "签约服务记录",
}

# Column kinds: how a value is written and how wide the column is by default.
TEXT, ID, DATE, MONEY, INT = "text", "id", "date", "money", "int"
WRAP = "wrap"  # long text, wrapped, top-aligned (the import error report's reasons)
_WIDTH = {TEXT: 12, ID: 21, DATE: 12, MONEY: 11, INT: 7, WRAP: 40}


@dataclass(frozen=True)
class Column:
    title: str
    kind: str = TEXT
    width: float | None = None


@dataclass
class ExportResult:
    path: Path
    rows: int
    title: str


def _groups_label(codes: str) -> str:
    try:
        return "、".join(g.label for g in SpecialGroup.parse_codes(codes))
    except ValueError:
        return codes


def _yuan(fen: int | None) -> float | None:
    return None if fen is None else round(fen / 100, 2)


_RELATION_ORDER = case({r.value: i for i, r in enumerate(Relation)}, value=Resident.relation, else_=99)


# -- scope and the title block ------------------------------------------------------------------


@dataclass
class _Scope:
    villages: list[str]
    village_names: dict[str, str]
    group_names: dict[str, str]
    township: str
    village_text: str


def _scope(ws: Workspace, session: Session, actor: Actor, village_code: str | None) -> _Scope:
    if village_code:
        check_village(session, actor, village_code)
        villages = [village_code]
    else:
        allowed = villages_in_scope(session, actor)
        station_villages = set(station_village_codes(session, ws.station))
        if allowed is None:
            villages = sorted(station_villages)
        else:  # a 村医 of a township station sees their village only
            villages = sorted(station_villages & allowed or allowed)
    places = {code: (name, parent) for code, name, parent in session.execute(
        select(Place.code, Place.name, Place.parent_code).where(Place.code.in_(villages)))}
    if village_code and village_code not in places:
        raise ValidationError("找不到该村。")
    group_names = dict(session.execute(select(Place.code, Place.name).where(
        Place.level == PlaceLevel.GROUP.value, Place.parent_code.in_(villages))).all())
    parents = {parent for _name, parent in places.values() if parent}
    township = ", ".join(sorted(session.scalars(select(Place.name).where(Place.code.in_(parents))))) \
        if parents else ""
    village_names = {code: name for code, (name, _p) in places.items()}
    if len(villages) == 1:
        village_text = village_names.get(villages[0], villages[0])
    else:
        village_text = f"全部（{len(villages)} 个村）"
    return _Scope(villages, village_names, group_names, township, village_text)


def _meta_line(scope: _Scope, actor: Actor, year: int | None, extra: str = "") -> str:
    parts = [f"乡镇：{scope.township or '—'}", f"村：{scope.village_text}"]
    if year:
        parts.append(f"年度：{year}")
    if extra:
        parts.append(extra)
    parts += [f"导出日期：{date.today():%Y-%m-%d}", f"导出人：{actor.display_name}"]
    return "　".join(parts)


# -- the xlsx writer ---------------------------------------------------------------------------
#
# openpyxl builds an object per cell and serialises it through a generic XML writer: about
# 45 µs a cell, a minute for a township's 60,000 residents. These sheets need only text,
# numbers, dates and a few fixed styles, so the XML is written directly (same file format, read
# back by openpyxl in the tests, ~20× faster).
# XlsxWriter's constant_memory mode, measured beside it (60,000 rows × 16 columns, same run),
# took about 4× as long, so this stays the one writer: every xlsx the app writes goes through it.

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = date(1899, 12, 30)
# Style ids (cellXfs order in _STYLES).
_S_TITLE, _S_META, _S_HEADER, _S_TEXT, _S_DATE, _S_MONEY, _S_WRAP = 1, 2, 3, 4, 5, 6, 7
_KIND_STYLE = {ID: _S_TEXT, DATE: _S_DATE, MONEY: _S_MONEY, WRAP: _S_WRAP}
_FONT = '<name val="宋体"/><family val="3"/><charset val="134"/>'
_STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{_MAIN_NS}"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>
<fonts count="3"><font><sz val="11"/>{_FONT}</font><font><b/><sz val="16"/>{_FONT}</font><font><b/><sz val="11"/>{_FONT}</font></fonts>
<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FFDDE7F0"/><bgColor indexed="64"/></patternFill></fill></fills>
<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>
<border><left style="thin"><color rgb="FF808080"/></left><right style="thin"><color rgb="FF808080"/></right>
<top style="thin"><color rgb="FF808080"/></top><bottom style="thin"><color rgb="FF808080"/></bottom><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="8"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1"><alignment horizontal="center" vertical="center"/></xf>
<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1"><alignment horizontal="left" vertical="center"/></xf>
<xf numFmtId="0" fontId="2" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" applyBorder="1" applyAlignment="1"><alignment horizontal="center" vertical="center" wrapText="1"/></xf>
<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="2" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"""


def _column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_NEEDS_CARE = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|^\\s|\\s$")


def _text_xml(value: str) -> str:
    if not _NEEDS_CARE.search(value):  # the usual case: nothing to escape
        return f"<t>{value}</t>"
    text = _ILLEGAL_XML.sub("", value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f"<t{space}>{text}</t>"


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class _SheetWriter:
    """One sheet streamed into the zip: merged title and meta line, frozen bold header, typed cells.

    Without a title or meta line the header moves up; ``freeze_columns`` also keeps the first
    columns in view."""

    def __init__(self, book: "XlsxBook", name: str, title: str | None, meta: str | None, columns: Sequence[Column],
                 freeze_columns: int = 0):
        self.book = book
        self.name = name
        self.columns = list(columns)
        self._letters = [_column_letter(i) for i in range(len(self.columns))]
        self._styles = [_KIND_STYLE.get(c.kind, 0) for c in self.columns]
        self._kinds = [c.kind for c in self.columns]
        self._row = 0
        self.rows = 0
        last = self._letters[-1]
        above = [line for line in (title, meta) if line is not None]
        self.header_row = len(above) + 1
        self._merges = [f"A{r}:{last}{r}" for r in range(1, len(above) + 1)]
        first = f"{_column_letter(freeze_columns)}{self.header_row + 1}"
        x_split = f' xSplit="{freeze_columns}"' if freeze_columns else ""
        pane = "bottomRight" if freeze_columns else "bottomLeft"
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{c.width or max(_WIDTH[c.kind], len(c.title) * 2 + 2)}" customWidth="1"/>'
            for i, c in enumerate(self.columns, start=1))
        self._out = book.open_sheet()
        self._out.write(
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN_NS}" '
            f'xmlns:r="{_REL_NS}"><sheetPr><pageSetUpPr fitToPage="1"/></sheetPr><sheetViews>'
            f'<sheetView workbookViewId="0"><pane{x_split} ySplit="{self.header_row}" topLeftCell="{first}" '
            f'activePane="{pane}" state="frozen"/><selection pane="{pane}" activeCell="{first}" sqref="{first}"/>'
            '</sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>')
        if title is not None:
            self._write_row([(title, _S_TITLE)], height=30)
        if meta is not None:
            self._write_row([(meta, _S_META)])
        self._write_row([(c.title, _S_HEADER) for c in self.columns], height=32)

    def _write_row(self, cells: list[tuple[Any, int]], height: float | None = None) -> None:
        self._row += 1
        r = self._row
        size = f' ht="{height}" customHeight="1"' if height else ""
        parts = [f'<row r="{r}"{size}>']
        for i, (value, style) in enumerate(cells):
            parts.append(self._cell(f"{self._letters[i]}{r}", value, style))
        parts.append("</row>")
        self._out.write("".join(parts))

    @staticmethod
    def _cell(ref: str, value: Any, style: int) -> str:
        s = f' s="{style}"' if style else ""
        if value is None or value == "":
            return f'<c r="{ref}"{s}/>' if style in (_S_HEADER, _S_TITLE) else ""
        kind = type(value)
        if kind is str or style == _S_TEXT:
            return f'<c r="{ref}"{s} t="inlineStr"><is>{_text_xml(str(value))}</is></c>'
        if kind is bool:
            return f'<c r="{ref}"{s} t="inlineStr"><is><t>{"是" if value else "否"}</t></is></c>'
        if kind is int or kind is float:
            return f'<c r="{ref}"{s}><v>{value!r}</v></c>'
        if isinstance(value, date):
            day = value.date() if isinstance(value, datetime) else value
            return f'<c r="{ref}"{s}><v>{(day - _EPOCH).days}</v></c>'
        return f'<c r="{ref}"{s} t="inlineStr"><is>{_text_xml(str(value))}</is></c>'

    def append(self, values: Sequence[Any]) -> None:
        self._write_row(list(zip(values, self._styles)))
        self.rows += 1

    def close(self) -> None:
        merges = "".join(f'<mergeCell ref="{m}"/>' for m in self._merges)
        if merges:
            merges = f'<mergeCells count="{len(self._merges)}">{merges}</mergeCells>'
        self._out.write(
            f'</sheetData>{merges}'
            '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>'
            '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/></worksheet>')
        self._out.close()


class XlsxBook:
    """An xlsx written to a temporary file next to the target and moved into place on save.

    Sheets are written one after the other (a zip takes one open member at a time).
    """

    def __init__(self, path: str | Path, *, audit: tuple[Workspace, Actor, str] | None = None,
                 password: str | None = None):
        path = Path(path)
        if path.suffix.lower() != ".xlsx":
            path = path.with_suffix(".xlsx")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._temp = path.with_name(f".{path.name}.part")
        self._audit = audit
        self._password = password if password is not None else export_password.get()
        # A protected export is built in memory: its plain form never touches the disk.
        self._buffer = io.BytesIO() if self._password else None
        self._zip = zipfile.ZipFile(self._buffer if self._buffer is not None else self._temp, "w",
                                    zipfile.ZIP_DEFLATED, compresslevel=6)
        self._sheets: list[_SheetWriter] = []
        self._current: _SheetWriter | None = None

    def sheet(self, name: str, title: str | None, meta: str | None, columns: Sequence[Column], *,
              freeze_columns: int = 0) -> _SheetWriter:
        if self._current is not None:
            self._current.close()
        self._current = _SheetWriter(self, name, title, meta, columns, freeze_columns)
        self._sheets.append(self._current)
        return self._current

    def open_sheet(self):
        member = self._zip.open(f"xl/worksheets/sheet{len(self._sheets) + 1}.xml", "w", force_zip64=True)
        return io.TextIOWrapper(io.BufferedWriter(member, 1 << 16), encoding="utf-8")

    def save(self) -> Path:
        if self._current is not None:
            self._current.close()
            self._current = None
        n = len(self._sheets)
        sheets = "".join(f'<sheet name="{_attr(s.name)}" sheetId="{i}" r:id="rId{i}"/>'
                         for i, s in enumerate(self._sheets, start=1))
        titles = "".join(f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">'
                         f"'{_attr(s.name)}'!${s.header_row}:${s.header_row}</definedName>" for i, s in enumerate(self._sheets))
        head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        self._zip.writestr("xl/workbook.xml", f'{head}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
                           f'<bookViews><workbookView/></bookViews><sheets>{sheets}</sheets>'
                           f'<definedNames>{titles}</definedNames></workbook>')
        rels = "".join(f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                       for i in range(1, n + 1))
        self._zip.writestr("xl/_rels/workbook.xml.rels", f'{head}<Relationships xmlns="{_PKG_REL_NS}">{rels}'
                           f'<Relationship Id="rId{n + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
                           "</Relationships>")
        self._zip.writestr("xl/styles.xml", _STYLES)
        self._zip.writestr("_rels/.rels", f'{head}<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
                           f'Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        sheet_types = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, n + 1))
        self._zip.writestr("[Content_Types].xml", f'{head}<Types xmlns="http://schemas.openxmlformats.org/'
                           'package/2006/content-types"><Default Extension="rels" ContentType="application/'
                           'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
                           'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
                           'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                           f'{sheet_types}<Override PartName="/xl/styles.xml" ContentType="application/'
                           'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>')
        self._zip.close()
        if self._buffer is not None:
            protection.write_protected(self._buffer, self._temp, self._password)
        try:
            os.replace(self._temp, self.path)
        except PermissionError as error:
            self._temp.unlink(missing_ok=True)
            raise ValidationError(f"无法写入文件（是否正在 Excel 中打开？）：{self.path}") from error
        if self._audit is not None:
            ws, actor, kind = self._audit
            rows = sum(sheet.rows for sheet in self._sheets)
            protection.record_export(ws, actor, KIND_TITLES.get(kind, kind), rows, self.path,
                                     protected=bool(self._password),
                                     full_ids=any(c.kind == ID for sheet in self._sheets for c in sheet.columns))
        return self.path

    def discard(self) -> None:
        if self._current is not None:
            try:
                self._current.close()
            except (OSError, ValueError):
                pass
        self._zip.close()
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> "XlsxBook":
        return self

    def __exit__(self, exc_type, _exc, _tb) -> None:
        if exc_type is not None:
            self.discard()


def _quiet(_done: int, _total: int, _message: str = "") -> None:
    pass


def _stream(writer: _SheetWriter, rows: Iterable[Sequence[Any]], total: int, progress: Progress) -> None:
    progress(0, total, "导出")
    for i, row in enumerate(rows, start=1):
        writer.append([i, *row])
        if i % 1000 == 0:
            progress(i, total, "导出")
    progress(total, total, "导出完成")


# -- residents ----------------------------------------------------------------------------------

RESIDENT_COLUMNS = (
    Column("序号", INT), Column("村", TEXT), Column("村民小组", TEXT, 9), Column("户编号", TEXT, 13),
    Column("户主姓名", TEXT, 10), Column("与户主关系", TEXT, 10), Column("姓名", TEXT, 10),
    Column("性别", TEXT, 6), Column("出生日期", DATE), Column("身份证号", ID), Column("联系电话", TEXT, 14),
    Column("人员类别", TEXT, 18), Column("户类别", TEXT, 14), Column("状态", TEXT, 7),
    Column("家庭住址", TEXT, 24), Column("备注", TEXT, 20),
)


def export_residents(ws: Workspace, actor: Actor, out: str | Path, *, village_code: str | None = None,
                     progress: Progress | None = None, password: str | None = None) -> ExportResult:
    """居民花名册: every resident by village, group and household (the import reads it back)."""
    progress = progress or _quiet
    with ws.read() as session, XlsxBook(out, audit=(ws, actor, "residents"), password=password) as book:
        scope = _scope(ws, session, actor, village_code)
        # Plain columns, not ORM objects: 60,000 rows load in a fraction of the time.
        query = (select(Resident.village_code, Resident.group_code, Household.household_no, Household.head_name,
                        Resident.relation, Resident.name, Resident.sex, Resident.birth_date, Resident.id_number,
                        Resident.phone, Resident.special_groups, Household.category, Resident.status,
                        Household.address, Resident.note)
                 .outerjoin(Household, Household.id == Resident.household_id)
                 .where(Resident.village_code.in_(scope.villages), Resident.deleted.is_(False))
                 .order_by(Resident.village_code, Resident.group_code, Household.household_no,
                           _RELATION_ORDER, Resident.birth_date))
        records = session.execute(query).all()
        title = f"{scope.township}{scope.village_text if len(scope.villages) == 1 else ''}{KIND_TITLES['residents']}"
        writer = book.sheet("居民花名册", title, _meta_line(scope, actor, None), RESIDENT_COLUMNS)
        _stream(writer, ((
            scope.village_names.get(village, village), scope.group_names.get(group, ""), number or "",
            head or "", Relation.label_for(relation), name, Sex.label_for(sex), born, id_number, phone,
            _groups_label(groups), HouseholdCategory.label_for(category), ResidentStatus.label_for(status),
            address or "", note)
            for (village, group, number, head, relation, name, sex, born, id_number, phone, groups, category,
                 status, address, note) in records), len(records), progress)
        path = book.save()
    return ExportResult(path, writer.rows, title)


# -- enrollment and the unpaid list -------------------------------------------------------------

ENROLLMENT_COLUMNS = (
    Column("序号", INT), Column("村", TEXT), Column("村民小组", TEXT, 9), Column("户编号", TEXT, 13),
    Column("户主姓名", TEXT, 10), Column("姓名", TEXT, 10), Column("与户主关系", TEXT, 10),
    Column("身份证号", ID), Column("人员类别", TEXT, 18), Column("缴费状态", TEXT, 12),
    Column("资助类别", TEXT, 20), Column("资助金额（元）", MONEY), Column("实缴金额（元）", MONEY),
    Column("缴费日期", DATE), Column("缴费渠道", TEXT, 14), Column("备注", TEXT, 20),
)
NOT_RECORDED = "未登记"


def _enrollment_rows(session: Session, villages: list[str], year: int, *, unpaid_only: bool = False):
    """Registered residents with their enrollment of ``year`` (None columns when unrecorded)."""
    enrollment = aliased(Enrollment)
    query = (select(Resident.id.label("resident_id"), Resident.village_code, Resident.group_code,
                    Resident.name, Resident.relation, Resident.id_number, Resident.phone, Resident.special_groups,
                    Household.id.label("household_id"), Household.household_no, Household.head_name,
                    Household.phone.label("household_phone"), enrollment.id.label("enrollment_id"),
                    enrollment.status, enrollment.subsidy_category, enrollment.subsidy_fen, enrollment.paid_fen,
                    enrollment.paid_date, enrollment.channel, enrollment.other_channel_note,
                    enrollment.note.label("enrollment_note"))
             .outerjoin(Household, Household.id == Resident.household_id)
             .outerjoin(enrollment, and_(enrollment.resident_id == Resident.id, enrollment.year == year,
                                         enrollment.deleted.is_(False)))
             .where(Resident.village_code.in_(villages), Resident.deleted.is_(False),
                    Resident.status == ResidentStatus.REGISTERED.value))
    if unpaid_only:
        query = query.where((enrollment.id.is_(None)) | (enrollment.status == EnrollmentStatus.UNPAID.value))
    query = query.order_by(Resident.village_code, Resident.group_code, Household.household_no,
                           _RELATION_ORDER, Resident.birth_date)
    return session.execute(query).all()


def export_enrollment(ws: Workspace, actor: Actor, out: str | Path, *, year: int,
                      village_code: str | None = None, progress: Progress | None = None, password: str | None = None) -> ExportResult:
    """居民参保情况台账 of a benefit year, with a per-group summary sheet."""
    progress = progress or _quiet
    with ws.read() as session, XlsxBook(out, audit=(ws, actor, "enrollment"), password=password) as book:
        scope = _scope(ws, session, actor, village_code)
        records = _enrollment_rows(session, scope.villages, year)
        title = f"{scope.township}{year}年度{KIND_TITLES['enrollment']}"
        writer = book.sheet("参保台账", title, _meta_line(scope, actor, year), ENROLLMENT_COLUMNS)
        _stream(writer, ((
            scope.village_names.get(r.village_code, ""), scope.group_names.get(r.group_code, ""),
            r.household_no or "", r.head_name or "", r.name, Relation.label_for(r.relation), r.id_number,
            _groups_label(r.special_groups),
            EnrollmentStatus.label_for(r.status) if r.enrollment_id else NOT_RECORDED,
            r.subsidy_category or "", _yuan(r.subsidy_fen) if r.subsidy_fen else None,
            _yuan(r.paid_fen) if r.paid_fen else None, r.paid_date, PaymentChannel.label_for(r.channel),
            (r.other_channel_note or r.enrollment_note or ""))
            for r in records), len(records), progress)
        _enrollment_summary(book, scope, actor, year, records)
        path = book.save()
    return ExportResult(path, writer.rows, title)


def _enrollment_summary(book: XlsxBook, scope: _Scope, actor: Actor, year: int, records) -> None:
    statuses = [s.value for s in EnrollmentStatus]
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in records:
        key = (r.village_code, r.group_code or "")
        bucket = counts.setdefault(key, dict.fromkeys(statuses + [NOT_RECORDED], 0))
        bucket[r.status if r.enrollment_id else NOT_RECORDED] += 1
    columns = [Column("村", TEXT), Column("村民小组", TEXT, 9), Column("在册人数", INT, 9)] + [
        Column(EnrollmentStatus(s).label, INT, 10) for s in statuses] + [
        Column(NOT_RECORDED, INT, 8), Column("参保率", TEXT, 9)]
    writer = book.sheet("按组汇总", f"{scope.township}{year}年度参保情况汇总",
                          _meta_line(scope, actor, year), columns)
    for (village, group), bucket in sorted(counts.items()):
        covered = sum(bucket[s.value] for s in EnrollmentStatus if s.is_covered)
        required = sum(bucket.values()) - bucket[EnrollmentStatus.NOT_REQUIRED.value]
        writer.append([scope.village_names.get(village, village), scope.group_names.get(group, ""),
                       sum(bucket.values())] + [bucket[s] for s in statuses] + [
            bucket[NOT_RECORDED], enrollment_rate(covered, required).percent_text])


UNPAID_COLUMNS = (
    Column("序号", INT), Column("村", TEXT), Column("村民小组", TEXT, 9), Column("户编号", TEXT, 13),
    Column("户主姓名", TEXT, 10), Column("户联系电话", TEXT, 14), Column("姓名", TEXT, 10),
    Column("与户主关系", TEXT, 10), Column("身份证号", ID), Column("本人电话", TEXT, 14),
    Column("人员类别", TEXT, 18), Column("缴费状态", TEXT, 10), Column("催缴情况", TEXT, 24),
)


def export_unpaid(ws: Workspace, actor: Actor, out: str | Path, *, year: int, village_code: str | None = None,
                  progress: Progress | None = None, password: str | None = None) -> ExportResult:
    """未缴费人员清单 (汉阴 "清单制"): by group and household, with phone numbers to call."""
    progress = progress or _quiet
    with ws.read() as session, XlsxBook(out, audit=(ws, actor, "unpaid"), password=password) as book:
        scope = _scope(ws, session, actor, village_code)
        records = _enrollment_rows(session, scope.villages, year, unpaid_only=True)
        title = f"{scope.township}{year}年度{KIND_TITLES['unpaid']}"
        writer = book.sheet("未缴费清单", title, _meta_line(scope, actor, year), UNPAID_COLUMNS)
        _stream(writer, ((
            scope.village_names.get(r.village_code, ""), scope.group_names.get(r.group_code, ""),
            r.household_no or "", r.head_name or "", r.household_phone or "", r.name, Relation.label_for(r.relation),
            r.id_number, r.phone, _groups_label(r.special_groups),
            EnrollmentStatus.label_for(r.status) if r.enrollment_id else NOT_RECORDED, "")
            for r in records), len(records), progress)
        per_group: dict[tuple[str, str], tuple[set, int]] = {}
        for r in records:
            key = (r.village_code, r.group_code or "")
            households, people = per_group.get(key, (set(), 0))
            households.add(r.household_id or r.resident_id)
            per_group[key] = (households, people + 1)
        summary = book.sheet("按组汇总", f"{scope.township}{year}年度未缴费人员汇总",
                               _meta_line(scope, actor, year),
                               [Column("村", TEXT), Column("村民小组", TEXT, 9), Column("未缴户数", INT, 9),
                                Column("未缴人数", INT, 9)])
        for (village, group), (households, people) in sorted(per_group.items()):
            summary.append([scope.village_names.get(village, village), scope.group_names.get(group, ""),
                            len(households), people])
        path = book.save()
    return ExportResult(path, writer.rows, title)


# -- chronic cards, assistance, service log -----------------------------------------------------

CARD_COLUMNS = (
    Column("序号", INT), Column("村", TEXT), Column("村民小组", TEXT, 9), Column("姓名", TEXT, 10),
    Column("性别", TEXT, 6), Column("身份证号", ID), Column("联系电话", TEXT, 14), Column("病种", TEXT, 22),
    Column("病种类别", TEXT, 12), Column("状态", TEXT, 8), Column("申请日期", DATE), Column("认定日期", DATE),
    Column("发卡日期", DATE), Column("卡号", TEXT, 14), Column("待遇开始", DATE), Column("注销日期", DATE),
    Column("注销原因", TEXT, 12), Column("未通过原因", TEXT, 20),
)


def export_cards(ws: Workspace, actor: Actor, out: str | Path, *, village_code: str | None = None,
                 progress: Progress | None = None, password: str | None = None) -> ExportResult:
    """门诊慢特病卡台账 (no free-text diagnosis: it is sensitive and stays in the station)."""
    progress = progress or _quiet
    with ws.read() as session, XlsxBook(out, audit=(ws, actor, "cards"), password=password) as book:
        scope = _scope(ws, session, actor, village_code)
        records = session.execute(
            select(ChronicCard, Resident, Disease)
            .join(Resident, Resident.id == ChronicCard.resident_id)
            .outerjoin(Disease, Disease.code == ChronicCard.disease_code)
            .where(Resident.village_code.in_(scope.villages), ChronicCard.deleted.is_(False))
            .order_by(Resident.village_code, Resident.group_code, ChronicCard.applied_date)).all()
        title = f"{scope.township}{KIND_TITLES['cards']}"
        writer = book.sheet("慢特病卡", title, _meta_line(scope, actor, None), CARD_COLUMNS)
        _stream(writer, ((
            scope.village_names.get(p.village_code, ""), scope.group_names.get(p.group_code, ""), p.name,
            Sex.label_for(p.sex), p.id_number, p.phone, d.name if d else c.disease_code, d.category if d else "",
            CardStatus.label_for(c.status), c.applied_date, c.assessed_date, c.issued_date, c.card_no,
            c.benefit_start, c.cancelled_date, c.cancel_reason, c.refused_reason)
            for c, p, d in records), len(records), progress)
        path = book.save()
    return ExportResult(path, writer.rows, title)


ASSISTANCE_COLUMNS = (
    Column("序号", INT), Column("村", TEXT), Column("村民小组", TEXT, 9), Column("姓名", TEXT, 10),
    Column("身份证号", ID), Column("救助类型", TEXT, 14), Column("救助对象类别", TEXT, 16),
    Column("就诊医院", TEXT, 20), Column("医院等级", TEXT, 10), Column("入院日期", DATE), Column("出院日期", DATE),
    Column("总费用（元）", MONEY), Column("基本医保（元）", MONEY), Column("大病保险（元）", MONEY),
    Column("救助金额（元）", MONEY), Column("个人自付（元）", MONEY), Column("状态", TEXT, 8),
    Column("申请日期", DATE), Column("审核日期", DATE), Column("发放日期", DATE),
)


def export_assistance(ws: Workspace, actor: Actor, out: str | Path, *, year: int | None = None,
                      village_code: str | None = None, progress: Progress | None = None, password: str | None = None) -> ExportResult:
    """医疗救助台账; ``year`` filters by the application date's calendar year."""
    progress = progress or _quiet
    with ws.read() as session, XlsxBook(out, audit=(ws, actor, "assistance"), password=password) as book:
        scope = _scope(ws, session, actor, village_code)
        query = (select(AssistanceCase, Resident, AssistanceType)
                 .join(Resident, Resident.id == AssistanceCase.resident_id)
                 .outerjoin(AssistanceType, AssistanceType.code == AssistanceCase.type_code)
                 .where(Resident.village_code.in_(scope.villages), AssistanceCase.deleted.is_(False)))
        if year:
            query = query.where(AssistanceCase.applied_date >= date(year, 1, 1),
                                AssistanceCase.applied_date <= date(year, 12, 31))
        records = session.execute(query.order_by(Resident.village_code, AssistanceCase.applied_date)).all()
        title = f"{scope.township}{f'{year}年' if year else ''}{KIND_TITLES['assistance']}"
        writer = book.sheet("医疗救助", title, _meta_line(scope, actor, year), ASSISTANCE_COLUMNS)
        _stream(writer, ((
            scope.village_names.get(p.village_code, ""), scope.group_names.get(p.group_code, ""), p.name,
            p.id_number, t.name if t else a.type_code, a.subject_category, a.hospital,
            HospitalLevel.label_for(a.hospital_level), a.admitted_on, a.discharged_on, _yuan(a.total_fen),
            _yuan(a.basic_insurance_fen), _yuan(a.serious_illness_fen), _yuan(a.assistance_fen),
            _yuan(a.self_pay_fen), AssistanceStatus.label_for(a.status), a.applied_date, a.reviewed_date,
            a.paid_date) for a, p, t in records), len(records), progress)
        path = book.save()
    return ExportResult(path, writer.rows, title)


SERVICE_COLUMNS = (
    Column("序号", INT), Column("服务日期", DATE), Column("服务类型", TEXT, 9), Column("村", TEXT),
    Column("村民小组", TEXT, 9), Column("姓名", TEXT, 10), Column("联系电话", TEXT, 14),
    Column("服务人", TEXT, 10), Column("备注", TEXT, 30),
)


def export_services(ws: Workspace, actor: Actor, out: str | Path, *, year: int | None = None,
                    month: str | None = None, village_code: str | None = None,
                    progress: Progress | None = None, password: str | None = None) -> ExportResult:
    """签约服务记录 (a year, or a month "YYYY-MM") with each doctor's counts for 绩效评价.

    No ID numbers: the township assesses the work, it does not need to identify the people.
    """
    progress = progress or _quiet
    start, end, period = _period(year, month)
    with ws.read() as session, XlsxBook(out, audit=(ws, actor, "services"), password=password) as book:
        scope = _scope(ws, session, actor, village_code)
        query = (select(ServiceEntry, Resident, User.display_name)
                 .join(Resident, Resident.id == ServiceEntry.resident_id)
                 .outerjoin(User, User.username == ServiceEntry.doctor_username)
                 .where(Resident.village_code.in_(scope.villages), ServiceEntry.deleted.is_(False)))
        if start:
            query = query.where(ServiceEntry.service_date >= start, ServiceEntry.service_date <= end)
        records = session.execute(query.order_by(ServiceEntry.service_date, Resident.village_code)).all()
        title = f"{scope.township}{period}{KIND_TITLES['services']}"
        writer = book.sheet("服务记录", title, _meta_line(scope, actor, None, f"期间：{period or '全部'}"),
                              SERVICE_COLUMNS)
        _stream(writer, ((
            s.service_date, ServiceKind.label_for(s.kind), scope.village_names.get(p.village_code, ""),
            scope.group_names.get(p.group_code, ""), p.name, p.phone, doctor or s.doctor_username, s.note)
            for s, p, doctor in records), len(records), progress)
        per_doctor: dict[str, dict[str, int]] = {}
        for s, _p, doctor in records:
            bucket = per_doctor.setdefault(doctor or s.doctor_username, {k.value: 0 for k in ServiceKind})
            if s.kind in bucket:
                bucket[s.kind] += 1
        summary = book.sheet("按服务人汇总", f"{scope.township}{period}签约服务统计",
                               _meta_line(scope, actor, None, f"期间：{period or '全部'}"),
                               [Column("服务人", TEXT, 12)] + [Column(k.label, INT, 9) for k in ServiceKind]
                               + [Column("合计", INT, 9)])
        for doctor, bucket in sorted(per_doctor.items()):
            summary.append([doctor] + [bucket[k.value] for k in ServiceKind] + [sum(bucket.values())])
        path = book.save()
    return ExportResult(path, writer.rows, title)


def _period(year: int | None, month: str | None) -> tuple[date | None, date | None, str]:
    if month:
        try:
            first = datetime.strptime(month, "%Y-%m").date()
        except ValueError:
            raise ValidationError("月份格式应为 YYYY-MM，例如 2026-10。") from None
        following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
        return first, date.fromordinal(following.toordinal() - 1), f"{first.year}年{first.month}月"
    if year:
        return date(year, 1, 1), date(year, 12, 31), f"{year}年"
    return None, None, ""


def export(ws: Workspace, actor: Actor, kind: str, out: str | Path, *, year: int | None = None,
           village_code: str | None = None, month: str | None = None,
           progress: Progress | None = None, password: str | None = None) -> ExportResult:
    """One entry point for the CLI and the list views: ``kind`` is one of ``KINDS``."""
    if kind in ("enrollment", "unpaid") and not year:
        raise ValidationError("请指定待遇年度。")
    if kind == "residents":
        return export_residents(ws, actor, out, village_code=village_code, progress=progress, password=password)
    if kind == "enrollment":
        return export_enrollment(ws, actor, out, year=year, village_code=village_code, progress=progress, password=password)
    if kind == "unpaid":
        return export_unpaid(ws, actor, out, year=year, village_code=village_code, progress=progress, password=password)
    if kind == "cards":
        return export_cards(ws, actor, out, village_code=village_code, progress=progress, password=password)
    if kind == "assistance":
        return export_assistance(ws, actor, out, year=year, village_code=village_code, progress=progress, password=password)
    if kind == "services":
        return export_services(ws, actor, out, year=year, month=month, village_code=village_code,
                               progress=progress, password=password)
    raise ValidationError(f"未知的导出类型：{kind}")


# -- the registry list as shown on screen ----------------------------------------------------------------

EXPORT_COLUMNS = (
    Column("序号", INT), Column("村", TEXT), Column("村民小组", TEXT, 9), Column("户编号", TEXT, 13),
    Column("户主姓名", TEXT, 10), Column("与户主关系", TEXT, 10), Column("姓名", TEXT, 10),
    Column("性别", TEXT, 6), Column("出生日期", DATE), Column("身份证号", ID), Column("联系电话", TEXT, 14),
    Column("人员类别", TEXT, 18), Column("状态", TEXT, 7), Column("参保状态", TEXT, 12),
)


@dataclass
class ListExport:
    path: Path
    rows: int


def export_list(ws: Workspace, actor: Actor, ids: Sequence[str], out: str | Path, *, title: str = "居民花名册",
                filters_text: str = "", year: int | None = None, progress: Progress | None = None,
                password: str | None = None) -> ListExport:
    """The registry list as filtered and sorted on screen, to xlsx (the ID number as text, never 1.1E+17).

    Ids outside the actor's villages are left out. With a password (or one set in
    ``export_protection.export_password``) the file is encrypted; the export is audited either way."""
    from .registry_search import resident_rows

    progress = progress or _quiet
    ids = list(ids)
    with ws.read() as session:
        allowed = villages_in_scope(session, actor)
    meta = "　".join(p for p in (filters_text, f"共 {len(ids)} 人", f"导出日期：{date.today():%Y-%m-%d}",
                                 f"导出人：{actor.display_name}") if p)
    progress(0, len(ids), "导出")
    with XlsxBook(out, audit=(ws, actor, title), password=password) as book:
        sheet = book.sheet("居民", title, meta, EXPORT_COLUMNS)
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            rows = resident_rows(ws, chunk, year=year)
            for rid in chunk:
                row = rows.get(rid)
                if row is None or (allowed is not None and row["village_code"] not in allowed):
                    continue
                sheet.append([sheet.rows + 1, row["village"], row["group"], row["household_no"], row["head_name"],
                              row["relation"], row["name"], row["sex"], row["birth_date"], row["id_number"],
                              row["phone"], row["special_groups"], row["status"], row["enrollment"]])
            progress(min(start + len(chunk), len(ids)), len(ids), "导出")
        path = book.save()
    progress(len(ids), len(ids), "导出完成")
    return ListExport(path, sheet.rows)
