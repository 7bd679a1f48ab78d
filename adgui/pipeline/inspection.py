"""Inspecting images with a trained model: scores, maps and verdicts.

`Inspector.open` takes either a torch model file (`.adgui`) or an exported recipe folder;
both give the same `InspectionResult` and `ModelInfo`, so the window, `adgui inspect` and
the station need not know which runtime is underneath. Opening an exported recipe imports
no torch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np

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


class Inspector:
    """A loaded torch model ready to inspect one image after another."""

    def __init__(self, detector: "Detector"):
        self.detector = detector

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

        return cls(load_detector(path, device))

    @property
    def info(self) -> ModelInfo:
        from algorithms.device import describe_device

        detector = self.detector
        return ModelInfo(
            name=str(detector.meta.get("name", detector.name)),
            detector=detector.name,
            backbone=detector.config.backbone,
            device=describe_device(detector.device),
            threshold=float(detector.threshold),
            calibration_scores=detector.calibration_scores.cpu().numpy().copy(),
            meta=dict(detector.meta),
        )

    def inspect(self, image: np.ndarray) -> InspectionResult:
        started = time.perf_counter()
        prediction = self.detector.predict([image])
        elapsed = (time.perf_counter() - started) * 1000.0
        return InspectionResult(float(prediction.scores[0]), prediction.maps[0], elapsed)


class ExportedInspector:
    """An exported recipe on ONNX Runtime, with the torch Inspector's surface."""

    def __init__(self, model: ExportedModel):
        self.model = model

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
        )

    def inspect(self, image: np.ndarray) -> InspectionResult:
        started = time.perf_counter()
        score, anomaly_map = self.model.predict(image)
        elapsed = (time.perf_counter() - started) * 1000.0
        return InspectionResult(score, anomaly_map, elapsed)
