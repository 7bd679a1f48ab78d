"""The threshold: a slider over a histogram of calibration scores and recent inspections.

Moving the slider changes nothing yet: a line beneath it says what the new value would have
changed over the recent parts. Apply, with a reason, asks for a new recipe version (an
engineer's change, recorded); it applies from the next part, and verdicts already given are
never rewritten. The panel shows the version in force and whether its threshold differs from
the calibrated one.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget
from superqt import QLabeledDoubleSlider

from .state import AppState

DEBOUNCE_MS = 120
REDRAW_MS = 300  # the histogram redraws at most this often under a fast stream
BINS = 40
GOOD_BRUSH = (46, 160, 67, 110)
RECENT_BRUSH = (80, 140, 230, 170)


class ThresholdPanel(QWidget):
    apply_requested = Signal(float, str)  # threshold, reason

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.upper = 1.5
        self.plot = pg.PlotWidget(background="#262626")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setLabel("bottom", "score")
        self.plot.getAxis("left").setStyle(showValues=False)
        self.plot.setMinimumHeight(130)
        self.good_curve = self.plot.plot([0, 1], [0], stepMode="center", fillLevel=0,
                                         brush=GOOD_BRUSH, pen=None)
        self.recent_curve = self.plot.plot([0, 1], [0], stepMode="center", fillLevel=0,
                                           brush=RECENT_BRUSH, pen=None)
        # A legend above the plot: inside it would hide the high scores at the right edge.
        legend = QLabel(f"{_swatch(GOOD_BRUSH)} good (calibration) &nbsp; "
                        f"{_swatch(RECENT_BRUSH)} recent &nbsp; "
                        f"<span style='color:#ffcc00'>┃</span> threshold (drag)",
                        objectName="histogramLegend")
        self.line = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#ffcc00", width=3))
        self.line.sigPositionChangeFinished.connect(lambda line: self._propose(line.value()))
        self.line.sigPositionChanged.connect(lambda line: self.show_preview(line.value()))
        self.plot.addItem(self.line)

        self.slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.slider.setDecimals(2)
        self.slider.setSingleStep(0.01)
        self.slider.setRange(0.0, self.upper)
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(lambda: self._propose(self.slider.value()))
        self.slider.valueChanged.connect(self._on_slider)
        self.default_button = QPushButton("Calibrated")
        self.default_button.setToolTip("Propose the threshold the recipe was calibrated with")
        self.default_button.clicked.connect(self._to_default)
        self.proposed: float | None = None  # a value moved to but not applied
        self.reason = QLineEdit(placeholderText="Why (kept in the audit trail)")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Make this threshold the recipe's, as a new version")
        self.apply_button.clicked.connect(self._request_apply)
        self.version = QLabel(objectName="hint")
        self.version.setWordWrap(True)

        self.preview = QLabel(objectName="hint")
        self.preview.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Threshold", objectName="sectionTitle"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.default_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(legend)
        layout.addWidget(self.plot, 1)
        layout.addLayout(row)
        apply_row = QHBoxLayout()
        apply_row.addWidget(self.reason, 1)
        apply_row.addWidget(self.apply_button)
        layout.addLayout(apply_row)
        layout.addWidget(self.preview)
        layout.addWidget(self.version)

        self._dirty = True
        self._redraw_timer = QTimer(self, interval=REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw_if_dirty)
        self._redraw_timer.start()
        state.model_changed.connect(self._on_model)
        state.threshold_changed.connect(self._show_threshold)
        state.scores_changed.connect(self._mark_dirty)
        self._on_model()

    def _on_model(self) -> None:
        model = self.state.model
        self.setEnabled(model is not None)
        reference = model.threshold if model else 0.5
        self.upper = round(max(1.0, 3.0 * reference), 2)
        self.slider.blockSignals(True)
        self.slider.setRange(0.0, self.upper)
        self.slider.blockSignals(False)
        self.plot.setXRange(0.0, self.upper, padding=0.02)
        self._show_threshold(self.state.threshold)
        self._mark_dirty()

    def _on_slider(self, _value: float) -> None:
        self.line.setValue(self.slider.value())
        self.show_preview(self.slider.value())
        self._debounce.start()

    def show_preview(self, value: float) -> None:
        recent = self.state.recent_judged
        if not recent:
            self.preview.setText("A new threshold applies from the next part.")
            return
        would_fail, newly_failing, newly_passing = self.state.threshold_preview(value)
        self.preview.setText(
            f"At {value:.2f}, {would_fail} of the last {recent} parts would have failed "
            f"({_parts(newly_failing)} more, {_parts(newly_passing)} fewer failing). Applies from "
            f"the next part; "
            f"counts and verdicts already given do not change.")

    def _propose(self, value: float) -> None:
        """A value to apply; nothing changes until Apply."""
        value = round(float(np.clip(value, 0.0, self.upper)), 3)
        self.proposed = None if value == self.state.threshold else value
        self._show_version()

    def _request_apply(self) -> None:
        if self.proposed is not None:
            self.apply_requested.emit(self.proposed, self.reason.text())

    def _to_default(self) -> None:
        model = self.state.model
        if model is not None:
            calibrated = getattr(model, "calibrated_threshold", 0.5)
            self.slider.setValue(calibrated)
            self._propose(calibrated)

    def _show_threshold(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(value)
        self.slider.blockSignals(False)
        self.line.setValue(value)
        if self.proposed is not None and value == self.proposed:
            self.reason.clear()
        self.proposed = None
        self._show_version()

    def _show_version(self) -> None:
        """The version in force; whether its threshold differs from the calibrated one."""
        self.apply_button.setEnabled(self.proposed is not None)
        model = self.state.model
        if model is None:
            self.version.setText("")
            return
        calibrated = getattr(model, "calibrated_threshold", 0.5)
        threshold = self.state.threshold
        differs = (f"differs from the calibrated {calibrated:.2f}"
                   if abs(threshold - calibrated) > 1e-9 else "as calibrated")
        roi = " · with an ROI" if getattr(model, "roi", None) is not None else ""
        pending = (f" · {self.proposed:.2f} proposed: give a reason and Apply"
                   if self.proposed is not None else "")
        self.version.setText(f"Recipe version {getattr(model, 'version', 1)} in force: threshold "
                             f"{threshold:.2f} ({differs}){roi}{pending}")

    def _mark_dirty(self) -> None:
        self._dirty = True

    def _redraw_if_dirty(self) -> None:
        if not self._dirty or not self.isVisible():
            return
        self._dirty = False
        edges = np.linspace(0.0, self.upper, BINS + 1)
        model = self.state.model
        good = model.calibration_scores if model is not None else np.zeros(0)
        good_counts = _histogram(good, edges)
        recent_counts = _histogram(self.state.recent_scores(), edges)
        # Calibration sets are small next to a day's inspections: scale them to be seen.
        scale = recent_counts.max() / good_counts.max() if good_counts.max() and recent_counts.max() else 1
        self.good_curve.setData(edges, good_counts * max(scale, 1.0))
        self.recent_curve.setData(edges, recent_counts)


def _swatch(rgba: tuple[int, int, int, int]) -> str:
    red, green, blue, _ = rgba
    return f"<span style='color:rgb({red},{green},{blue})'>■</span>"


def _histogram(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin; scores beyond the last edge fall into the last bin (they all fail)."""
    clipped = np.clip(np.asarray(scores, dtype=np.float64), edges[0], edges[-1])
    return np.histogram(clipped, bins=edges)[0].astype(np.float64)


def _parts(count: int) -> str:
    return f"{count} part" if count == 1 else f"{count} parts"
