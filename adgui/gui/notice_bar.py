"""A message strip across the window: errors stay until dismissed, information fades."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from .state import AppState

INFO_VISIBLE_MS = 6000
MAX_LINES = 2  # a longer message is cut (whole in the tooltip): the window stays on the screen


class NoticeBar(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent, objectName="noticeBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.text = QLabel(wordWrap=True, objectName="noticeText")
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = ""  # the whole message; the label shows what fits
        close = QPushButton("Dismiss", objectName="noticeClose")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.text, 1)
        layout.addWidget(close)
        self._fade = QTimer(self, singleShot=True, interval=INFO_VISIBLE_MS)
        self._fade.timeout.connect(self.hide)
        state.message.connect(self.show_message)
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        if level == "info" and self.isVisible() and self.property("level") in ("warning", "error"):
            return  # an unread problem stays; the status bar shows the news
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.text.ensurePolished()  # the style sheet's font, to measure lines in
        self.message = text
        self.text.setToolTip(text)
        # Never taller, whatever the message.
        self.text.setMaximumHeight(self.text.fontMetrics().lineSpacing() * MAX_LINES + 4)
        self.show()
        self._fit()
        if level == "info":
            self._fade.start()
        else:
            self._fade.stop()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        self.text.setText(_cut(self.message, self.text, MAX_LINES))
        # The lines shown are the bar's minimum: the window then counts them when it fits on
        # the screen, instead of squeezing them or the panels below.
        needed = self.text.heightForWidth(self.text.width())
        self.text.setMinimumHeight(min(needed, self.text.maximumHeight()))


def _cut(text: str, label: QLabel, lines: int) -> str:
    """`text`, shortened with "…" to about `lines` lines of the label's width."""
    metrics = label.fontMetrics()
    width = max(label.width(), 400)  # not yet laid out: a narrow screen's width
    room = lines * width - metrics.averageCharWidth() * 8  # words wrap before the edge
    if metrics.horizontalAdvance(text) <= room:
        return text
    return metrics.elidedText(text, Qt.TextElideMode.ElideRight, room)
