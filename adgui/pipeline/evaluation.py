"""Evaluating a model on a labelled folder: metrics, a ROC plot and example overlays.

Image metrics use the calibrated scores. Pixel metrics are computed at the model's working
resolution (the image as the geometry scales it, tiles blended, padding cropped) with the
masks resized (nearest) to it, as anomalib does at its input size, so figures compare.
Given the recipe version in force, its threshold and ROI apply as in live inspection: the
score of each image comes from `roi_result` on the map at the image's own size.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from algorithms import Detector, Progress
from algorithms.base import no_progress
from algorithms.datasets import LabelledImage, has_masks, labelled_images, read_images
from algorithms.geometry import Layout, at_image_size, blend, working_long_side
from algorithms.images import to_rgb8
from algorithms.metrics import aupro, confusion, f1_max, image_auroc, pixel_auroc, roc_points

from ..recipes.versions import RecipeVersion
from ..render import overlay, roc_plot, verdict_banner, write_png
from .inspection import roi_result

EXAMPLES = 6


@dataclass
class Evaluation:
    metrics: dict  # the JSON the command line prints
    labels: np.ndarray  # (N,) True for defective
    scores: np.ndarray  # (N,) calibrated
    items: list[LabelledImage]


def evaluate(detector: Detector, data: str | Path, out_dir: str | Path | None = None,
             progress: Progress | None = None, version: RecipeVersion | None = None,
             bit_depth: int | None = None) -> Evaluation:
    """Score every labelled image one at a time (batch 1, as in live use) and measure.
    16-bit files are read at `bit_depth`, by default the depth the recipe was trained at."""
    progress = progress or no_progress
    items = labelled_images(data)
    size = detector.config.image_size
    bit_depth = bit_depth or detector.meta.get("bit_depth")
    images = read_images([item.path for item in items], bit_depth=bit_depth)
    with_masks = has_masks(items)
    raw_scores, raw_maps, layouts, latencies = [], [], [], []
    for index, image in enumerate(images):
        started = time.perf_counter()  # the inputs' resize and tiling included, as in live use
        ((score, tile_maps, layout),) = detector.raw_images([image])
        latencies.append((time.perf_counter() - started) * 1000.0)
        raw_scores.append(score)
        raw_maps.append(blend(tile_maps.numpy(), layout))  # (h, w) raw, at working resolution
        layouts.append(layout)
        progress((index + 1) / len(items), f"inspecting {index + 1} / {len(items)}")
    scores = detector.normalize_scores(torch.tensor(raw_scores)).numpy()
    maps = raw_maps  # raw: same ranking as calibrated
    if version is not None and version.has_roi:
        scores, maps = _with_roi(detector, layouts, maps, version)
    labels = np.array([item.defective for item in items])
    threshold = float(detector.threshold) if version is None else version.threshold
    best_f1, best_threshold = f1_max(labels, scores)
    metrics = {
        "detector": detector.name,
        "backbone": detector.config.backbone,
        "data": str(Path(data)),
        "images": len(items),
        "defective": int(labels.sum()),
        "image_auroc": image_auroc(labels, scores),
        "pixel_auroc": None,
        "aupro": None,
        "f1_max": best_f1,
        "f1_max_threshold": best_threshold,
        "threshold": threshold,
        "confusion_at_threshold": confusion(labels, scores, threshold).as_dict(),
        "fit_seconds": detector.meta.get("fit_seconds"),
        "train_images": detector.meta.get("train_images"),
        # Measured after training on held-out good images with pasted defects, when asked for.
        "synthetic_defects": detector.meta.get("synthetic_defects"),
        "synthetic_summary": (detector.meta.get("synthetic_defects") or {}).get("summary"),
        "latency_ms": statistics.median(latencies),
        "image_size": size,
        "fit_mode": detector.geometry.fit_mode,
        "working_side": detector.geometry.working_side,
        "device": str(detector.device),
        "recipe_version": version.number if version is not None else None,
        "roi": version.has_roi if version is not None else False,
    }
    if with_masks:
        masks = [_mask(item, anomaly_map.shape) for item, anomaly_map in zip(items, maps)]
        stacked_masks, stacked_maps = _same_shape(masks, maps, working_long_side(detector.geometry))
        metrics["pixel_auroc"] = pixel_auroc(stacked_masks, stacked_maps)
        metrics["aupro"] = aupro(stacked_masks, stacked_maps)
    if out_dir is not None:
        _write_pictures(Path(out_dir), detector, items, images, layouts, labels, scores, maps,
                        metrics, version)
    return Evaluation(metrics, labels, scores, items)


def _mask(item: LabelledImage, shape: tuple[int, int]) -> np.ndarray:
    """The item's ground truth at `shape` (nearest); all False for good images."""
    if item.mask_path is None:
        return np.zeros(shape, dtype=bool)
    mask = cv2.imdecode(np.fromfile(item.mask_path, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"{item.mask_path.name}: not a readable mask")
    return cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 127


def _same_shape(masks: list[np.ndarray], maps: list[np.ndarray], side: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(N, h, w) stacks for the pixel metrics. Images of one shape keep their working
    resolution; a set of mixed shapes is brought to side x side (maps bilinear, masks
    nearest), since AUPRO needs one grid."""
    if len({anomaly_map.shape for anomaly_map in maps}) > 1:
        masks = [cv2.resize(m.astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST) > 0
                 for m in masks]
        maps = [cv2.resize(m, (side, side), interpolation=cv2.INTER_LINEAR) for m in maps]
    return np.stack(masks), np.stack(maps)


def _with_roi(detector, layouts: list[Layout], raw_maps: list[np.ndarray],
              version: RecipeVersion) -> tuple[np.ndarray, list[np.ndarray]]:
    """Scores as live inspection gives them (ROI on the map at each image's own size), and
    the working-size maps with the ROI applied, for the pixel metrics."""
    scores, masked = [], []
    for layout, raw_map in zip(layouts, raw_maps):
        calibrated = detector.normalize_maps(torch.from_numpy(raw_map)).numpy()  # (h, w)
        full = at_image_size(calibrated, layout)
        scores.append(roi_result(0.0, full, version.roi, version.roi_calibration)[0])
        masked.append(roi_result(0.0, calibrated, version.roi, version.roi_calibration)[1])
    return np.asarray(scores, dtype=np.float32), masked


def _write_pictures(out_dir, detector, items, images, layouts, labels, scores, raw_maps, metrics,
                    version: RecipeVersion | None = None) -> None:
    fpr, tpr = roc_points(labels, scores)
    write_png(out_dir / "roc.png", roc_plot({detector.name: (fpr, tpr, metrics["image_auroc"])}))
    threshold = metrics["threshold"]
    for index in _example_indices(labels, scores, threshold):
        calibrated = raw_maps[index]
        if version is None or not version.has_roi:  # with an ROI they are on its scale already
            calibrated = detector.normalize_maps(torch.from_numpy(calibrated)).numpy()
        anomaly_map = at_image_size(np.asarray(calibrated, dtype=np.float32), layouts[index])
        verdict = "FAIL" if scores[index] >= threshold else "PASS"
        picture = verdict_banner(overlay(to_rgb8(images[index]), anomaly_map, threshold), verdict,
                                 float(scores[index]))
        item = items[index]
        write_png(out_dir / f"example_{item.kind}_{item.path.stem}.png", picture)


def _example_indices(labels, scores, threshold) -> list[int]:
    """Mistakes first (what an engineer must look at), then the clearest hits and passes."""
    fails = scores >= threshold
    wrong = np.flatnonzero(fails != labels)
    defective = np.flatnonzero(labels & fails)
    good = np.flatnonzero(~labels & ~fails)
    ordered = [*wrong[np.argsort(-np.abs(scores[wrong] - threshold))],
               *defective[np.argsort(-scores[defective])][:3], *good[np.argsort(scores[good])][:2]]
    return list(dict.fromkeys(int(i) for i in ordered))[:EXAMPLES]
