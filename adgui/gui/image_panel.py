"""The image view: a part with its heatmap and defect contours (or plain), or how to begin.

Two of them sit side by side: the live view follows the line, the review view shows an
earlier reject. Every new part is shown whole: a zoom kept from the last part could leave
a defect off screen.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout,
                               QWidget)

from .score_scale import operator_score
from .state import PAUSED, RUNNING, AppState
from .verdict_panel import before_first_part, verdict_word

EMPTY_NO_MODEL = ("<h2>No recipe loaded</h2>"
                  "<p>An engineer logs in (Station ▸ Engineer login) and trains or picks a recipe:"
                  "<br>drop a folder of <b>good</b> part images on this window to train one.</p>")
EMPTY_NO_FRAME = "<h2>Ready</h2><p>Press <b>Start</b> (F5) to inspect.</p>"
EMPTY_NO_REVIEW = "<p>Click a reject in the strip below, or press Page Up, to review it here.</p>"
LIVE, REVIEW = "live", "review"


class ImagePanel(QWidget):
    def __init__(self, state: AppState, follow: str = LIVE, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.follow = follow
        self._hint = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, objectName="emptyHint")
        self._hint.setWordWrap(True)
        self._view = pg.GraphicsLayoutWidget()
        self._view.setBackground("#1e1e1e")
        box = self._view.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        # Row-major numpy images and fixed levels: no transpose, no per-frame level search.
        self._image = pg.ImageItem(axisOrder="row-major", levels=(0, 255))
        box.addItem(self._image)
        self.box = box
        self._stack = QStackedWidget()
        self._stack.addWidget(self._hint)
        self._stack.addWidget(self._view)
        self._caption = QLabel(objectName="imageCaption")
        self._caption.setWordWrap(True)  # two views side by side fit a 1280-pixel screen
        self.overlay_button = QPushButton("Heatmap", objectName="overlayButton", checkable=True)
        self.overlay_button.setToolTip("Show the heatmap and defect contours, or the plain image (O)")
        self.overlay_button.setChecked(state.overlay)
        self.overlay_button.toggled.connect(state.set_overlay)
        self.reset_button = QPushButton("Whole part", objectName="resetViewButton")
        self.reset_button.setToolTip("Show the whole part again after zooming (Home)")
        self.reset_button.clicked.connect(self.reset_view)
        bottom = QHBoxLayout()
        bottom.addWidget(self._caption, 1)
        bottom.addWidget(self.overlay_button)
        bottom.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack, 1)
        layout.addLayout(bottom)
        self._part_id: int | None = None
        (state.reviewed_changed if follow == REVIEW else state.shown_changed).connect(self._refresh)
        state.model_changed.connect(self._refresh)
        state.overlay_changed.connect(self._on_overlay)
        for signal in (state.run_state_changed, state.line_changed):  # what the hint says
            signal.connect(self._on_waiting_changed)
        self._refresh()

    def part(self):
        return self.state.reviewed if self.follow == REVIEW else self.state.shown

    def reset_view(self) -> None:
        self.box.autoRange(padding=0.01)

    def _on_overlay(self, shown: bool) -> None:
        self.overlay_button.blockSignals(True)
        self.overlay_button.setChecked(shown)
        self.overlay_button.blockSignals(False)
        self._refresh(keep_view=True)

    def _on_waiting_changed(self, *_args) -> None:
        if self.part() is None:
            self._refresh()

    def _empty_hint(self) -> str:
        state = self.state
        if self.follow == REVIEW:
            return EMPTY_NO_REVIEW
        if state.model is None:
            return EMPTY_NO_MODEL
        if not state.remote_control and state.run_state not in (RUNNING, PAUSED):
            return EMPTY_NO_FRAME
        word, detail = before_first_part(state)  # the PLC or the source brings the next part
        return f"<h2>{word.capitalize()}</h2><p>{detail[0].upper()}{detail[1:]}.</p>"

    def _refresh(self, keep_view: bool = False) -> None:
        result = self.part()
        if result is None:
            self._hint.setText(self._empty_hint())
            self._stack.setCurrentWidget(self._hint)
            self._caption.setText("")
            self._part_id = None
            return
        record = result.record
        plain = result.image
        overlay = result.picture if result.picture is not None else plain
        picture = overlay if self.state.overlay else (plain if plain is not None else overlay)
        if picture is None:  # a part with no image: never leave the last part's picture up
            self._hint.setText(f"<h2>{verdict_word(record.verdict)}</h2><p>{record.part_id}: "
                               f"no image{' — ' + record.reason if record.reason else ''}</p>")
            self._stack.setCurrentWidget(self._hint)
            self._caption.setText(f"{record.part_id}: {verdict_word(record.verdict)} — {record.reason}")
            self._part_id = id(result)
            return
        self._stack.setCurrentWidget(self._view)
        self._image.setImage(picture, autoLevels=False, levels=(0, 255))
        if not keep_view or self._part_id != id(result):
            self._part_id = id(result)
            self.reset_view()
        prefix = ("Review" if self.follow == REVIEW
                  else "Preview (not recorded)" if result.preview else "Live")
        latency = "" if record.latency_ms is None else f"  ·  {record.latency_ms:.0f} ms"
        score = operator_score(record.score, record.threshold)
        self._caption.setText(f"{prefix}: {record.part_id}  ·  {verdict_word(record.verdict)}  ·  "
                              f"score {'—' if score is None else score}{latency}")
