"""Moving images between numpy (any size, RGB or mono) and model tensors (square, [0, 1])."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def resize_rgb(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an image to size x size; area averaging when shrinking avoids aliasing."""
    height, width = image.shape[:2]
    if (height, width) == (size, size):
        return image
    shrinking = height * width > size * size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def images_to_tensor(images: Sequence[np.ndarray], size: int,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """Images of any size -> (N, 3, size, size) float32 in [0, 1].

    Each image is uint8 (0-255) or float32 already in [0, 1] (deeper samples, normalised by
    their real bit depth); RGB (H, W, 3) or mono (H, W), replicated to three channels only
    here, at the last step.
    """
    if len(images) == 0:
        raise ValueError("no images given")
    resized = [_as_unit_rgb(resize_rgb(image, size)) for image in images]
    stacked = np.stack(resized)  # (N, S, S, 3) float32
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous().to(device)


def _as_unit_rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    else:
        image = image.astype(np.float32, copy=False)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return image


def resize_maps(maps: torch.Tensor, sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """(B, S, S) maps -> one float32 array per image at its own (height, width)."""
    out = []
    for anomaly_map, size in zip(maps, sizes):
        if tuple(anomaly_map.shape) == tuple(size):
            out.append(anomaly_map.numpy().astype(np.float32, copy=False))
            continue
        resized = F.interpolate(anomaly_map[None, None].float(), size=tuple(size), mode="bilinear",
                                align_corners=False)
        out.append(resized[0, 0].numpy())
    return out
