"""Choosing the source, its settings and trigger, and Start / Pause / Stop.

Built from the registered source kinds and their declared options: the kind's address
(folder, file, camera serial or index) and rate sit in the bar, its other settings
(exposure, gain, pixel format, ...) in a settings dialog. Nothing here names a kind.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout,
                               QLabel, QPushButton, QSpinBox, QStackedWidget, QWidget)

from ..sources.base import FREE, HARDWARE, PLC, SOFTWARE, Source
from ..sources.registry import SourceSpec, source_kinds
from .option_widgets import OptionEditor
from .state import PAUSED, RUNNING, AppState

INLINE = ("rate",)  # besides the address, these stay in the bar
TRIGGER_LABELS = {
    SOFTWARE: "Parts: software trigger",
    HARDWARE: "Parts: hardware trigger",
    PLC: "Parts: PLC trigger",
    FREE: "Preview (newest frame, no records)",
}
FINITE_TRIGGER_LABELS = {SOFTWARE: "Parts: every image judged", FREE: "Preview (plays, no records)"}


class _KindForm:
    """The editors of one kind: its address and inline options in the bar, the rest in a dialog."""

    def __init__(self, kind: type[Source]):
        self.kind = kind
        self.editors = {option.name: OptionEditor(option) for option in kind.options}
        self.bar = QWidget()
        layout = QHBoxLayout(self.bar)
        layout.setContentsMargins(0, 0, 0, 0)
        for option in kind.options:
            if option.name == kind.address or option.name in INLINE:
                if option.kind not in ("bool",):
                    layout.addWidget(QLabel(option.label))
                layout.addWidget(self.editors[option.name], 1 if option.name == kind.address else 0)
        self.extra = [option for option in kind.options
                      if option.name != kind.address and option.name not in INLINE]

    def values(self) -> dict:
        return {name: editor.value() for name, editor in self.editors.items()}

    def set_values(self, values: dict) -> None:
        for name, value in values.items():
            if name in self.editors:
                self.editors[name].set_value(value)


class SourceBar(QWidget):
    start_requested = Signal(object)  # SourceSpec
    pause_requested = Signal()
    stop_requested = Signal()
    queue_size_changed = Signal(int)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.kind = QComboBox(objectName="sourceKind")
        self.forms: list[_KindForm] = []
        self.stack = QStackedWidget()
        for kind in source_kinds():
            form = _KindForm(kind)
            self.forms.append(form)
            self.kind.addItem(kind.label, kind.kind)
            self.stack.addWidget(form.bar)
        self.settings_button = QPushButton("Settings…")
        self.settings_button.setToolTip("Camera settings: exposure, gain, pixel format, timeout")
        self.trigger = QComboBox(objectName="triggerMode")
        for combo in (self.kind, self.trigger):  # narrow enough for a 1280-pixel screen
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self.queue = QSpinBox(minimum=1, maximum=64, value=4, prefix="queue ")
        self.queue.setToolTip("Parts that may wait for the model; a part that finds the queue "
                              "full is recorded as NOT JUDGED")
        self.start_button = QPushButton("▶  Start", objectName="startButton")
        self.pause_button = QPushButton("❚❚  Pause", objectName="pauseButton")
        self.stop_button = QPushButton("■  Stop", objectName="stopButton")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Source", objectName="sectionTitle"))
        layout.addWidget(self.kind)
        layout.addWidget(self.stack, 3)
        layout.addWidget(self.settings_button)
        layout.addWidget(self.trigger, 1)  # narrow on a small screen, whole on a large one
        layout.addWidget(self.queue)
        # Start, Pause and Stop in a widget of their own, which the window puts beside the
        # recipe: on a 1280-pixel screen the folder field then has room for a path.
        self.run_buttons = QWidget(objectName="sourceRunButtons")
        run_layout = QHBoxLayout(self.run_buttons)
        run_layout.setContentsMargins(0, 0, 0, 0)
        for button in (self.start_button, self.pause_button, self.stop_button):
            run_layout.addWidget(button)
        self.kind.currentIndexChanged.connect(self._on_kind)
        self.settings_button.clicked.connect(self.edit_settings)
        self.queue.valueChanged.connect(self.queue_size_changed)
        self.start_button.clicked.connect(lambda: self.start_requested.emit(self.spec()))
        self.pause_button.clicked.connect(self.pause_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        state.run_state_changed.connect(self._on_run_state)
        state.model_changed.connect(self._on_run_state)
        state.line_changed.connect(self._on_run_state)
        self._on_kind()
        self._on_run_state()

    @property
    def form(self) -> _KindForm:
        return self.forms[max(0, self.kind.currentIndex())]

    def spec(self) -> SourceSpec:
        return SourceSpec(self.form.kind.kind, self.form.values(), self.trigger.currentData() or "")

    def set_spec(self, spec: SourceSpec) -> None:
        index = self.kind.findData(spec.kind)
        self.kind.setCurrentIndex(max(index, 0))
        self.form.set_values(spec.settings)
        trigger = self.trigger.findData(spec.trigger_mode if spec.kind == self.form.kind.kind else "")
        self.trigger.setCurrentIndex(max(trigger, 0))

    def all_settings(self) -> dict[str, dict]:
        """Every kind's settings as edited, so that switching kinds loses nothing."""
        return {form.kind.kind: form.values() for form in self.forms}

    def set_all_settings(self, settings: dict[str, dict]) -> None:
        for form in self.forms:
            form.set_values(settings.get(form.kind.kind, {}))

    def edit_settings(self) -> QDialog:
        """The current kind's other settings in a small form (non-modal for tests)."""
        form = self.form
        dialog = QDialog(self, windowTitle=f"{form.kind.label} settings")
        layout = QFormLayout(dialog)
        editors = {}
        for option in form.extra:
            editor = OptionEditor(option, dialog)
            editor.set_value(form.editors[option.name].value())
            editor.setToolTip(option.help)
            layout.addRow(option.label if option.kind != "bool" else "", editor)
            editors[option.name] = editor
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(dialog.accept)
        buttons.rejected.connect(dialog.reject)
        layout.addRow(buttons)
        dialog.accepted.connect(lambda: form.set_values(
            {name: editor.value() for name, editor in editors.items()}))
        dialog.open()
        return dialog

    def _on_kind(self) -> None:
        form = self.form
        self.stack.setCurrentWidget(form.bar)
        self.settings_button.setVisible(bool(form.extra))
        labels = FINITE_TRIGGER_LABELS if form.kind.finite else TRIGGER_LABELS
        self.trigger.blockSignals(True)
        self.trigger.clear()
        for mode in form.kind.triggers:
            self.trigger.addItem(labels.get(mode, mode), mode)
        self.trigger.blockSignals(False)
        self.trigger.setEnabled(self.trigger.count() > 1 and not self._active())

    def _active(self) -> bool:
        # Under remote control the PLC starts and stops runs: the source is not the window's.
        return self.state.run_state in (RUNNING, PAUSED) or self.state.remote_control

    def _on_run_state(self, *_args) -> None:
        run_state = self.state.run_state
        active = self._active()
        local = not self.state.remote_control
        self.start_button.setText("▶  Resume" if run_state == PAUSED else "▶  Start")
        self.start_button.setEnabled(local and self.state.model is not None and run_state != RUNNING)
        self.pause_button.setEnabled(local and run_state == RUNNING)
        self.stop_button.setEnabled(local and active)
        for widget in (self.kind, self.stack, self.settings_button, self.queue):
            widget.setEnabled(not active)
        self.trigger.setEnabled(self.trigger.count() > 1 and not active)
