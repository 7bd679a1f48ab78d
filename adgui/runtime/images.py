"""Images into the exported graph: the same OpenCV resize as the torch path, without torch.

The graph takes the image already at the recipe's working size. The shrink stays outside
it on purpose: OpenCV's area filter (what `algorithms.tensors.resize_rgb` uses, and what
the model was trained and calibrated on) has no exact ONNX counterpart, and an approximate
one would move scores by more than the parity tolerance. A test keeps the two copies equal.
"""
from __future__ import annotations

import cv2
import numpy as np


def resize_rgb(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB uint8 image to size x size; area averaging when shrinking avoids aliasing."""
    height, width = image.shape[:2]
    if (height, width) == (size, size):
        return image
    shrinking = height * width > size * size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def graph_input(image: np.ndarray, size: int) -> np.ndarray:
    """An 8-bit RGB (H, W, 3) or mono (H, W) image -> contiguous uint8 (size, size, 3)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"an exported recipe inspects 8-bit images; got {kind}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected an RGB (H, W, 3) or mono (H, W) image; got shape {image.shape}")
    resized = resize_rgb(image, size)
    if resized.ndim == 2:  # mono: replicated to three channels after resizing, as for torch
        resized = np.repeat(resized[:, :, None], 3, axis=2)
    return np.ascontiguousarray(resized)


def probe_images(size: int) -> list[np.ndarray]:
    """Three fixed test patterns, at sizes that take each path of the resize (shrunk, enlarged,
    untouched). Integer arithmetic only, so every machine makes the same pixels: the export
    stores the torch model's results on them, and loading checks the runtime against those."""
    probes = []
    for index, (height, width) in enumerate(((size * 3 // 2, size * 5 // 3),
                                             (size * 3 // 5, size * 3 // 4), (size, size))):
        y, x, channel = np.mgrid[0:height, 0:width, 0:3].astype(np.int64)
        waves = (x * (3 + index) + y * (2 + channel)) % 96  # stripes, a different slant per channel
        noise = ((x * 73_856_093) ^ (y * 19_349_663) ^ ((channel + index) * 83_492_791)) % 41
        probes.append((64 + waves + noise).astype(np.uint8))  # at most 64 + 95 + 40 = 199
    return probes
