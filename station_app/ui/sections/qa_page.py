"""政策问答 and 村广播: answers at hand while a villager asks, and the loudspeaker file.

Both sit in the 政策 section beside the county's policy texts. The list is built on the read
pool (the first build loads the pinyin dictionary); searching it is in memory and instant.
"""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from station_app import paths
from station_app.services import broadcast, policy_qa
from station_app.services.chronic import village_choices

from ..dialogs.service_widgets import FormDialog, ResidentPicker, error_text
from . import PageContext

#: Typing pauses this long before the list is filtered (the list is in memory: short).
QA_FILTER_DELAY_MS = 120
#: A list built on first show is built by this time anyway (a window never shown, a test).
QA_DEFERRED_LOAD_MS = 1500
ALL_TOPICS = "全部主题"


class LogAnswerDialog(FormDialog):
    """记为答疑: who asked (an explicit choice of person), then one 答疑 service with the topic."""

    def __init__(self, ctx: PageContext, item: policy_qa.QaItem, parent: QWidget | None = None):
        super().__init__(ctx, "记为答疑", f"主题：{item.topic}　问题：{item.question}", parent, ok_text="记录")
        self.item = item
        self.picker = ResidentPicker(ctx)
        self.add_row("提问的居民", self.picker)

    def submit(self):
        from station_app.domain.errors import ValidationError

        hit = self.picker.hit
        if hit is None:
            raise ValidationError("请先从列表中选择提问的居民。")
        ws, actor, item = self.ctx.ws, self.ctx.actor, self.item
        return lambda: policy_qa.log_answer(ws, actor, item, resident_id=hit.id)


class QaEntryDialog(FormDialog):
    """The station's own entry: topic, question, answer."""

    def __init__(self, ctx: PageContext, item: policy_qa.QaItem | None = None, parent: QWidget | None = None):
        super().__init__(ctx, "修改本站问答" if item else "新增本站问答", "县医保局下发的问答只读；本站问答只在本站使用。",
                         parent)
        self.item = item
        self.topic = QComboBox()
        self.topic.addItems(policy_qa.TOPICS)
        self.question = QLineEdit()
        self.question.setMaxLength(policy_qa.MAX_QUESTION)
        self.answer = QPlainTextEdit()
        self.answer.setMinimumHeight(140)
        if item is not None:
            self.topic.setCurrentText(item.topic)
            self.question.setText(item.question)
            self.answer.setPlainText(item.answer)
        self.add_row("主题", self.topic)
        self.add_row("问题", self.question)
        self.add_row("回答", self.answer)

    def submit(self):
        ws, actor = self.ctx.ws, self.ctx.actor
        values = dict(topic=self.topic.currentText(), question=self.question.text(), answer=self.answer.toPlainText())
        policy_qa.check_entry(values["topic"], values["question"], values["answer"])  # message before saving
        if self.item is None:
            return lambda: policy_qa.add_entry(ws, actor, **values)
        key = self.item.key
        return lambda: policy_qa.edit_entry(ws, actor, key, **values)


