"""Live inspection as plain Python threads: acquisition, judging, the final record.

`LivePipeline` is what the window, `adgui inspect --source` and the benchmarks all run. It
owns one model and, per start of a source, an acquisition thread (pipeline.acquisition) and
a judging thread. Every part's verdict is decided once, in `_judge`, at the threshold in
force at that moment; `Recorder` turns it into the final record and hands it on. No Qt: the
window listens through a `Listener` whose methods are called from these threads.

With a `guard` (the window's), what changes how parts are judged enters only with the guard's
approval: `set_threshold(value, approval)` and `set_inspector(..., approval=)` for another
recipe, where the approval is the audit event `Guard.change` returned for that very change.
Without one (benchmarks, `adgui inspect`, which record their options themselves) any value goes.
"""
from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from algorithms.images import deep_file_depth, to_unit

from ..inspection_log import InspectionLog
from ..records.part import ERROR, FAIL, NOT_JUDGED, PartRecord, decide
from ..render import display_rgb8, overlay, verdict_banner, write_png
from ..sources.base import FREE, Frame, Source
from ..sources.registry import SourceSpec, open_source
from .acquisition import Acquisition
from .errors import report_error
from .heap import settle_long_lived
from .inspection import recipe_bit_depth
from .parts import CountKeeper, FrameMailbox, PartQueue, Unjudged

THUMBNAIL_SIDE = 96
FREE_SPACE_FLOOR_MB = 1024  # saving failed images stops before the disk has less than this
DEFAULT_QUEUE_SIZE = 4
TAKE_WAIT_S = 0.05


@dataclass
class JudgedPart:
    """A final record with the pictures the window shows (numpy only: it crosses threads)."""

    record: PartRecord
    image: np.ndarray | None = None  # (H, W, 3) uint8 for display
    anomaly_map: np.ndarray | None = None  # (H, W) float32, calibrated like the score
    picture: np.ndarray | None = None  # image with heatmap and contours at record.threshold
    thumbnail: np.ndarray | None = None
    preview: bool = False  # a preview frame: shown, never counted or recorded

    @property
    def verdict(self) -> str:
        return self.record.verdict


class Listener(Protocol):
    """What the pipeline tells; called from its threads, so implementations hand over."""

    def part_judged(self, part: JudgedPart) -> None: ...

    def source_event(self, run_id: int, kind: str, text: str, level: str) -> None: ...


class Recorder:
    """The one place a judged part becomes final: log line, saved images, then subscribers.

    The line cannot wait for that: `hand_off` gives each station part's record, as soon as
    its verdict is decided, to `verdict_subscribers` (the station's outputs to the PLC), before
    the pictures are drawn, the log line synced and the images saved (the record they get has
    no image paths yet)."""

    def __init__(self):
        self.log_path: Path | None = None  # CSV export, one line per part, synced
        self.failed_dir: Path | None = None
        self.free_space_floor_mb = FREE_SPACE_FLOOR_MB
        self.verdict_subscribers: list[Callable[[PartRecord], None]] = []
        self.subscribers: list[Callable[[JudgedPart], None]] = []
        self.problems: Callable[[str], None] = lambda text: None
        self._log: InspectionLog | None = None
        self._lock = threading.Lock()
        self._disk_warned = False

    def record(self, part: JudgedPart) -> JudgedPart:
        with self._lock:
            try:
                part = self._save_images(part)
                log = self._current_log()
                if log is not None:
                    log.append(part.record)
            except OSError as error:
                self.problems(f"Could not write the inspection log or failed image: "
                              f"{report_error(error)}")
        for subscriber in list(self.subscribers):
            try:
                subscriber(part)
            except Exception as error:  # noqa: BLE001 - one subscriber never stops the station
                self.problems(f"A part's record could not be passed on: {report_error(error)}")
        return part

    def hand_off(self, record: PartRecord) -> None:
        for subscriber in list(self.verdict_subscribers):
            try:
                subscriber(record)
            except Exception as error:  # noqa: BLE001 - one subscriber never stops the station
                self.problems(f"A part's verdict could not be passed on: {report_error(error)}")

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None

    def _save_images(self, part: JudgedPart) -> JudgedPart:
        folder, record = self.failed_dir, part.record
        if folder is None or record.verdict != FAIL or part.image is None:
            return part
        Path(folder).mkdir(parents=True, exist_ok=True)
        free_mb = shutil.disk_usage(folder).free / 2**20
        if free_mb < self.free_space_floor_mb:
            if not self._disk_warned:
                self.problems(f"Failed images are no longer saved: {folder} has {free_mb:.0f} MB "
                              f"free, below the floor of {self.free_space_floor_mb} MB. Records "
                              f"go on.")
            self._disk_warned = True
            return part
        self._disk_warned = False
        stem = unique_stem(Path(folder), record)
        image_path = write_png(Path(folder) / f"{stem}.png", part.image)
        overlay_path = write_png(Path(folder) / f"{stem}_overlay.png",
                                 verdict_banner(part.picture, FAIL, record.score))
        return replace(part, record=replace(record, image_path=str(image_path),
                                            overlay_path=str(overlay_path)))

    def _current_log(self) -> InspectionLog | None:
        path = self.log_path
        if path is None:
            return None
        if self._log is None or self._log.path != Path(path):
            if self._log is not None:
                self._log.close()
            self._log = InspectionLog(path)
        return self._log


