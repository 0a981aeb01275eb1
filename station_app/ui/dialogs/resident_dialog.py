"""Resident and household forms of the 居民档案: each fault is shown next to its field and nothing is saved."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any, Callable

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from station_app.domain.enums import HouseholdCategory, Relation, ResidentStatus, SpecialGroup
from station_app.domain.errors import DomainError, ValidationError
from station_app.domain.idnumber import parse_id
from station_app.services import registry
from station_app.services.registry import RegistryChoices, ResidentDetail, ResidentInput, SimilarResidentsFound

from ..fit import FormScroll, fit_dialog
from ..tasks import TaskManager

logger = logging.getLogger(__name__)

MODE_HOUSEHOLD, MODE_MEMBER, MODE_EDIT = "household", "member", "edit"
_TITLES = {MODE_HOUSEHOLD: "新增户（登记户主）", MODE_MEMBER: "新增家庭成员", MODE_EDIT: "修改居民信息"}
SAVE_FAILED = "保存时出错，未保存任何内容；问题已记录在日志中。"


def ask_yes_no(parent: QWidget, title: str, text: str, yes: str = "确定", no: str = "取消") -> bool:
    """A question with Chinese buttons; True when the first button is chosen."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
    yes_button = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(no, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(yes_button)
    box.exec()
    return box.clickedButton() is yes_button


class FieldRow(QWidget):
    """A field with its error line under it (hidden until there is something to say)."""

    def __init__(self, widget: QWidget, hint: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.widget = widget
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()
        self.hint = QLabel(hint)
        self.hint.setObjectName("hint")
        self.hint.setVisible(bool(hint))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(widget)
        layout.addWidget(self.hint)
        layout.addWidget(self.error)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def clear_error(self) -> None:
        self.error.clear()
        self.error.hide()

    def set_hint(self, text: str) -> None:
        self.hint.setText(text)
        self.hint.setVisible(bool(text))


class _Form(QDialog):
    """Shared plumbing: rows by field name, an overall error line, save/cancel, tasks."""

    def __init__(self, tasks: TaskManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.tasks = tasks
        self.rows: dict[str, FieldRow] = {}
        self.form = QFormLayout()
        self.form.setVerticalSpacing(8)
        self.form.setHorizontalSpacing(16)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.save_button = QPushButton("保存")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.submit)
        self.cancel_button = QPushButton("取消")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.reject)
        #: Asked when the service warns (same name and birth date); replaced in tests.
        self.confirm: Callable[[str, str], bool] = lambda title, text: ask_yes_no(self, title, text, "仍然保存", "返回修改")
        #: What the last save returned (ids), for the page and tests.
        self.result_value: Any = None

    def add_row(self, field: str, label: str, widget: QWidget, hint: str = "") -> FieldRow:
        row = FieldRow(widget, hint)
        self.rows[field] = row
        self.form.addRow(label, row)
        return row

    def finish_layout(self, title: str, intro: str = "") -> None:
        heading = QLabel(title)
        heading.setObjectName("dialogTitle")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 22, 28, 18)
        layout.setSpacing(12)
        layout.addWidget(heading)
        if intro:
            note = QLabel(intro)
            note.setObjectName("hint")
            note.setWordWrap(True)
            layout.addWidget(note)
        self.scroll = FormScroll(self.form)  # 新增户 is taller than a 1366×768 screen: it scrolls
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.error_label)
        layout.addLayout(buttons)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        fit_dialog(self)
        super().showEvent(event)

    # -- errors -------------------------------------------------------------------------------

    def clear_errors(self) -> None:
        self.error_label.hide()
        for row in self.rows.values():
            row.clear_error()

    def show_error(self, message: str, field: str | None = None) -> None:
        row = self.rows.get(field or "")
        if row is None:
            self.error_label.setText(message)
            self.error_label.show()
            return
        row.show_error(message)
        widget = row.widget
        widget.setFocus()
        if isinstance(widget, QLineEdit):
            widget.selectAll()

    # -- saving -------------------------------------------------------------------------------

    def save(self, *, confirmed: bool = False) -> Any:  # pragma: no cover - each form overrides
        raise NotImplementedError

    def submit(self, *, confirmed: bool = False) -> None:
        self.clear_errors()
        self.save_button.setEnabled(False)
        self.tasks.run_write(lambda: self.save(confirmed=confirmed), self._saved, self._failed,
                             name=type(self).__name__, owner=self)

    def _saved(self, value: Any) -> None:
        self.save_button.setEnabled(True)
        self.result_value = value
        self.accept()

    def _failed(self, error: BaseException) -> None:
        self.save_button.setEnabled(True)
        if isinstance(error, SimilarResidentsFound):
            if self.confirm("可能重复登记", error.message):
                self.submit(confirmed=True)
            else:
                self.show_error("已有姓名和出生日期相同的居民，请核对后再保存。", "name")
            return
        if isinstance(error, DomainError):
            self.show_error(error.message, error.field)
        else:
            self.show_error(SAVE_FAILED)


