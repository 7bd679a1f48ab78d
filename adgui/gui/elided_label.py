"""A one-line label that shortens its text to the room it has, so that no path, recipe name
or message widens the window; the whole text is its tooltip."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MIN_CHARS = 12  # the narrowest it gets by default, in average characters


class ElidedLabel(QLabel):
    """`text()` is the whole text; what is painted is elided (middle for paths)."""

    def __init__(self, text: str = "", mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
                 min_chars: int = MIN_CHARS, parent: QWidget | None = None, **kwargs):
        super().__init__(parent, **kwargs)
        self.mode = mode
        self.min_chars = min_chars
        self._full = ""
        # Preferred: it asks for the whole text but may shrink to its minimum.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self._full = text
        self._show()
        self.updateGeometry()

    def text(self) -> str:
        return self._full

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        # From the whole text, not the elided one: else it would shrink with each elision.
        text = self.fontMetrics().horizontalAdvance(self._full)
        width = min(text, self.fontMetrics().averageCharWidth() * self.min_chars)
        return QSize(width + self._margins(), super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        width = self.fontMetrics().horizontalAdvance(self._full) + self._margins()
        return QSize(width, super().sizeHint().height())

    def _margins(self) -> int:
        margins = self.contentsMargins()
        return margins.left() + margins.right() + 2 * self.margin() + 2

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._show()

    def _elided(self, text: str) -> str:
        return self.fontMetrics().elidedText(text, self.mode, max(0, self.contentsRect().width()))

    def _show(self) -> None:
        elided = self._elided(self._full)
        self.setToolTip(self._full if elided != self._full else "")
        super().setText(elided)
