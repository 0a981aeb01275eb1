"""The four public notices as use cases: settings, prepare, render, issue and archive, reprint, objections.

Decisions (recorded here because they are ours, not a seed's):

* Masking is on by default; only an administrator may switch it off (PIPL: the notice is public).
* Issuing writes the PDF under ``paths.notices_dir()`` first, then the ``Notice`` row (with the
  masked rows as printed, the parameters and the PDF's SHA-256) in one unit of work. If the row
  cannot be written the file is removed again, so the archive never lists a PDF that is not there
  nor keeps a PDF it does not list.
* A reprint returns the archived file only after its SHA-256 matches the stored hash: what is
  printed again is byte for byte what was posted.
* An objection (异议) must have been *received* within the notice's 公示期 (start to end, both
  included) and not in the future; it may be *entered* later. Its outcome may be recorded or
  changed at any time after receipt. Views outside the 公示期 are handled as ordinary enquiries.
* The person who raised an objection is stored as entered (the station must answer them), is
  shown masked in lists and is never printed on a notice.

No Qt here: drawing lives in ``station_app.notices.render`` and is imported only when a notice is
actually rendered (a caller may also pass its own ``renderer``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from station_app import paths
from station_app.domain.enums import NoticeKind, PlaceLevel, Role
from station_app.domain.errors import DomainError, NotFound, PermissionDenied, ValidationError
from station_app.domain.masking import ID_MODES, MaskingPolicy, mask_name
from station_app.notices.data import (
    DEFAULT_DISCLOSURE,
    DEFAULT_LAYOUT,
    DEFAULT_PERIOD_DAYS,
    DISCLOSURE,
    LAYOUTS,
    LEGACY_DISCLOSURE,
    MAX_PERIOD_DAYS,
    PAPERS,
    NoticeDocument,
    NoticeEmpty,
    NoticeParams,
    build_document,
    collection_year,
)
from station_app.store.base import new_id, utcnow
from station_app.store.models import AppSetting, AuditEntry, Notice, NoticeObjection, Place, Policy, User

from .changes import Actor, system_actor
from .overview import station_village_codes
from .scope import check_village, villages_in_scope
from .workspace import Workspace

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool]
#: (document, paper, out path, progress, cancel) → (pdf bytes, pages)
Renderer = Callable[..., tuple[bytes, int]]

KINDS = tuple(k.value for k in NoticeKind)
SETTING_PREFIX = "notice."


class NoticeArchiveError(DomainError):
    """An archived notice's PDF is missing or no longer matches what was issued."""


