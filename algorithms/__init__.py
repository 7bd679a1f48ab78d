"""Anomaly detectors trained on good images only (no Qt here).

Every detector shares the surface of `base.Detector`: `fit(images, progress)`,
`predict(images) -> Prediction`, and saving / loading through the registry.
"""
from .base import Cancelled, Detector, DetectorConfig, FitReport, NotFittedError, Prediction, Progress
from .memory import InsufficientMemoryError
from .registry import (DETECTORS, ModelFileError, create_detector, detector_names, load_detector,
                       make_config, preset_names, register, save_detector)

__all__ = [
    "Cancelled", "DETECTORS", "Detector", "DetectorConfig", "FitReport", "InsufficientMemoryError",
    "ModelFileError",
    "NotFittedError", "Prediction", "Progress", "create_detector", "detector_names",
    "load_detector", "make_config", "preset_names", "register", "save_detector",
]
