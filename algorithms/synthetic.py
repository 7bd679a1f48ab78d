"""Synthetic defects: how small a defect a trained model catches, with no labelled defect.

Defects of declared kinds and sizes are pasted into good images that took no part in
training or calibration, and each pasted image is judged at the model's own threshold:

- spot: a round blemish of the given diameter, darker or brighter than its surroundings;
- scratch: a thin straight line of the given length (1 px wide, 2 px from 24 px on);
- blob: a Perlin-noise stain of the given extent, a patch of another part of the image
  blended in (DRAEM's recipe for realistic anomalies).

Sizes are in pixels of the images given (the original images, or the working size where
they were shrunk as they were read): the detector then scales them as its geometry says,
so a recipe that squeezes to a small input sees a 4-pixel spot as 2 pixels, one that tiles
at full size sees it whole. The result reads as "detects 95 % of 3-pixel spots, 100 % of
8-pixel scratches".
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import cv2
import numpy as np

from .base import Detector
from .metrics import image_auroc, pixel_auroc

KINDS = ("spot", "scratch", "blob")
CONTRAST = 60  # grey levels between a spot or scratch and the surface under it


@dataclass(frozen=True)
class DefectSpec:
    kind: str  # one of KINDS
    size: int  # diameter (spot, blob) or length (scratch), in pixels of the image pasted into

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown synthetic defect {self.kind!r}; choose from {KINDS}")
        if self.size < 1:
            raise ValueError(f"a synthetic defect needs a size of at least 1 pixel, not {self.size}")

    def __str__(self) -> str:
        return f"{self.size}-pixel {self.kind}{'es' if self.kind.endswith('ch') else 's'}"


HOLDOUT_FRACTION = 0.1  # good images kept out of training and calibration to paste into
DEFAULT_SPECS = (DefectSpec("spot", 3), DefectSpec("spot", 6), DefectSpec("spot", 12),
                 DefectSpec("scratch", 8), DefectSpec("scratch", 16), DefectSpec("scratch", 32),
                 DefectSpec("blob", 8), DefectSpec("blob", 16), DefectSpec("blob", 32))


def parse_specs(text: str) -> tuple[DefectSpec, ...]:
    """'spot:3,scratch:8' -> specs; the command line's way to declare them."""
    specs = []
    for item in text.split(","):
        kind, _, size = item.strip().partition(":")
        if not size.strip().isdigit():
            raise ValueError(f"synthetic defects are KIND:SIZE, e.g. spot:3; got {item!r}")
        specs.append(DefectSpec(kind.strip(), int(size)))
    return tuple(specs)


@dataclass
class SyntheticResult:
    kind: str
    size: int
    images: int
    detected: float  # share of pasted images that fail at the model's threshold
    false_alarms: float  # share of the same images, without the defect, that fail

    def sentence(self) -> str:
        return f"{self.detected:.0%} of {DefectSpec(self.kind, self.size)}".replace("%", " %")