class BatchCancelled(DomainError):
    """The batch was cancelled; notices finished before that are kept."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class NoticeSettings:
    masking_enabled: bool = True
    id_mode: str = "partial"  # partial | hidden
    period_days: int = DEFAULT_PERIOD_DAYS
    supervision_phone: str = ""  # empty: the station's phone
    paper: str = "A4L"  # lists; the policy poster uses the portrait form of the same size
    #: none | category | disease: what chronic/assistance notices show (see notices.data.DISCLOSURE).
    disclosure: str = DEFAULT_DISCLOSURE
    layout: str = DEFAULT_LAYOUT  # enrollment notice: roster | summary | detail

    @property
    def masking(self) -> MaskingPolicy:
        return MaskingPolicy(self.masking_enabled, self.id_mode)

    def paper_for(self, kind: str, layout: str | None = None) -> str:
        """The policy poster and the compact roster are portrait; the wide detail table landscape."""
        layout = layout or self.layout
        if kind == NoticeKind.POLICY.value or (kind == NoticeKind.ENROLLMENT.value and layout != "detail"):
            return self.paper.rstrip("L")
        return self.paper


_SETTING_FIELDS = {
    "masking_enabled": (lambda s: s == "1", lambda v: "1" if v else "0"),
    "id_mode": (str, str),
    "period_days": (int, str),
    "supervision_phone": (str, str),
    "paper": (str, str),
    "disclosure": (lambda v: LEGACY_DISCLOSURE.get(v, v), str),
    "layout": (str, str),
}


def get_settings(ws: Workspace) -> NoticeSettings:
    with ws.read() as session:
        rows = {r.key: r.value for r in session.scalars(
            select(AppSetting).where(AppSetting.key.like(SETTING_PREFIX + "%")))}
    values = {}
    for name, (parse, _fmt) in _SETTING_FIELDS.items():
        raw = rows.get(SETTING_PREFIX + name)
        if raw is None and name == "disclosure":  # the older chronic-only setting
            raw = rows.get(SETTING_PREFIX + "disease_display")
        if raw is None:
            continue
        try:
            values[name] = parse(raw)
        except ValueError:
            logger.warning("ignoring bad notice setting %s=%r", name, raw)
    settings = NoticeSettings(**values)
    if settings.id_mode not in ID_MODES or settings.paper not in PAPERS \
            or settings.disclosure not in DISCLOSURE or settings.layout not in LAYOUTS \
            or not 1 <= settings.period_days <= MAX_PERIOD_DAYS:
        logger.warning("notice settings out of range; using defaults for them")
        defaults = NoticeSettings()
        settings = replace(
            settings,
            id_mode=settings.id_mode if settings.id_mode in ID_MODES else defaults.id_mode,
            paper=settings.paper if settings.paper in PAPERS else defaults.paper,
            disclosure=settings.disclosure if settings.disclosure in DISCLOSURE else defaults.disclosure,
            layout=settings.layout if settings.layout in LAYOUTS else defaults.layout,
            period_days=settings.period_days if 1 <= settings.period_days <= MAX_PERIOD_DAYS
            else defaults.period_days)
    return settings


def save_settings(ws: Workspace, actor: Actor, settings: NoticeSettings) -> NoticeSettings:
    """Validate and store; each change is audited (settings are local, they do not sync)."""
    if settings.id_mode not in ID_MODES:
        raise ValidationError("身份证号显示方式无效。", field="id_mode")
    if settings.paper not in PAPERS:
        raise ValidationError("纸张无效。", field="paper")
    if settings.disclosure not in DISCLOSURE:
        raise ValidationError("病种和困难类别公示方式无效。", field="disclosure")
    if settings.layout not in LAYOUTS:
        raise ValidationError("版式无效。", field="layout")
    if not 1 <= int(settings.period_days) <= MAX_PERIOD_DAYS:
        raise ValidationError(f"公示期应为 1 至 {MAX_PERIOD_DAYS} 天。", field="period_days")
    phone = settings.supervision_phone.strip()
    if len(phone) > 40:
        raise ValidationError("监督电话太长。", field="supervision_phone")
    settings = replace(settings, supervision_phone=phone)
    current = get_settings(ws)
    if not settings.masking_enabled and current.masking_enabled and actor.role != Role.ADMIN.value:
        raise PermissionDenied("只有管理员可以关闭公示脱敏（涉及个人隐私）。")
    if settings.disclosure != current.disclosure and actor.role != Role.ADMIN.value:
        raise PermissionDenied("病种和困难类别的公示范围是县级设置，只有管理员可以修改。")
    with ws.unit_of_work(actor, "notice_settings") as session:
        for name, (_parse, fmt) in _SETTING_FIELDS.items():
            old, new = getattr(current, name), getattr(settings, name)
            if old == new and session.get(AppSetting, SETTING_PREFIX + name) is not None:
                continue
            row = session.get(AppSetting, SETTING_PREFIX + name)
            if row is None:
                session.add(AppSetting(key=SETTING_PREFIX + name, value=fmt(new)))
            else:
                row.value = fmt(new)
            if old != new:
                session.add(AuditEntry(
                    at=utcnow(), username=actor.username, station_code=actor.station_code,
                    action="notice_settings", table_name="app_setting", row_id=SETTING_PREFIX + name,
                    before_json=json.dumps({name: old}, ensure_ascii=False),
                    after_json=json.dumps({name: new}, ensure_ascii=False),
                    summary=f"公示设置 {name}: {old} → {new}"))
    return settings


# --------------------------------------------------------------------------- places in scope


@dataclass(frozen=True)
class VillageChoice:
    code: str
    name: str
    groups: tuple[tuple[str, str], ...]  # (code, name)


def notice_villages(ws: Workspace, actor: Actor) -> list[VillageChoice]:
    """The villages (with their groups) this actor may publish for, in the county's order."""
    with ws.read() as session:
        codes = station_village_codes(session, ws.station)
        allowed = villages_in_scope(session, actor)
        if allowed is not None:
            codes = [c for c in codes if c in allowed]
        if not codes:
            return []
        places = session.execute(select(Place.code, Place.name, Place.parent_code, Place.level, Place.sort_order)
                                 .where(Place.deleted.is_(False),
                                        (Place.code.in_(codes)) | (Place.parent_code.in_(codes)))).all()
    villages = sorted((p for p in places if p.level == PlaceLevel.VILLAGE.value),
                      key=lambda p: (p.sort_order, p.code))
    out = []
    for v in villages:
        groups = sorted((p for p in places if p.parent_code == v.code and p.level == PlaceLevel.GROUP.value),
                        key=lambda p: (p.sort_order, p.code))
        out.append(VillageChoice(v.code, v.name, tuple((g.code, g.name) for g in groups)))
    return out


