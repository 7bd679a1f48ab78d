"""Background threads. Each wraps a plain function from `adgui.pipeline` and only reports.

Rules they keep (superqt's and Orange3's worker patterns): everything raised is caught and
emitted as a readable message, never raised into Qt; progress is rate-limited; a cancel or
stop is a flag checked per batch or frame, and nothing is emitted as a result after it;
only numpy arrays and plain dataclasses cross to the window's thread.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QThread, Signal

from ..pipeline.errors import is_cancelled, report_error
from ..pipeline.inspection import Inspector
from ..pipeline.live import warm_up

PROGRESS_INTERVAL_S = 0.1


@dataclass
class TrainJob:
    data: str
    detector: str
    out: str
    preset: str = "default"
    device: str = "auto"
    name: str = ""
    overrides: dict = field(default_factory=dict)  # detector settings, e.g. backbone
    # Pasted into held-out good images after training: "detects 95 % of 3-pixel spots, ..."
    synthetic_defects: tuple | str | None = "default"  # the window's measure after training
    bit_depth: int | None = None  # significant bits of 16-bit files (None: 8-bit, or all 16)


class TrainWorker(QThread):
    progress = Signal(float, str)
    trained = Signal(object)  # TrainResult
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, job: TrainJob, train: Callable | None = None, parent=None):
        super().__init__(parent)
        self.job = job
        self._train = train  # None: pipeline.training.train_model (torch, so loaded on first use)
        self._cancel = threading.Event()
        self._last_progress = 0.0

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        job = self.job
        try:
            train = self._train or _train_model()
            defects = job.synthetic_defects
            if defects == "default":  # the defect kinds live with the detectors (torch)
                from ..pipeline.training import DEFAULT_DEFECTS as defects
            result = train(job.data, job.detector, job.out, preset=job.preset,
                           device=job.device, name=job.name or None,
                           progress=self._on_progress, synthetic_defects=defects,
                           bit_depth=job.bit_depth, **job.overrides)
        except BaseException as error:  # noqa: BLE001 - a worker reports, never raises into Qt
            if is_cancelled(error) or self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.failed.emit(report_error(error))
            return
        if self._cancel.is_set():
            # Cancel pressed while the file was being written: honour it, keep nothing.
            Path(result.model_path).unlink(missing_ok=True)
            self.cancelled.emit()
            return
        self.trained.emit(result)

    def _on_progress(self, fraction: float, message: str) -> None:
        if self._cancel.is_set():
            from ..pipeline.catalog import Cancelled  # training is running: the detectors are loaded

            raise Cancelled()
        now = time.monotonic()
        if fraction >= 1.0 or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progress.emit(float(fraction), message)


def _train_model() -> Callable:
    from ..pipeline.training import train_model

    return train_model


class ModelLoader(QThread):
    """Opens a model file and warms it up, off the window's thread; the newest request wins."""

    loaded = Signal(object, object, str)  # inspector, ModelInfo, path
    failed = Signal(str)

    def __init__(self, open_inspector: Callable = Inspector.open, parent=None):
        super().__init__(parent)
        self._open = open_inspector
        self._lock = threading.Lock()
        self._request: tuple[str, str] | None = None

    def load(self, path: str, device: str = "auto") -> None:
        with self._lock:
            self._request = (str(path), device)
        if not self.isRunning():
            self.start()

    def run(self) -> None:
        while True:
            with self._lock:
                request, self._request = self._request, None
            if request is None:
                return
            path, device = request
            try:
                inspector = self._open(path, device)
                info = inspector.info
                warm_up(inspector)
            except BaseException as error:  # noqa: BLE001 - a worker reports, never raises into Qt
                self.failed.emit(report_error(error))
                continue
            with self._lock:
                superseded = self._request is not None
            if not superseded:
                self.loaded.emit(inspector, info, path)

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        with self._lock:
            self._request = None
        self.wait(timeout_ms)
