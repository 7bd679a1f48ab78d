"""The interface every detector shares: fit on good images, predict scores and maps, save, load.

A detector is an `nn.Module` whose fitted state (memory bank, Gaussian parameters, flow
weights, calibration) lives in buffers and parameters, so `state_dict` is the whole model
and a saved file loads with `torch.load(weights_only=True)`.

Scores are calibrated on good images held out of training: the raw score at the held-out
images' upper edge maps to 0.5, their median to 0.0, so the default threshold is 0.5 for
every detector and a good-only training set never makes every image fail.
"""
from __future__ import annotations

import copy
import math
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Callable, ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import DEFAULT_BACKBONE
from .memory import InsufficientMemoryError, describe, free_memory
from .tensors import images_to_tensor, resize_maps

# progress(fraction done in [0, 1], message). It may raise (Cancelled) to stop the work.
Progress = Callable[[float, str], None]

# An allowance for a batch's backbone activations, in multiples of the batch's input: the
# early stages of the small backbones used here hold a few times their input each.
ACTIVATION_FACTOR = 40
MEMORY_MARGIN = 0.9  # share of the free memory a fit may plan to use
MODEL_FORMAT = "adgui-model"
MODEL_VERSION = 1


class Cancelled(Exception):
    """Raised by a progress callback to stop a long computation."""


class NotFittedError(RuntimeError):
    """predict or save called on a detector that has not been fitted."""


def no_progress(fraction: float, message: str) -> None:
    """The progress callback used when the caller gives none."""


def sub_progress(progress: Progress, start: float, end: float) -> Progress:
    """Map a callback's [0, 1] onto [start, end] of an outer one."""
    return lambda fraction, message: progress(start + (end - start) * fraction, message)


def step_budget(steps_per_epoch: int, epochs: float, min_steps: int, max_steps: int) -> int:
    """Optimiser steps for a training: `epochs` passes over the data, but at least `min_steps`
    (a small set still trains long enough to learn) and at most `max_steps` (a large one stays
    bounded in time; 0 = no bound)."""
    steps = max(round(epochs * steps_per_epoch), min_steps, 1)
    return min(steps, max_steps) if max_steps > 0 else steps


def with_time_left(progress: Progress, clock: Callable[[], float] = time.monotonic) -> Progress:
    """Add the time left to each message, from the pace so far (fractions that grow evenly
    with time, as the fits report them)."""
    started = clock()

    def report(fraction: float, message: str) -> None:
        elapsed = clock() - started
        if 0.02 <= fraction < 1.0 and elapsed >= 2.0:
            message = f"{message} ({format_duration(elapsed * (1.0 - fraction) / fraction)} left)"
        progress(fraction, message)

    return report