# --------------------------------------------------------------------------- prepare and render


def prepare_notice(ws: Workspace, actor: Actor, kind: str, village_code: str, year: int, *,
                   group_code: str | None = None, period_start: date | None = None,
                   period_days: int | None = None, settings: NoticeSettings | None = None,
                   today: date | None = None, layout: str | None = None,
                   allow_empty: bool = False) -> NoticeDocument:
    """The notice's content, masked per the station's settings; nothing is written.

    Raises ``NoticeEmpty`` for a year with nothing to publish unless ``allow_empty``.
    """
    settings = settings or get_settings(ws)
    station = ws.station
    issuer = station.name if station else ""
    phone = settings.supervision_phone or (station.supervision_phone if station else "")
    today = today or date.today()
    params = NoticeParams(
        kind=kind, village_code=village_code, year=int(year), group_code=group_code or None,
        period_start=period_start or today,
        period_days=settings.period_days if period_days is None else int(period_days),
        supervision_phone=phone, issuer=issuer, masking=settings.masking,
        disclosure=settings.disclosure, issue_date=today, layout=layout or settings.layout,
        allow_empty=allow_empty)
    with ws.read() as session:
        check_village(session, actor, village_code)
        return build_document(session, params, today=today)


def default_renderer(doc: NoticeDocument, paper: str, path: Path | None = None, *,
                     progress: Progress | None = None, cancel: Cancel | None = None) -> tuple[bytes, int]:
    """Draw with Qt (imported here so this module stays free of Qt)."""
    from station_app.notices.render import RenderCancelled, render_pdf

    try:
        result = render_pdf(doc, paper, path, progress=progress, cancel=cancel)
    except RenderCancelled:
        raise BatchCancelled("已取消。") from None
    return result.pdf, result.pages


def render_notice(doc: NoticeDocument, paper: str, out: str | Path | None = None, *,
                  progress: Progress | None = None, cancel: Cancel | None = None,
                  renderer: Renderer | None = None) -> tuple[bytes, int]:
    if paper not in PAPERS:
        raise ValidationError(f"纸张无效：{paper}（可选 {'、'.join(PAPERS)}）", field="paper")
    render = renderer or default_renderer
    pdf, pages = render(doc, paper, None, progress=progress, cancel=cancel)
    if out is not None:
        _write_atomic(Path(out), pdf)
    return pdf, pages


class NoticeFileError(DomainError):
    """A PDF or folder could not be written: the message says which and why, in Chinese."""


def _os_reason(error: OSError) -> str:
    import errno

    return {errno.EACCES: "没有写入权限", errno.EPERM: "没有写入权限", errno.EROFS: "磁盘或文件夹是只读的",
            errno.ENOSPC: "磁盘空间不足", errno.EISDIR: "这是一个文件夹，不是文件",
            errno.ENOTDIR: "路径中有一级不是文件夹（是同名文件）", errno.ENAMETOOLONG: "路径太长",
            errno.EEXIST: "已有同名文件", errno.ENOENT: "路径不存在"}.get(error.errno, "无法写入")


def ensure_folder(folder: Path) -> None:
    """Create ``folder`` (and parents) or refuse in Chinese."""
    if folder.exists() and not folder.is_dir():
        raise NoticeFileError(f"输出目录 {folder} 是一个文件，不是文件夹；请换一个目录。")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NoticeFileError(f"无法创建输出目录 {folder}：{_os_reason(error)}。请换一个可写的目录。") from None


def write_pdf(path: Path, data: bytes) -> None:
    """Write a PDF atomically (temp file, then rename); every failure becomes a Chinese message."""
    path = Path(path)
    if path.is_dir():
        raise NoticeFileError(f"{path} 是一个文件夹；请给出 PDF 文件名（如 {path / '公示.pdf'}）。")
    ensure_folder(path.parent)
    temp = path.with_name(path.name + ".part")
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    except OSError as error:
        try:
            temp.unlink(missing_ok=True)
        except OSError:
            pass
        raise NoticeFileError(f"无法写入 {path}：{_os_reason(error)}。请换一个可写的位置。") from None


_write_atomic = write_pdf


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- issue and archive


