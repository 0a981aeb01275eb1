"""Placeholder pages for sections not built yet: they say what will be here, and show no data."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from . import SECTION_BY_KEY

#: What each section will hold, in the words a village doctor or clerk uses.
PLANNED: dict[str, list[str]] = {
    "enrollment": [
        "按户、按居民查看辖区花名册，可用姓名、拼音首字母或身份证号查找；",
        "登记新户和家庭成员，办理迁出、死亡等状态变更；",
        "记录每个待遇年度的缴费、资助参保和其他渠道参保情况；",
        "按村民小组、按户生成未缴费清单，并显示缴费截止倒计时；",
        "参保率：总体、困难群众、各村民小组。",
    ],
    "chronic": [
        "门诊慢特病卡从申请、认定、发卡到注销的全过程；",
        "持卡人每月用卡情况和卡月使用率；",
        "本周药品将用完的持卡人名单，提醒续药、代购药。",
    ],
    "assistance": [
        "住院、门诊、重特大疾病等医疗救助个案：申请、审核、发放；",
        "总费用、基本医保、大病保险、救助金额和个人自付；",
        "“1+N”转介民政、人社、残联、慈善、红十字会及结果；",
        "医疗救助政策落实率。",
    ],
    "service_log": [
        "村医签约服务记录：上门、代购药、答疑、代办、提醒；",
        "按村医统计每月服务次数，供乡镇绩效评价。",
    ],
    "notices": [
        "四项公示：居民参保情况、慢病卡办享情况、医疗救助待遇享受情况、医保惠民政策；",
        "姓名和身份证号自动脱敏，可打印或导出 PDF；",
        "已发布的公示存档备查，登记公示期内收到的异议及处理结果。",
    ],
    "policy": [
        "县医保局下发的医保惠民政策：缴费标准和截止日期、报销比例、门诊慢特病目录、救助政策；",
        "可打印成宣传海报张贴。",
    ],
    "sync": [
        "与县医保服务器同步：上传本站的变更，下载县里下发的数据和参考资料；",
        "没有网络时，用U盘导出、导入数据包；",
        "查看和处理同步冲突及被退回的修改。",
    ],
    "settings": [
        "站点信息和监督电话；",
        "用户管理：添加村医、乡镇医保专干账户，修改密码；",
        "数据库备份与恢复；",
        "公示期天数、脱敏方式等。",
    ],
}


class PlaceholderPage(QWidget):
    """A clearly labelled empty page: what will be here, and that it is not built yet."""

    def __init__(self, key: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.key = key
        section = SECTION_BY_KEY[key]
        title = QLabel(section.title)
        title.setObjectName("pageTitle")
        status = QLabel("此功能正在建设中，暂无内容。")
        status.setObjectName("pageSubtitle")

        box = QFrame()
        box.setObjectName("placeholder")
        inner = QVBoxLayout(box)
        inner.setContentsMargins(24, 20, 24, 20)
        inner.setSpacing(8)
        heading = QLabel("这里将提供：")
        heading.setStyleSheet("font-weight: bold;")
        inner.addWidget(heading)
        for line in PLANNED[key]:
            item = QLabel(f"•  {line}")
            item.setWordWrap(True)
            inner.addWidget(item)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 28, 32, 28)
        layout.setSpacing(14)
        layout.addWidget(title)
        layout.addWidget(status)
        layout.addWidget(box)
        layout.addStretch(1)
        layout.setAlignment(box, Qt.AlignmentFlag.AlignTop)