def _combo(items: list[tuple[str, str]], current: str | None = None) -> QComboBox:
    combo = QComboBox()
    for code, label in items:
        combo.addItem(label, code)
    if current is not None:
        index = combo.findData(current)
        if index >= 0:
            combo.setCurrentIndex(index)
    return combo


def relation_combo() -> QComboBox:
    """与户主关系 for a new member: starts at 「请选择」 (None), never at the last item 「其他」."""
    combo = QComboBox()
    combo.addItem("请选择", None)
    for code, label in Relation.choices():
        if code != Relation.HEAD.value:
            combo.addItem(label, code)
    return combo


class ResidentDialog(_Form):
    """新增户 / 新增成员 / 修改: one person's fields (and, for a new household, the household's)."""

    def __init__(self, ws, actor, tasks: TaskManager, choices: RegistryChoices, *, mode: str,
                 village_code: str | None = None, household_id: str | None = None,
                 detail: ResidentDetail | None = None, parent: QWidget | None = None):
        super().__init__(tasks, parent)
        self.ws, self.actor, self.choices, self.mode = ws, actor, choices, mode
        self.household_id = household_id
        self.detail = detail
        self.setWindowTitle(_TITLES[mode])
        self.setMinimumWidth(620)
        if detail is not None:
            village_code = detail.village_code
        self.village_code = village_code or (choices.villages[0][0] if choices.villages else None)

        self.village_combo = _combo(choices.villages, self.village_code)
        self.village_combo.setEnabled(mode == MODE_HOUSEHOLD and len(choices.villages) > 1)
        self.village_combo.currentIndexChanged.connect(self._village_changed)
        self.group_combo = QComboBox()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("与身份证一致")
        self.name_edit.setMaxLength(20)
        self.id_edit = QLineEdit()
        self.id_edit.setPlaceholderText("18 位，末位可以是 X；旧 15 位号码会自动升级")
        self.id_edit.setMaxLength(22)
        self.id_edit.textChanged.connect(self._id_changed)
        self.phone_edit = QLineEdit()
        self.phone_edit.setPlaceholderText("手机 11 位或座机，可不填")
        if mode == MODE_HOUSEHOLD:
            self.relation_combo = _combo([(Relation.HEAD.value, Relation.HEAD.label)], Relation.HEAD.value)
        elif detail is not None:
            self.relation_combo = _combo(Relation.choices(), detail.relation)
        else:  # a new member: the user says how they are related; no silent 「其他」
            self.relation_combo = relation_combo()
        self.relation_combo.setEnabled(mode != MODE_HOUSEHOLD)
        self.group_checks: dict[str, QCheckBox] = {}
        groups_box = QWidget()
        grid = QGridLayout(groups_box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(14)
        for i, (code, label) in enumerate(SpecialGroup.choices()):
            check = QCheckBox(label)
            self.group_checks[code] = check
            grid.addWidget(check, i // 2, i % 2)
        self.note_edit = QLineEdit()

        if mode == MODE_HOUSEHOLD:
            self.add_row("village_code", "村", self.village_combo)
        self.add_row("group_code", "村民小组", self.group_combo)
        self.add_row("name", "姓名", self.name_edit)
        self.id_row = self.add_row("id_number", "身份证号", self.id_edit, " ")
        self.add_row("phone", "联系电话", self.phone_edit)
        self.add_row("relation", "与户主关系", self.relation_combo)
        self.add_row("special_groups", "人员类别", groups_box)
        self.add_row("note", "备注", self.note_edit)
        if mode == MODE_HOUSEHOLD:
            self.address_edit = QLineEdit()
            self.household_phone_edit = QLineEdit()
            self.household_phone_edit.setPlaceholderText("不填则用户主的电话")
            self.category_combo = _combo(HouseholdCategory.choices(), HouseholdCategory.GENERAL.value)
            self.helper_edit = QLineEdit()
            self.helper_edit.setPlaceholderText("重病户必填")
            self.helper_phone_edit = QLineEdit()
            self.add_row("address", "家庭住址", self.address_edit)
            self.add_row("household_phone", "家庭电话", self.household_phone_edit)
            self.add_row("category", "户类别（三类户）", self.category_combo)
            self.add_row("helper_name", "包帮责任人", self.helper_edit)
            self.add_row("helper_phone", "责任人电话", self.helper_phone_edit)

        self._fill_groups(detail.group_code if detail else None)
        if detail is not None:
            self.name_edit.setText(detail.name)
            self.id_edit.setText(detail.id_number)
            self.phone_edit.setText(detail.phone)
            self.note_edit.setText(detail.note)
            for code in detail.special_groups:
                if code in self.group_checks:
                    self.group_checks[code].setChecked(True)
        intro = {MODE_HOUSEHOLD: "先登记户主，保存后可在右侧“家庭成员”中继续添加成员。",
                 MODE_MEMBER: "性别和出生日期由身份证号自动得出。",
                 MODE_EDIT: "性别和出生日期由身份证号自动得出；修改会记入该居民的历史记录。"}[mode]
        self.finish_layout(_TITLES[mode], intro)
        self.name_edit.setFocus()

    # -- fields -------------------------------------------------------------------------------

    def _fill_groups(self, current: str | None) -> None:
        self.group_combo.clear()
        groups = self.choices.groups.get(self.village_code or "", [])
        for code, name in groups:
            self.group_combo.addItem(name, code)
        if current:
            index = self.group_combo.findData(current)
            if index >= 0:
                self.group_combo.setCurrentIndex(index)

    def set_group(self, group_code: str | None) -> None:
        index = self.group_combo.findData(group_code)
        if index >= 0:
            self.group_combo.setCurrentIndex(index)

    def _village_changed(self) -> None:
        self.village_code = self.village_combo.currentData()
        self._fill_groups(None)

    def _id_changed(self, text: str) -> None:
        """As the number is typed: the sex and birth date it encodes, or what is wrong with it."""
        compact = "".join(text.split())
        self.id_row.clear_error()
        if len(compact) < 15:
            self.id_row.set_hint(" ")
            return
        try:
            info = parse_id(compact)
        except DomainError as error:
            self.id_row.set_hint("")
            self.id_row.show_error(error.message)
            return
        age = registry.age_on(info.birth_date, date.today())
        self.id_row.set_hint(f"{'男' if info.sex == 'M' else '女'} · 出生 {info.birth_date:%Y-%m-%d} · {age} 岁")

    def resident_input(self) -> ResidentInput:
        return ResidentInput(
            name=self.name_edit.text(), id_number=self.id_edit.text(), phone=self.phone_edit.text(),
            relation=self.relation_combo.currentData(),
            special_groups=tuple(code for code, check in self.group_checks.items() if check.isChecked()),
            note=self.note_edit.text(), group_code=self.group_combo.currentData())

    # -- saving -------------------------------------------------------------------------------

    def save(self, *, confirmed: bool = False) -> Any:
        data = self.resident_input()
        if self.mode == MODE_HOUSEHOLD:
            return registry.register_household(
                self.ws, self.actor, village_code=self.village_code or "", head=data,
                address=self.address_edit.text(), phone=self.household_phone_edit.text(),
                category=self.category_combo.currentData(), helper_name=self.helper_edit.text(),
                helper_phone=self.helper_phone_edit.text(), confirm_similar=confirmed)
        if self.mode == MODE_MEMBER:
            return registry.add_member(self.ws, self.actor, self.household_id or "", data, confirm_similar=confirmed)
        assert self.detail is not None
        registry.update_resident(self.ws, self.actor, self.detail.id, data, confirm_similar=confirmed)
        return self.detail.id


class HouseholdDialog(_Form):
    """户信息: address, phone, 三类户 category (dated), 包帮责任人."""

    def __init__(self, ws, actor, tasks: TaskManager, view: registry.HouseholdView, groups: list[tuple[str, str]],
                 parent: QWidget | None = None):
        super().__init__(tasks, parent)
        self.ws, self.actor, self.view = ws, actor, view
        self.setWindowTitle("修改户信息")
        self.setMinimumWidth(560)
        number = QLabel(f"{view.household_no}　{view.village}　户主：{view.head_name or '（无）'}")
        self.group_combo = _combo(groups, view.group_code)
        self.address_edit = QLineEdit(view.address)
        self.phone_edit = QLineEdit(view.phone)
        self.category_combo = _combo(HouseholdCategory.choices(), view.category)
        since = f"自 {view.category_since:%Y-%m-%d} 起" if view.category_since else ""
        self.helper_edit = QLineEdit(view.helper_name)
        self.helper_edit.setPlaceholderText("重病户必填")
        self.helper_phone_edit = QLineEdit(view.helper_phone)
        self.note_edit = QLineEdit(view.note)
        self.form.addRow("户编号", number)
        self.add_row("group_code", "村民小组", self.group_combo)
        self.add_row("address", "家庭住址", self.address_edit)
        self.add_row("phone", "家庭电话", self.phone_edit)
        self.add_row("category", "户类别（三类户）", self.category_combo, since)
        self.add_row("helper_name", "包帮责任人", self.helper_edit)
        self.add_row("helper_phone", "责任人电话", self.helper_phone_edit)
        self.add_row("note", "备注", self.note_edit)
        self.finish_layout("修改户信息", "户类别变化时记录变化日期；重病户须有包帮责任人。")

    def save(self, *, confirmed: bool = False) -> Any:
        registry.update_household(
            self.ws, self.actor, self.view.id, address=self.address_edit.text(), phone=self.phone_edit.text(),
            category=self.category_combo.currentData(), helper_name=self.helper_edit.text(),
            helper_phone=self.helper_phone_edit.text(), note=self.note_edit.text(),
            group_code=self.group_combo.currentData())
        return self.view.id


class MoveDialog(_Form):
    """迁入其他户: pick a household of the same village and the relation to its head."""

    def __init__(self, ws, actor, tasks: TaskManager, detail: ResidentDetail, parent: QWidget | None = None):
        super().__init__(tasks, parent)
        self.ws, self.actor, self.detail = ws, actor, detail
        self.setWindowTitle("迁入其他户")
        self.setMinimumSize(560, 520)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("户编号或户主姓名")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self.reload)
        self.list = QListWidget()
        self.list.setMinimumHeight(220)
        self.relation_combo = relation_combo()
        self.form.addRow("居民", QLabel(f"{detail.name}（{detail.village} {detail.group}）"))
        self.form.addRow("查找户", self.search_edit)
        self.add_row("household_id", "迁入到", self.list)
        self.add_row("relation", "与新户主关系", self.relation_combo)
        self.save_button.setText("迁入")
        self.finish_layout("迁入其他户", "只能迁入本村的其他户（分户、并户）。迁往外村请标记“迁出”，由迁入村重新登记。")
        self.reload()

    def reload(self) -> None:
        text = self.search_edit.text()
        ws, actor, detail = self.ws, self.actor, self.detail
        self.tasks.run_read(lambda: registry.find_households(ws, actor, detail.village_code or "", text,
                                                             exclude_id=detail.household_id),
                            self._show, lambda e: self.show_error(str(e)), name="find_households", owner=self)

    def _show(self, households: list[registry.HouseholdChoice]) -> None:
        self.list.clear()
        for household in households:
            item = QListWidgetItem(household.text)
            item.setData(Qt.ItemDataRole.UserRole, household.id)
            self.list.addItem(item)
        if households:
            self.list.setCurrentRow(0)

    def save(self, *, confirmed: bool = False) -> Any:
        item = self.list.currentItem()
        if item is None:
            raise ValidationError("请选择要迁入的户。", field="household_id")
        if self.relation_combo.currentData() is None:
            raise ValidationError("请选择与新户主的关系。", field="relation")
        registry.move_to_household(self.ws, self.actor, self.detail.id, item.data(Qt.ItemDataRole.UserRole),
                                   self.relation_combo.currentData())
        return self.detail.id


class StatusDialog(_Form):
    """标记死亡 / 标记迁出 (or back to 在册) with the date it happened."""

    def __init__(self, ws, actor, tasks: TaskManager, detail: ResidentDetail, status: str,
                 parent: QWidget | None = None):
        super().__init__(tasks, parent)
        self.ws, self.actor, self.detail, self.status = ws, actor, detail, status
        label = ResidentStatus(status).label
        title = f"标记{label}" if status != ResidentStatus.REGISTERED.value else "恢复在册"
        self.setWindowTitle(title)
        self.setMinimumWidth(480)
        today = date.today()
        self.date_edit = QDateEdit(QDate(today.year, today.month, today.day))
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.date_edit.setMaximumDate(QDate(today.year, today.month, today.day))
        self.form.addRow("居民", QLabel(f"{detail.name}　{detail.village} {detail.group}　现为：{detail.status_label}"))
        self.add_row("status_date", "日期", self.date_edit)
        self.save_button.setText(title)
        intro = "档案保留，历史可查；参保状态请在“年度参保”中改为“无需参保”。" \
            if status != ResidentStatus.REGISTERED.value else "把该居民恢复为在册。"
        self.finish_layout(title, intro)

    def chosen_date(self) -> date:
        value = self.date_edit.date()
        return date(value.year(), value.month(), value.day())

    def save(self, *, confirmed: bool = False) -> Any:
        registry.set_status(self.ws, self.actor, self.detail.id, self.status, self.chosen_date())
        return self.detail.id
