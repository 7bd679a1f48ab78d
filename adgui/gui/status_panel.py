"""The status bar: device, model, state and source, always visible."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStatusBar

from .elided_label import ElidedLabel
from .state import AppState

MESSAGE_MS = 10_000


class StatusPanel:
    """Fills a QStatusBar from the state; owns no state of its own."""

    def __init__(self, state: AppState, bar: QStatusBar):
        self.state = state
        self.device = QLabel(objectName="statusItem")
        # A path or a recipe name is elided here, so that it never widens the window.
        self.model = ElidedLabel(mode=Qt.TextElideMode.ElideRight, min_chars=30,
                                 objectName="statusItem")
        self.run_state = QLabel(objectName="statusItem")
        self.source = ElidedLabel(objectName="statusItem")
        self.role = QLabel(objectName="statusItem")
        self.training = ElidedLabel(objectName="statusTraining")  # set by the training dialog
        for label in (self.training, self.role, self.run_state, self.model, self.device, self.source):
            bar.addPermanentWidget(label)
        state.model_changed.connect(self._refresh)
        state.run_state_changed.connect(self._refresh)
        state.source_changed.connect(self._refresh)
        state.role_changed.connect(self._refresh)
        state.message.connect(lambda level, text: bar.showMessage(text, MESSAGE_MS))
        self._refresh()

    def _refresh(self, *_args) -> None:
        model = self.state.model
        self.device.setText(f"Device: {model.device if model else '—'}")
        self.model.setText(f"Model: {model.name} ({model.detector}, {model.backbone})" if model
                           else "Model: none")
        self.run_state.setText(f"State: {self.state.run_state}")
        self.source.setText(f"Source: {self.state.source or '—'}")
        self.role.setText(f"Role: {self.state.role}" + (f" ({self.state.user})"
                                                        if self.state.role != "operator" else ""))
