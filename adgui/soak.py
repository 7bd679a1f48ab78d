"""`adgui soak`: many parts through the real station (sources, pipeline, controller, the
window's state and panels offscreen, CSV log, inspection database) with a fast model, to
show that memory and the window's cost per part stay flat over a long run.

The model is a stand-in (score from the image's brightness) because the model is not what
a soak measures; everything around it is the real code.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time

import numpy as np

from .pipeline.inspection import InspectionResult, ModelInfo
from .sources.base import SOFTWARE, Frame, Source
from .sources.registry import SourceSpec

WARM_UP_PARTS = 1_000  # memory is measured from here on: caches and pools have filled
WINDOW = 1_000  # parts in the first / last GUI-time sample
IMAGE_SIDE = 64


class FastModel:
    """Score = mean brightness / 100 (a dark part passes, a bright one fails); map likewise."""

    info = ModelInfo("soak", "soak", "none", "CPU", 0.5, np.linspace(0.0, 0.45, 20, dtype=np.float32), {})

    def inspect(self, image: np.ndarray) -> InspectionResult:
        score = float(image.mean()) / 100.0
        return InspectionResult(score, np.full(image.shape[:2], score, np.float32), 0.1)


class SoakCamera(Source):
    """A software-triggered camera cycling through a few images, one in ten bright (a FAIL)."""

    kind, label, address, triggers = "soak", "Soak camera", "", (SOFTWARE,)

    def __init__(self):
        super().__init__({}, SOFTWARE)
        self.settings = {"rate": 0.0, "timeout_ms": 1000}
        rng = np.random.default_rng(0)
        self.images = [np.clip(rng.normal(80 if index % 10 == 9 else 20, 5,
                                          (IMAGE_SIDE, IMAGE_SIDE, 3)), 0, 255).astype(np.uint8)
                       for index in range(20)]
        self._pending = threading.Semaphore(0)
        self._count = 0

    def open(self) -> None:
        pass

    def trigger(self) -> None:
        self._pending.release()

    def read(self, timeout_s: float) -> Frame | None:
        if not self._pending.acquire(timeout=timeout_s):
            return None
        self._count += 1
        return Frame(self.images[self._count % len(self.images)], "", "soak")


def resident_mb() -> float | None:
    try:
        with open("/proc/self/statm") as stream:
            return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def run_soak(parts: int, database_url: str | None = None, progress=lambda f, m: None) -> dict:
    """Run `parts` parts through the window's station offscreen; returns the measurements."""
    if parts < 2 * WINDOW + WARM_UP_PARTS:
        raise ValueError(f"a soak needs at least {2 * WINDOW + WARM_UP_PARTS} parts")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="adgui-soak-", ignore_cleanup_errors=True) as home:
        previous_home = os.environ.get("ADGUI_HOME")
        os.environ["ADGUI_HOME"] = home  # the soak's settings, log and database stay apart
        try:
            return _soak(parts, database_url, progress)
        finally:
            if previous_home is None:
                os.environ.pop("ADGUI_HOME", None)
            else:
                os.environ["ADGUI_HOME"] = previous_home


def _soak(parts: int, database_url: str | None, progress) -> dict:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from .gui.app import build_window
    from .pipeline.userdata import settings_path

    app = QApplication.instance() or QApplication([])
    if database_url:
        settings = QSettings(str(settings_path()), QSettings.Format.IniFormat)
        settings.setValue("database/url", database_url)
        settings.sync()
    camera = SoakCamera()
    window = build_window(open_inspector=lambda path, device: FastModel(),
                          open_source_fn=lambda spec: camera)
    window.show()
    controller, state = window.controller, window.state
    if controller.database_problem:
        raise RuntimeError(controller.database_problem)
    # Choosing the recipe and the source is an engineer's: the soak has one of its own, in
    # its own user data folder.
    controller.guard.set_password("soak", "soak engineer", "engineer")
    if not controller.log_in("soak", "soak engineer"):
        raise RuntimeError(state.last_message[1])
    window.load_recipe("soak")
    _wait(app, lambda: state.model is not None, 60)

    gui_ms: list[float] = []
    controller.bridge.part.disconnect(controller._on_part)

    def timed_on_part(part) -> None:
        started = time.perf_counter()
        controller._on_part(part)
        gui_ms.append((time.perf_counter() - started) * 1000.0)

    controller.bridge.part.connect(timed_on_part)
    started = time.perf_counter()
    controller.start(SourceSpec("soak", {}, SOFTWARE), limit=parts)
    rss_after_warm_up = None
    last_report = 0
    while len(gui_ms) < parts:
        app.processEvents()
        time.sleep(0.001)
        if rss_after_warm_up is None and len(gui_ms) >= WARM_UP_PARTS:
            rss_after_warm_up = resident_mb()
        if len(gui_ms) - last_report >= parts // 100:
            last_report = len(gui_ms)
            progress(len(gui_ms) / parts, f"{len(gui_ms):,} parts")
        if time.perf_counter() - started > 24 * 3600:
            raise RuntimeError("the soak did not finish within a day")
    elapsed = time.perf_counter() - started
    _wait(app, lambda: state.run_state == "idle", 60)
    rss_end = resident_mb()
    counts = controller.pipeline.counts.snapshot()
    controller.bridge.part.disconnect(timed_on_part)
    window.close()
    window.deleteLater()  # free the window's Qt objects while the interpreter is whole
    app.sendPostedEvents(None, 0)
    app.processEvents()
    first, last = gui_ms[:WINDOW], gui_ms[-WINDOW:]
    return {
        "soak_parts": len(gui_ms),
        "seconds": round(elapsed, 1),
        "parts_per_s": round(len(gui_ms) / elapsed, 1),
        "triggers": counts.triggers,
        "passed": counts.passed, "failed": counts.failed, "not_judged": counts.not_judged,
        "errors": counts.errors,
        "rss_after_warm_up_mb": _round(rss_after_warm_up),
        "rss_end_mb": _round(rss_end),
        "rss_growth_mb": _round(rss_end - rss_after_warm_up) if rss_end and rss_after_warm_up else None,
        "gui_ms_first_1000": round(sum(first) / len(first), 4),
        "gui_ms_last_1000": round(sum(last) / len(last), 4),
        "gui_ms_median": round(statistics.median(gui_ms), 4),
        "gui_ms_max": round(max(gui_ms), 2),
    }


def _wait(app, condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the station did not reach the expected state in time")
        app.processEvents()
        time.sleep(0.005)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


__all__ = ["FastModel", "SoakCamera", "run_soak"]
