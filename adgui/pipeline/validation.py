"""Choosing settings with no labelled defect and no test split: synthetic-defect validation.

The good training images are split three ways: images to train on, images to calibrate
the threshold on, and held-out images that take part in neither. Each candidate setting
is trained and calibrated on the first two; defects of declared kinds and sizes are
pasted into the held-out images, and the candidate is scored on them: image and pixel
AUROC, the share of each defect caught at its own threshold, fit time and latency.
Defaults are chosen from these scores; a labelled test split is only ever used to report.
"""
from __future__ import annotations

import ast
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from algorithms import Progress, create_detector
from algorithms.backbones import stage_indices
from algorithms.base import no_progress, sub_progress
from algorithms.datasets import DatasetError, read_images, training_images
from algorithms.registry import make_config
from algorithms.synthetic import DEFAULT_SPECS, DefectSpec, KINDS, score_synthetic, summary
from algorithms.geometry import Geometry, working_image, working_long_side

from .errors import report_error

VALIDATION_FRACTION = 0.2  # good images held out of training and calibration, for the defects
CALIBRATION_FRACTION = 0.1  # good images the threshold is calibrated on
LATENCY_PARTS = 10  # parts timed one at a time (batch 1, as in live use) for the latency


@dataclass
class Candidate:
    """One setting to try: a detector, its preset and settings over the preset's."""
    detector: str
    preset: str = "default"
    settings: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        preset = "" if self.preset == "default" else f"/{self.preset}"
        settings = ", ".join(f"{key}={value}" for key, value in self.settings.items())
        return f"{self.detector}{preset}" + (f" ({settings})" if settings else "")


