"""Regions of interest: where on a part a defect counts.

An ROI is a list of shapes drawn on a reference image: rectangles, ellipses and polygons,
each one included or excluded. Without any include shape the whole image is included; the
exclude shapes are then cut out. The shapes are stored in the reference image's pixel
coordinates and scaled to each image's own size when they are rasterised, so a mask drawn on
a full-size camera frame also fits the model's working-size calibration images.

With an ROI the anomaly map outside it is set to the floor of the calibrated scale, and the
part's score is the peak of the map inside it, recalibrated on the good calibration images'
masked peaks so that the default threshold is again 0.5 just above the good parts. `apply_roi`
is the one place that computes this; every inspection path (torch, exported, evaluation,
live) calls it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

KINDS = ("rectangle", "ellipse", "polygon")


class RoiError(ValueError):
    """An ROI that cannot be used: a bad shape, or a mask that leaves no pixel to inspect."""


@dataclass(frozen=True)
class Shape:
    """One region, in the reference image's pixel coordinates (x right, y down).

    rectangle and ellipse: two points, the corners of the bounding box; polygon: its vertices.
    """

    kind: str
    points: tuple[tuple[float, float], ...]
    include: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise RoiError(f"unknown ROI shape {self.kind!r}: one of {', '.join(KINDS)}")
        needed = 3 if self.kind == "polygon" else 2
        if len(self.points) < needed or (self.kind != "polygon" and len(self.points) != 2):
            raise RoiError(f"a {self.kind} needs {'at least 3' if needed == 3 else 'exactly 2'} "
                           f"points, got {len(self.points)}")
        if not all(len(p) == 2 and all(np.isfinite(p)) for p in self.points):
            raise RoiError(f"a {self.kind} has a point that is not a finite (x, y) pair")

    def as_dict(self) -> dict:
        return {"kind": self.kind, "include": self.include,
                "points": [[float(x), float(y)] for x, y in self.points]}

    @classmethod
    def from_dict(cls, data: dict) -> "Shape":
        return cls(str(data["kind"]), tuple((float(x), float(y)) for x, y in data["points"]),
                   bool(data.get("include", True)))


@dataclass(frozen=True)
class Roi:
    shapes: tuple[Shape, ...]
    width: int  # size of the reference image the shapes were drawn on
    height: int

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise RoiError(f"the ROI's reference image size {self.width} x {self.height} is empty")

    @property
    def is_empty(self) -> bool:
        """No shape at all: the whole image is inspected, as without an ROI."""
        return not self.shapes

    def mask(self, height: int, width: int) -> np.ndarray:
        """(height, width) bool, True where defects count, for an image of that size.

        Cached per size (a camera's frames all have one): read-only, do not modify it."""
        return _cached_mask(self, height, width)

    def _rasterise(self, height: int, width: int) -> np.ndarray:
        sx, sy = width / self.width, height / self.height
        includes = [s for s in self.shapes if s.include]
        inside = _draw(includes, height, width, sx, sy) if includes else np.ones(
            (height, width), bool)
        excludes = [s for s in self.shapes if not s.include]
        if excludes:
            inside &= ~_draw(excludes, height, width, sx, sy)
        inside.flags.writeable = False
        return inside

    def as_dict(self) -> dict:
        return {"width": self.width, "height": self.height,
                "shapes": [shape.as_dict() for shape in self.shapes]}

    @classmethod
    def from_dict(cls, data: dict) -> "Roi":
        try:
            return cls(tuple(Shape.from_dict(s) for s in data.get("shapes", [])),
                       int(data["width"]), int(data["height"]))
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, RoiError):
                raise
            raise RoiError(f"not a usable ROI ({type(error).__name__}: {error})") from None


@dataclass(frozen=True)
class RoiCalibration:
    """Masked map peak -> score: 0.5 + 0.5 * (peak - threshold) / scale, like the model's own."""

    threshold: float  # masked peak (on the map's calibrated scale) at the good images' upper edge
    scale: float
    scores: tuple[float, ...]  # the calibration images' ROI scores, for the histogram

    def normalize(self, values: np.ndarray) -> np.ndarray:
        return 0.5 + 0.5 * (values - self.threshold) / self.scale

    def as_dict(self) -> dict:
        return {"threshold": self.threshold, "scale": self.scale, "scores": list(self.scores)}

    @classmethod
    def from_dict(cls, data: dict) -> "RoiCalibration":
        scale = float(data["scale"])
        if not np.isfinite(scale) or scale <= 0:
            raise RoiError(f"ROI calibration scale {scale} is not positive")
        return cls(float(data["threshold"]), scale, tuple(float(v) for v in data.get("scores", [])))


