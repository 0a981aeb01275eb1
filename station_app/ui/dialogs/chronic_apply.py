"""慢病卡申请 / 修改: resident, disease from the county catalogue, materials, date, supply days."""

from __future__ import annotations

from datetime import date
from typing import Any, Callable

from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QLineEdit, QPlainTextEdit, QSpinBox, QWidget

from station_app.domain import chronic as rules
from station_app.domain.errors import ValidationError
from station_app.services import chronic as svc
from station_app.services.service_log import resident_hit

from .service_widgets import DateField, FormDialog, ResidentPicker


class CardApplyDialog(FormDialog):
    """New application (``card`` None) or a correction of an existing card."""

    def __init__(self, ctx, card: svc.CardDetail | None = None, parent: QWidget | None = None):
        title = "修改慢病卡" if card else "慢病卡申请"
        subtitle = ("病种、申请日期和材料只能在“申请”状态下修改。" if card
                    else "登记居民的门诊慢特病申请；认定和发卡由乡镇医保专干办理。")
        super().__init__(ctx, title, subtitle, parent)
        self.card = card
        editable = card is None or card.status == "applied"

        self.picker = ResidentPicker(ctx)
        self.disease = QComboBox()
        self.disease.setMinimumWidth(300)
        for choice in svc.disease_choices(ctx.ws):
            label = f"{choice.name}（{choice.category}）" if choice.category else choice.name
            self.disease.addItem(label, choice.code)
        materials = QWidget()
        grid = QGridLayout(materials)
        grid.setContentsMargins(0, 0, 0, 0)
        self.material_boxes = []
        for i, name in enumerate(rules.MATERIALS):
            box = QCheckBox(name)
            self.material_boxes.append(box)
            grid.addWidget(box, i // 2, i % 2)
        self.other_materials = QLineEdit()
        self.other_materials.setPlaceholderText("其他材料（可不填）")
        grid.addWidget(self.other_materials, (len(rules.MATERIALS) + 1) // 2, 0, 1, 2)
        self.applied = DateField()
        self.supply = QSpinBox()
        self.supply.setRange(1, rules.MAX_SUPPLY_DAYS)
        self.supply.setValue(rules.DEFAULT_SUPPLY_DAYS)
        self.supply.setSuffix(" 天")
        self.supply.setToolTip("每次取药可用的天数；续药提醒按“上次取药日期 + 供药天数”计算。")
        self.diagnosis = QPlainTextEdit()
        self.diagnosis.setPlaceholderText("诊断说明（只在本站保存，不会出现在公示中）")
        self.diagnosis.setFixedHeight(64)

        self.add_row("居民", self.picker)
        self.add_row("病种", self.disease)
        self.add_row("申请材料", materials)
        self.add_row("申请日期", self.applied)
        self.add_row("供药天数", self.supply)
        self.add_row("诊断说明", self.diagnosis)

        if card is not None:
            self.picker.set_fixed(resident_hit(ctx.ws, ctx.actor, card.resident_id))
            index = self.disease.findData(card.disease_code)
            if index >= 0:
                self.disease.setCurrentIndex(index)
            chosen = [m for m in card.materials.split("、") if m]
            for box in self.material_boxes:
                box.setChecked(box.text() in chosen)
            self.other_materials.setText("、".join(m for m in chosen if m not in rules.MATERIALS))
            self.applied.set_value(card.applied_date)
            self.supply.setValue(card.supply_days)
            self.diagnosis.setPlainText(card.diagnosis_note)
            for widget in (self.disease, self.applied, self.other_materials, *self.material_boxes):
                widget.setEnabled(editable)

    def materials_text(self) -> str:
        parts = [box.text() for box in self.material_boxes if box.isChecked()]
        other = self.other_materials.text().strip()
        if other:
            parts.append(other)
        return "、".join(parts)

    def submit(self) -> Callable[[], Any]:
        ws, actor = self.ctx.ws, self.ctx.actor
        disease: str = self.disease.currentData() or ""
        materials = self.materials_text()
        applied: date = self.applied.value()
        supply = self.supply.value()
        note = self.diagnosis.toPlainText()
        if self.card is None:
            hit = self.picker.hit
            if hit is None:
                raise ValidationError("请先在“居民”一栏搜索并选中申请人。", field="resident_id")
            return lambda: svc.apply_card(ws, actor, resident_id=hit.id, disease_code=disease, materials=materials,
                                          applied_date=applied, diagnosis_note=note, supply_days=supply)
        card_id = self.card.id
        if self.card.status == "applied":
            return lambda: svc.edit_card(ws, actor, card_id, disease_code=disease, applied_date=applied,
                                         materials=materials, diagnosis_note=note, supply_days=supply)
        return lambda: svc.edit_card(ws, actor, card_id, diagnosis_note=note, supply_days=supply)