def parse_candidate(text: str) -> Candidate:
    """'patchcore:coreset_ratio=0.01' or 'padim/fast:backbone=mobilenetv2_100,n_features=100'.

    Values are Python literals where they parse as one (numbers, tuples), else text. The
    setting names are checked against the detector's configuration here, before any training.
    """
    head, _, body = text.strip().partition(":")
    detector, _, preset = head.partition("/")
    settings: dict = {}
    # Split on the commas that start a new KEY=, so that a tuple's own commas survive.
    for item in (re.split(r",(?=\s*\w+\s*=)", body) if body.strip() else []):
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"a candidate's settings are KEY=VALUE, got {item!r} in {text!r}")
        try:
            settings[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            settings[key.strip()] = value.strip()
    candidate = Candidate(detector.strip(), preset.strip() or "default", settings)
    make_config(candidate.detector, candidate.preset, **candidate.settings)  # unknown names fail here
    return candidate


@dataclass
class Split:
    train: list[np.ndarray]
    calibration: list[np.ndarray]
    validation: list[np.ndarray]


def split_good(images: Sequence[np.ndarray], seed: int = 0) -> Split:
    """Train / calibration / held-out validation, drawn at random with a fixed seed."""
    images = list(images)
    validation = max(2, round(len(images) * VALIDATION_FRACTION))
    calibration = max(2, round(len(images) * CALIBRATION_FRACTION))
    if len(images) - validation - calibration < 4:
        raise DatasetError(f"validation keeps {validation} good images for the defects and "
                           f"{calibration} to calibrate: {len(images)} are too few to also train")
    order = np.random.default_rng(seed).permutation(len(images)).tolist()
    pick = lambda indices: [images[i] for i in sorted(indices)]  # noqa: E731
    return Split(pick(order[validation + calibration:]),
                 pick(order[validation:validation + calibration]), pick(order[:validation]))


@dataclass
class CandidateScores:
    candidate: str
    detector: str
    preset: str
    settings: dict
    image_auroc: float  # held-out good images against the same images with each defect
    pixel_auroc: float
    detected: dict[str, float]  # "3-pixel spots" -> share caught at the model's threshold
    false_alarms: float  # share of the held-out good images that fail
    summary: str  # "detects 95 % of 3-pixel spots, ..."
    fit_seconds: float
    latency_ms: float  # median per part, batch 1


def validate(data: str | Path, candidates: Sequence[Candidate],
             specs: Sequence[DefectSpec] = DEFAULT_SPECS, device: str = "auto", seed: int = 0,
             progress: Progress | None = None,
             on_candidate: Callable[[dict], None] | None = None) -> dict:
    """Train each candidate on the same split of DATA's good images and score it on synthetic
    defects in the held-out ones. Returns plain data (the command prints it as JSON).

    A candidate that fails (out of memory, a setting its detector refuses) is listed under
    "failed" with its message and the others go on; `on_candidate` gets the report so far
    after each one, so that what finished is kept even if the run is cut short."""
    progress = progress or no_progress
    if not candidates:
        raise ValueError("name at least one candidate setting to validate")
    configs = [make_config(c.detector, c.preset, **c.settings) for c in candidates]
    for config in configs:  # a stage the backbone lacks fails now, not after the others trained
        if getattr(config, "layers", None):
            stage_indices(config.backbone, tuple(config.layers))
    # Each candidate scales the images as its geometry says: read once, shrunk (aspect kept)
    # only where larger than the largest working side, so that defects are pasted at the
    # images' own size (and sizes are in their pixels) whenever a candidate works at it.
    side = max(working_long_side(Geometry.of(config)) for config in configs)
    paths = training_images(data)
    progress(0.0, f"reading {len(paths)} good images")
    images = read_images(paths, transform=partial(_at_most, side=side))
    split = split_good(images, seed)
    report = {
        "data": str(Path(data)),
        "good_images": len(images),
        "train_images": len(split.train),
        "calibration_images": len(split.calibration),
        "validation_images": len(split.validation),
        "defects": [str(spec) for spec in specs],
        "candidates": [],
        "failed": [],
    }
    for index, candidate in enumerate(candidates):
        part = sub_progress(progress, (index + 0.02) / len(candidates), (index + 1) / len(candidates))
        try:
            report["candidates"].append(asdict(_score(candidate, split, specs, device, seed, part)))
        except Exception as error:  # noqa: BLE001 - one candidate's failure loses no other's
            text = report_error(error, f"validating {candidate.label}")
            report["failed"].append({"candidate": candidate.label, "error": text})
            part(1.0, f"{candidate.label}: failed: {text}")
        if on_candidate is not None:
            on_candidate(report)
    if not report["candidates"]:
        raise ValueError("no candidate could be validated: " + "; ".join(
            f"{row['candidate']}: {row['error']}" for row in report["failed"]))
    return report


def _at_most(image: np.ndarray, side: int) -> np.ndarray:
    """The image, shrunk with its aspect ratio kept if its long side exceeds `side`."""
    if max(image.shape[:2]) <= side:
        return image
    return working_image(image, Geometry(image_size=side, fit_mode="pad"))


def _score(candidate: Candidate, split: Split, specs: Sequence[DefectSpec], device: str,
           seed: int, progress: Progress) -> CandidateScores:
    detector = create_detector(candidate.detector, candidate.preset, device=device,
                               **candidate.settings)
    fit_progress = sub_progress(progress, 0.0, 0.8)
    started = time.perf_counter()
    detector.fit(split.train, lambda f, m: fit_progress(f, f"{candidate.label}: {m}"),
                 calibration=split.calibration)
    fit_seconds = time.perf_counter() - started
    progress(0.8, f"{candidate.label}: pasting synthetic defects into "
                  f"{len(split.validation)} held-out images")
    scores = score_synthetic(detector, split.validation, specs, seed)
    progress(0.97, f"{candidate.label}: timing one part at a time")
    latency = _latency_ms(detector, split.validation[:LATENCY_PARTS])
    progress(1.0, f"{candidate.label}: {summary(scores.results)}")
    return CandidateScores(
        candidate.label, candidate.detector, candidate.preset, dict(candidate.settings),
        scores.image_auroc, scores.pixel_auroc,
        {str(DefectSpec(r.kind, r.size)): r.detected for r in scores.results},
        scores.results[0].false_alarms, summary(scores.results), round(fit_seconds, 2),
        round(latency, 2))


def _latency_ms(detector, images: Sequence[np.ndarray]) -> float:
    """Median milliseconds of one part (after one warm-up part): its inputs made, every tile
    through the model, the map stitched back, as live inspection does."""
    detector.predict(images[:1])
    times = []
    for image in images:
        started = time.perf_counter()
        detector.predict([image])
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def markdown_table(report: dict) -> str:
    """The candidates as a Markdown table: AUROCs, detection per kind (by size), times."""
    def kind_of(defect: str) -> str:  # "3-pixel spots" -> "spot"
        return next(kind for kind in KINDS if defect.split(" ", 1)[1].startswith(kind))

    kinds = [kind for kind in KINDS if any(kind_of(d) == kind for d in report["defects"])]
    sizes = {kind: [d.split("-")[0] for d in report["defects"] if kind_of(d) == kind]
             for kind in kinds}
    header = ["candidate", "image AUROC", "pixel AUROC",
              *(f"{kind}{'es' if kind.endswith('ch') else 's'} {'/'.join(sizes[kind])} px caught %"
                for kind in kinds),
              "good failing %", "fit s", "ms / part"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["candidates"]:
        per_kind = []
        for kind in kinds:
            rates = [rate for name, rate in row["detected"].items() if kind_of(name) == kind]
            per_kind.append("/".join(f"{100 * rate:.0f}" for rate in rates))
        cells = [row["candidate"], f"{row['image_auroc']:.3f}", f"{row['pixel_auroc']:.3f}",
                 *per_kind, f"{100 * row['false_alarms']:.0f}", f"{row['fit_seconds']:.0f}",
                 f"{row['latency_ms']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    for row in report.get("failed", []):
        cells = [row["candidate"], f"failed: {row['error']}", *[""] * (len(header) - 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
