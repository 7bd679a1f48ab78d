"""Versions of a recipe: its threshold and ROI, kept beside the model file, never in it.

    NAME.adgui                         the trained model; never rewritten by a change
    NAME.adgui.versions/0001.json      version 1: the trained state
    NAME.adgui.versions/0002.json      each applied change (threshold, ROI): a new file
    NAME.adgui.versions/calibration/   the good images the model was calibrated on (PNG), so
                                       an ROI change recalibrates without retraining

A version file is written under a temporary name, flushed, then linked to its number, which
fails if that number exists: a version is never overwritten, and two writers racing for the
same number cannot both win. The newest version is the one in force. A recipe saved before
versions existed has an implicit version 1 (its model file's threshold, no ROI) until the
first change writes it down.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .roi import Roi, RoiCalibration, RoiError

SUFFIX = ".versions"
CALIBRATION = "calibration"
CALIBRATED_THRESHOLD = 0.5  # where calibration puts the default threshold, with or without ROI
FORMAT = "adgui-recipe-version"


class VersionError(ValueError):
    """A version folder or file that cannot be read or written as asked."""


@dataclass(frozen=True)
class RecipeVersion:
    number: int
    threshold: float  # on the calibrated scale: 0.5 is the calibrated default
    roi: Roi | None
    roi_calibration: RoiCalibration | None  # set whenever roi is
    author: str
    created: str  # ISO 8601 with the UTC offset
    reason: str
    parent: int | None  # the version this one changed; None for a trained state
    model_sha256: str = ""  # the model file this version applies to

    @property
    def has_roi(self) -> bool:
        return self.roi is not None and not self.roi.is_empty

    @property
    def threshold_is_calibrated(self) -> bool:
        return abs(self.threshold - CALIBRATED_THRESHOLD) < 1e-9

    def describe(self) -> str:
        """'v3, threshold 0.55 (calibrated 0.50), ROI of 2 shapes'."""
        threshold = (f"threshold {self.threshold:.2f}" if self.threshold_is_calibrated else
                     f"threshold {self.threshold:.2f} (calibrated {CALIBRATED_THRESHOLD:.2f})")
        roi = f", ROI of {len(self.roi.shapes)} shapes" if self.has_roi else ""
        return f"v{self.number}, {threshold}{roi}"

    def as_dict(self) -> dict:
        return {"format": FORMAT, "number": self.number, "threshold": self.threshold,
                "roi": self.roi.as_dict() if self.roi is not None else None,
                "roi_calibration": (self.roi_calibration.as_dict()
                                    if self.roi_calibration is not None else None),
                "author": self.author, "created": self.created, "reason": self.reason,
                "parent": self.parent, "model_sha256": self.model_sha256}

    @classmethod
    def from_dict(cls, data: dict) -> "RecipeVersion":
        if data.get("format") != FORMAT:
            raise VersionError("not an adgui recipe version")
        roi = Roi.from_dict(data["roi"]) if data.get("roi") else None
        calibration = (RoiCalibration.from_dict(data["roi_calibration"])
                       if data.get("roi_calibration") else None)
        if roi is not None and not roi.is_empty and calibration is None:
            raise VersionError("the version has an ROI but no ROI calibration")
        parent = data.get("parent")
        return cls(int(data["number"]), float(data["threshold"]), roi, calibration,
                   str(data.get("author", "")), str(data.get("created", "")),
                   str(data.get("reason", "")), None if parent is None else int(parent),
                   str(data.get("model_sha256", "")))


def versions_dir(model_path: str | Path) -> Path:
    path = Path(model_path)
    return path.with_name(path.name + SUFFIX)


def list_versions(model_path: str | Path) -> list[RecipeVersion]:
    """The versions written down, oldest first; a damaged file raises VersionError naming it."""
    folder = versions_dir(model_path)
    if not folder.is_dir():
        return []
    versions = []
    for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]*.json")):
        try:
            version = RecipeVersion.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise VersionError(f"{folder.name}/{path.name} is not a readable recipe version "
                               f"({error})") from None
        if version.number != int(path.stem):
            raise VersionError(f"{folder.name}/{path.name} holds version {version.number}")
        versions.append(version)
    return sorted(versions, key=lambda v: v.number)


def version_in_force(model_path: str | Path, model_threshold: float = CALIBRATED_THRESHOLD
                     ) -> RecipeVersion:
    """The newest version; for a recipe with none written, its implicit trained state."""
    versions = list_versions(model_path)
    if versions:
        return versions[-1]
    return RecipeVersion(1, float(model_threshold), None, None, "", "", "trained", None, "")


def record_trained(model_path: str | Path, author: str, reason: str = "trained",
                   calibration_images: Sequence[np.ndarray] = ()) -> RecipeVersion:
    """After a training saved the model: its calibration images and a trained-state version
    (number 1, or the next one when a recipe was trained again under the same name)."""
    if calibration_images:
        save_calibration_images(model_path, calibration_images)
    versions = list_versions(model_path)
    number = versions[-1].number + 1 if versions else 1
    version = RecipeVersion(number, CALIBRATED_THRESHOLD, None, None, author, _now(), reason, None,
                            file_sha256(model_path))
    return write_version(model_path, version)


def apply_change(model_path: str | Path, author: str, reason: str, *,
                 model_threshold: float = CALIBRATED_THRESHOLD, threshold: float | None = None,
                 roi: Roi | None | bool = False, roi_calibration: RoiCalibration | None = None
                 ) -> RecipeVersion:
    """Write the version in force with a new threshold and/or ROI (roi=None clears it, False
    keeps it) as the next version. The model file is only read, to record its hash."""
    if not reason.strip():
        raise VersionError("a new version needs a reason")
    if not Path(model_path).is_file():
        raise VersionError(f"recipe file {Path(model_path).name} not found: only a saved "
                           f"recipe (.adgui) has versions")
    current = version_in_force(model_path, model_threshold)
    if not versions_dir(model_path).is_dir() or not list_versions(model_path):
        current = write_version(model_path, replace(current, model_sha256=file_sha256(model_path),
                                                    created=_now(), author="(before versions)"))
    changed = replace(current, number=current.number + 1, parent=current.number, author=author,
                      created=_now(), reason=reason.strip(), model_sha256=file_sha256(model_path))
    if threshold is not None:
        if not np.isfinite(threshold) or threshold < 0:
            raise VersionError(f"threshold {threshold} must be a number of at least 0")
        changed = replace(changed, threshold=float(threshold))
    if roi is not False:
        if roi is not None and not roi.is_empty and roi_calibration is None:
            raise RoiError("an ROI needs its calibration (recalibrate on the good images)")
        empty = roi is None or roi.is_empty
        changed = replace(changed, roi=None if empty else roi,
                          roi_calibration=None if empty else roi_calibration)
    return write_version(model_path, changed)


def write_version(model_path: str | Path, version: RecipeVersion) -> RecipeVersion:
    """Write a new version file; never replaces one (VersionError if the number exists)."""
    folder = versions_dir(model_path)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{version.number:04d}.json"
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(version.as_dict(), stream, indent=2, sort_keys=True)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(temporary, target)  # atomic, and fails rather than replace
        except FileExistsError:
            raise VersionError(f"version {version.number} of {Path(model_path).name} exists "
                               f"already (another change was applied at the same time); "
                               f"reopen the recipe and apply again") from None
    finally:
        Path(temporary).unlink(missing_ok=True)
    return version


def save_calibration_images(model_path: str | Path, images: Sequence[np.ndarray]) -> Path:
    """Store the calibration images as PNG, the folder swapped in whole: 8-bit images as
    they are, deeper ones (float32 in [0, 1]) as 16-bit PNGs, so nothing is cut to 8 bits."""
    folder = versions_dir(model_path) / CALIBRATION
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".calibration.", suffix=".tmp", dir=folder.parent))
    try:
        for index, image in enumerate(images):
            if image.dtype != np.uint8:
                image = np.rint(np.clip(image, 0.0, 1.0) * 65535.0).astype(np.uint16)
            bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(staging / f"{index:04d}.png"), bgr):
                raise VersionError(f"calibration image {index} could not be written")
        old = folder.with_name(staging.name + ".old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def load_calibration_images(model_path: str | Path) -> list[np.ndarray]:
    """The stored calibration images as the model takes them: uint8 mono (H, W) or RGB
    (H, W, 3), 16-bit ones as float32 in [0, 1]; [] for a recipe that has none."""
    folder = versions_dir(model_path) / CALIBRATION
    images = []
    for path in sorted(folder.glob("*.png")) if folder.is_dir() else []:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim not in (2, 3):
            raise VersionError(f"calibration image {path.name} of {Path(model_path).name} "
                               f"cannot be read")
        if image.ndim == 3:
            image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB)
        if image.dtype == np.uint16:
            image = image.astype(np.float32) / 65535.0
        images.append(image)
    return images


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")
