"""The operator's parts of the run screen: the run bar (Start, Pause, Stop and what runs) and
the review pane, which opens beside the live view and never in place of it."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .elided_label import ElidedLabel
from .image_panel import REVIEW, ImagePanel
from .state import PAUSED, RUNNING, AppState
from .verdict_panel import verdict_word

SHORTCUTS = {  # action -> key; listed in Help ▸ Keyboard shortcuts
    "start": "F5", "pause": "F6", "stop": "F7",
    "previous_failure": "PgUp", "next_failure": "PgDown", "close_review": "Esc",
    "reset_view": "Home", "overlay": "O", "full_screen": "F11",
}


class RunBar(QWidget):
    """Large Start / Pause / Stop and a read-only line of what runs: an operator runs the line
    with the recipe and source an engineer set up."""

    start_requested = Signal()
    pause_requested = Signal()
    stop_requested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.start_button = QPushButton(f"▶  Start  ({SHORTCUTS['start']})", objectName="startButton")
        self.pause_button = QPushButton(f"❚❚  Pause  ({SHORTCUTS['pause']})", objectName="pauseButton")
        self.stop_button = QPushButton(f"■  Stop  ({SHORTCUTS['stop']})", objectName="stopButton")
        # Elided, never wider than the bar: a deep folder or a long recipe name would widen the
        # window. The state and recipe keep their start, the source its end (the folder's name).
        self.summary = ElidedLabel(mode=Qt.TextElideMode.ElideRight, min_chars=44,
                                   objectName="runSummary")
        self.source = ElidedLabel(objectName="runSummary")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for button in (self.start_button, self.pause_button, self.stop_button):
            button.setProperty("large", True)
            layout.addWidget(button)
        layout.addSpacing(12)
        layout.addWidget(self.summary)
        layout.addWidget(self.source, 1)
        self.start_button.clicked.connect(self.start_requested)
        self.pause_button.clicked.connect(self.pause_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        for signal in (state.run_state_changed, state.model_changed, state.source_changed,
                       state.line_changed):
            signal.connect(self._refresh)
        self._refresh()

    def _refresh(self, *_args) -> None:
        run_state = self.state.run_state
        local = not self.state.remote_control  # the line's PLC starts and stops runs
        self.start_button.setText(f"▶  {'Resume' if run_state == PAUSED else 'Start'}  "
                                  f"({SHORTCUTS['start']})")
        self.start_button.setEnabled(local and self.state.model is not None and run_state != RUNNING)
        self.pause_button.setEnabled(local and run_state == RUNNING)
        self.stop_button.setEnabled(local and run_state in (RUNNING, PAUSED))
        model = self.state.model
        recipe = model.name if model else "no recipe"
        who = "  ·  PLC" if not local else ""  # short: the remote control banner says the rest
        self.summary.setText(f"{run_state.upper()}{who}  ·  recipe {recipe}")
        self.source.setText(f"·  {self.state.source}" if self.state.source else "")


class ReviewPane(QWidget):
    """An earlier reject, beside the live view; the live verdict keeps following the line."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.setObjectName("reviewPane")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.title = QLabel(objectName="reviewTitle")
        self.title.setWordWrap(True)
        self.image = ImagePanel(state, follow=REVIEW)
        self.previous_button = QPushButton(f"◀ Older ({SHORTCUTS['previous_failure']})")
        self.next_button = QPushButton(f"Newer ▶ ({SHORTCUTS['next_failure']})")
        self.close_button = QPushButton(f"Close review ({SHORTCUTS['close_review']})",
                                        objectName="backToLive")
        self.previous_button.clicked.connect(lambda: state.review_step(-1))
        self.next_button.clicked.connect(lambda: state.review_step(+1))
        self.close_button.clicked.connect(state.back_to_live)
        buttons = QHBoxLayout()
        buttons.addWidget(self.previous_button)
        buttons.addWidget(self.next_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.image, 1)
        layout.addLayout(buttons)
        state.reviewed_changed.connect(self._refresh)
        self._refresh()

    def _refresh(self) -> None:
        part = self.state.reviewed
        self.setVisible(part is not None)
        if part is None:
            return
        record = part.record
        failures = [id(failure) for failure in self.state.failures()]
        position = (f" ({failures.index(id(part)) + 1} of {len(failures)} recent rejects)"
                    if id(part) in failures else "")
        self.title.setText(f"REVIEW{position}: {verdict_word(record.verdict)} · {record.part_id}"
                           f"{' · ' + record.reason if record.reason else ''}")
        self.previous_button.setEnabled(bool(failures) and failures[0] != id(part))
        self.next_button.setEnabled(bool(failures) and failures[-1] != id(part))
