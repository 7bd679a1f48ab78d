"""Charts of the shift: yield and fail rate per hour, and an EWMA control chart of the scores.

Each new part costs O(1) on the GUI thread: the control chart updates a few numbers and a
bounded ring buffer, the current hour's counts go up by one. The plots are redrawn from those
on a timer (at most every REDRAW_MS), never per part; what is drawn is bounded by the ring
buffer's size however long the station runs.
"""
from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass
from datetime import datetime, tzinfo

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..pipeline.control_chart import HIGH, EwmaChart, EwmaConfig
from ..records.part import ERROR, FAIL, NOT_JUDGED, PASS
from ..records.shifts import Totals
from .state import AppState

REDRAW_MS = 500
VERDICT_COLUMN = {PASS: 0, FAIL: 1, NOT_JUDGED: 2, ERROR: 3}
CARD_SPACING = 8


@dataclass(frozen=True)
class Theme:
    """Colours of the charts. Blue and orange bars: told apart by colour-blind eyes too."""
    background: str = "#262626"
    text: str = "#d0d0d0"
    axis: str = "#a0a0a0"
    yield_brush: str = "#4c9be8"
    fail_brush: str = "#e8804c"
    ewma: str = "#f0f0f0"
    limits: str = "#e8804c"
    centre: str = "#9a9a9a"
    threshold: str = "#ffcc00"
    alarm_brush: tuple[int, int, int, int] = (220, 40, 40, 70)
    alarm_text: str = "#ff6b6b"
    ok_text: str = "#9fd89f"


SCREEN = Theme()
PRINT = Theme(background="#ffffff", text="#1a1a1a", axis="#404040", yield_brush="#0072b2",
              fail_brush="#d55e00", ewma="#1a1a1a", limits="#d55e00", centre="#707070",
              threshold="#b08800", alarm_brush=(213, 40, 40, 45), alarm_text="#b00000",
              ok_text="#1e7a1e")  # for paper: light, Okabe-Ito colours