class LivePipeline:
    """One model, one source at a time; every part judged, in order, exactly once."""

    def __init__(self, listener: Listener, queue_size: int = DEFAULT_QUEUE_SIZE,
                 station: str = "", open_source_fn: Callable[[SourceSpec], Source] = open_source):
        self.listener = listener
        self.queue_size = queue_size
        self.station = station
        self.counts = CountKeeper()
        self.recorder = Recorder()
        self.recorder.subscribers.append(listener.part_judged)
        # Also told of source events (the database link); called from the pipeline's threads.
        self.event_subscribers: list[Callable[[int, str, str, str], None]] = []
        self.recorder.problems = lambda text: listener.source_event(self.run_id, "record_failed",
                                                                     text, "warning")
        self.guard = None  # a Guard: threshold and recipe changes then need its approval
        self._threshold = 0.5  # read once per part: a change applies from the next part
        self.recipe = ""
        self.recipe_version = ""
        self.run_id = 0
        self._open_source = open_source_fn
        self._inspector = None
        self._file_depth: int | None = None  # the recipe's bit depth, for 16-bit files
        self._model_lock = threading.Lock()  # one model call at a time, across runs
        self._run: _Run | None = None
        self._stopped: list[_Run] = []  # stopped runs whose threads may still be finishing

    # -- model and threshold ---------------------------------------------------------------
    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.set_threshold(value)

    def set_threshold(self, value: float, approval=None) -> None:
        """The threshold from the next part on; with a guard, only with its approval (the
        event it recorded for this change), else PermissionDenied."""
        if self.guard is not None and float(value) != self._threshold:
            self.guard.redeem(approval, "threshold", value)
        self._threshold = float(value)

    def set_inspector(self, inspector, recipe: str = "", recipe_version: str = "",
                      threshold: float | None = None, approval=None) -> None:
        """Use a loaded model from the next start on (the current run is stopped), at
        `threshold` (None: the one in force). With a guard, another recipe than the one in
        force needs its approval; the first model and the same recipe again (another device)
        do not, and then the threshold stays the one in force."""
        first = self._inspector is None
        changing = not first and (recipe != self.recipe or approval is not None)
        if self.guard is not None and changing:
            self.guard.redeem(approval, "recipe", recipe)
        self.stop()
        with self._model_lock:
            self._inspector = inspector
            self._file_depth = recipe_bit_depth(inspector)
        self.recipe, self.recipe_version = recipe, recipe_version
        if threshold is not None and (self.guard is None or changing or first):
            self._threshold = float(threshold)
        settle_long_lived()  # the new model lives until the next load: no part pays to walk it

    @property
    def has_model(self) -> bool:
        return self._inspector is not None

    def run_alone(self, work: Callable[[object], object]) -> object:
        """`work(inspector)` while no part is being judged (the golden samples' check)."""
        with self._model_lock:
            if self._inspector is None:
                raise RuntimeError("load or train a recipe first")
            return work(self._inspector)

    # -- runs ----------------------------------------------------------------------------
    def start(self, spec: SourceSpec, source: Source | None = None, limit: int | None = None) -> int:
        """Start a source (`source`, or the one `spec` names); returns the run id its records
        carry. After `limit` triggers the run finishes by itself. Raises SourceError if the
        spec is unusable (an unknown kind, a setting out of range); a source that fails to
        open reports it as a `source_failed` event."""
        if self._inspector is None:
            raise RuntimeError("load or train a recipe first")
        source = source or self._open_source(spec)
        self.stop()
        self.run_id += 1
        self._run = _Run(self, source, spec.trigger_mode, self.run_id, limit)
        self._run.start()
        return self.run_id

    def stop(self) -> None:
        """Stop the current run without waiting for its threads: a part under inspection is
        still recorded, parts still queued are recorded as NOT JUDGED."""
        run, self._run = self._run, None
        if run is not None:
            run.stop()
            self._stopped = [old for old in self._stopped if not old.finished.is_set()] + [run]

    def pause(self) -> None:
        if self._run is not None:
            self._run.acquisition.running.clear()

    def resume(self) -> None:
        if self._run is not None:
            self._run.acquisition.running.set()

    def trigger(self) -> int | None:
        """A PLC's trigger for the current run (PLC mode); its trigger number, or None."""
        run = self._run
        return run.acquisition.request_trigger() if run is not None else None

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Block until the current run (or, after a stop, the run stopped last) has recorded
        its last part."""
        run = self._run or (self._stopped[-1] if self._stopped else None)
        return run.finished.wait(timeout) if run is not None else True

    @property
    def running(self) -> bool:
        return self._run is not None and not self._run.finished.is_set()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop, and give every run's threads up to `timeout` to finish (a part still in the
        model is recorded); the caller may then exit."""
        self.stop()
        deadline = time.monotonic() + timeout
        for run in self._stopped:
            run.join(max(0.0, deadline - time.monotonic()))
        self.recorder.close()

    # -- judging -------------------------------------------------------------------------
    def _judge(self, frame: Frame, station_part: bool = True) -> JudgedPart:
        threshold = self.threshold
        bit_depth = frame.bit_depth if frame.depth_known else deep_file_depth(self._file_depth)
        display = display_rgb8(frame.image, bit_depth)
        model_input = frame.image if frame.image.dtype == np.uint8 else to_unit(frame.image, bit_depth)
        with self._model_lock:
            result = self._inspector.inspect(model_input)
        verdict = decide(result.score, threshold)
        record = self._record(frame.part_id, frame.trigger_number, verdict, result.score, threshold,
                              frame.source, frame.trigger_time, frame.acquired_time,
                              result.latency_ms, "", frame.run_id)
        if station_part:
            self.recorder.hand_off(record)  # the line first; the pictures wait
        try:
            picture = overlay(display, result.anomaly_map, threshold)
            small = thumbnail(picture)
        except Exception as error:  # noqa: BLE001 - reported; the verdict stands
            if not station_part:
                raise
            # The line has this verdict already: the part keeps it (one result per part).
            self.recorder.problems(f"{frame.part_id}: its picture could not be drawn: "
                                   f"{report_error(error)}")
            return JudgedPart(record)
        return JudgedPart(record, display, result.anomaly_map, picture, small,
                          preview=not station_part)

    def _unjudged(self, marker: Unjudged, reason: str | None = None) -> JudgedPart:
        record = self._record(marker.part_id, marker.trigger_number, marker.verdict, None,
                              self.threshold, marker.source, marker.trigger_time, None, None,
                              reason or marker.reason, marker.run_id)
        self.recorder.hand_off(record)
        return JudgedPart(record)

    def _record(self, part_id, sequence, verdict, score, threshold, source, trigger_time,
                acquired_time, latency_ms, reason, run_id) -> PartRecord:
        return PartRecord(part_id, sequence, verdict, score, threshold, source, self.station,
                          self.recipe, self.recipe_version, trigger_time, acquired_time,
                          time.time(), latency_ms, reason, run_id=run_id)

    def _finish(self, part: JudgedPart) -> None:
        # Recorded before counted: once the counts show a part, its record exists.
        self.recorder.record(part)
        self.counts.add_verdict(part.record.verdict)


