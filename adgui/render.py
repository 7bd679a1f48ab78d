"""Pictures for people: heatmap overlays with defect contours, and ROC plots (numpy + OpenCV).

Used by the command line to write PNGs and by the window to draw frames; no torch, no Qt.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from algorithms.files import atomic_write

from .sources.pixels import to_display8

PASS_COLOUR = (46, 160, 67)  # RGB
FAIL_COLOUR = (218, 54, 51)
CONTOUR_COLOUR = (255, 255, 255)


def display_rgb8(image: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Any frame as 8-bit RGB for the screen, scaled by its real bit depth (a 12-bit frame's
    4095 is white). Only the display is reduced to 8 bits; the model sees the full depth."""
    image = to_display8(image, bit_depth)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image)


def heat_colours(anomaly_map: np.ndarray) -> np.ndarray:
    """Calibrated map (0.5 = threshold) -> RGB uint8 with the 'inferno' colour scale."""
    scaled = np.clip(anomaly_map, 0.0, 1.0) * 255.0
    return cv2.applyColorMap(scaled.astype(np.uint8), cv2.COLORMAP_INFERNO)[:, :, ::-1]


def overlay(image: np.ndarray, anomaly_map: np.ndarray, threshold: float = 0.5,
            opacity: float = 0.45) -> np.ndarray:
    """Blend the heatmap where the map nears the threshold, and outline regions above it.

    Below 60 % of the threshold the part is shown untouched, so a good part looks clean
    and the eye goes straight to what is suspicious.
    """
    image = np.ascontiguousarray(image)
    heat = heat_colours(anomaly_map).astype(np.float32)
    start = 0.6 * threshold
    ramp = np.clip((anomaly_map - start) / max(threshold - start, 1e-6), 0.0, 1.0)
    alpha = (opacity * ramp)[:, :, None]
    blended = image.astype(np.float32) * (1.0 - alpha) + heat * alpha
    out = blended.astype(np.uint8)
    thickness = max(1, round(max(image.shape[:2]) / 300))
    cv2.drawContours(out, anomaly_contours(anomaly_map, threshold), -1, CONTOUR_COLOUR, thickness,
                     lineType=cv2.LINE_AA)
    return out


def anomaly_contours(anomaly_map: np.ndarray, threshold: float) -> list[np.ndarray]:
    """Outer contours of the regions at or above the threshold."""
    binary = (anomaly_map >= threshold).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return list(contours)


def verdict_banner(picture: np.ndarray, verdict: str, score: float) -> np.ndarray:
    """A coloured strip with the verdict and score above the picture."""
    height = max(28, picture.shape[0] // 12)
    colour = FAIL_COLOUR if verdict == "FAIL" else PASS_COLOUR
    banner = np.full((height, picture.shape[1], 3), colour, dtype=np.uint8)
    scale = height / 40
    cv2.putText(banner, f"{verdict}  {score:.3f}", (8, int(height * 0.75)), cv2.FONT_HERSHEY_SIMPLEX,
                scale, (255, 255, 255), max(1, round(scale * 2)), cv2.LINE_AA)
    return np.vstack([banner, picture])


def roc_plot(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], size: int = 480) -> np.ndarray:
    """ROC curves {label: (fpr, tpr, auroc)} drawn on a white square, RGB uint8."""
    margin = 48
    plot = np.full((size, size, 3), 255, dtype=np.uint8)
    side = size - 2 * margin

    def point(x: float, y: float) -> tuple[int, int]:
        return int(margin + x * side), int(size - margin - y * side)

    for tick in np.linspace(0, 1, 6):
        cv2.line(plot, point(tick, 0), point(tick, 1), (230, 230, 230), 1)
        cv2.line(plot, point(0, tick), point(1, tick), (230, 230, 230), 1)
        cv2.putText(plot, f"{tick:.1f}", (point(tick, 0)[0] - 10, size - margin + 18),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
        cv2.putText(plot, f"{tick:.1f}", (8, point(0, tick)[1] + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (80, 80, 80), 1, cv2.LINE_AA)
    cv2.rectangle(plot, point(0, 1), point(1, 0), (60, 60, 60), 1)
    cv2.line(plot, point(0, 0), point(1, 1), (170, 170, 170), 1, cv2.LINE_AA)
    colours = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
    for index, (label, (fpr, tpr, auroc)) in enumerate(curves.items()):
        colour = colours[index % len(colours)]
        points = np.array([point(x, y) for x, y in zip(fpr, tpr)], dtype=np.int32)
        cv2.polylines(plot, [points], False, colour, 2, cv2.LINE_AA)
        cv2.putText(plot, f"{label}: AUROC {auroc:.4f}", (margin + 8, margin + 18 + 18 * index),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    cv2.putText(plot, "false positive rate", (size // 2 - 60, size - 10), cv2.FONT_HERSHEY_SIMPLEX,
                0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(plot, "ROC", (margin, margin - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1,
                cv2.LINE_AA)
    return plot


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB image as PNG, atomically."""
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_write(path) as stream:
        stream.write(encoded.tobytes())
    return Path(path)