def apply_roi(anomaly_map: np.ndarray, roi: Roi,
              calibration: RoiCalibration) -> tuple[float, np.ndarray]:
    """(H, W) calibrated map -> the ROI score and the map on the ROI's scale, floored outside.

    The score is the peak of the returned map; outside the ROI the map holds the floor of the
    scale (0, or the lowest value inside if that is lower), so nothing there can be the peak
    and the overlay shows no heat there.
    """
    mask = roi.mask(*anomaly_map.shape[:2])
    if not mask.any():
        raise RoiError("the ROI leaves no pixel of the image to inspect")
    scaled = calibration.normalize(anomaly_map.astype(np.float32))  # (H, W)
    inside = scaled[mask]
    floor = min(0.0, float(inside.min()))
    return float(inside.max()), np.where(mask, scaled, np.float32(floor)).astype(np.float32)


def masked_peak(anomaly_map: np.ndarray, roi: Roi) -> float:
    """The map's peak inside the ROI, on the map's own scale."""
    mask = roi.mask(*anomaly_map.shape[:2])
    if not mask.any():
        raise RoiError("the ROI leaves no pixel of the image to inspect")
    return float(anomaly_map[mask].max())


def calibrate_roi(roi: Roi, images: Sequence[np.ndarray],
                  calibrated_map: Callable[[np.ndarray], np.ndarray]) -> RoiCalibration:
    """Calibrate the ROI score on good images the model was not trained on.

    `calibrated_map(image)` is the model's (H, W) map on its own calibrated scale. The masked
    peaks are mapped as the model maps its raw scores: their upper edge (max, or mean + 3
    sigma) to 0.5, their median to 0.
    """
    if len(images) == 0:
        raise RoiError("an ROI change recalibrates on the recipe's good calibration images, "
                       "and none were given")
    peaks = np.array([masked_peak(calibrated_map(image), roi) for image in images])
    threshold = upper_edge(peaks)
    scale = spread(peaks, threshold)
    scores = 0.5 + 0.5 * (peaks - threshold) / scale
    return RoiCalibration(threshold, scale, tuple(float(v) for v in scores))


def upper_edge(values: np.ndarray) -> float:
    """As the detectors calibrate (algorithms.base): max or mean + 3 sigma, the larger."""
    values = np.asarray(values, dtype=np.float64)
    sigma = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return max(float(values.max()), float(values.mean()) + 3.0 * sigma)


def spread(values: np.ndarray, threshold: float) -> float:
    """Distance from the median to the threshold; at least 10 % of the threshold."""
    return max(threshold - float(np.median(np.asarray(values, dtype=np.float64))),
               0.1 * abs(threshold), 1e-12)


@functools.lru_cache(maxsize=8)
def _cached_mask(roi: Roi, height: int, width: int) -> np.ndarray:
    return roi._rasterise(height, width)


def _draw(shapes: Iterable[Shape], height: int, width: int, sx: float, sy: float) -> np.ndarray:
    """Union of the shapes; a pixel belongs to a shape when its centre lies inside it."""
    canvas = np.zeros((height, width), bool)
    ys = (np.arange(height) + 0.5)[:, None] / sy  # pixel centres in reference coordinates
    xs = (np.arange(width) + 0.5)[None, :] / sx
    for shape in shapes:
        points = np.array(shape.points, dtype=np.float64)  # (P, 2) x, y
        if shape.kind == "polygon":
            canvas |= _polygon(points, xs, ys)
            continue
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        if shape.kind == "rectangle":
            canvas |= (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
        elif x1 > x0 and y1 > y0:
            cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
            canvas |= ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
    return canvas


def _polygon(points: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Even-odd rule on the pixel centres: the same edge convention as the rectangles."""
    inside = np.zeros((ys.shape[0], xs.shape[1]), bool)
    for (xa, ya), (xb, yb) in zip(points, np.roll(points, -1, axis=0)):
        if ya == yb:
            continue  # a horizontal edge crosses no horizontal ray
        crosses = (ya > ys) != (yb > ys)  # (H, 1)
        x_at = xa + (ys - ya) * (xb - xa) / (yb - ya)  # (H, 1) where the edge meets the row
        inside ^= crosses & (xs < x_at)
    return inside