class _Run:
    """One start of one source: its acquisition thread, its judging thread, its queue."""

    def __init__(self, pipeline: LivePipeline, source: Source, mode: str, run_id: int,
                 limit: int | None = None):
        self.pipeline = pipeline
        self.run_id = run_id
        self.part_mode = mode != FREE
        self.queue = PartQueue(pipeline.queue_size) if self.part_mode else None
        self.mailbox = None if self.part_mode else FrameMailbox()
        self.acquisition = Acquisition(source, mode, run_id, pipeline.counts, self._event,
                                       self.queue, self.mailbox, limit)
        self.finished = threading.Event()
        self._threads = [
            threading.Thread(target=self.acquisition.run, name=f"acquisition-{run_id}", daemon=True),
            threading.Thread(target=self._judge_loop, name=f"judging-{run_id}", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.acquisition.stop.set()
        self.acquisition.running.set()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _event(self, kind: str, text: str, level: str) -> None:
        self.pipeline.listener.source_event(self.run_id, kind, text, level)
        for subscriber in list(self.pipeline.event_subscribers):
            subscriber(self.run_id, kind, text, level)

    def _judge_loop(self) -> None:
        pipeline, acquisition = self.pipeline, self.acquisition
        try:
            while not acquisition.stop.is_set():
                if self.part_mode:
                    item = self.queue.take(TAKE_WAIT_S)
                    if item is not None:
                        pipeline._finish(self._judge_item(item))
                    elif acquisition.finished.is_set() and len(self.queue) == 0:
                        break  # the source ended and every part it gave is recorded
                else:
                    frame = self.mailbox.take(TAKE_WAIT_S)
                    if frame is not None and not acquisition.stop.is_set():
                        self._preview(frame)
                    elif frame is None and acquisition.finished.is_set():
                        break
            if self.part_mode:
                self._record_the_rest()
        finally:
            self.finished.set()
            self._event("run_finished", "", "info")

    def _record_the_rest(self) -> None:
        """Stopped: every part still waiting, or still being acquired, gets its NOT JUDGED
        record, until the acquisition thread is done (it counts nothing new after a stop)."""
        while True:
            done = self.acquisition.finished.wait(TAKE_WAIT_S)
            for item in self.queue.drain():
                marker = item if isinstance(item, Unjudged) else _marker_of(item)
                self.pipeline._finish(self.pipeline._unjudged(
                    marker, marker.reason or "inspection stopped before it was judged"))
            if done:
                return

    def _judge_item(self, item) -> JudgedPart:
        pipeline = self.pipeline
        if isinstance(item, Unjudged):
            return pipeline._unjudged(item)
        try:
            return pipeline._judge(item)
        except Exception as error:  # noqa: BLE001 - one part's failure is that part's record
            return pipeline._unjudged(_marker_of(item, ERROR), report_error(error))

    def _preview(self, frame: Frame) -> None:
        try:
            part = self.pipeline._judge(frame, station_part=False)
        except Exception as error:  # noqa: BLE001
            self._event("skipped", f"{frame.part_id}: {report_error(error)}", "warning")
            return
        self.pipeline.listener.part_judged(part)


def _marker_of(frame: Frame, verdict: str = NOT_JUDGED) -> Unjudged:
    return Unjudged(frame.trigger_number, frame.part_id, frame.source, "", verdict,
                    frame.trigger_time, frame.run_id)


def thumbnail(picture: np.ndarray, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    height, width = picture.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return picture.copy()
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA)


def unique_stem(folder: Path, record: PartRecord) -> str:
    """part id + verdict time (+ a counter if that is taken): saved images never replace one."""
    stamp = datetime.fromtimestamp(record.verdict_time or time.time()).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    base = _file_stem(f"{Path(record.part_id).stem}_{stamp}")
    stem, counter = base, 2
    while (folder / f"{stem}.png").exists() or (folder / f"{stem}_overlay.png").exists():
        stem, counter = f"{base}-{counter}", counter + 1
    return stem


def warm_up(inspector, runs: int = 2) -> None:
    """Run the model on a blank image so that the first real part is not the slow one
    (the first calls build kernels and caches; seconds on a CPU)."""
    blank = np.full((64, 64, 3), 128, dtype=np.uint8)
    for _ in range(runs):
        inspector.inspect(blank)


def _file_stem(text: str) -> str:
    return "".join(char if char.isalnum() or char in "-_" else "_" for char in text)[:120]


__all__ = ["DEFAULT_QUEUE_SIZE", "JudgedPart", "Listener", "LivePipeline", "Recorder"]
