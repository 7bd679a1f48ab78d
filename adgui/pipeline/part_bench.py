"""Benchmark of the station in part mode: trigger-to-verdict latency and the highest part
rate held with no NOT JUDGED part.

The parts come from a software-triggered camera (by default `ReplayCamera`: decoded images
of a folder served from memory at once, so what is timed is the station itself: trigger,
acquisition thread, queue, model, verdict, record), through the same `LivePipeline` the
window and `adgui inspect` run.
"""
from __future__ import annotations

import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from algorithms.datasets import read_images, training_images
from algorithms.images import list_images

from ..records.part import NOT_JUDGED
from ..sources.base import SOFTWARE, Frame, Source, SourceError
from ..sources.registry import SourceSpec
from .inspection import Inspector
from .live import LivePipeline, warm_up

FREE_RUN_S = 10.0  # how long the model's own pace is measured before the rate search
RATE_STEP = 0.93  # after a hold with NOT JUDGED parts, the next try runs this much slower
MAX_ATTEMPTS = 6


class ReplayCamera(Source):
    """Images of a folder, decoded once, delivered one per software trigger."""

    kind, label, address, triggers = "replay", "Replay camera", "", (SOFTWARE,)

    def __init__(self, images: list[np.ndarray], rate: float = 0.0):
        super().__init__({}, SOFTWARE)
        self.settings = {"rate": rate, "timeout_ms": 1000}
        self.images = images
        self._triggered = 0
        self._pending = 0
        self._lock = threading.Condition()

    def open(self) -> None:
        pass

    def trigger(self) -> None:
        with self._lock:
            self._pending += 1
            self._lock.notify()

    def read(self, timeout_s: float) -> Frame | None:
        with self._lock:
            if not self._pending and not self._lock.wait(timeout_s):
                return None
            self._pending -= 1
            self._triggered += 1
            image = self.images[(self._triggered - 1) % len(self.images)]
        return Frame(image, "", "replay")


@dataclass
class Hold:
    rate_per_s: float
    seconds: float
    triggers: int
    not_judged: int
    trigger_to_verdict_ms_median: float | None
    trigger_to_verdict_ms_p99: float | None


@dataclass
class PartBenchResult:
    model: str
    detector: str
    image_size: int
    queue_size: int
    free_run_parts_per_s: float  # parts judged per second when triggered as fast as judged
    held_rate_per_s: float | None  # highest rate tried that ran `hold_seconds` with no NOT JUDGED
    hold_seconds: float
    trigger_to_verdict_ms_median: float | None  # at the held rate
    trigger_to_verdict_ms_p99: float | None
    attempts: list[Hold] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


class _Records:
    def __init__(self):
        self.records = []

    def part_judged(self, part) -> None:
        self.records.append(part.record)

    def source_event(self, *args) -> None:
        pass


def run_part_bench(model: str | Path, data: str | Path, hold_s: float = 60.0, queue_size: int = 4,
                   device: str = "cpu", progress=lambda fraction, message: None) -> dict:
    inspector = Inspector.open(model, device)
    info = inspector.info
    folder = Path(data)
    paths = list_images(folder) if folder.is_dir() and list_images(folder) else training_images(folder)
    images = [image for image in read_images(paths[:30]) if image is not None]
    if not images:
        raise SourceError(f"no readable images in {folder}")
    warm_up(inspector)
    progress(0.0, "measuring the model's own pace")
    free_run = _run(inspector, images, rate=0.0, seconds=min(FREE_RUN_S, hold_s),
                    queue_size=queue_size)
    capacity = free_run.triggers / free_run.seconds
    rate = 0.95 * capacity
    attempts: list[Hold] = []
    held = None
    for attempt in range(MAX_ATTEMPTS):
        progress((attempt + 1) / (MAX_ATTEMPTS + 1), f"holding {rate:.2f} parts/s for {hold_s:.0f} s")
        hold = _run(inspector, images, rate=rate, seconds=hold_s, queue_size=queue_size)
        attempts.append(hold)
        if hold.not_judged == 0:
            held = hold
            break
        rate *= RATE_STEP
    progress(1.0, "done")
    result = PartBenchResult(
        model=str(model), detector=info.detector, image_size=_image_size(inspector),
        queue_size=queue_size, free_run_parts_per_s=round(capacity, 2),
        held_rate_per_s=round(held.rate_per_s, 2) if held else None, hold_seconds=hold_s,
        trigger_to_verdict_ms_median=held.trigger_to_verdict_ms_median if held else None,
        trigger_to_verdict_ms_p99=held.trigger_to_verdict_ms_p99 if held else None,
        attempts=attempts)
    return result.as_dict()


def _run(inspector, images, rate: float, seconds: float, queue_size: int) -> Hold:
    """Trigger at `rate` (0 = as fast as judged) for `seconds`; every part's record counts."""
    listener = _Records()
    pipeline = LivePipeline(listener, queue_size=queue_size)
    pipeline.set_inspector(inspector)
    pipeline.threshold = 0.5
    camera = ReplayCamera(images, rate)
    pipeline.start(SourceSpec("replay", {}, SOFTWARE), source=camera)
    started = time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - started
    pipeline.stop()
    pipeline.wait_finished(30)
    pipeline.shutdown()
    records = listener.records
    latencies = sorted(record.trigger_to_verdict_ms for record in records
                       if record.verdict != NOT_JUDGED and record.trigger_to_verdict_ms is not None
                       and "stopped" not in record.reason)
    return Hold(rate_per_s=round(rate, 3), seconds=round(elapsed, 2), triggers=len(records),
                not_judged=sum(record.verdict == NOT_JUDGED and "stopped" not in record.reason
                               for record in records),
                trigger_to_verdict_ms_median=_round(statistics.median(latencies)) if latencies else None,
                trigger_to_verdict_ms_p99=_round(_percentile(latencies, 99)) if latencies else None)


def _image_size(inspector) -> int:
    config = getattr(getattr(inspector, "detector", None), "config", None)
    return int(getattr(config, "image_size", 0) or 0)


def _percentile(sorted_values: list[float], percent: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(percent / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[index]


def _round(value: float) -> float:
    return round(float(value), 2)
