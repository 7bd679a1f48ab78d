"""The application state: model, threshold, counts, the part shown, recent failures.

A QObject with change signals and no widgets (napari's ViewerModel beside QtViewer): panels
read it and subscribe to it, the controller writes to it. Verdicts are never derived here:
each part arrives with the verdict decided when it was judged, and a threshold change
applies from the next part on. Every result costs O(1): bounded deques, running counts.
"""
from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..pipeline.inspection import ModelInfo
from ..pipeline.live import JudgedPart
from ..pipeline.parts import Counts
from ..records.part import FAIL, PASS, decide

IDLE, LOADING, RUNNING, PAUSED, TRAINING = "idle", "loading model", "running", "paused", "training"
FAILURE_STRIP_SIZE = 12
HISTOGRAM_SIZE = 500  # recent scores shown beside the calibration scores
THROUGHPUT_WINDOW_S = 5.0
LATENCY_WINDOW = 30


@dataclass(frozen=True)
class Counters:
    """What the counters panel shows: the station's counts and recent pace."""

    counts: Counts = Counts()
    throughput_fps: float = 0.0
    latency_ms: float | None = None  # median trigger-to-verdict time of recent parts

    def __getattr__(self, name):  # counters.passed, .failed, .triggers ... read the counts
        if name.startswith("__") or name == "counts":
            raise AttributeError(name)
        return getattr(self.counts, name)


