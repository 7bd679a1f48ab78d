"""Images into the exported graph: the torch path's own geometry, without torch.

The graph takes one model input: a square of the recipe's input size, float32 RGB in
[0, 1]. Cutting the image into those inputs (scaled to its working size with OpenCV's area
filter, padded or squeezed, tiled) and stitching the inputs' maps back at the image's own
size happen outside the graph, in `algorithms.geometry` (numpy and OpenCV only), the same
functions the torch path calls: the area filter has no exact ONNX counterpart, and one
copy of the arithmetic on both paths is what keeps them within the parity tolerances.
"""
from __future__ import annotations

import numpy as np

from algorithms.geometry import Geometry, model_inputs

IMAGE_TYPES = (np.uint8, np.uint16, np.float32)


def check_image(image: np.ndarray) -> np.ndarray:
    """An image the runtime takes, mono (H, W) or RGB (H, W, 3): uint8, uint16 (with its bit
    depth) or float32 in [0, 1]; anything else is refused with what was given."""
    if not isinstance(image, np.ndarray) or image.dtype not in IMAGE_TYPES:
        kind = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"an exported recipe inspects 8-bit, 16-bit or float32 images in "
                         f"[0, 1]; got {kind}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected an RGB (H, W, 3) or mono (H, W) image; got shape {image.shape}")
    return image


def legacy_graph_input(image: np.ndarray, size: int) -> np.ndarray:
    """The input of a graph exported before the geometry: the 8-bit image squeezed to
    (size, size, 3) uint8. Made by the same resize as the torch path's; scaling its [0, 1]
    values back by 255 gives the resized bytes exactly."""
    if image.dtype != np.uint8:
        raise ValueError("this recipe was exported by an earlier adgui and inspects 8-bit "
                         "images only; export it again to inspect 16-bit or float images")
    inputs, _ = model_inputs(image, Geometry(image_size=size, fit_mode="squeeze"))
    return np.ascontiguousarray(np.rint(inputs[0] * 255.0).astype(np.uint8))  # (S, S, 3)


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