@dataclass(frozen=True)
class IssuedNotice:
    id: str
    title: str
    pdf_path: Path
    sha256: str
    pages: int
    #: True when the same PDF had been published before: that entry is returned, nothing written.
    reused: bool = False
    issued_at: datetime | None = None
    version: int = 1
    replaces_id: str | None = None
    change_reason: str = ""

    def message(self) -> str:
        """What the clerk is told (CLI and the page)."""
        if self.reused:
            when = self.issued_at.replace(tzinfo=timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M") \
                if self.issued_at else ""
            return f"内容与 {when} 发布的第 {self.version} 版完全相同，未重复存档，沿用该存档"
        if self.replaces_id:
            return f"已发布第 {self.version} 版，替代上一版（{self.change_reason}）"
        return "已发布并存档"


def _archive_name(doc: NoticeDocument, notice_id: str) -> Path:
    place = doc.group_code or doc.village_code
    return Path(str(doc.year)) / doc.village_code / f"{doc.kind}-{place}-{doc.issue_date:%Y%m%d}-{notice_id[:8]}.pdf"


def _resolve(stored: str) -> Path:
    """The archived PDF of a notice, always inside this station's notices folder.

    The stored value is relative (``issue_notice`` writes it so); anything absolute, a drive or
    UNC path, or a ``..`` step — e.g. a value an older version received through sync — resolves
    to a name that cannot exist in the folder, so 「打开」 never opens a file outside it.
    """
    base = paths.notices_dir()
    text = (stored or "").replace("\\", "/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if (not parts or text.startswith("/") or ":" in text or ".." in parts
            or any(c < " " for c in text)):
        return base / "（无效的存档路径）.pdf"
    return base.joinpath(*parts)


def issue_notice(ws: Workspace, actor: Actor, kind: str, village_code: str, year: int, *,
                 group_code: str | None = None, paper: str | None = None, period_start: date | None = None,
                 period_days: int | None = None, settings: NoticeSettings | None = None,
                 today: date | None = None, progress: Progress | None = None, cancel: Cancel | None = None,
                 renderer: Renderer | None = None, document: NoticeDocument | None = None,
                 layout: str | None = None, allow_empty: bool = False, reason: str = "") -> IssuedNotice:
    """发布并存档: render, keep the PDF, record what was printed, by whom, when, and its hash.

    The same notice (kind, village, group, year) published again: byte-identical PDF → the
    existing entry is returned (``reused``) and nothing is written; a different PDF → a new
    version linked to the one it replaces, with ``reason`` (or a description of what changed).
    """
    settings = settings or get_settings(ws)
    doc = document or prepare_notice(ws, actor, kind, village_code, year, group_code=group_code,
                                     period_start=period_start, period_days=period_days,
                                     settings=settings, today=today, layout=layout, allow_empty=allow_empty)
    with ws.read() as session:
        check_village(session, actor, doc.village_code)
        earlier = list(session.scalars(select(Notice).where(
            Notice.deleted.is_(False), Notice.kind == doc.kind, Notice.village_code == doc.village_code,
            Notice.year == doc.year,
            Notice.group_code.is_(None) if doc.group_code is None else Notice.group_code == doc.group_code)
            .order_by(Notice.issued_at.desc(), Notice.id)))
    paper = paper or settings.paper_for(doc.kind, doc.layout)
    pdf, pages = render_notice(doc, paper, progress=progress, cancel=cancel, renderer=renderer)
    digest = sha256_of(pdf)
    versions = {n.id: _version_of(n, earlier) for n in earlier}
    for n in earlier:
        if n.sha256 == digest and _resolve(n.pdf_path).is_file():
            logger.info("notice republished unchanged: %s", n.id)
            return IssuedNotice(n.id, n.title, _resolve(n.pdf_path), n.sha256, int(_meta(n).get("pages", pages)),
                                reused=True, issued_at=n.issued_at, version=versions[n.id],
                                replaces_id=n.replaces_id, change_reason=n.change_reason or "")
    # The version to replace: the newest one no other version replaces (issued_at has whole seconds).
    replaced = {n.replaces_id for n in earlier}
    heads = [n for n in earlier if n.id not in replaced]
    previous = (heads or earlier)[0] if earlier else None
    reason = (reason or "").strip()
    if previous is not None and not reason:
        reason = describe_change(_meta(previous).get("document"), doc.to_dict())
    notice = Notice(kind=doc.kind, group_code=doc.group_code, year=doc.year, title=doc.title,
                    period_start=doc.period_start, period_end=doc.period_end,
                    supervision_phone=doc.supervision_phone, issued_by=actor.username,
                    village_code=doc.village_code, sha256=digest,
                    replaces_id=previous.id if previous is not None else None,
                    change_reason=reason if previous is not None else "")
    notice.id = new_id()
    relative = _archive_name(doc, notice.id)
    target = paths.notices_dir() / relative
    _write_atomic(target, pdf)
    notice.pdf_path = relative.as_posix()
    notice.data_json = json.dumps({
        "document": doc.to_dict(), "paper": paper, "pages": pages, "layout": doc.layout,
        "disclosure": doc.masking.get("disclosure", ""),
        "issued_by_name": actor.display_name, "station": actor.station_code,
    }, ensure_ascii=False, sort_keys=True)
    try:
        with ws.unit_of_work(actor, "issue_notice") as session:
            notice.issued_at = utcnow()
            session.add(notice)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    version = (versions[previous.id] + 1) if previous is not None else 1
    logger.info("notice issued: %s %s (%d pages, version %d)", doc.kind, doc.village_code, pages, version)
    return IssuedNotice(notice.id, doc.title, target, digest, pages, issued_at=notice.issued_at,
                        version=version, replaces_id=notice.replaces_id, change_reason=notice.change_reason)


def _version_of(notice: Notice, chain: list[Notice]) -> int:
    by_id = {n.id: n for n in chain}
    version, current, seen = 1, notice, {notice.id}
    while current.replaces_id and current.replaces_id in by_id and current.replaces_id not in seen:
        seen.add(current.replaces_id)
        current = by_id[current.replaces_id]
        version += 1
    return version


def describe_change(before: dict | None, after: dict) -> str:
    """A short Chinese description of what differs between two archived documents."""
    if not before:
        return "重新发布"
    parts = []
    rows_before, rows_after = before.get("rows", []), after.get("rows", [])
    if len(rows_before) != len(rows_after):
        parts.append(f"名单 {len(rows_before)} 行 → {len(rows_after)} 行")
    elif rows_before != rows_after or before.get("blocks") != after.get("blocks"):
        changed = sum(1 for a, b in zip(rows_before, rows_after) if a != b)
        parts.append(f"名单内容变化（{changed} 行）" if changed else "变动名单内容变化")
    if (before.get("period_start"), before.get("period_end")) != (after.get("period_start"), after.get("period_end")):
        parts.append(f"公示期改为 {after.get('period_start')} 至 {after.get('period_end')}")
    if before.get("layout") != after.get("layout"):
        parts.append(f"版式 {before.get('layout', 'detail')} → {after.get('layout')}")
    if before.get("masking") != after.get("masking"):
        parts.append("脱敏或公示范围设置变化")
    if before.get("summary") != after.get("summary") and not parts:
        parts.append("统计数字变化")
    return "；".join(parts) or "内容或纸张变化"


@dataclass(frozen=True)
class ArchivedNotice:
    id: str
    kind: str
    kind_label: str
    title: str
    village_code: str
    group_code: str | None
    year: int
    period_start: date
    period_end: date
    issued_at: datetime
    issued_by: str
    issued_by_name: str
    pages: int
    paper: str
    sha256: str
    pdf_path: Path
    objections: int
    open_objections: int
    replaces_id: str | None = None
    change_reason: str = ""
    disclosure: str = ""
    layout: str = ""

    def state(self, today: date | None = None) -> str:
        today = today or date.today()
        if today < self.period_start:
            return "未开始"
        if today <= self.period_end:
            return "公示中"
        return "已结束"


def _meta(notice: Notice) -> dict:
    try:
        return json.loads(notice.data_json or "{}")
    except ValueError:
        return {}


def list_notices(ws: Workspace, actor: Actor, *, village_code: str | None = None, kind: str | None = None,
                 year: int | None = None, limit: int = 500) -> list[ArchivedNotice]:
    """Archived notices the actor may see, newest first."""
    with ws.read() as session:
        query = select(Notice).where(Notice.deleted.is_(False))
        allowed = villages_in_scope(session, actor)
        if allowed is not None:
            query = query.where(Notice.village_code.in_(allowed))
        if village_code:
            query = query.where(Notice.village_code == village_code)
        if kind:
            query = query.where(Notice.kind == kind)
        if year:
            query = query.where(Notice.year == year)
        notices = list(session.scalars(query.order_by(Notice.issued_at.desc(), Notice.updated_hlc.desc()).limit(limit)))
        counts: dict[str, tuple[int, int]] = {}
        if notices:
            rows = session.execute(
                select(NoticeObjection.notice_id, func.count(),
                       func.sum(case((NoticeObjection.outcome == "", 1), else_=0)))
                .where(NoticeObjection.notice_id.in_([n.id for n in notices]),
                       NoticeObjection.deleted.is_(False))
                .group_by(NoticeObjection.notice_id))
            counts = {nid: (total, open_ or 0) for nid, total, open_ in rows}
        out = []
        for n in notices:
            meta = _meta(n)
            total, open_ = counts.get(n.id, (0, 0))
            out.append(ArchivedNotice(
                n.id, n.kind, NoticeKind(n.kind).label, n.title, n.village_code or "", n.group_code, n.year,
                n.period_start, n.period_end, n.issued_at, n.issued_by, meta.get("issued_by_name", n.issued_by),
                int(meta.get("pages", 0)), meta.get("paper", ""), n.sha256, _resolve(n.pdf_path), total, open_,
                n.replaces_id, n.change_reason or "", meta.get("disclosure", ""), meta.get("layout", "")))
        return out


def _get_notice(session: Session, actor: Actor, notice_id: str) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None or notice.deleted:
        raise NotFound("找不到该公示存档。")
    check_village(session, actor, notice.village_code)
    return notice


def archived_document(ws: Workspace, actor: Actor, notice_id: str) -> NoticeDocument:
    """The content as it was printed (masked rows and parameters from the archive)."""
    with ws.read() as session:
        notice = _get_notice(session, actor, notice_id)
        meta = _meta(notice)
    if "document" not in meta:
        raise NoticeArchiveError("该公示存档缺少原始数据。")
    return NoticeDocument.from_dict(meta["document"])


def reprint_path(ws: Workspace, actor: Actor, notice_id: str) -> Path:
    """The archived PDF, after checking it is byte for byte what was issued (SHA-256)."""
    with ws.read() as session:
        notice = _get_notice(session, actor, notice_id)
        path, expected, title = _resolve(notice.pdf_path), notice.sha256, notice.title
    if not path.is_file():
        raise NoticeArchiveError(f"存档文件不存在：{path}。公示“{title}”无法按原样重新打印；"
                                 "请从备份恢复该文件，或联系乡镇医保专干。")
    actual = sha256_of(path.read_bytes())
    if actual != expected:
        raise NoticeArchiveError(f"存档文件已被修改（校验值不符）：{path}。为保证与张贴内容一致，"
                                 "系统拒绝重新打印；请从备份恢复原文件。")
    return path


def verify_archive(ws: Workspace, actor: Actor, notice_id: str) -> bool:
    try:
        reprint_path(ws, actor, notice_id)
    except NoticeArchiveError:
        return False
    return True


# --------------------------------------------------------------------------- objections


@dataclass(frozen=True)
class Objection:
    id: str
    notice_id: str
    received_date: date
    raised_by: str  # as entered; show ``raised_by_masked`` in lists
    content: str
    outcome: str
    outcome_date: date | None
    #: Title of the version the objection was raised against when it is an earlier one.
    earlier_version: str = ""

    @property
    def raised_by_masked(self) -> str:
        return mask_name(self.raised_by) if self.raised_by else "匿名"

    @property
    def is_open(self) -> bool:
        return not self.outcome


def record_objection(ws: Workspace, actor: Actor, notice_id: str, *, received_date: date, content: str,
                     raised_by: str = "", outcome: str = "", outcome_date: date | None = None,
                     today: date | None = None) -> str:
    """异议登记: received within the 公示期 (see the module docstring); returns the objection id."""
    today = today or date.today()
    content = (content or "").strip()
    raised_by = (raised_by or "").strip()
    outcome = (outcome or "").strip()
    if not content:
        raise ValidationError("请填写异议内容。", field="content")
    if len(raised_by) > 40:
        raise ValidationError("反映人不超过 40 个字。", field="raised_by")
    if received_date > today:
        raise ValidationError("受理日期不能晚于今天。", field="received_date")
    with ws.unit_of_work(actor, "record_objection") as session:
        notice = _get_notice(session, actor, notice_id)
        if not notice.period_start <= received_date <= notice.period_end:
            raise ValidationError(
                f"受理日期须在公示期内（{notice.period_start:%Y-%m-%d} 至 {notice.period_end:%Y-%m-%d}）；"
                "公示期外收到的意见请按一般咨询处理。", field="received_date")
        if outcome and outcome_date is None:
            outcome_date = today
        _check_outcome_date(received_date, outcome_date, today)
        row = NoticeObjection(notice_id=notice.id, village_code=notice.village_code,
                              received_date=received_date, raised_by=raised_by, content=content,
                              outcome=outcome, outcome_date=outcome_date if outcome else None)
        session.add(row)
        session.flush()
        return row.id


def _check_outcome_date(received: date, outcome_date: date | None, today: date) -> None:
    if outcome_date is None:
        return
    if outcome_date < received:
        raise ValidationError("处理日期不能早于受理日期。", field="outcome_date")
    if outcome_date > today:
        raise ValidationError("处理日期不能晚于今天。", field="outcome_date")


def record_outcome(ws: Workspace, actor: Actor, objection_id: str, *, outcome: str,
                   outcome_date: date | None = None, today: date | None = None) -> None:
    """The result of looking into an objection (核实结果、处理意见)."""
    today = today or date.today()
    outcome = (outcome or "").strip()
    if not outcome:
        raise ValidationError("请填写处理结果。", field="outcome")
    outcome_date = outcome_date or today
    with ws.unit_of_work(actor, "objection_outcome") as session:
        row = session.get(NoticeObjection, objection_id)
        if row is None or row.deleted:
            raise NotFound("找不到该异议记录。")
        _get_notice(session, actor, row.notice_id)
        _check_outcome_date(row.received_date, outcome_date, today)
        row.outcome = outcome
        row.outcome_date = outcome_date


def list_objections(ws: Workspace, actor: Actor, notice_id: str, *, with_earlier: bool = True) -> list[Objection]:
    """A version's objections; with ``with_earlier`` also those raised against the versions it
    replaced (each stays attached to the version it was raised against, and says so)."""
    with ws.read() as session:
        notice = _get_notice(session, actor, notice_id)
        chain = {notice.id: ""}
        current = notice
        while with_earlier and current.replaces_id and current.replaces_id not in chain:
            earlier = session.get(Notice, current.replaces_id)
            if earlier is None:
                break
            chain[earlier.id] = f"{earlier.issued_at:%Y-%m-%d %H:%M} 发布的上一版"
            current = earlier
        rows = session.scalars(select(NoticeObjection).where(
            NoticeObjection.notice_id.in_(list(chain)), NoticeObjection.deleted.is_(False))
            .order_by(NoticeObjection.received_date, NoticeObjection.id))
        return [Objection(r.id, r.notice_id, r.received_date, r.raised_by, r.content, r.outcome, r.outcome_date,
                          chain.get(r.notice_id, "")) for r in rows]


# --------------------------------------------------------------------------- batch


@dataclass
class BatchItem:
    kind: str
    village_code: str
    village_name: str
    pages: int
    path: Path | None
    notice_id: str | None = None
    year: int = 0
    #: Why nothing was made for this village and kind (a year with no records), else "".
    skipped: str = ""


@dataclass
class BatchResult:
    items: list[BatchItem]
    cancelled: bool = False
    #: kind → the year its notices are about (what the batch chose or was told).
    years: dict[str, int] | None = None

    @property
    def made(self) -> list[BatchItem]:
        return [i for i in self.items if not i.skipped]

    @property
    def skipped(self) -> list[BatchItem]:
        return [i for i in self.items if i.skipped]

    @property
    def pages(self) -> int:
        return sum(i.pages for i in self.made)


def batch_years(kinds: Iterable[str], *, year: int | None = None, years: dict[str, int] | None = None,
                today: date | None = None) -> dict[str, int]:
    """Each kind's year: given per kind, else the one ``year`` for all, else the kind's own
    (collection year for enrollment and policy, the service year for chronic and assistance)."""
    out = {}
    for kind in kinds:
        if years and kind in years:
            out[kind] = int(years[kind])
        elif year is not None:
            out[kind] = int(year)
        else:
            out[kind] = default_year(kind, today)
    return out


def parse_kinds(text: str | None) -> list[str]:
    """``enrollment,chronic`` → kinds; an unknown name is refused in Chinese."""
    if not text:
        return list(KINDS)
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValidationError(f"未知的公示类型：{'、'.join(bad) or text}（可选 {', '.join(KINDS)}）。", field="kinds")
    return list(dict.fromkeys(kinds))


def parse_years(text: str | None) -> dict[str, int]:
    """``enrollment=2027,chronic=2026`` → {kind: year}; refused in Chinese when malformed."""
    out: dict[str, int] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        kind, sep, value = part.partition("=")
        kind = kind.strip()
        if not sep or kind not in KINDS or not value.strip().isdigit() or not 2000 <= int(value) <= 2100:
            raise ValidationError(f"年度写法无效：{part.strip()}（应为 类型=年度，如 enrollment=2027,chronic=2026）。",
                                  field="years")
        out[kind] = int(value)
    return out


def batch_notices(ws: Workspace, actor: Actor, year: int | None = None, *, out_dir: str | Path | None = None,
                  archive: bool = False, kinds: Iterable[str] = KINDS, villages: Iterable[str] | None = None,
                  paper: str | None = None, period_start: date | None = None, today: date | None = None,
                  progress: Progress | None = None, cancel: Cancel | None = None,
                  renderer: Renderer | None = None, years: dict[str, int] | None = None,
                  layout: str | None = None, allow_empty: bool = False) -> BatchResult:
    """Every chosen notice for every village in scope: to ``out_dir`` and/or issued to the archive.

    Each kind uses its own year (``batch_years``). A village and kind with nothing to publish in
    that year is skipped with the reason (``BatchItem.skipped``), not printed empty, unless
    ``allow_empty``. ``progress(done, total, message)`` is called after each notice; ``cancel()``
    is checked between notices and between pages, and stops the batch keeping what is finished.
    """
    if out_dir is None and not archive:
        raise ValidationError("请指定输出目录，或选择发布存档。")
    kinds = [NoticeKind(k).value for k in kinds]
    chosen = batch_years(kinds, year=year, years=years, today=today)
    choices = notice_villages(ws, actor)
    if villages is not None:
        wanted = set(villages)
        choices = [v for v in choices if v.code in wanted]
    settings = get_settings(ws)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        ensure_folder(out)
    jobs = [(v, k) for v in choices for k in kinds]
    result = BatchResult([], years=chosen)
    total = len(jobs)
    if progress:
        progress(0, total, "")
    for done, (village, kind) in enumerate(jobs, 1):
        if cancel is not None and cancel():
            result.cancelled = True
            break
        try:
            doc = prepare_notice(ws, actor, kind, village.code, chosen[kind], period_start=period_start,
                                 settings=settings, today=today, layout=layout, allow_empty=allow_empty)
        except NoticeEmpty as empty:
            result.items.append(BatchItem(kind, village.code, village.name, 0, None, year=chosen[kind],
                                          skipped=empty.message.split("，不生成")[0]))
            if progress:
                progress(done, total, f"{village.name} {NoticeKind(kind).label}（跳过）")
            continue
        use_paper = paper or settings.paper_for(kind, doc.layout)
        try:
            if archive:
                issued = issue_notice(ws, actor, kind, village.code, chosen[kind], paper=use_paper,
                                      settings=settings, cancel=cancel, renderer=renderer, document=doc)
                pdf_path, pages, nid = issued.pdf_path, issued.pages, issued.id
                if out is not None:
                    target = out / f"{village.code}-{village.name}-{kind}-{chosen[kind]}.pdf"
                    write_pdf(target, pdf_path.read_bytes())
                    pdf_path = target
            else:
                target = out / f"{village.code}-{village.name}-{kind}-{chosen[kind]}.pdf"  # type: ignore[operator]
                _pdf, pages = render_notice(doc, use_paper, target, cancel=cancel, renderer=renderer)
                pdf_path, nid = target, None
        except BatchCancelled:
            result.cancelled = True
            break
        result.items.append(BatchItem(kind, village.code, village.name, pages, pdf_path, nid, year=chosen[kind]))
        if progress:
            progress(done, total, f"{village.name} {NoticeKind(kind).label}")
    return result


# --------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class PolicyView:
    id: str
    title: str
    category: str
    body: str
    doc_no: str
    year: int | None


def list_policies(ws: Workspace, year: int | None = None) -> list[PolicyView]:
    """The county's policy texts (reference data), the year's and the standing ones."""
    county = ws.station.county_code if ws.station else None
    with ws.read() as session:
        query = select(Policy).where(Policy.deleted.is_(False))
        if county:
            query = query.where(Policy.county_code == county)
        if year is not None:
            query = query.where((Policy.year.is_(None)) | (Policy.year == year))
        rows = session.scalars(query.order_by(Policy.sort_order, Policy.title))
        return [PolicyView(p.id, p.title, p.category, p.body, p.doc_no, p.year) for p in rows]


def default_year(kind: str | None = None, today: date | None = None) -> int:
    """The year a notice is usually about.

    Enrollment and policy speak of the benefit year being collected (from September, the coming
    one); chronic cards and assistance report what happened in the current calendar year.
    """
    today = today or date.today()
    if kind in (NoticeKind.CHRONIC.value, NoticeKind.ASSISTANCE.value):
        return today.year
    return collection_year(today)


def default_period(today: date | None = None, days: int = DEFAULT_PERIOD_DAYS) -> tuple[date, date]:
    today = today or date.today()
    return today, today + timedelta(days=days - 1)


# --------------------------------------------------------------------------- command line


def actor_for(ws: Workspace, username: str | None) -> Actor:
    """Who a command-line run acts as: a named active user, or the system."""
    station_code = ws.station.code if ws.station else ""
    if not username:
        return system_actor(station_code)
    with ws.read() as session:
        user = session.scalar(select(User).where(User.username == username, User.deleted.is_(False)))
        if user is None or not user.active:
            raise NotFound(f"找不到用户：{username}")
        return Actor(user.username, user.display_name, user.role, user.place_code, station_code)
