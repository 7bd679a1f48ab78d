"""Fit timing: how a detector's fit grows with the number of good images.

The good images are read once; for each count the detector fits on that many (a subset,
or all of them and lightly augmented copies, as `train --train-images` does), calibrated on
the same held-out good images every time. A fit that grows linearly with the data keeps its
seconds per image about constant.
"""
from __future__ import annotations

import gc
import os
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Sequence

from algorithms import Progress, create_detector
from algorithms.augment import resize_count
from algorithms.base import no_progress, sub_progress
from algorithms.datasets import DatasetError, read_images, training_images
from algorithms.device import resolve_device
from algorithms.geometry import working_image


@dataclass
class FitTiming:
    detector: str
    preset: str
    device: str
    train_images: int
    calibration_images: int
    fit_seconds: float  # the whole fit, calibration included (wall clock)
    seconds_per_image: float
    cpu_seconds: float  # CPU time of this process over the fit, all threads
    augment_seconds: float  # making the augmented copies, not part of the fit
    load_before: float  # 1-minute load average of the machine as the fit started
    load_after: float


def run_fit_bench(data: str | Path, detector: str, counts: Sequence[int], preset: str = "default",
                  device: str = "cpu", progress: Progress | None = None,
                  overrides: dict | None = None) -> list[dict]:
    """Fit `detector` on each number of good images in `counts`; one dict per count."""
    progress = progress or no_progress
    overrides = overrides or {}
    if not counts or min(counts) < 1:
        raise ValueError("give the numbers of training images to time, e.g. 200,400,800")
    probe = create_detector(detector, preset, device=device, **overrides)
    paths = training_images(data)
    images = [image for image in read_images(paths, transform=partial(
        working_image, geometry=probe.geometry)) if image is not None]
    if len(images) < probe.min_train_images + 1:
        raise DatasetError(f"{data} has too few readable good images to time a fit")
    train, held_out = probe.split(images, None)
    del probe
    rows = []
    for index, count in enumerate(counts):
        started = time.perf_counter()
        chosen = resize_count(train, count)
        augment_seconds = time.perf_counter() - started
        model = create_detector(detector, preset, device=device, **overrides)
        load_before = os.getloadavg()[0]
        cpu, started = time.process_time(), time.perf_counter()
        report = model.fit(chosen, sub_progress(progress, index / len(counts), (index + 1) / len(counts)),
                           calibration=held_out)
        seconds = time.perf_counter() - started
        rows.append(asdict(FitTiming(
            detector, preset, str(resolve_device(device)), report.train_images,
            report.calibration_images, round(seconds, 2), round(seconds / count, 4),
            round(time.process_time() - cpu, 2), round(augment_seconds, 2), load_before,
            os.getloadavg()[0])))
        del model, chosen
        gc.collect()
    return rows