class AppState(QObject):
    model_changed = Signal()
    threshold_changed = Signal(float)
    counters_changed = Signal()
    shown_changed = Signal()  # the live part: the newest judged part or preview frame
    reviewed_changed = Signal()  # the earlier part under review beside the live one, or none
    overlay_changed = Signal(bool)  # heatmap overlay on the images, or the plain image
    part_added = Signal(object)  # every station part's JudgedPart (not preview frames)
    failures_changed = Signal()
    scores_changed = Signal()
    run_state_changed = Signal(str)
    source_changed = Signal(str)
    shift_changed = Signal(str)
    role_changed = Signal(str, str)  # user, role
    line_changed = Signal()  # line outputs' links, remote control, the station's error
    message = Signal(str, str)  # level ("info", "warning", "error"), text

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.model: ModelInfo | None = None
        self.model_path: str = ""
        self.threshold = 0.5
        self.run_state = IDLE
        self.source = ""
        self.shift = ""  # the current shift's label, whose counts the counters show
        self.user, self.role = "", "operator"
        self.remote_control = False  # the line's PLC runs the station: local controls locked
        self.links: list = []  # LinkStatus of each line output
        self.line_error = ""  # the station's error as the line sees it, "" when none
        self.shown: JudgedPart | None = None  # always the live part, also during a review
        self.reviewed: JudgedPart | None = None
        self.overlay = True
        self.last_message = ("", "")
        self._scores: deque[float] = deque(maxlen=HISTOGRAM_SIZE)
        self._judged: deque[tuple[float, str]] = deque(maxlen=HISTOGRAM_SIZE)  # (score, verdict)
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._arrivals: deque[float] = deque()
        self._failures: deque[JudgedPart] = deque(maxlen=FAILURE_STRIP_SIZE)
        self._counts = Counts()
        self.counters = Counters()

    # -- model and threshold -------------------------------------------------------------
    def set_model(self, info: ModelInfo | None, path: str = "", threshold: float | None = None) -> None:
        self.model, self.model_path = info, path
        self.model_changed.emit()
        self.clear_recent()
        if info is not None:
            self.set_threshold(info.threshold if threshold is None else threshold)
        self.scores_changed.emit()

    def set_threshold(self, value: float) -> None:
        """The threshold for the next part; verdicts already given stay as they were."""
        value = float(value)
        if value == self.threshold:
            return
        self.threshold = value
        self.threshold_changed.emit(value)

    # -- parts ---------------------------------------------------------------------------
    def add_part(self, part: JudgedPart) -> None:
        """Show a new part; a station part (not a preview frame) also enters the recent lists."""
        if not part.preview:
            record = part.record
            if record.score is not None:
                self._scores.append(record.score)
                self._judged.append((record.score, record.verdict))
            if record.trigger_to_verdict_ms is not None:
                self._latencies.append(record.trigger_to_verdict_ms)
            self._arrivals.append(time.monotonic())
            if record.rejected:
                self._failures.append(part)
                self.failures_changed.emit()
            self.scores_changed.emit()
            self.part_added.emit(part)
        # A review opens beside the live view: the live verdict keeps following the line.
        self.shown = part
        self.shown_changed.emit()
        self._refresh_counters()

    def set_counts(self, counts: Counts) -> None:
        if counts != self._counts:
            self._counts = counts
            self._refresh_counters()

    def refresh_throughput(self) -> None:
        """Called on a timer, so throughput falls to zero when the stream stops."""
        self._refresh_counters()

    def clear_recent(self) -> None:
        """Forget what is shown and the recent lists (a new recipe); counts are the station's."""
        self._scores.clear()
        self._judged.clear()
        self._latencies.clear()
        self._arrivals.clear()
        self._failures.clear()
        self.shown = self.reviewed = None
        self._refresh_counters()
        self.failures_changed.emit()
        self.shown_changed.emit()
        self.reviewed_changed.emit()
        self.scores_changed.emit()

    def recent_scores(self) -> np.ndarray:
        return np.asarray(self._scores, dtype=np.float32)

    def threshold_preview(self, threshold: float) -> tuple[int, int, int]:
        """Over the recent judged parts: (how many would have failed at `threshold`, how many
        of those passed, how many failures would have passed). Changes nothing."""
        would_fail = newly_failing = newly_passing = 0
        for score, verdict in self._judged:
            fails = decide(score, threshold) == FAIL
            would_fail += fails
            newly_failing += fails and verdict == PASS
            newly_passing += (not fails) and verdict == FAIL
        return would_fail, newly_failing, newly_passing

    @property
    def recent_judged(self) -> int:
        return len(self._judged)

    def failures(self) -> list[JudgedPart]:
        return list(self._failures)

    # -- review --------------------------------------------------------------------------
    @property
    def reviewing(self) -> bool:
        return self.reviewed is not None

    def review(self, part: JudgedPart) -> None:
        """Open an earlier part beside the live view; the live part stays shown."""
        self.reviewed = part
        self.reviewed_changed.emit()

    def review_step(self, step: int) -> None:
        """The next (+1, newer) or previous (-1, older) recent reject; the first step of a
        review opens the newest one."""
        failures = self.failures()
        if not failures:
            return
        ids = [id(part) for part in failures]
        if self.reviewed is None or id(self.reviewed) not in ids:
            self.review(failures[-1])
            return
        index = min(max(ids.index(id(self.reviewed)) + step, 0), len(failures) - 1)
        self.review(failures[index])

    def back_to_live(self) -> None:
        """Close the review."""
        self.reviewed = None
        self.reviewed_changed.emit()

    def set_overlay(self, shown: bool) -> None:
        if bool(shown) != self.overlay:
            self.overlay = bool(shown)
            self.overlay_changed.emit(self.overlay)

    # -- run state and messages ----------------------------------------------------------
    def set_run_state(self, run_state: str) -> None:
        if run_state != self.run_state:
            self.run_state = run_state
            self.run_state_changed.emit(run_state)

    def set_source(self, description: str) -> None:
        self.source = description
        self.source_changed.emit(description)

    def set_role(self, user: str, role: str) -> None:
        self.user, self.role = user, role
        self.role_changed.emit(user, role)

    def set_line(self, remote_control: bool, links: list, line_error: str) -> None:
        if (remote_control, links, line_error) != (self.remote_control, self.links, self.line_error):
            self.remote_control, self.links, self.line_error = remote_control, list(links), line_error
            self.line_changed.emit()

    def set_shift(self, label: str) -> None:
        self.shift = label
        self.shift_changed.emit(label)

    def tell(self, text: str, level: str = "info") -> None:
        self.last_message = (level, text)
        self.message.emit(level, text)

    # -- internals -----------------------------------------------------------------------
    def _refresh_counters(self) -> None:
        now = time.monotonic()
        while self._arrivals and now - self._arrivals[0] > THROUGHPUT_WINDOW_S:
            self._arrivals.popleft()
        # Parts per second over the window; a lone part gives no rate yet.
        span = now - self._arrivals[0] if len(self._arrivals) > 1 else 0.0
        throughput = (len(self._arrivals) - 1) / span if span > 0 else 0.0
        latency = statistics.median(self._latencies) if self._latencies else None
        counters = Counters(self._counts, throughput, latency)
        if counters != self.counters:
            self.counters = counters
            self.counters_changed.emit()
