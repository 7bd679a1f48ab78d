"""Training a detector from a folder of good images into a saved model file."""
from __future__ import annotations

import time
from functools import partial
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Sequence

import numpy as np

from algorithms import Progress, create_detector, save_detector
from algorithms.base import no_progress, sub_progress
from algorithms.augment import resize_count
from algorithms.synthetic import (DEFAULT_SPECS, HOLDOUT_FRACTION, DefectSpec, as_plain_data,
                                  synthetic_validation)
from algorithms.datasets import DatasetError, read_images, training_images
from algorithms.device import resolve_device
from algorithms.geometry import working_image
from algorithms.images import deep_file_depth

from ..access.guard import login_name
from ..recipes.versions import record_trained

DEFAULT_DEFECTS = DEFAULT_SPECS  # what the window measures after every training


@dataclass
class TrainResult:
    model_path: Path
    detector: str
    backbone: str
    device: str
    train_images: int
    calibration_images: int
    fit_seconds: float
    skipped: list[str] = field(default_factory=list)  # "file: reason" for unreadable images
    synthetic_defects: dict | None = None  # synthetic validation, when asked for


def train_model(data: str | Path, detector: str, out: str | Path, preset: str = "default",
                device: str = "auto", name: str | None = None, calibration: str | Path | None = None,
                progress: Progress | None = None, train_images: int | None = None,
                synthetic_defects: Sequence[DefectSpec] | None = None, subset: int | None = None,
                subset_seed: int = 0, bit_depth: int | None = None, **overrides) -> TrainResult:
    """Read good images, fit, calibrate, and save the model atomically to `out`.

    Unreadable images are skipped and listed in the result. A cancel (the progress callback
    raising) leaves nothing written. `train_images` fits on exactly that many images: a
    subset of the good ones, or all of them and lightly augmented copies (the calibration
    images are set aside first and never augmented). With `synthetic_defects`, a share of
    the good images is kept out of training and calibration; after the fit those defects
    are pasted into them to measure what the model catches (kept in the model's meta).
    `bit_depth` is the significant bits of 16-bit files (a 12-bit camera's PNGs: 12; all 16
    when not given); the recipe records it and applies it to the 16-bit files it inspects.
    """
    progress = progress or no_progress
    skipped: list[str] = []
    model = create_detector(detector, preset, device=device, **overrides)
    paths = training_images(data)
    if subset is not None:
        paths = random_subset(paths, subset, subset_seed)
    # Before reading anything: a training that cannot fit in memory says so now.
    model.check_fit_memory(train_images or len(paths))
    # The model sees images at its working size only (the aspect ratio kept, or squeezed, as
    # its geometry says; tiles are cut from that size): scale each as it is read.
    shrink = partial(working_image, geometry=model.geometry)
    images = _read_good(paths, skipped, sub_progress(progress, 0.0, 0.1), shrink, bit_depth)
    validation: list = []
    if synthetic_defects:
        images, validation = _split_validation(images, model.config.seed)
    held_out = None
    if calibration is not None:
        held_out = _read_good(training_images(calibration), skipped, no_progress, shrink, bit_depth)
    if train_images is not None:
        images, held_out = model.split(images, held_out)
        images = resize_count(images, train_images, model.config.seed)
    started = time.perf_counter()
    report = model.fit(images, sub_progress(progress, 0.1, 0.98), calibration=held_out)
    seconds = time.perf_counter() - started
    out = Path(out)
    model.meta = {
        "name": name or out.stem,
        "trained_on": str(Path(data).resolve()),
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "preset": preset,
        "train_images": report.train_images,
        "calibration_images": report.calibration_images,
        "fit_seconds": round(seconds, 3),
        # What 16-bit files hold: inspection divides them by this depth's full scale.
        "bit_depth": images_bit_depth([*images, *(held_out or [])], bit_depth),
    }
    if synthetic_defects and not validation:
        model.meta["synthetic_defects"] = {
            "summary": f"synthetic defects not measured: {len(images)} good images are too few "
                       f"to keep some out of training", "results": []}
    if validation:
        progress(0.98, f"pasting synthetic defects into {len(validation)} held-out good images")
        model.meta["synthetic_defects"] = as_plain_data(
            synthetic_validation(model, validation, synthetic_defects, model.config.seed))
    progress(0.99, "saving")
    save_detector(model, out)
    # The calibration images stay with the recipe, so an ROI change recalibrates on them.
    record_trained(out, login_name(), f"trained on {Path(data).name}",
                   model.split(images, held_out)[1])
    progress(1.0, "saved")
    return TrainResult(out, detector, model.config.backbone, str(resolve_device(device)),
                       report.train_images, report.calibration_images, seconds, skipped,
                       model.meta.get("synthetic_defects"))


def random_subset(paths: Sequence[Path], count: int, seed: int = 0) -> list[Path]:
    """`count` of `paths` chosen at random (reproducible by `seed`), in their folder order."""
    if not 1 <= count <= len(paths):
        raise DatasetError(f"a subset of {count} good images: choose 1 to {len(paths)}, the "
                           f"number of good images in the folder")
    chosen = np.random.default_rng(seed).choice(len(paths), count, replace=False)
    return [paths[i] for i in sorted(chosen.tolist())]


def _split_validation(images: list, seed: int) -> tuple[list, list]:
    """Good images to train and calibrate on, and a share kept for synthetic validation
    (none when too few would be left to train and calibrate on: the training goes on)."""
    count = max(2, round(len(images) * HOLDOUT_FRACTION))
    if len(images) - count < 4:
        return images, []
    order = np.random.default_rng(seed + 1).permutation(len(images))
    kept = set(order[:count].tolist())
    return ([image for i, image in enumerate(images) if i not in kept],
            [images[i] for i in sorted(kept)])


def images_bit_depth(images: Sequence[np.ndarray], declared: int | None) -> int:
    """The bit depth a recipe records: 8 when every image was 8-bit, else the depth its
    16-bit files were read at."""
    if all(image.dtype == np.uint8 for image in images):
        return 8
    return deep_file_depth(declared)


def _read_good(paths, skipped: list[str], progress: Progress, transform,
               bit_depth: int | None = None) -> list:
    total = len(paths)
    images = read_images(paths, on_error=lambda path, error: skipped.append(str(error)),
                         progress=lambda done: progress(done / total, f"reading image {done} / {total}"),
                         transform=transform, bit_depth=bit_depth)
    good = [image for image in images if image is not None]
    if not good:
        raise DatasetError("none of the images could be read: " + "; ".join(skipped[:3]))
    return good