class QaPage(QWidget):
    """Search box and topic on top; questions on the left, the answer on the right."""

    loaded = Signal(int)
    logged = Signal(str)

    def __init__(self, ctx: PageContext, parent: QWidget | None = None, *, load_when_shown: bool = False):
        super().__init__(parent)
        self.ctx = ctx
        #: In the 政策 section the list is built when its tab is first shown (or, at the latest,
        #: QA_DEFERRED_LOAD_MS after the page was made), not while the section's first tab
        #: paints: the first build loads the pinyin dictionaries.
        self._load_pending = load_when_shown
        self.items: list[policy_qa.QaItem] = []
        self.shown: list[policy_qa.QaItem] = []
        self.search = QLineEdit()
        self.search.setPlaceholderText("输入问题中的字词或拼音首字母，如：缴费、jf、慢特病、异地")
        self.search.setClearButtonEnabled(True)
        self.topic = QComboBox()
        self.topic.addItems([ALL_TOPICS, *policy_qa.TOPICS])
        self.count = QLabel("")
        self.count.setObjectName("hint")
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.topic)
        top.addWidget(self.count)

        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.answer = QTextBrowser()
        self.answer.setOpenExternalLinks(False)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.list)
        splitter.addWidget(self.answer)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)

        self.log_button = QPushButton("记为答疑…")
        self.log_button.setToolTip("回答了居民的问题后，记一次“答疑”服务（按主题统计）")
        self.add_button = QPushButton("新增本站问答…")
        self.edit_button = QPushButton("修改…")
        self.remove_button = QPushButton("删除")
        self.status = QLabel("正在加载政策问答…")
        self.status.setObjectName("hint")
        buttons = QHBoxLayout()
        buttons.addWidget(self.log_button)
        buttons.addStretch(1)
        buttons.addWidget(self.status)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.remove_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)

        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(QA_FILTER_DELAY_MS)
        self.timer.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(lambda _t: self.timer.start())
        # Enter filters at once; it never saves or logs anything.
        self.search.returnPressed.connect(self.apply_filter)
        self.topic.currentIndexChanged.connect(lambda _i: self.apply_filter())
        self.list.currentRowChanged.connect(self._show_answer)
        self.log_button.clicked.connect(self.log_current)
        self.add_button.clicked.connect(self.add_entry)
        self.edit_button.clicked.connect(self.edit_current)
        self.remove_button.clicked.connect(self.remove_current)
        self._update_buttons()
        if load_when_shown:
            QTimer.singleShot(QA_DEFERRED_LOAD_MS, self, self._load_if_pending)
        else:
            self.reload()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self._load_if_pending()

    def _load_if_pending(self) -> None:
        if self._load_pending:
            self._load_pending = False
            self.reload()

    # -- data -----------------------------------------------------------------------------

    def reload(self) -> None:
        ws = self.ctx.ws
        self.ctx.tasks.run_read(lambda: policy_qa.qa_items(ws), self._loaded, self._failed, name="qa_items",
                                owner=self)

    def _loaded(self, items: list[policy_qa.QaItem]) -> None:
        self.items = items
        self.status.setText("")
        self.apply_filter()
        self.loaded.emit(len(items))

    def _failed(self, error: BaseException) -> None:
        self.status.setText(error_text(error))

    def apply_filter(self) -> None:
        self.timer.stop()
        topic = self.topic.currentText()
        self.shown = policy_qa.search(self.items, self.search.text(), topic="" if topic == ALL_TOPICS else topic)
        self.list.clear()
        for item in self.shown:
            entry = QListWidgetItem(f"【{item.topic}】{item.question}" + ("（本站）" if item.own else ""))
            self.list.addItem(entry)
        self.count.setText(f"{len(self.shown)} 条")
        if self.shown:
            self.list.setCurrentRow(0)
        else:
            self.answer.setHtml("<p style='color:#666'>没有找到相关问答。可以换个词，或用拼音首字母查找。</p>")
        self._update_buttons()

    @property
    def current(self) -> policy_qa.QaItem | None:
        row = self.list.currentRow()
        return self.shown[row] if 0 <= row < len(self.shown) else None

    def _show_answer(self, _row: int) -> None:
        item = self.current
        if item is None:
            return
        basis = f"<p style='color:#666'>政策依据：{html.escape(item.basis)}</p>" if item.basis else ""
        self.answer.setHtml(
            f"<h3>{html.escape(item.question)}</h3>"
            + "".join(f"<p style='line-height:150%'>{html.escape(line)}</p>" for line in item.answer.splitlines()
                      if line.strip())
            + basis + f"<p style='color:#666'>来源：{item.source}　主题：{item.topic}</p>")
        self._update_buttons()

    def _update_buttons(self) -> None:
        item = self.current
        self.log_button.setEnabled(item is not None)
        self.edit_button.setEnabled(item is not None and item.own)
        self.remove_button.setEnabled(item is not None and item.own)

    # -- actions --------------------------------------------------------------------------

    def log_current(self) -> None:
        item = self.current
        if item is None:
            return
        dialog = LogAnswerDialog(self.ctx, item, self)
        if dialog.exec():
            self.status.setText(f"已记录答疑（{item.topic}）")
            self.logged.emit(item.topic)

    def add_entry(self) -> None:
        if QaEntryDialog(self.ctx, None, self).exec():
            self.reload()

    def edit_current(self) -> None:
        item = self.current
        if item is not None and item.own and QaEntryDialog(self.ctx, item, self).exec():
            self.reload()

    def remove_current(self) -> None:
        item = self.current
        if item is None or not item.own:
            return
        ws, actor, key = self.ctx.ws, self.ctx.actor, item.key
        self.ctx.tasks.run_write(lambda: policy_qa.remove_entry(ws, actor, key), lambda _r: self.reload(),
                                 self._failed, name="qa_remove", owner=self)


