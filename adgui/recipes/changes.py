"""Applying a threshold or ROI change to a recipe: check the role, record it, write a version.

The guard (adgui.access.guard) refuses an operator and records the change with its reason in
the audit trail before the new version is written; a change that cannot be recorded is not
made. An ROI change first recalibrates the ROI score on the recipe's good calibration images
(kept beside the model when it was trained), so nothing is retrained.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .roi import Roi, RoiError, calibrate_roi
from .versions import (RecipeVersion, VersionError, apply_change, load_calibration_images,
                       save_calibration_images, version_in_force)

if TYPE_CHECKING:
    from ..access.guard import Guard

NO_CALIBRATION_IMAGES = (
    "This recipe keeps no calibration images (it was saved before recipes kept them), and an "
    "ROI change recalibrates on good images the model was not trained on: give a folder of "
    "such images (command line: adgui recipe roi --data FOLDER), or train the recipe again.")


def describe_roi(roi: Roi | None) -> str:
    """What the audit trail shows as the old and new value."""
    if roi is None or roi.is_empty:
        return "whole image"
    kinds = [f"{'include' if s.include else 'exclude'} {s.kind}" for s in roi.shapes]
    return ", ".join(kinds)


def change_threshold(model_path: str | Path, guard: "Guard", threshold: float, reason: str,
                     model_threshold: float = 0.5) -> RecipeVersion:
    """A new version with `threshold`, recorded as the guard's user's change."""
    current = version_in_force(model_path, model_threshold)
    _check_file(model_path)
    guard.change("threshold", round(current.threshold, 6), round(float(threshold), 6), reason,
                 detail={"recipe": Path(model_path).name, "version": current.number + 1})
    return apply_change(model_path, guard.user, reason, model_threshold=model_threshold,
                        threshold=threshold)


def change_roi(model_path: str | Path, guard: "Guard", roi: Roi | None, reason: str,
               calibrated_map: Callable[[np.ndarray], np.ndarray], model_threshold: float = 0.5,
               calibration_images: Sequence[np.ndarray] | None = None) -> RecipeVersion:
    """Recalibrate the ROI score on the calibration images, then record and write a version.

    `calibrated_map` is the model's map before any ROI (Inspector.calibrated_map). Given
    `calibration_images` are kept with the recipe when it had none.
    """
    guard.require("roi")  # refused before minutes of recalibration, not after
    _check_file(model_path)
    current = version_in_force(model_path, model_threshold)
    calibration = None
    if roi is not None and not roi.is_empty:
        images = list(calibration_images or []) or load_calibration_images(model_path)
        if not images:
            raise RoiError(NO_CALIBRATION_IMAGES)
        calibration = calibrate_roi(roi, images, calibrated_map)
    guard.change("roi", describe_roi(current.roi), describe_roi(roi), reason,
                 detail={"recipe": Path(model_path).name, "version": current.number + 1,
                         "roi": json.loads(json.dumps(roi.as_dict())) if roi else None})
    if calibration_images and not load_calibration_images(model_path):
        save_calibration_images(model_path, calibration_images)
    return apply_change(model_path, guard.user, reason, model_threshold=model_threshold, roi=roi,
                        roi_calibration=calibration)


def _check_file(model_path: str | Path) -> None:
    if not Path(model_path).is_file():
        raise VersionError(f"recipe file {Path(model_path).name} not found: only a saved recipe "
                       f"(.adgui) has versions; an exported recipe is a copy of one version "
                       f"(change the .adgui and export it again)")
