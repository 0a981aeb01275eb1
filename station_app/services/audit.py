"""The audit trail: who changed what, when, before → after — filtered and paged for the viewer and the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from station_app.domain.enums import Role
from station_app.domain.masking import mask_id
from station_app.log import redact
from station_app.store.models import AuditEntry

from .changes import Actor
from .scope import place_names
from .workspace import Workspace

DEFAULT_PAGE_SIZE = 100

TABLE_LABELS = {
    "household": "户", "resident": "居民", "enrollment": "参保", "chronic_card": "慢病卡",
    "card_usage": "用卡记录", "assistance_case": "医疗救助", "assistance_referral": "救助转介",
    "service_entry": "服务记录", "notice": "公示", "notice_objection": "公示异议", "app_user": "用户",
    "station": "站点", "place": "地区", "app_setting": "设置", "assistance_type": "救助类型",
    "county_year_setting": "年度缴费标准", "disease": "慢特病病种", "policy": "惠民政策",
    "reimbursement_rate": "报销比例", "subsidy_rule": "资助规则", "sync_state": "同步设置",
    "sync_conflict": "同步冲突", "sync_outbox": "待上传修改", "audit_log": "操作日志",
    "settlement": "结算", "settlement_review": "待落实不适用", "burden_alert": "高额费用预警",
    "assistance_rule": "救助规则", "burden_alert_rule": "高额费用预警规则", "county_rule": "县级规则",
    "qa_entry": "政策问答", "outreach": "催缴/提醒记录",
}
ACTION_LABELS = {
    "insert": "新增", "update": "修改", "delete": "作废", "import_roster": "导入花名册",
    "register_household": "登记新户", "add_resident": "添加成员", "update_resident": "修改居民",
    "update_household": "修改户信息", "move_resident": "迁入其他户",
    "create_user": "添加用户", "reset_password": "重置密码", "change_password": "修改密码",
    "deactivate_user": "停用用户", "activate_user": "启用用户", "unlock_user": "解除锁定",
    "update_user": "修改用户", "setup_station": "初始设置", "load_reference": "更新参考数据",
    "login": "登录", "login_failed": "登录失败", "restore_backup": "恢复备份", "build_demo": "生成演示数据",
    "enrollment_apply_subsidies": "套用资助建议", "enrollment_new_year": "开始新年度",
    "chronic_apply": "慢病卡申请", "chronic_assess": "慢病卡认定", "chronic_issue": "慢病卡发卡",
    "chronic_refuse": "慢病卡未通过", "chronic_cancel": "慢病卡注销", "chronic_edit": "修改慢病卡",
    "chronic_refill": "登记取药", "chronic_buy_medicine": "代购药", "chronic_remind": "续药提醒",
    "chronic_usage": "登记用卡", "assistance_create": "救助申请", "assistance_edit": "修改救助申请",
    "assistance_review": "救助审核", "assistance_pay": "救助金发放", "assistance_refuse": "救助未通过",
    "assistance_referral": "救助转介", "assistance_referral_outcome": "转介结果",
    "service_record": "登记服务", "service_void": "作废服务记录", "issue_notice": "发布公示",
    "notice_settings": "公示设置", "record_objection": "登记公示异议", "objection_outcome": "异议处理结果",
    "sync_settings": "同步设置", "sync_conflict_mine": "冲突：保留本站的值", "sync_conflict_theirs": "冲突：采用县服务器的值",
    "outreach_record": "记录催缴/提醒结果",
    "settlement_not_applicable": "标记不适用", "burden_alert_decide": "研判高额费用预警",
    "chronic_follow_enrollment": "慢病卡随参保调整", "chronic_resume": "慢病卡恢复", "chronic_review": "慢病卡复审",
    "chronic_suspend": "慢病卡暂停", "enrollment_confirm_other_channel": "确认其他渠道参保", "export": "导出数据",
    "merge_person": "合并重复居民", "provision_county": "县级开通", "provision_users": "开通用户",
    "qa_add": "新增政策问答", "qa_edit": "修改政策问答", "qa_remove": "删除政策问答",
    "renumber_duplicate_household": "重排重复户号", "recovery_key": "生成新的恢复密钥",
    "reveal": "查看完整身份证号/电话", "sync_tls_pin": "固定县服务器证书",
}
#: Actions named after a status: enrollment_paid → 登记参保：已缴费 (see action_label).
ACTION_PREFIXES = (
    ("enrollment_bulk_", "批量登记参保", "EnrollmentStatus"), ("enrollment_", "登记参保", "EnrollmentStatus"),
    ("resident_", "居民状态", "ResidentStatus"),
)
FIELD_LABELS = {
    "name": "姓名", "id_number": "身份证号", "phone": "电话", "relation": "与户主关系", "status": "状态",
    "special_groups": "人员类别", "group_code": "村民小组", "household_id": "户", "head_name": "户主",
    "address": "地址", "note": "备注", "sex": "性别", "birth_date": "出生日期", "year": "年度",
    "paid_fen": "实缴", "subsidy_fen": "资助金额", "subsidy_category": "资助类别", "active": "启用",
    "role": "角色", "display_name": "姓名", "username": "用户名", "category": "户类别",
    "deleted": "已作废", "village_code": "村", "place_code": "所属地", "card_no": "卡号",
    "remote_user": "对方操作员", "remote_station": "对方站点",
    "household_no": "户编号", "category_since": "户类别起始", "helper_name": "包帮责任人",
    "helper_phone": "责任人电话", "name_pinyin": "姓名拼音", "name_initials": "拼音首字母",
    "status_date": "状态日期", "resident_id": "居民", "paid_date": "缴费日期", "channel": "缴费渠道",
    "other_channel_note": "其他渠道说明", "disease_code": "病种", "applied_date": "申请日期",
    "materials": "申请材料", "assessed_date": "认定日期", "assessed_by": "认定机构", "issued_date": "发卡日期",
    "benefit_start": "待遇起始", "refused_reason": "未通过原因", "cancelled_date": "注销日期",
    "cancel_reason": "注销原因", "last_refill_date": "上次取药", "supply_days": "供药天数",
    "diagnosis_note": "诊断说明", "card_id": "慢病卡", "month": "月份", "used": "已用卡", "source": "来源",
    "amount_fen": "金额", "type_code": "救助类型", "subject_category": "救助对象类别", "hospital": "就诊医院",
    "hospital_level": "医院等级", "admitted_on": "入院日期", "discharged_on": "出院日期", "total_fen": "总费用",
    "basic_insurance_fen": "基本医保", "serious_illness_fen": "大病保险", "assistance_fen": "救助金额",
    "self_pay_fen": "个人自付", "reviewed_date": "审核日期", "reviewed_by": "审核人", "case_id": "救助案件",
    "agency": "转介部门", "referred_date": "转介日期", "outcome": "结果", "outcome_date": "结果日期",
    "kind": "类别", "service_date": "服务日期", "doctor_username": "村医", "title": "标题",
    "period_start": "公示开始", "period_end": "公示结束", "supervision_phone": "监督电话", "issued_at": "发布时间",
    "issued_by": "发布人", "pdf_path": "存档文件", "notice_id": "公示", "received_date": "收到日期",
    "raised_by": "提出人", "content": "内容", "failed_logins": "登录失败次数", "locked_until": "锁定至",
    "last_login_at": "上次登录", "password_hash": "密码", "code": "编码", "scope": "站点类型",
    "county_code": "县", "key": "设置项", "value": "值", "premium_fen": "个人缴费",
    "collection_start": "征缴开始", "deadline": "缴费截止", "fiscal_subsidy_fen": "财政补助",
    "annual_limit_fen": "年度限额", "level": "级别", "parent_code": "上级", "sort_order": "排序",
    "body": "正文", "doc_no": "文号", "ratio_pct": "报销比例（%）", "deductible_fen": "起付线",
    "special_group": "人员类别", "category_name": "资助类别", "full": "全额资助", "row_version": "版本",
    "updated_hlc": "修改时间戳", "data_json": "公示数据", "sha256": "校验码", "reason": "原因",
    "result": "结果", "promised_date": "承诺缴费日期", "list_kind": "清单", "done_by": "办理人",
    "suggested_fen": "建议救助", "deviation_reason": "调整原因", "policy_self_pay_fen": "政策范围内自付",
    "subject_class": "救助对象分类", "self_referred_ratio_pct": "未转诊救助比例（%）",
    "tilt_threshold_fen": "倾斜救助起点", "tilt_ratio_pct": "倾斜救助比例（%）", "tilt_limit_fen": "倾斜救助上限",
    "validity_months": "有效月数", "burden_fen": "自付费用", "threshold_fen": "预警线", "decided_by": "研判人",
    "decided_on": "研判日期", "income_share_pct": "占收入比例（%）", "replaces_id": "替代的公示",
    "change_reason": "更正原因", "topic": "主题", "question": "问题", "answer": "答复",
    "settlement_no": "结算单号", "settled_on": "结算日期", "route": "就医路径", "settlement_id": "结算记录",
    "subject_since": "对象认定日期", "review_due": "复审日期", "suspended_date": "暂停日期",
    "suspend_reason": "暂停原因", "done_on": "办理日期",
}
#: Fields whose stored code has a Chinese label (enums.py).
_CODED_FIELDS = {
    "sex": "Sex", "relation": "Relation", "channel": "PaymentChannel", "category": "HouseholdCategory",
    "role": "Role", "hospital_level": "HospitalLevel", "agency": "ReferralAgency", "scope": "StationScope",
    "level": "PlaceLevel", "special_group": "SpecialGroup",
}
#: "status" means a different enum in each table.
_STATUS_ENUMS = {
    "resident": "ResidentStatus", "enrollment": "EnrollmentStatus", "chronic_card": "CardStatus",
    "assistance_case": "AssistanceStatus",
}
_KIND_ENUMS = {"service_entry": "ServiceKind", "notice": "NoticeKind"}


def _enum(name: str):
    from station_app.domain import enums

    return getattr(enums, name)


def _coded(enum_name: str, value: Any) -> str | None:
    try:
        return _enum(enum_name)(value).label
    except (ValueError, KeyError):
        return None


def action_label(action: str) -> str:
    """The Chinese name of an audit action: enrollment_paid → 登记参保：已缴费."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    for prefix, label, enum_name in ACTION_PREFIXES:
        if action.startswith(prefix):
            status = _coded(enum_name, action[len(prefix):])
            if status:
                return f"{label}：{status}"
    return action


