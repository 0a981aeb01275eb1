"""Every dialog of the app, opened the way a user opens it where that is cheap (for fit and language tests)."""

from __future__ import annotations

from typing import Callable, Iterator

from PySide6.QtWidgets import QDialog, QWidget
from sqlalchemy import select

from station_app.store.models import AssistanceCase, ChronicCard
from station_app.ui.sections import PageContext


def _first(ws, model, **where):
    with ws.read() as session:
        query = select(model.id)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return session.scalar(query.order_by(model.id))


def dialogs(demo, tasks, window) -> Iterator[tuple[str, Callable[[], QDialog]]]:
    """(name, factory) for each dialog; factories open the dialog (not exec) and return it."""
    from station_app.services import assistance, chronic, notices
    from station_app.ui.dialogs.assistance_case import CaseDialog
    from station_app.ui.dialogs.assistance_step import CaseStepDialog, ReferralDialog
    from station_app.ui.dialogs.chronic_apply import CardApplyDialog
    from station_app.ui.dialogs.chronic_step import STEPS as CARD_STEPS
    from station_app.ui.dialogs.chronic_step import CardStepDialog
    from station_app.ui.dialogs.duplicates_dialog import DuplicatesDialog
    from station_app.ui.dialogs.roster_import_dialog import RosterImportDialog
    from station_app.ui.login_dialog import LoginDialog
    from station_app.ui.sections.notices_page import NoticeSettingsDialog
    from station_app.ui.sections.settings_page import AddUserDialog, PasswordDialog

    ws, actor = demo.ws, window.actor
    ctx = PageContext(ws, actor, tasks)
    residents = window.show_section("enrollment")
    registry = residents.registry

    def registry_dialog(action: str) -> Callable[[], QDialog]:
        def open_it() -> QDialog:
            window.show_section("enrollment")
            residents.tabs.setCurrentIndex(0)
            registry._select_row(0)
            return getattr(registry, action)() if action != "died" else registry.change_status("died")
        return open_it

    for action in ("new_household", "new_member", "edit_resident", "edit_household", "move_resident", "died",
                   "show_history"):
        yield f"居民档案.{action}", registry_dialog(action)
    yield "居民一站式", registry_dialog("open_overview")
    holder = _first(ws, ChronicCard, status="issued")  # a card holder: every section and action filled
    with ws.read() as session:
        holder_id = session.scalar(select(ChronicCard.resident_id).where(ChronicCard.id == holder))
    yield "居民一站式.持卡人", lambda: registry.open_overview(holder_id)
    yield "查重结果", lambda: DuplicatesDialog([], parent=window)

    def enrollment_dialog(action: str) -> Callable[[], QDialog]:
        def open_it() -> QDialog:
            tab = residents.show_enrollment()
            tab.select_ids([tab.model.id_at(0)])
            return getattr(tab, action)()
        return open_it

    for action in ("mark_paid", "set_subsidised", "set_other_channel", "set_not_required", "show_unpaid_list"):
        yield f"年度参保.{action}", enrollment_dialog(action)

    yield "慢病卡申请", lambda: CardApplyDialog(ctx, parent=window)
    card_id = _first(ws, ChronicCard, status="issued")
    for step in CARD_STEPS:
        yield f"慢病卡.{step}", lambda step=step: CardStepDialog(ctx, chronic.card_detail(ws, actor, card_id), step,
                                                                parent=window)
    yield "救助申请", lambda: CaseDialog(ctx, parent=window)
    case_id = _first(ws, AssistanceCase)
    for step in ("review", "pay", "refuse"):
        yield f"救助.{step}", lambda step=step: CaseStepDialog(ctx, assistance.case_detail(ws, actor, case_id), step,
                                                              parent=window)
    yield "救助.转介", lambda: ReferralDialog(ctx, assistance.case_detail(ws, actor, case_id), parent=window)
    yield "花名册导入", lambda: RosterImportDialog(ws, actor, tasks, parent=window)
    yield "公示设置", lambda: NoticeSettingsDialog(notices.get_settings(ws), parent=window)
    yield "添加用户", lambda: AddUserDialog(ws, window)
    yield "修改密码", lambda: PasswordDialog("修改我的密码", ask_old=True, parent=window)
    yield "登录", lambda: LoginDialog(ws, tasks)


def show(qtbot, dialog: QDialog) -> QDialog:
    if not dialog.isVisible():
        dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def visible_widgets(root: QWidget, kind=QWidget) -> list[QWidget]:
    return [w for w in root.findChildren(kind) if w.isVisibleTo(root) and w.isVisible()]