class ChartsPanel(QWidget):
    drift_alarm = Signal(bool)  # the EWMA left (True) or came back inside (False) its limits

    def __init__(self, state: AppState | None = None, config: EwmaConfig = EwmaConfig(),
                 theme: Theme = SCREEN, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.theme = theme
        self._label_style = {"color": theme.text, "font-size": "10pt"}
        self.config = config
        self.chart: EwmaChart | None = None
        self._chart_problem = "no recipe loaded"  # why there is no chart, for the operator
        self._threshold: float | None = None
        self._hour_starts: list[float] = []  # start of each hour of the shift
        self._hour_end = 0.0
        self._zone: tzinfo | None = None
        self._hour_counts = np.zeros((0, 4), dtype=np.int64)  # pass, fail, not judged, errors
        self._hourly_dirty = self._ewma_dirty = True

        self.hourly_card, self.yield_plot, self.fail_plot = self._hourly_card()
        self.ewma_card, self.ewma_plot = self._ewma_card()
        if theme != SCREEN:  # the window's style sheet does not apply to a report's picture
            for card in (self.hourly_card, self.ewma_card):
                card.setStyleSheet(f"background: {theme.background}; color: {theme.text};")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(CARD_SPACING)
        layout.addWidget(self.hourly_card, 1)
        layout.addWidget(self.ewma_card, 1)

        self._redraw_timer = QTimer(self, interval=REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw_if_dirty)
        self._redraw_timer.start()
        if state is not None:
            state.model_changed.connect(self._on_model)
            state.threshold_changed.connect(self._show_threshold)
            self._on_model()
        self.redraw()

    # -- building ------------------------------------------------------------------------------
    def _hourly_card(self) -> tuple[QWidget, pg.PlotItem, pg.PlotItem]:
        card = QWidget(objectName="chartCard")
        self.hourly_title = QLabel("Yield and fail rate per hour", objectName="sectionTitle")
        self.hourly_note = QLabel("", objectName="hint")
        self.hourly_note.setWordWrap(True)
        canvas = pg.GraphicsLayoutWidget()
        canvas.setBackground(self.theme.background)
        canvas.setMinimumHeight(260)
        yield_plot = canvas.addPlot(row=0, col=0)
        fail_plot = canvas.addPlot(row=1, col=0)
        for plot, caption in ((yield_plot, "yield (%)"), (fail_plot, "fail rate (%)")):
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setLabel("left", caption, **self._label_style)
            self._style_axes(plot)
        fail_plot.setLabel("bottom", "hour of the shift (each bar: the hour from that time)",
                           **self._label_style)
        yield_plot.setYRange(0, 105, padding=0)
        yield_plot.setLabel("bottom", "parts inspected in the hour", **self._label_style)
        fail_plot.setXLink(yield_plot)
        self.yield_bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=self.theme.yield_brush)
        self.fail_bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=self.theme.fail_brush)
        yield_plot.addItem(self.yield_bars)
        fail_plot.addItem(self.fail_bars)
        self._bar_texts: list[tuple[pg.PlotItem, pg.TextItem]] = []  # values over the bars
        layout = QVBoxLayout(card)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.hourly_title)
        layout.addWidget(canvas, 1)
        layout.addWidget(self.hourly_note)
        self.hourly_canvas = canvas
        return card, yield_plot, fail_plot

    def _ewma_card(self) -> tuple[QWidget, pg.PlotItem]:
        card = QWidget(objectName="chartCard")
        title = QLabel("Score control chart (EWMA)", objectName="sectionTitle")
        self.alarm_label = QLabel("", objectName="driftStatus")
        self.alarm_label.setWordWrap(True)
        theme = self.theme
        legend = QLabel(f"<span style='color:{theme.ewma}'>━</span> EWMA of PASS scores &nbsp; "
                        f"<span style='color:{theme.limits}'>╍</span> control limits &nbsp; "
                        f"<span style='color:{theme.centre}'>┄</span> good-part mean &nbsp; "
                        f"<span style='color:{theme.threshold}'>━</span> pass/fail threshold",
                        objectName="hint")
        widget = pg.PlotWidget(background=theme.background)
        widget.setMinimumHeight(260)
        plot = widget.getPlotItem()
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        self._style_axes(plot)
        plot.setLabel("left", "score of PASS parts (calibrated)", **self._label_style)
        plot.getAxis("left").enableAutoSIPrefix(False)  # scores read as 0.25, not 250 x 0.001
        plot.setLabel("bottom", "PASS part number (since the recipe was loaded)",
                      **self._label_style)
        self.alarm_region = pg.LinearRegionItem(brush=theme.alarm_brush, pen=pg.mkPen(None),
                                                movable=False)
        self.alarm_region.setVisible(False)
        plot.addItem(self.alarm_region)
        self.centre_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(theme.centre, width=1,
                                                                 style=Qt.PenStyle.DotLine))
        self.threshold_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(theme.threshold, width=2))
        self.threshold_line.setVisible(False)  # until a recipe or a part gives the threshold
        plot.addItem(self.centre_line)
        plot.addItem(self.threshold_line)
        dashed = pg.mkPen(theme.limits, width=2, style=Qt.PenStyle.DashLine)
        self.upper_curve = plot.plot([], [], pen=dashed)
        self.lower_curve = plot.plot([], [], pen=dashed)
        self.ewma_curve = plot.plot([], [], pen=pg.mkPen(theme.ewma, width=2))
        layout = QVBoxLayout(card)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(title)
        layout.addWidget(self.alarm_label)
        layout.addWidget(widget, 1)
        layout.addWidget(legend)
        self.ewma_widget = widget
        return card, plot

    def _style_axes(self, plot: pg.PlotItem) -> None:
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(self.theme.axis)
            axis.setTextPen(self.theme.text)
        plot.showGrid(y=True, alpha=0.25)

    # -- feeding -------------------------------------------------------------------------------
    def set_calibration(self, scores) -> None:
        """A new recipe: limits from its calibration scores; the chart starts afresh."""
        was_alarm = self.chart is not None and self.chart.in_alarm
        try:
            self.chart = None if scores is None else EwmaChart(scores, self.config)
            self._chart_problem = "" if scores is not None else "no recipe loaded"
        except ValueError as problem:
            self.chart, self._chart_problem = None, str(problem)
        if was_alarm:
            self.drift_alarm.emit(False)
        self._ewma_dirty = True

    def add_record(self, record) -> None:
        """One judged part (a PartRecord): the hourly counts take every verdict, the control
        chart PASS scores only. O(1): no drawing here."""
        chart = self.chart
        if record.threshold != self._threshold:
            self._show_threshold(record.threshold)  # the threshold this part was judged with
        if chart is not None:
            was_alarm = chart.in_alarm
            if chart.add_record(record) and chart.in_alarm != was_alarm:
                self.drift_alarm.emit(chart.in_alarm)
            self._ewma_dirty = True
        starts = self._hour_starts
        if starts and starts[0] <= record.verdict_time < self._hour_end:
            hour = bisect.bisect_right(starts, record.verdict_time) - 1
            self._hour_counts[hour, VERDICT_COLUMN[record.verdict]] += 1
            self._hourly_dirty = True

    def set_hourly(self, totals: list[Totals], zone: tzinfo | None = None) -> None:
        """The shift's totals per clock hour, read from the database (`hourly_yield`); hours
        are labelled in `zone` (the shift's time zone; default: this PC's)."""
        self._zone = zone
        self._hour_starts = [hour.start for hour in totals]
        self._hour_end = totals[-1].end if totals else 0.0
        self._hour_counts = np.array([[hour.passed, hour.failed, hour.not_judged, hour.errors]
                                      for hour in totals], dtype=np.int64).reshape(-1, 4)
        self._hourly_dirty = True

    def copy_chart(self, other: "ChartsPanel") -> None:
        """Show another panel's control chart as it is now (for a report's picture)."""
        self.chart = copy.deepcopy(other.chart)
        self._chart_problem = other._chart_problem
        self._show_threshold(other._threshold)

    def reset_chart(self) -> None:
        """Start the control chart afresh (a new shift, a process adjustment)."""
        if self.chart is not None:
            was_alarm = self.chart.in_alarm
            self.chart.reset()
            if was_alarm:
                self.drift_alarm.emit(False)
        self._ewma_dirty = True

    # -- drawing -------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Draw both charts now (the timer does this while the panel is shown)."""
        self._hourly_dirty = self._ewma_dirty = True
        self._redraw(force=True)

    def chart_images(self, width: int = 800, height: int = 470) -> list[tuple[str, QImage]]:
        """Pictures of the two charts at a given size, for reports: (title, image)."""
        previous = self.size()
        self.resize(2 * width + CARD_SPACING, height)  # each card takes half of the panel
        self.layout().activate()
        for card in (self.hourly_card, self.ewma_card):
            card.resize(width, height)
            card.layout().activate()
        self.redraw()
        pictures = [("Yield and fail rate per hour", self.hourly_card.grab().toImage()),
                    ("Score control chart (EWMA)", self.ewma_card.grab().toImage())]
        self.resize(previous)
        return pictures

    def _redraw_if_dirty(self) -> None:
        if self.isVisible():
            self._redraw(force=False)

    def _redraw(self, force: bool) -> None:
        if self._hourly_dirty or force:
            self._hourly_dirty = False
            self._draw_hourly()
        if self._ewma_dirty or force:
            self._ewma_dirty = False
            self._draw_ewma()

    def _draw_hourly(self) -> None:
        counts = self._hour_counts
        inspected = counts.sum(axis=1)
        seen = inspected > 0
        x = np.arange(len(counts), dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            yield_percent = 100.0 * counts[:, 0] / inspected
            fail_percent = 100.0 * counts[:, 1] / inspected
        self.yield_bars.setOpts(x=x[seen], height=yield_percent[seen], width=0.7)
        self.fail_bars.setOpts(x=x[seen], height=fail_percent[seen], width=0.7)
        for plot, text in self._bar_texts:
            plot.removeItem(text)
        self._bar_texts = []
        top_fail = float(fail_percent[seen].max()) if seen.any() else 0.0
        fail_range = max(1.0, top_fail * 1.3)  # never stretch 0.1 % to the full height
        self.fail_plot.setYRange(0, fail_range, padding=0)
        for index in np.flatnonzero(seen):
            # The yield's value inside its bar (it is near 100 %), the fail rate's above it.
            for plot, value, anchor, color in (
                    (self.yield_plot, yield_percent[index], (0.5, 0.0), "#ffffff"),
                    (self.fail_plot, fail_percent[index], (0.5, 1.0), self.theme.text)):
                text = pg.TextItem(f"{value:.1f} %", color=color, anchor=anchor)
                text.setPos(float(index), float(value))
                plot.addItem(text)
                self._bar_texts.append((plot, text))
        self.yield_plot.getAxis("bottom").setTicks(
            [[(float(i), f"{count:,}") for i, count in enumerate(inspected)]])
        self.fail_plot.getAxis("bottom").setTicks(
            [[(float(i), datetime.fromtimestamp(start, self._zone).strftime("%H:%M"))
              for i, start in enumerate(self._hour_starts)]])
        if len(counts):
            self.yield_plot.setXRange(-0.6, len(counts) - 0.4, padding=0)
        total = counts.sum(axis=0)
        if not len(counts):
            self.hourly_note.setText("No shift data yet.")
        else:
            parts = int(total.sum())
            self.hourly_note.setText(
                f"This shift: {parts:,} parts · pass {total[0]:,} · fail {total[1]:,} · "
                f"not judged {total[2]:,} · errors {total[3]:,}. The fail rate counts FAIL "
                f"verdicts only; hours without parts have no bar.")

    def _draw_ewma(self) -> None:
        chart = self.chart
        if chart is None:
            for curve in (self.ewma_curve, self.upper_curve, self.lower_curve):
                curve.setData([], [])
            self.alarm_region.setVisible(False)
            self.alarm_label.setText(f"No control chart: {self._chart_problem or 'no recipe'}")
            self.alarm_label.setStyleSheet(f"color: {self.theme.text};")
            return
        points = chart.history()  # (N, 4): index, ewma, lower, upper
        index, ewma, lower, upper = points.T if len(points) else ([], [], [], [])
        self.ewma_curve.setData(index, ewma)
        self.upper_curve.setData(index, upper)
        self.lower_curve.setData(index, lower)
        self.centre_line.setValue(chart.mean)
        low, high = chart.steady_limits
        visible = [low, high] + ([self._threshold] if self._threshold is not None else [])
        if len(points):
            visible += [float(np.min(ewma)), float(np.max(ewma))]
        span = max(visible) - min(visible)
        self.ewma_plot.setYRange(min(visible) - 0.08 * span, max(visible) + 0.08 * span, padding=0)
        if len(points):
            self.ewma_plot.setXRange(float(index[0]), max(float(index[-1]), index[0] + 10),
                                     padding=0.02)
        alarm = chart.alarm_since()
        if alarm is None:
            self.alarm_region.setVisible(False)
            low, high = chart.limit(chart.count)
            text = (f"In control: {chart.count:,} PASS parts, EWMA {chart.ewma:.3f} within "
                    f"{low:.3f} … {high:.3f}" if chart.count
                    else "In control: no PASS parts yet")
            self.alarm_label.setText(text)
            self.alarm_label.setStyleSheet(f"color: {self.theme.ok_text};")
        else:
            self.alarm_region.setRegion((alarm.index - 0.5, chart.count + 0.5))
            self.alarm_region.setVisible(True)
            direction = "above the upper" if alarm.side == HIGH else "below the lower"
            when = (datetime.fromtimestamp(alarm.time, self._zone).strftime("%H:%M:%S")
                    if alarm.time else "time unknown")
            who = (f"part {alarm.part_id}" if alarm.part_id
                   else f"PASS part no. {alarm.index:,}")
            back = "" if chart.outside else " (back inside for now)"
            self.alarm_label.setText(f"⚠ DRIFT: the EWMA went {direction} control limit at "
                                     f"{who} ({when}), {chart.count - alarm.index + 1:,} parts "
                                     f"ago{back}")
            self.alarm_label.setStyleSheet(f"color: {self.theme.alarm_text}; font-weight: bold;")

    def chart_status(self) -> str:
        """The control chart in words: what it covers, its limits, its alarm."""
        chart = self.chart
        if chart is None:
            return f"no control chart: {self._chart_problem}"
        low, high = chart.steady_limits
        shown = min(chart.count, chart.config.history)
        alarm = chart.alarm_since()
        state = ("in control" if alarm is None else
                 f"DRIFT alarm since PASS part no. {alarm.index:,} (part {alarm.part_id})")
        return (f"EWMA control chart of PASS scores: the last {shown:,} of {chart.count:,} PASS "
                f"parts since the recipe was loaded ({chart.skipped:,} FAIL, not judged and "
                f"error parts not charted); λ = {chart.config.smoothing:g}, limits ±{chart.config.width:g} σ: "
                f"{low:.3f} … {high:.3f} around the good-part mean {chart.mean:.3f} "
                f"(σ = {chart.sigma:.3f} from {chart.calibration_count} calibration images); "
                f"now {state}.")

    # -- state ---------------------------------------------------------------------------------
    def _on_model(self) -> None:
        model = self.state.model
        self.set_calibration(None if model is None else model.calibration_scores)
        self._show_threshold(self.state.threshold)

    def _show_threshold(self, value: float | None) -> None:
        self._threshold = value
        if value is not None:
            self.threshold_line.setValue(value)
        self.threshold_line.setVisible(value is not None)
        self._ewma_dirty = True
