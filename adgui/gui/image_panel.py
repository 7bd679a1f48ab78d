"""The image view: the part with its heatmap and defect contours, or how to begin."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout,
                               QWidget)

from .state import AppState
from .verdict_panel import verdict_word

EMPTY_NO_MODEL = ("<h2>No recipe loaded</h2>"
                  "<p>Drop a folder of <b>good</b> part images anywhere on this window to train "
                  "a new recipe,<br>or pick a saved recipe in the bar above.</p>")
EMPTY_NO_FRAME = ("<h2>Ready</h2><p>Choose a source above (folder, video or camera) "
                  "and press <b>Start</b>.</p>")


class ImagePanel(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._hint = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, objectName="emptyHint")
        self._hint.setWordWrap(True)
        self._view = pg.GraphicsLayoutWidget()
        self._view.setBackground("#1e1e1e")
        box = self._view.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        # Row-major numpy images and fixed levels: no transpose, no per-frame level search.
        self._image = pg.ImageItem(axisOrder="row-major", levels=(0, 255))
        box.addItem(self._image)
        self._box = box
        self._stack = QStackedWidget()
        self._stack.addWidget(self._hint)
        self._stack.addWidget(self._view)
        self._caption = QLabel(objectName="imageCaption")
        self._back = QPushButton("Back to live", objectName="backToLive")
        self._back.clicked.connect(state.back_to_live)
        bottom = QHBoxLayout()
        bottom.addWidget(self._caption, 1)
        bottom.addWidget(self._back)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack, 1)
        layout.addLayout(bottom)
        self._shape = None
        state.shown_changed.connect(self._refresh)
        state.model_changed.connect(self._refresh)
        self._refresh()

    def _refresh(self) -> None:
        result = self.state.shown
        self._back.setVisible(self.state.reviewing)
        if result is None:
            self._hint.setText(EMPTY_NO_FRAME if self.state.model else EMPTY_NO_MODEL)
            self._stack.setCurrentWidget(self._hint)
            self._caption.setText("")
            return
        record = result.record
        picture = result.picture if result.picture is not None else result.image
        if picture is None:  # a part with no image (NOT JUDGED): keep the last picture shown
            self._caption.setText(f"{record.part_id}: {verdict_word(record.verdict)} — {record.reason}")
            return
        self._stack.setCurrentWidget(self._view)
        self._image.setImage(picture, autoLevels=False, levels=(0, 255))
        if picture.shape[:2] != self._shape or not self.state.reviewing:
            # Every new part is shown whole: a zoom kept from the last one could hide a defect.
            self._shape = picture.shape[:2]
            self._box.autoRange(padding=0.01)
        reviewing = self.state.reviewing
        prefix = ("REVIEWING an earlier part" if reviewing
                  else "Preview (not recorded)" if result.preview else "Live")
        if self._caption.property("reviewing") != reviewing:
            self._caption.setProperty("reviewing", reviewing)
            self._caption.style().unpolish(self._caption)
            self._caption.style().polish(self._caption)
        latency = "" if record.latency_ms is None else f"  ·  {record.latency_ms:.0f} ms"
        self._caption.setText(f"{prefix}: {record.source}  ·  {record.part_id}  ·  "
                              f"{verdict_word(record.verdict)}  ·  score {_score(record.score)}{latency}")


def _score(score: float | None) -> str:
    return "—" if score is None else f"{score:.3f}"
