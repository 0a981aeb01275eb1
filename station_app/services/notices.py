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
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from station_app import paths
from station_app.domain.enums import NoticeKind, PlaceLevel, Role
from station_app.domain.errors import DomainError, NotFound, PermissionDenied, ValidationError
from station_app.domain.masking import ID_MODES, MaskingPolicy, mask_name
from station_app.notices.data import (
    DEFAULT_PERIOD_DAYS,
    DISEASE_DISPLAY,
    MAX_PERIOD_DAYS,
    PAPERS,
    NoticeDocument,
    NoticeParams,
    build_document,
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
    disease_display: str = "category"

    @property
    def masking(self) -> MaskingPolicy:
        return MaskingPolicy(self.masking_enabled, self.id_mode)

    def paper_for(self, kind: str) -> str:
        if kind == NoticeKind.POLICY.value:
            return self.paper.rstrip("L")
        return self.paper


_SETTING_FIELDS = {
    "masking_enabled": (lambda s: s == "1", lambda v: "1" if v else "0"),
    "id_mode": (str, str),
    "period_days": (int, str),
    "supervision_phone": (str, str),
    "paper": (str, str),
    "disease_display": (str, str),
}


def get_settings(ws: Workspace) -> NoticeSettings:
    with ws.read() as session:
        rows = {r.key: r.value for r in session.scalars(
            select(AppSetting).where(AppSetting.key.like(SETTING_PREFIX + "%")))}
    values = {}
    for name, (parse, _fmt) in _SETTING_FIELDS.items():
        raw = rows.get(SETTING_PREFIX + name)
        if raw is None:
            continue
        try:
            values[name] = parse(raw)
        except ValueError:
            logger.warning("ignoring bad notice setting %s=%r", name, raw)
    settings = NoticeSettings(**values)
    if settings.id_mode not in ID_MODES or settings.paper not in PAPERS \
            or settings.disease_display not in DISEASE_DISPLAY:
        logger.warning("notice settings out of range; using defaults for them")
        defaults = NoticeSettings()
        settings = replace(
            settings,
            id_mode=settings.id_mode if settings.id_mode in ID_MODES else defaults.id_mode,
            paper=settings.paper if settings.paper in PAPERS else defaults.paper,
            disease_display=settings.disease_display if settings.disease_display in DISEASE_DISPLAY
            else defaults.disease_display)
    return settings


def save_settings(ws: Workspace, actor: Actor, settings: NoticeSettings) -> NoticeSettings:
    """Validate and store; each change is audited (settings are local, they do not sync)."""
    if settings.id_mode not in ID_MODES:
        raise ValidationError("身份证号显示方式无效。", field="id_mode")
    if settings.paper not in PAPERS:
        raise ValidationError("纸张无效。", field="paper")
    if settings.disease_display not in DISEASE_DISPLAY:
        raise ValidationError("病种显示方式无效。", field="disease_display")
    if not 1 <= int(settings.period_days) <= MAX_PERIOD_DAYS:
        raise ValidationError(f"公示期应为 1 至 {MAX_PERIOD_DAYS} 天。", field="period_days")
    phone = settings.supervision_phone.strip()
    if len(phone) > 40:
        raise ValidationError("监督电话太长。", field="supervision_phone")
    settings = replace(settings, supervision_phone=phone)
    current = get_settings(ws)
    if not settings.masking_enabled and current.masking_enabled and actor.role != Role.ADMIN.value:
        raise PermissionDenied("只有管理员可以关闭公示脱敏（涉及个人隐私）。")
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
                   today: date | None = None) -> NoticeDocument:
    """The notice's content, masked per the station's settings; nothing is written."""
    settings = settings or get_settings(ws)
    station = ws.station
    issuer = station.name if station else ""
    phone = settings.supervision_phone or (station.supervision_phone if station else "")
    today = today or date.today()
    params = NoticeParams(
        kind=kind, village_code=village_code, year=int(year), group_code=group_code or None,
        period_start=period_start or today, period_days=period_days or settings.period_days,
        supervision_phone=phone, issuer=issuer, masking=settings.masking,
        disease_display=settings.disease_display, issue_date=today)
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


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".part")
    temp.write_bytes(data)
    os.replace(temp, path)


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


def _archive_name(doc: NoticeDocument, notice_id: str) -> Path:
    place = doc.group_code or doc.village_code
    return Path(str(doc.year)) / doc.village_code / f"{doc.kind}-{place}-{doc.issue_date:%Y%m%d}-{notice_id[:8]}.pdf"