def show_value(key: str, value: Any, table: str = "") -> str:
    """A stored value as a person reads it: amounts in 元, dates YYYY-MM-DD, codes as their labels."""
    if value is None or value == "":
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if key == "password_hash":
        return "（已更改）"
    if key == "source" and table == "card_usage":
        return {"clinic": "本站登记", "settlement": "结算数据"}.get(value, str(value))
    if key.endswith("_fen") and isinstance(value, (int, float)) and not isinstance(value, bool):
        from station_app.domain.assistance import fen_text

        return f"{fen_text(int(value))} 元"
    if key == "special_groups" and isinstance(value, str):
        labels = [_coded("SpecialGroup", code) or code for code in value.split(",") if code]
        return "、".join(labels) or "（空）"
    enum_name = _CODED_FIELDS.get(key) or (key == "status" and _STATUS_ENUMS.get(table)) or \
        (key == "kind" and _KIND_ENUMS.get(table))
    if enum_name:
        label = _coded(enum_name, value)
        if label:
            return label
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] in "T ":
        return value[:16].replace("T", " ")  # an ISO timestamp → YYYY-MM-DD HH:MM
    return str(value)


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    before: Any
    after: Any

    table: str = ""

    @property
    def text(self) -> str:
        return f"{self.label}：{show_value(self.field, self.before, self.table)} → " \
               f"{show_value(self.field, self.after, self.table)}"


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    username: str
    action: str
    table_name: str
    row_id: str
    summary: str
    changes: tuple[FieldChange, ...] = field(default=())

    @property
    def action_label(self) -> str:
        return action_label(self.action)

    @property
    def table_label(self) -> str:
        return TABLE_LABELS.get(self.table_name, self.table_name)

    @property
    def detail(self) -> str:
        """One line: the summary, or each field before → after."""
        if self.summary:
            return self.summary
        return "；".join(change.text for change in self.changes)


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass
class AuditFilter:
    username: str | None = None
    table_name: str | None = None
    action: str | None = None
    since: date | datetime | None = None
    until: date | datetime | None = None  # a date includes that whole day
    row_id: str | None = None
    text: str | None = None  # in the summary or the changed values


