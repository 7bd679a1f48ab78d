"""A one-line label that shortens its text to the room it has, so that no path, recipe name
or message widens the window; the whole text is its tooltip."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MIN_CHARS = 12  # the narrowest it gets, in average characters


class ElidedLabel(QLabel):
    """`text()` is the whole text; what is painted is elided (middle for paths)."""

    def __init__(self, text: str = "", mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
                 parent: QWidget | None = None, **kwargs):
        super().__init__(parent, **kwargs)
        self.mode = mode
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
        width = self.fontMetrics().averageCharWidth() * MIN_CHARS
        return QSize(min(width, super().sizeHint().width()), super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        margins = self.contentsMargins()
        width = (self.fontMetrics().horizontalAdvance(self._full) + margins.left()
                 + margins.right() + 2 * self.margin())
        return QSize(width, super().sizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._show()

    def _elided(self, text: str) -> str:
        return self.fontMetrics().elidedText(text, self.mode, max(0, self.contentsRect().width()))

    def _show(self) -> None:
        elided = self._elided(self._full)
        self.setToolTip(self._full if elided != self._full else "")
        super().setText(elided)