def _resolve(stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else paths.notices_dir() / path


def issue_notice(ws: Workspace, actor: Actor, kind: str, village_code: str, year: int, *,
                 group_code: str | None = None, paper: str | None = None, period_start: date | None = None,
                 period_days: int | None = None, settings: NoticeSettings | None = None,
                 today: date | None = None, progress: Progress | None = None, cancel: Cancel | None = None,
                 renderer: Renderer | None = None, document: NoticeDocument | None = None) -> IssuedNotice:
    """发布并存档: render, keep the PDF, record what was printed, by whom, when, and its hash."""
    settings = settings or get_settings(ws)
    doc = document or prepare_notice(ws, actor, kind, village_code, year, group_code=group_code,
                                     period_start=period_start, period_days=period_days,
                                     settings=settings, today=today)
    with ws.read() as session:
        check_village(session, actor, doc.village_code)
    paper = paper or settings.paper_for(doc.kind)
    pdf, pages = render_notice(doc, paper, progress=progress, cancel=cancel, renderer=renderer)
    digest = sha256_of(pdf)
    notice = Notice(kind=doc.kind, group_code=doc.group_code, year=doc.year, title=doc.title,
                    period_start=doc.period_start, period_end=doc.period_end,
                    supervision_phone=doc.supervision_phone, issued_by=actor.username,
                    village_code=doc.village_code, sha256=digest)
    notice.id = new_id()
    relative = _archive_name(doc, notice.id)
    target = paths.notices_dir() / relative
    _write_atomic(target, pdf)
    notice.pdf_path = relative.as_posix()
    notice.data_json = json.dumps({
        "document": doc.to_dict(), "paper": paper, "pages": pages,
        "issued_by_name": actor.display_name, "station": actor.station_code,
    }, ensure_ascii=False, sort_keys=True)
    try:
        with ws.unit_of_work(actor, "issue_notice") as session:
            notice.issued_at = utcnow()
            session.add(notice)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    logger.info("notice issued: %s %s (%d pages)", doc.kind, doc.village_code, pages)
    return IssuedNotice(notice.id, doc.title, target, digest, pages)


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
                int(meta.get("pages", 0)), meta.get("paper", ""), n.sha256, _resolve(n.pdf_path), total, open_))
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


def list_objections(ws: Workspace, actor: Actor, notice_id: str) -> list[Objection]:
    with ws.read() as session:
        _get_notice(session, actor, notice_id)
        rows = session.scalars(select(NoticeObjection).where(
            NoticeObjection.notice_id == notice_id, NoticeObjection.deleted.is_(False))
            .order_by(NoticeObjection.received_date, NoticeObjection.id))
        return [Objection(r.id, r.notice_id, r.received_date, r.raised_by, r.content, r.outcome, r.outcome_date)
                for r in rows]


# --------------------------------------------------------------------------- batch


@dataclass
class BatchItem:
    kind: str
    village_code: str
    village_name: str
    pages: int
    path: Path | None
    notice_id: str | None = None


@dataclass
class BatchResult:
    items: list[BatchItem]
    cancelled: bool = False

    @property
    def pages(self) -> int:
        return sum(i.pages for i in self.items)


def batch_notices(ws: Workspace, actor: Actor, year: int, *, out_dir: str | Path | None = None,
                  archive: bool = False, kinds: Iterable[str] = KINDS, villages: Iterable[str] | None = None,
                  paper: str | None = None, period_start: date | None = None, today: date | None = None,
                  progress: Progress | None = None, cancel: Cancel | None = None,
                  renderer: Renderer | None = None) -> BatchResult:
    """Every chosen notice for every village in scope: to ``out_dir`` and/or issued to the archive.

    ``progress(done, total, message)`` is called after each notice; ``cancel()`` is checked
    between notices and between pages, and stops the batch keeping what is finished.
    """
    if out_dir is None and not archive:
        raise ValidationError("请指定输出目录，或选择发布存档。")
    kinds = [NoticeKind(k).value for k in kinds]
    choices = notice_villages(ws, actor)
    if villages is not None:
        wanted = set(villages)
        choices = [v for v in choices if v.code in wanted]
    settings = get_settings(ws)
    out = Path(out_dir) if out_dir is not None else None
    jobs = [(v, k) for v in choices for k in kinds]
    result = BatchResult([])
    total = len(jobs)
    if progress:
        progress(0, total, "")
    for done, (village, kind) in enumerate(jobs, 1):
        if cancel is not None and cancel():
            result.cancelled = True
            break
        doc = prepare_notice(ws, actor, kind, village.code, year, period_start=period_start,
                             settings=settings, today=today)
        use_paper = paper or settings.paper_for(kind)
        try:
            if archive:
                issued = issue_notice(ws, actor, kind, village.code, year, paper=use_paper, settings=settings,
                                      cancel=cancel, renderer=renderer, document=doc)
                pdf_path, pages, nid = issued.pdf_path, issued.pages, issued.id
                if out is not None:
                    target = out / f"{village.code}-{village.name}-{kind}.pdf"
                    _write_atomic(target, pdf_path.read_bytes())
                    pdf_path = target
            else:
                target = out / f"{village.code}-{village.name}-{kind}.pdf"  # type: ignore[operator]
                _pdf, pages = render_notice(doc, use_paper, target, cancel=cancel, renderer=renderer)
                pdf_path, nid = target, None
        except BatchCancelled:
            result.cancelled = True
            break
        result.items.append(BatchItem(kind, village.code, village.name, pages, pdf_path, nid))
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
    return today.year + 1 if today.month >= 9 else today.year


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
