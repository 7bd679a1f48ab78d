"""The large verdict an operator reads from across the room: a word and a symbol per verdict,
never colour alone."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..records.part import ERROR, FAIL, NOT_JUDGED, PASS
from .state import AppState

WORDS = {PASS: "✔ PASS", FAIL: "✖ FAIL", NOT_JUDGED: "⊘ NOT JUDGED", ERROR: "⚠ ERROR"}


def verdict_word(verdict: str) -> str:
    return WORDS.get(verdict, verdict)


class VerdictPanel(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.verdict = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, objectName="verdict")
        self.detail = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, objectName="verdictDetail")
        self.detail.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.verdict)
        layout.addWidget(self.detail)
        state.shown_changed.connect(self._refresh)
        state.model_changed.connect(self._refresh)
        self._refresh()

    def _refresh(self) -> None:
        part = self.state.shown
        if part is None:
            kind = "none"
            text = "READY" if self.state.model else "NO RECIPE"
            detail = ("press Start to inspect" if self.state.model
                      else "train or choose a recipe first")
        else:
            record = part.record
            text = "PREVIEW" if part.preview else verdict_word(record.verdict)
            kind = "none" if part.preview else record.verdict.lower()
            if record.score is None:
                detail = f"part {record.part_id}: {record.reason}"
            else:
                detail = f"score {record.score:.3f}  (threshold {record.threshold:.2f})"
                if part.preview:
                    detail = f"preview, not recorded · {detail}"
            if self.state.reviewing:
                detail = f"review of {record.part_id} · {detail}"
        self.verdict.setText(text)
        self.detail.setText(detail)
        if self.verdict.property("verdict") != kind:
            self.verdict.setProperty("verdict", kind)
            self.verdict.style().unpolish(self.verdict)
            self.verdict.style().polish(self.verdict)
