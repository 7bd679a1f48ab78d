"""Evaluating a model on a labelled folder: metrics, a ROC plot and example overlays.

Image metrics use the calibrated scores. Pixel metrics are computed at the model's input
resolution with the masks resized (nearest) to it, as anomalib does, so figures compare.
Given the recipe version in force, its threshold and ROI apply as in live inspection: the
score of each image comes from `roi_result` on the map at the image's own size.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from algorithms import Detector, Progress
from algorithms.base import no_progress
from algorithms.images import to_rgb8
from algorithms.datasets import LabelledImage, has_masks, labelled_images, read_images, read_mask
from algorithms.metrics import aupro, confusion, f1_max, image_auroc, pixel_auroc, roc_points
from algorithms.tensors import images_to_tensor, resize_maps

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
    raw_scores, raw_maps, latencies = [], [], []
    for index, image in enumerate(images):
        tensor = images_to_tensor([image], size)
        started = time.perf_counter()
        score, anomaly_map = detector.raw_predict(tensor)
        latencies.append((time.perf_counter() - started) * 1000.0)
        raw_scores.append(score)
        raw_maps.append(anomaly_map)
        progress((index + 1) / len(items), f"inspecting {index + 1} / {len(items)}")
    scores = detector.normalize_scores(torch.cat(raw_scores)).numpy()
    maps = torch.cat(raw_maps)  # (N, S, S) raw: same ranking as calibrated
    if version is not None and version.has_roi:
        scores, maps = _with_roi(detector, images, maps, version)
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
        "device": str(detector.device),
        "recipe_version": version.number if version is not None else None,
        "roi": version.has_roi if version is not None else False,
    }
    if with_masks:
        masks = np.stack([read_mask(item, size) for item in items])
        metrics["pixel_auroc"] = pixel_auroc(masks, maps.numpy())
        metrics["aupro"] = aupro(masks, maps.numpy())
    if out_dir is not None:
        _write_pictures(Path(out_dir), detector, items, images, labels, scores, maps, metrics,
                        version)
    return Evaluation(metrics, labels, scores, items)


def _with_roi(detector, images, raw_maps, version: RecipeVersion) -> tuple[np.ndarray, torch.Tensor]:
    """Scores as live inspection gives them (ROI on the map at each image's own size), and
    the working-size maps with the ROI applied, for the pixel metrics."""
    calibrated = detector.normalize_maps(raw_maps)  # (N, S, S)
    scores, masked = [], []
    for index, image in enumerate(images):
        full = resize_maps(calibrated[index:index + 1], [image.shape[:2]])[0]
        scores.append(roi_result(0.0, full, version.roi, version.roi_calibration)[0])
        masked.append(roi_result(0.0, calibrated[index].numpy(), version.roi,
                                 version.roi_calibration)[1])
    return np.asarray(scores, dtype=np.float32), torch.from_numpy(np.stack(masked))


def _write_pictures(out_dir, detector, items, images, labels, scores, raw_maps, metrics,
                    version: RecipeVersion | None = None) -> None:
    fpr, tpr = roc_points(labels, scores)
    write_png(out_dir / "roc.png", roc_plot({detector.name: (fpr, tpr, metrics["image_auroc"])}))
    threshold = metrics["threshold"]
    for index in _example_indices(labels, scores, threshold):
        calibrated = raw_maps[index:index + 1]
        if version is None or not version.has_roi:  # with an ROI they are on its scale already
            calibrated = detector.normalize_maps(calibrated)
        anomaly_map = resize_maps(calibrated, [images[index].shape[:2]])[0]
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