def format_duration(seconds: float) -> str:
    """'45 s', '3 min 10 s', '2 h 05 min'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass
class DetectorConfig:
    backbone: str = DEFAULT_BACKBONE
    weights: str = "imagenet"  # "imagenet" (offline), "none" (random, for tests) or a file path
    image_size: int = 256  # square input side; maps come back at each image's own size
    # Input geometry (algorithms/geometry.py): "pad" keeps the aspect ratio (the long side
    # scaled to fit, the rest padded), "squeeze" stretches to a square as the first models did.
    fit_mode: str = "pad"
    # Long side (px) the image is scaled to before it is cut into overlapping tiles of
    # image_size; 0 = no tiles, the whole image is one input.
    working_side: int = 0
    tile_overlap: float = 0.25  # share of image_size that neighbouring tiles overlap
    smallest_defect_px: float = 0.0  # declared by the engineer, in original pixels; 0 = not said
    holdout_fraction: float = 0.1  # good images kept out of training to calibrate the threshold
    batch_size: int = 16
    seed: int = 0
    # Settings added after models were saved without them: the value those models were fitted with.
    SAVED_BEFORE: ClassVar[dict[str, object]] = {"fit_mode": "squeeze", "working_side": 0}


@dataclass
class Prediction:
    scores: np.ndarray  # (B,) calibrated: 0.5 is the default threshold
    maps: list[np.ndarray]  # B arrays (H, W) float32 at each input image's own size, same scale


@dataclass
class FitReport:
    train_images: int
    calibration_images: int
    seconds: float


class Detector(nn.Module, ABC):
    """Base of all detectors. Subclasses implement `_fit` and `forward` on tensors."""

    name: ClassVar[str]
    config_class: ClassVar[type[DetectorConfig]] = DetectorConfig
    min_train_images: ClassVar[int] = 2

    def __init__(self, config: DetectorConfig):
        super().__init__()
        self.config = config
        self.meta: dict = {}  # plain facts about the model (name, training folder, date)
        # Calibration: raw -> 0.5 + 0.5 * (raw - threshold) / scale, for scores and maps alike.
        self.register_buffer("image_threshold", torch.tensor(math.nan))
        self.register_buffer("image_scale", torch.tensor(1.0))
        self.register_buffer("map_threshold", torch.tensor(math.nan))
        self.register_buffer("map_scale", torch.tensor(1.0))
        self.register_buffer("calibration_scores", torch.empty(0))  # held-out good, calibrated
        self.register_buffer("threshold", torch.tensor(0.5))  # operator's, on the calibrated scale
        self._pristine = True  # never trained: a fit may work in place

    # ---- what each detector implements -------------------------------------------------

    @abstractmethod
    def _fit(self, images: torch.Tensor, progress: Progress) -> None:
        """Learn from good images (N, 3, S, S) in [0, 1] on the detector's device."""

    @abstractmethod
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) in [0, 1] -> raw scores (B,) and raw maps (B, S, S)."""

    # ---- the shared surface ---------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.image_threshold.device

    @property
    def is_fitted(self) -> bool:
        return not bool(torch.isnan(self.image_threshold))

    def fit(self, images: Sequence[np.ndarray], progress: Progress | None = None,
            calibration: Sequence[np.ndarray] | None = None) -> FitReport:
        """Fit on good RGB uint8 images; calibrate on `calibration` or a held-out share.

        A refit trains and calibrates a fresh module with the same settings and takes over
        its state only once it is done: a cancel or an error at any point leaves the model
        scoring exactly as before.
        """
        progress = with_time_left(progress or no_progress)
        started = time.perf_counter()
        train, held_out = self.split(images, calibration)
        self.check_fit_memory(len(train))
        # A detector never trained can learn in place; any other trains a fresh copy.
        learner = self if self._pristine else self.fresh()
        learner._pristine = False
        progress(0.0, f"preparing {len(train)} training images")
        train_tensor = images_to_tensor(train, self.config.image_size, self.device)
        learner.train(False)
        learner._fit(train_tensor, sub_progress(progress, 0.0, 0.95))
        del train_tensor
        progress(0.95, f"calibrating on {len(held_out)} good images")
        learner.calibrate(held_out)
        if learner is not self:
            self.load_fitted_state(learner.state_dict(), assign=True)  # takes its tensors, no copy
        progress(1.0, "done")
        return FitReport(len(train), len(held_out), time.perf_counter() - started)

    def fresh(self) -> "Detector":
        """An untrained detector with the same settings, on the same device."""
        return type(self)(copy.deepcopy(self.config)).to(self.device)

    # ---- memory ---------------------------------------------------------------------------

    def estimate_fit_memory(self, train_images: int) -> int:
        """Bytes a fit on `train_images` images needs at its peak, beyond the model itself.

        This base estimate counts the training tensor and a batch of backbone activations;
        detectors that hold more (memory banks, optimiser state, training activations) add it.
        """
        side = self.config.image_size
        images = train_images * 3 * side * side * 4
        activations = self.config.batch_size * 3 * side * side * 4 * ACTIVATION_FACTOR
        return images + activations

    def check_fit_memory(self, train_images: int) -> None:
        """Refuse before starting a fit that would not fit in the free memory of the device."""
        needed = self.estimate_fit_memory(train_images)
        if not self._pristine:  # the fresh copy that a refit trains
            needed += sum(t.numel() * t.element_size() for t in self.state_dict().values())
        free = free_memory(self.device)
        if free is not None and needed > MEMORY_MARGIN * free:
            raise InsufficientMemoryError(
                f"training the {self.name} detector on {train_images} images needs about "
                f"{needed / 2**30:.1f} GB of {describe(self.device)} memory, but only "
                f"{free / 2**30:.1f} GB is free; {self.memory_advice()}")

    def memory_advice(self) -> str:
        return "use fewer or smaller images (image_size), or a smaller batch_size"

    def calibrate(self, good_images: Sequence[np.ndarray]) -> None:
        """Set the score and map scales from good images the detector was not trained on."""
        if len(good_images) == 0:
            raise ValueError("calibration needs at least one good image")
        scores, maps = self.raw_predict(images_to_tensor(good_images, self.config.image_size, "cpu"))
        map_peaks = maps.flatten(1).amax(dim=1)
        self.image_threshold.fill_(_upper_edge(scores))
        self.image_scale.fill_(_spread(scores, float(self.image_threshold)))
        self.map_threshold.fill_(_upper_edge(map_peaks))
        self.map_scale.fill_(_spread(map_peaks, float(self.map_threshold)))
        self.calibration_scores = self.normalize_scores(scores).to(self.device)
        self.threshold.fill_(0.5)

    @torch.inference_mode()
    def raw_predict(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw scores (N,) and maps (N, S, S) on the CPU, for tensors already at input size."""
        self.train(False)
        scores, maps = [], []
        for start in range(0, len(images), self.config.batch_size):
            batch = images[start:start + self.config.batch_size].to(self.device, non_blocking=True)
            batch_scores, batch_maps = self(batch)
            scores.append(batch_scores.float().cpu())
            maps.append(batch_maps.float().cpu())
        return torch.cat(scores), torch.cat(maps)

    def predict(self, images: Sequence[np.ndarray]) -> Prediction:
        """Calibrated scores and maps at each image's own size, for RGB uint8 images."""
        if not self.is_fitted:
            raise NotFittedError(f"the {self.name} detector has not been trained")
        scores, maps = self.raw_predict(images_to_tensor(images, self.config.image_size, "cpu"))
        maps = self.normalize_maps(maps)
        sizes = [image.shape[:2] for image in images]
        return Prediction(self.normalize_scores(scores).numpy(), resize_maps(maps, sizes))

    def normalize_scores(self, raw: torch.Tensor) -> torch.Tensor:
        return 0.5 + 0.5 * (raw - self.image_threshold.cpu()) / self.image_scale.cpu()

    def normalize_maps(self, raw: torch.Tensor) -> torch.Tensor:
        return 0.5 + 0.5 * (raw - self.map_threshold.cpu()) / self.map_scale.cpu()

    # ---- files ----------------------------------------------------------------------------

    def to_payload(self) -> dict:
        """Everything a saved model holds: plain data and tensors only (weights_only loads)."""
        if not self.is_fitted:
            raise NotFittedError("only a trained detector can be saved")
        return {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "detector": self.name,
            "config": asdict(self.config),
            "meta": dict(self.meta),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
        }

    def load_fitted_state(self, state: dict[str, torch.Tensor], assign: bool = False) -> None:
        """Load a saved state, first giving each buffer the saved shape (banks vary in size)."""
        self._pristine = False
        for name, value in state.items():
            module_name, _, attribute = name.rpartition(".")
            module = self.get_submodule(module_name) if module_name else self
            if attribute in module._buffers and module._buffers[attribute] is not None:
                current = module._buffers[attribute]
                if current.shape != value.shape:
                    module._buffers[attribute] = torch.empty_like(value, device=current.device)
        self.load_state_dict(state, strict=True, assign=assign)

    # ---- helpers --------------------------------------------------------------------------

    def split(self, images: Sequence[np.ndarray], calibration: Sequence[np.ndarray] | None = None
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Training and calibration images: `calibration` as given, or a held-out share."""
        images = list(images)
        if calibration is not None:
            calibration = list(calibration)
            if len(images) < self.min_train_images or not calibration:
                raise ValueError(f"need at least {self.min_train_images} training images and "
                                 f"one calibration image")
            return images, calibration
        needed = self.min_train_images + 1
        if len(images) < needed:
            raise ValueError(f"need at least {needed} good images to train and calibrate "
                             f"the {self.name} detector; got {len(images)}")
        held = max(2, round(len(images) * self.config.holdout_fraction))
        held = min(held, len(images) - self.min_train_images)
        order = np.random.default_rng(self.config.seed).permutation(len(images))
        held_set = set(order[:held].tolist())
        train = [img for i, img in enumerate(images) if i not in held_set]
        return train, [images[i] for i in sorted(held_set)]


def _upper_edge(values: torch.Tensor) -> float:
    """A threshold just above the good images: their maximum or mean + 3 sigma, the larger."""
    values = values.double()
    spread = float(values.std()) if len(values) > 1 else 0.0
    return max(float(values.max()), float(values.mean()) + 3.0 * spread)


def _spread(values: torch.Tensor, threshold: float) -> float:
    """Raw distance from the good images' median to the threshold; at least 10 % of the
    threshold, so that a handful of near-identical calibration images cannot make it vanish."""
    spread = threshold - float(values.double().median())
    return max(spread, 0.1 * abs(threshold), 1e-12)


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, H, W) maps, kernel 2 * ceil(4 sigma) + 1 as anomalib."""
    if sigma <= 0:
        return maps
    radius = math.ceil(4.0 * sigma)
    offsets = torch.arange(-radius, radius + 1, device=maps.device, dtype=maps.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = maps.unsqueeze(1)  # (B, 1, H, W)
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    return x.squeeze(1)
