"""The station's counts: triggers = pass + fail + not judged + errors (+ parts in flight),
yield, throughput and trigger-to-verdict latency."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .state import AppState

TILES = (("triggers", "Triggers"), ("passed", "Pass"), ("failed", "Fail"),
         ("not_judged", "Not judged"), ("errors", "Errors"), ("in_flight", "In flight"),
         ("yield", "Yield"), ("throughput", "Throughput"), ("latency", "Trigger → verdict"))


class CountersPanel(QWidget):
    new_shift_requested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        for index, (key, caption) in enumerate(TILES):
            tile = QWidget(objectName="counterTile")
            tile.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
            tile.setProperty("kind", key)
            tile_layout = QVBoxLayout(tile)
            tile_layout.setContentsMargins(8, 4, 8, 4)
            tile_layout.setSpacing(0)
            tile_layout.addWidget(QLabel(caption, objectName="counterCaption"))
            value = QLabel("0", objectName="counterValue")
            tile_layout.addWidget(value)
            self.values[key] = value
            grid.addWidget(tile, index // 3, index % 3)
        self.shift = QLabel(objectName="counterCaption", wordWrap=True)  # a shift's name may be long
        self.new_shift_button = QPushButton("New shift…")
        self.new_shift_button.setToolTip("Start counting a new shift; the reason is recorded and "
                                         "no part is deleted")
        self.new_shift_button.clicked.connect(self.new_shift_requested)
        grid.addWidget(self.shift, 3, 0, 1, 2)  # the whole label also when the button is hidden
        grid.addWidget(self.new_shift_button, 3, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid)
        state.counters_changed.connect(self._refresh)
        state.shift_changed.connect(lambda label: self.shift.setText(f"Shift {label}"))
        self.shift.setText(f"Shift {state.shift}" if state.shift else "")
        self._refresh()

    def _refresh(self) -> None:
        counters = self.state.counters
        yield_percent = counters.yield_percent
        counts = counters.counts
        texts = {
            "triggers": f"{counts.triggers:,}",
            "passed": f"{counts.passed:,}",
            "failed": f"{counts.failed:,}",
            "not_judged": f"{counts.not_judged:,}",
            "errors": f"{counts.errors:,}",
            "in_flight": f"{counts.in_flight:,}",
            "yield": "—" if yield_percent is None else f"{yield_percent:.1f} %",
            "throughput": f"{counters.throughput_fps:.1f} /s",
            "latency": "—" if counters.latency_ms is None else f"{counters.latency_ms:.0f} ms",
        }
        for key, text in texts.items():
            self.values[key].setText(text)
