"""A strip of the most recent rejected parts (FAIL, NOT JUDGED, ERROR); click one to review it
beside the live view (Page Up / Page Down step through them)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem,
                               QVBoxLayout, QWidget)

from .score_scale import operator_score
from .state import AppState
from .verdict_panel import verdict_word

THUMBNAIL = 96


def to_pixmap(rgb: np.ndarray, side: int | None = None) -> QPixmap:
    """Copy an RGB uint8 array into a pixmap (the array may be freed afterwards)."""
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    pixmap = QPixmap.fromImage(image)
    if side:
        pixmap = pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
    return pixmap


def _caption(part) -> str:
    record = part.record
    stem = record.part_id.rsplit(".", 1)[0]
    stem = stem if len(stem) <= 14 else stem[:13] + "…"
    score = operator_score(record.score, record.threshold)
    if score is None:
        return f"{verdict_word(record.verdict)}\n{stem}"
    return f"{verdict_word(record.verdict)} {score}\n{stem}"


class FailureStrip(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.title = QLabel(objectName="sectionTitle")
        self.title.setWordWrap(True)
        self.list = QListWidget(objectName="failureStrip")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.list.setFixedHeight(THUMBNAIL + 44)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.list.itemClicked.connect(self._on_clicked)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.list)
        self._results = []
        self._icons: dict[int, QIcon] = {}
        state.failures_changed.connect(self._refresh)
        state.reviewed_changed.connect(self._select_reviewed)
        self._refresh()

    def _refresh(self) -> None:
        results = self.state.failures()[::-1]  # newest on the left
        self.title.setText(f"Recent rejects ({len(results)}) — click one, or Page Up / Page Down, "
                           f"to review it beside the live view" if results else "Recent rejects — none")
        if [id(r) for r in results] == [id(r) for r in self._results]:
            self._select_reviewed()
            return
        self._results = results
        # Icons are made once per result, from the small copy the worker drew.
        self._icons = {id(r): self._icons.get(id(r)) or self._icon(r) for r in results}
        self.list.clear()
        for result in results:
            item = QListWidgetItem(self._icons[id(result)], _caption(result))
            record = result.record
            item.setToolTip(f"{record.source} · {record.part_id} · {verdict_word(record.verdict)}"
                            f"{'' if record.score is None else f' · calibrated score {record.score:.3f}'}"
                            f"{' · ' + record.reason if record.reason else ''}")
            self.list.addItem(item)
        self._select_reviewed()

    def _select_reviewed(self) -> None:
        """The part under review is the strip's selected item."""
        ids = [id(result) for result in self._results]
        reviewed = id(self.state.reviewed) if self.state.reviewed is not None else None
        self.list.blockSignals(True)
        if reviewed in ids:
            self.list.setCurrentRow(ids.index(reviewed))
        else:
            self.list.clearSelection()
        self.list.blockSignals(False)

    @staticmethod
    def _icon(result) -> QIcon:
        small = result.thumbnail if result.thumbnail is not None else result.picture
        if small is None:  # a part with no image: a grey tile with the verdict under it
            small = np.full((THUMBNAIL, THUMBNAIL, 3), 70, np.uint8)
        return QIcon(to_pixmap(small, THUMBNAIL))

    def _on_clicked(self, item: QListWidgetItem) -> None:
        row = self.list.row(item)
        if 0 <= row < len(self._results):
            self.state.review(self._results[row])
