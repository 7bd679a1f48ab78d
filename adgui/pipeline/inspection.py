"""Inspecting images with a trained model: scores, maps and verdicts.

`Inspector.open` takes either a torch model file (`.adgui`) or an exported recipe folder;
both give the same `InspectionResult` and `ModelInfo`, so the window, `adgui inspect` and
the station need not know which runtime is underneath. Opening an exported recipe imports
no torch.

A model file opens with its recipe version in force (adgui.recipes.versions): its threshold,
and its ROI, which `roi_result` applies to every result here, so the window, `adgui inspect`,
`adgui eval` and the station judge alike. An exported recipe carries the version it was
exported from.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

from adgui.recipes.roi import Roi, RoiCalibration, apply_roi
from adgui.recipes.versions import CALIBRATED_THRESHOLD, RecipeVersion, version_in_force
from adgui.runtime import ExportedModel, RuntimeSettings, is_exported_recipe, load_exported

if TYPE_CHECKING:
    from algorithms import Detector


@dataclass
class InspectionResult:
    score: float  # calibrated: the model's default threshold is 0.5
    anomaly_map: np.ndarray  # (H, W) float32 at the image's own size, same scale as score
    latency_ms: float  # model time for this image, decoding excluded

    def verdict(self, threshold: float) -> str:
        return "FAIL" if self.score >= threshold else "PASS"


@dataclass
class ModelInfo:
    name: str
    detector: str
    backbone: str
    device: str
    threshold: float
    calibration_scores: np.ndarray  # held-out good images, calibrated
    meta: dict
    runtime: str = "torch"  # "torch" or "onnx" (an exported recipe)
    version: int = 1  # the recipe version in force
    calibrated_threshold: float = CALIBRATED_THRESHOLD
    roi: Roi | None = None  # the version's region of interest, if it has one


def roi_result(score: float, anomaly_map: np.ndarray, roi: Roi | None,
               calibration: RoiCalibration | None) -> tuple[float, np.ndarray]:
    """The model's result as the recipe judges it: unchanged without an ROI."""
    if roi is None or roi.is_empty or calibration is None:
        return score, anomaly_map
    return apply_roi(anomaly_map, roi, calibration)


def recipe_bit_depth(inspector) -> int | None:
    """The bit depth the inspector's recipe was trained at (what its 16-bit files hold), or
    None when it does not say (recipes trained before it was recorded, test doubles)."""
    depth = getattr(inspector, "bit_depth", None)
    return int(depth) if depth else None


class Inspector:
    """A loaded torch model ready to inspect one image after another."""

    def __init__(self, detector: "Detector", version: RecipeVersion | None = None):
        self.detector = detector
        # Replaced whole when a new version is applied; inspect reads it once per image.
        self.version = version or RecipeVersion(1, float(detector.threshold), None, None, "", "",
                                                "trained", None)

    @classmethod
    def open(cls, path, device: str = "auto") -> Union["Inspector", "ExportedInspector"]:
        """A torch model file, or an exported recipe folder (run on ONNX Runtime)."""
        if is_exported_recipe(path):
            return ExportedInspector(load_exported(path, RuntimeSettings(device=device)))
        from .catalog import training_available

        if not training_available():
            raise ValueError(f"{Path(path).name} is a torch model file and this station build "
                             f"runs exported recipes only: export it with `adgui export` in the "
                             f"full build")
        from algorithms import load_detector

        detector = load_detector(path, device)
        return cls(detector, version_in_force(path, float(detector.threshold)))

    @property
    def bit_depth(self) -> int | None:
        return self.detector.meta.get("bit_depth")

    def use_version(self, version: RecipeVersion) -> None:
        """Judge the next images by `version` (a new threshold or ROI applied live)."""
        self.version = version

    @property
    def info(self) -> ModelInfo:
        from algorithms.device import describe_device

        detector, version = self.detector, self.version
        scores = (np.asarray(version.roi_calibration.scores, dtype=np.float32) if version.has_roi
                  else detector.calibration_scores.cpu().numpy().copy())
        return ModelInfo(
            name=str(detector.meta.get("name", detector.name)),
            detector=detector.name,
            backbone=detector.config.backbone,
            device=describe_device(detector.device),
            threshold=version.threshold,
            calibration_scores=scores,
            meta=dict(detector.meta),
            version=version.number,
            roi=version.roi if version.has_roi else None,
        )

    def calibrated_map(self, image: np.ndarray) -> np.ndarray:
        """The model's own (H, W) map, before any ROI: what an ROI is calibrated on."""
        return self.detector.predict([image]).maps[0]

    def inspect(self, image: np.ndarray) -> InspectionResult:
        version = self.version
        started = time.perf_counter()
        prediction = self.detector.predict([image])
        score, anomaly_map = roi_result(float(prediction.scores[0]), prediction.maps[0],
                                        version.roi, version.roi_calibration)
        elapsed = (time.perf_counter() - started) * 1000.0
        return InspectionResult(score, anomaly_map, elapsed)


class ExportedInspector:
    """An exported recipe on ONNX Runtime, with the torch Inspector's surface."""

    def __init__(self, model: ExportedModel):
        self.model = model
        roi = model.recipe.get("roi") or None
        # The ROI of the version exported (`adgui export` copies the version in force).
        self.roi = Roi.from_dict(roi) if roi else None
        self.roi_calibration = (RoiCalibration.from_dict(roi["calibration"])
                                if roi and not self.roi.is_empty else None)

    @property
    def info(self) -> ModelInfo:
        recipe = self.model.recipe
        meta = dict(recipe["meta"])
        return ModelInfo(
            name=str(meta.get("name", Path(self.model.path).name)),
            detector=str(recipe["detector"]),
            backbone=str(recipe["backbone"]),
            device=self.model.describe_device(),
            threshold=float(recipe["threshold"]),
            calibration_scores=np.asarray(recipe["calibration_scores"], dtype=np.float32),
            meta=meta,
            runtime="onnx",
            version=int(recipe.get("recipe_version") or 1),
            roi=self.roi if self.roi_calibration is not None else None,
        )

    @property
    def bit_depth(self) -> int | None:
        return self.model.recipe["meta"].get("bit_depth")

    def calibrated_map(self, image: np.ndarray) -> np.ndarray:
        return self.model.predict(image)[1]

    def inspect(self, image: np.ndarray) -> InspectionResult:
        started = time.perf_counter()
        score, anomaly_map = roi_result(*self.model.predict(image), self.roi, self.roi_calibration)
        elapsed = (time.perf_counter() - started) * 1000.0
        return InspectionResult(score, anomaly_map, elapsed)