def paste_defect(image: np.ndarray, spec: DefectSpec, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A copy of an image with one defect, and its mask (H, W) bool. The image is uint8 or
    float32 in [0, 1] (a deeper image), mono (H, W) or RGB (H, W, 3); the copy keeps its type."""
    height, width = image.shape[:2]
    margin = spec.size // 2 + 2
    centre = (int(rng.integers(margin, max(margin + 1, width - margin))),
              int(rng.integers(margin, max(margin + 1, height - margin))))
    if spec.kind == "blob":
        return _paste_blob(image, spec.size, centre, rng)
    shape = np.zeros((height, width), np.uint8)
    if spec.kind == "spot":  # the pixels within size / 2 of the centre (of an even size: a corner)
        middle = np.array(centre, dtype=np.float64) - (0.5 if spec.size % 2 == 0 else 0.0)
        yy, xx = np.mgrid[0:height, 0:width]
        shape[(yy - middle[1]) ** 2 + (xx - middle[0]) ** 2 <= (spec.size / 2) ** 2] = 255
    else:
        angle = rng.uniform(0, np.pi)
        half = (spec.size - 1) / 2.0
        offset = np.array([np.cos(angle), np.sin(angle)]) * half
        start = tuple(int(round(v)) for v in np.array(centre) - offset)
        end = tuple(int(round(v)) for v in np.array(centre) + offset)
        cv2.line(shape, start, end, 255, 1 if spec.size < 24 else 2, cv2.LINE_AA)
    alpha = shape.astype(np.float32) / 255.0  # (H, W)
    if image.ndim == 3:
        alpha = alpha[..., None]  # (H, W, 1)
    full = _full_scale(image)
    surface = image.astype(np.float32)
    local = surface[shape > 0].mean(axis=0) if (shape > 0).any() else surface.mean(axis=(0, 1))
    # Darker on a bright surface, brighter on a dark one: always CONTRAST grey levels apart.
    sign = -1.0 if np.mean(local) > full / 2 else 1.0
    colour = np.clip(local + sign * CONTRAST * full / 255.0, 0, full)
    result = surface * (1 - alpha) + colour * alpha
    return _as_type(result, image), shape > 0


def _full_scale(image: np.ndarray) -> float:
    """255 for uint8 images, 1 for float32 ones in [0, 1] (deeper images)."""
    return 255.0 if image.dtype == np.uint8 else 1.0


def _as_type(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    full = _full_scale(like)
    clipped = np.clip(values, 0, full)
    return clipped.astype(np.uint8) if like.dtype == np.uint8 else clipped.astype(np.float32)


def _paste_blob(image: np.ndarray, size: int, centre: tuple[int, int], rng: np.random.Generator):
    height, width = image.shape[:2]
    noise = perlin_noise((size, size), max(2, size // 6), rng)  # (size, size) in about [-1, 1]
    yy, xx = np.mgrid[0:size, 0:size]
    inside = (yy - (size - 1) / 2) ** 2 + (xx - (size - 1) / 2) ** 2 <= (size / 2) ** 2
    stain = (noise > -0.1) & inside
    if not stain.any():
        stain = inside
    # Texture from elsewhere in the image, flipped, as DRAEM pastes foreign texture.
    top = int(rng.integers(0, max(1, height - size)))
    left = int(rng.integers(0, max(1, width - size)))
    source = image[top:top + size, left:left + size][::-1, ::-1].astype(np.float32)
    mask = np.zeros((height, width), bool)
    y0, x0 = centre[1] - size // 2, centre[0] - size // 2
    ys, xs = slice(max(y0, 0), min(y0 + size, height)), slice(max(x0, 0), min(x0 + size, width))
    part = stain[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    mask[ys, xs] = part
    result = image.astype(np.float32)
    region = result[ys, xs]
    patch = source[:region.shape[0], :region.shape[1]]
    full = _full_scale(image)
    shift = CONTRAST * full / 255.0 * (-1.0 if region.mean() > full / 2 else 1.0)  # keep it visible
    region[part] = np.clip(0.5 * region[part] + 0.5 * (patch[part] + shift), 0, full)
    return _as_type(result, image), mask


def perlin_noise(shape: tuple[int, int], cells: int, rng: np.random.Generator) -> np.ndarray:
    """2-D gradient (Perlin) noise over a grid of `cells` x `cells`, (H, W) in about [-1, 1]."""
    height, width = shape
    angles = rng.uniform(0, 2 * np.pi, (cells + 1, cells + 1))
    gradients = np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # (c+1, c+1, 2)
    y = np.linspace(0, cells, height, endpoint=False)[:, None] * np.ones((1, width))
    x = np.linspace(0, cells, width, endpoint=False)[None, :] * np.ones((height, 1))
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = y - y0, x - x0

    def corner(dy: int, dx: int) -> np.ndarray:
        g = gradients[y0 + dy, x0 + dx]
        return g[..., 0] * (fy - dy) + g[..., 1] * (fx - dx)

    def fade(t: np.ndarray) -> np.ndarray:
        return t * t * t * (t * (t * 6 - 15) + 10)

    u, v = fade(fx), fade(fy)
    top = corner(0, 0) * (1 - u) + corner(0, 1) * u
    bottom = corner(1, 0) * (1 - u) + corner(1, 1) * u
    return np.sqrt(2.0) * (top * (1 - v) + bottom * v)


@dataclass
class SyntheticScores:
    """What a model makes of held-out good images with pasted defects."""
    results: list[SyntheticResult]  # detection at the model's threshold, per kind and size
    image_auroc: float  # clean images against every pasted one, by image score
    pixel_auroc: float  # every pixel of the clean and pasted images against the pasted masks


def score_synthetic(detector: Detector, good_images: Sequence[np.ndarray],
                    specs: Sequence[DefectSpec] = DEFAULT_SPECS, seed: int = 0) -> SyntheticScores:
    """Paste each kind of defect into every good image and judge it at the model's threshold.

    `good_images` must be good images the detector was neither trained nor calibrated on;
    the defects are pasted into them at their own size. Pixel AUROC is measured there too.
    """
    if not good_images:
        raise ValueError("synthetic validation needs good images held out of training")
    if not specs:
        raise ValueError("synthetic validation needs at least one kind of defect")
    images = list(good_images)
    threshold = float(detector.threshold)
    clean_scores, clean_maps = _scores_and_maps(detector, images)
    clean_fail = clean_scores >= threshold
    rng = np.random.default_rng(seed)
    results, scores, maps, masks = [], [clean_scores], [clean_maps], [np.zeros(len(clean_maps), bool)]
    for spec in specs:
        pasted, spec_masks = zip(*(paste_defect(image, spec, rng) for image in images))
        spec_scores, spec_maps = _scores_and_maps(detector, list(pasted))
        caught = spec_scores >= threshold
        results.append(SyntheticResult(spec.kind, spec.size, len(images), float(caught.mean()),
                                       float(clean_fail.mean())))
        scores.append(spec_scores)
        maps.append(spec_maps)
        masks.append(np.concatenate([mask.ravel() for mask in spec_masks]))
    labels = np.r_[np.zeros(len(images), bool), np.ones(len(images) * len(specs), bool)]
    return SyntheticScores(results, image_auroc(labels, np.concatenate(scores)),
                           pixel_auroc(np.concatenate(masks), np.concatenate(maps)))


def _scores_and_maps(detector: Detector, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated scores (N,) and every pixel of their maps, at the images' own sizes."""
    prediction = detector.predict(images)
    return prediction.scores, np.concatenate([m.ravel() for m in prediction.maps])


def synthetic_validation(detector: Detector, good_images: Sequence[np.ndarray],
                         specs: Sequence[DefectSpec] = DEFAULT_SPECS, seed: int = 0
                         ) -> list[SyntheticResult]:
    """Detection at the model's threshold per kind and size (see `score_synthetic`)."""
    return score_synthetic(detector, good_images, specs, seed).results


def summary(results: Sequence[SyntheticResult]) -> str:
    """'detects 95 % of 3-pixel spots, 100 % of 8-pixel scratches' (the smallest size of each
    kind that it catches at least 90 % of, else the best it does)."""
    parts = []
    for kind in KINDS:
        rows = sorted((r for r in results if r.kind == kind), key=lambda r: r.size)
        if not rows:
            continue
        caught = [r for r in rows if r.detected >= 0.9]
        parts.append((caught[0] if caught else max(rows, key=lambda r: r.detected)).sentence())
    return "detects " + ", ".join(parts) if parts else ""


def as_plain_data(results: Sequence[SyntheticResult]) -> dict:
    """JSON- and model-file-safe form: the rows and the summary sentence."""
    return {"summary": summary(results), "results": [asdict(r) for r in results]}