class BroadcastPanel(QWidget):
    """村广播: choose what and where, 生成广播, read the script, find the file for the loudspeaker."""

    made = Signal(object)  # BroadcastResult

    def __init__(self, ctx: PageContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.kind = QComboBox()
        for key, label in broadcast.KIND_LABELS.items():
            self.kind.addItem(label, key)
        self.village = QComboBox()
        for code, name in village_choices(ctx.ws, ctx.actor):
            self.village.addItem(name, code)
        self.custom = QPlainTextEdit()
        self.custom.setPlaceholderText("自定义广播稿（不能点名；数字、日期会按中文读法播报）")
        self.custom.setMaximumHeight(120)
        self.folder = QLineEdit(str(paths.data_dir() / "broadcasts"))
        browse = QPushButton("选择文件夹…")
        browse.clicked.connect(self._browse)
        self.make_button = QPushButton("生成广播")
        self.make_button.setObjectName("primary")
        self.make_button.clicked.connect(self.make)
        self.script = QTextBrowser()
        self.status = QLabel("生成的 WAV 文件可拷到U盘，在村广播（流动喇叭）上播放；广播稿同名保存为 .txt。")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)

        row = QHBoxLayout()
        row.addWidget(QLabel("内容"))
        row.addWidget(self.kind)
        row.addWidget(QLabel("村"))
        row.addWidget(self.village, 1)
        folder_row = QHBoxLayout()
        folder_row.addWidget(QLabel("保存到"))
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        folder_row.addWidget(self.make_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.custom)
        layout.addLayout(folder_row)
        layout.addWidget(self.status)
        layout.addWidget(self.script, 1)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    def _kind_changed(self) -> None:
        self.custom.setVisible(self.kind.currentData() == "custom")

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "保存广播文件到", self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def output_path(self) -> Path:
        kind = self.kind.currentData()
        return Path(self.folder.text()) / f"广播_{self.village.currentText()}_{broadcast.KIND_LABELS[kind]}_{date.today():%Y%m%d}.wav"

    def make(self) -> None:
        ws, actor = self.ctx.ws, self.ctx.actor
        kind, code, text = self.kind.currentData(), self.village.currentData(), self.custom.toPlainText()
        out = self.output_path()
        self.make_button.setEnabled(False)
        self.status.setText("正在合成语音，请稍候…")
        self.ctx.tasks.run_read(lambda: broadcast.make_broadcast(ws, actor, kind, code, out, custom_text=text),
                                self._made, self._failed, name="broadcast", owner=self)

    def _made(self, result: broadcast.BroadcastResult) -> None:
        self.make_button.setEnabled(True)
        self.script.setPlainText(result.script.text)
        extra = f"，另存 MP3：{result.mp3_path}" if result.mp3_path else ""
        self.status.setText(f"已生成（{result.seconds:.0f} 秒）：{result.wav_path}{extra}")
        self.made.emit(result)

    def _failed(self, error: BaseException) -> None:
        self.make_button.setEnabled(True)
        self.status.setText(error_text(error))