def json_fields(text: str) -> dict[str, Any]:
    """An audit entry's before/after JSON as a dict ({} for none or anything else)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


#: Bookkeeping columns a person never needs to read in the trail.
_HIDDEN_FIELDS = {"updated_hlc", "row_version", "name_pinyin", "name_initials", "data_json", "sha256"}


_PLACE_FIELDS = ("group_code", "village_code", "place_code", "parent_code")


def _changes(before_json: str, after_json: str, table: str = "",
             names: dict[str, str] | None = None) -> tuple[FieldChange, ...]:
    before, after = json_fields(before_json), json_fields(after_json)
    out = []
    for key in sorted(set(before) | set(after)):
        if key in _HIDDEN_FIELDS:
            continue
        old, new = before.get(key), after.get(key)
        if key == "id_number":  # already masked when written; masked again in case of old rows
            old, new = mask_id(old) if old else old, mask_id(new) if new else new
        elif key in _PLACE_FIELDS and names:  # a code → the village or group's name
            old, new = names.get(old, old) if old else old, names.get(new, new) if new else new
        out.append(FieldChange(key, FIELD_LABELS.get(key, key), old, new, table))
    return tuple(out)


def _bounds(value: date | datetime | None, *, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1), time.min) if end else datetime.combine(value, time.min)


def _apply(query, flt: AuditFilter, actor: Actor):
    # A 村医 sees only their own actions; 专干 and admins see the station's whole trail.
    if actor.role == Role.VILLAGE_DOCTOR.value:
        query = query.where(AuditEntry.username == actor.username)
    if flt.username:
        query = query.where(AuditEntry.username == flt.username)
    if flt.table_name:
        query = query.where(AuditEntry.table_name == flt.table_name)
    if flt.action:
        query = query.where(AuditEntry.action == flt.action)
    if flt.row_id:
        query = query.where(AuditEntry.row_id == flt.row_id)
    since, until = _bounds(flt.since, end=False), _bounds(flt.until, end=True)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until if not isinstance(flt.until, datetime) else AuditEntry.at <= until)
    if flt.text:
        like = f"%{flt.text}%"
        query = query.where(or_(AuditEntry.summary.like(like), AuditEntry.before_json.like(like),
                                AuditEntry.after_json.like(like)))
    return query


def query_audit(ws: Workspace, actor: Actor, flt: AuditFilter | None = None, *, page: int = 0,
                page_size: int = DEFAULT_PAGE_SIZE) -> AuditPage:
    """Newest first; ``page`` counts from 0."""
    flt = flt or AuditFilter()
    page, page_size = max(0, page), max(1, min(page_size, 1000))
    with ws.read() as session:
        total = session.scalar(_apply(select(func.count()).select_from(AuditEntry), flt, actor)) or 0
        entries = session.scalars(_apply(select(AuditEntry), flt, actor)
                                  .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                                  .offset(page * page_size).limit(page_size)).all()
        names = place_names(session)
        rows = [AuditRow(e.id, e.at, e.username, e.action, e.table_name, e.row_id,
                         redact(e.summary or ""), _changes(e.before_json, e.after_json, e.table_name, names))
                for e in entries]
    return AuditPage(rows, total, page, page_size)


@dataclass(frozen=True)
class AuditChoices:
    usernames: list[str]
    tables: list[tuple[str, str]]
    actions: list[tuple[str, str]]


def audit_choices(ws: Workspace, actor: Actor) -> AuditChoices:
    """Values present in the trail, for the viewer's filter boxes."""
    with ws.read() as session:
        def distinct(column):
            return [v for v in session.scalars(_apply(select(column).distinct(), AuditFilter(), actor)
                                               .order_by(column)) if v]

        return AuditChoices(
            distinct(AuditEntry.username),
            [(t, TABLE_LABELS.get(t, t)) for t in distinct(AuditEntry.table_name)],
            [(a, action_label(a)) for a in distinct(AuditEntry.action)],
        )
