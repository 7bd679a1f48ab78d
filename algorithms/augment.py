"""Light augmentations: more good images from few, for measuring how training scales.

Each copy is the original shifted by a few pixels, turned by a few degrees (borders
reflected) and with brightness and contrast moved by a few per cent: what the same part
looks like on the next trigger, never a new kind of appearance (no flips, no colour shifts).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

MAX_SHIFT = 0.015  # of the image side
MAX_DEGREES = 3.0
MAX_GAIN = 0.05  # contrast, relative
MAX_OFFSET = 8.0  # brightness, in grey levels


def resize_count(images: Sequence[np.ndarray], count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` images: the first `count` originals, or all of them followed by augmented copies
    of each in turn."""
    if count < 1:
        raise ValueError(f"the number of training images must be at least 1, not {count}")
    images = list(images)
    if not images:
        raise ValueError("no images to repeat")
    if count <= len(images):
        return images[:count]
    rng = np.random.default_rng(seed)
    copies = [light_augmentation(images[i % len(images)], rng) for i in range(count - len(images))]
    return images + copies


def light_augmentation(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A slightly shifted, turned, brighter or darker copy of an RGB uint8 image (H, W, 3)."""
    height, width = image.shape[:2]
    angle = rng.uniform(-MAX_DEGREES, MAX_DEGREES)
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), angle, 1.0)
    matrix[:, 2] += rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2) * (width, height)
    moved = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT_101)
    gain = 1.0 + rng.uniform(-MAX_GAIN, MAX_GAIN)
    offset = rng.uniform(-MAX_OFFSET, MAX_OFFSET)
    return np.clip(moved.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
