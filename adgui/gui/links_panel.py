"""The line's links at a glance: a banner while the PLC is in charge, each output's link
(up, or down with the reason and the results waiting), and the error the line sees."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from .elided_label import ElidedLabel
from .state import AppState


def link_text(status) -> str:
    """One output's link for people; the mark and the word say it, not only the colour."""
    if status.up:
        waiting = f" ({status.pending} waiting)" if status.pending else ""
        return f"✔ {status.output}: up{waiting}"
    waiting = f", {status.pending} waiting" if status.pending else ""
    return f"✖ {status.output}: DOWN — {status.text or 'not connected'}{waiting}"


class LinksPanel(QWidget):
    """Shown only while line outputs are configured."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent, objectName="linksPanel")
        self.state = state
        self.remote = QLabel("⚙ REMOTE CONTROL — the line's PLC runs this station",
                             objectName="remoteBanner")
        self.remote.setStyleSheet("QLabel { background: #0b3d91; color: white; font-weight: bold;"
                                  " padding: 4px 10px; border-radius: 3px; }")
        # Messages of any length: one line each, cut (whole in the tooltip), so the banner
        # never grows taller or wider.
        self.error = ElidedLabel(mode=Qt.TextElideMode.ElideRight, min_chars=30,
                                 objectName="lineError")
        self.error.setStyleSheet("QLabel { color: #8b0000; font-weight: bold; }")
        self.links = ElidedLabel(mode=Qt.TextElideMode.ElideRight, min_chars=30,
                                 objectName="lineLinks")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.remote)
        layout.addWidget(self.links, 1)
        layout.addWidget(self.error, 1)
        state.line_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        state = self.state
        self.remote.setVisible(state.remote_control)
        self.links.setText("    ".join(link_text(status) for status in state.links))
        down = [status for status in state.links if not status.up]
        self.links.setStyleSheet("QLabel { color: #8b0000; font-weight: bold; }" if down else "")
        self.error.setText(f"Line error: {state.line_error}" if state.line_error else "")
        self.error.setVisible(bool(state.line_error))
        self.setVisible(bool(state.links) or state.remote_control)
