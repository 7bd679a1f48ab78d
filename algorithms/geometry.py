"""Where a model's square inputs come from in an image, and how their maps go back.

An image of any shape becomes T square inputs of `image_size` pixels:
- "squeeze" stretches the whole image to a square (the first models did this);
- "pad" keeps the aspect ratio: the long side is scaled to fit, the rest padded with a
  constant (top-left aligned) and the padding cropped off the map again;
- with a `working_side`, the image is first scaled so its long side is `working_side`, then
  cut into overlapping square tiles, so a small defect keeps enough pixels to show in the
  feature grid. The tiles' maps are blended back into one map without seams.

Numpy and OpenCV only: the exported runtime, which has no torch, calls the same functions
with its graph's maps, so torch and ONNX agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

FIT_MODES = ("pad", "squeeze")
PAD_VALUE = 0.0  # the padding's level in [0, 1]; the good images carry it too, so it is normal


@dataclass(frozen=True)
class Geometry:
    image_size: int = 256  # side of each square model input
    fit_mode: str = "pad"  # "pad" keeps the aspect ratio, "squeeze" stretches to a square
    working_side: int = 0  # long side before cutting into tiles; 0 = one input, no tiles
    tile_overlap: float = 0.25  # share of image_size that neighbouring tiles overlap

    def __post_init__(self) -> None:
        if self.fit_mode not in FIT_MODES:
            raise ValueError(f"fit_mode must be one of {', '.join(FIT_MODES)}; got {self.fit_mode!r}")
        if self.image_size < 1:
            raise ValueError(f"image_size must be positive; got {self.image_size}")
        if self.working_side < 0:
            raise ValueError(f"working_side must be 0 (no tiles) or a side in pixels; got {self.working_side}")
        if not 0.0 <= self.tile_overlap < 1.0:
            raise ValueError(f"tile_overlap must be in [0, 1); got {self.tile_overlap}")

    @classmethod
    def of(cls, config: Any) -> "Geometry":
        """The geometry of a detector config, a recipe's config dict, or anything with those
        attributes; a setting it lacks takes the value of models made before it existed."""
        def get(name: str, default: Any) -> Any:
            if isinstance(config, dict):
                return config.get(name, default)
            return getattr(config, name, default)
        return cls(image_size=int(get("image_size", 256)), fit_mode=str(get("fit_mode", "squeeze")),
                   working_side=int(get("working_side", 0)),
                   tile_overlap=float(get("tile_overlap", 0.25)))

    @property
    def tiled(self) -> bool:
        return self.working_side > 0


@dataclass(frozen=True)
class Layout:
    """Where each model input of one image came from."""
    height: int  # the original image's size
    width: int
    content_height: int  # the image scaled (before padding), in model-input pixels
    content_width: int
    tile: int  # side of each input
    origins: tuple[tuple[int, int], ...]  # (top, left) of each input on the padded canvas

    @property
    def canvas(self) -> tuple[int, int]:
        """(height, width) of the padded working image the inputs are cut from."""
        return max(self.content_height, self.tile), max(self.content_width, self.tile)

    def __len__(self) -> int:
        return len(self.origins)


def content_size(height: int, width: int, geometry: Geometry) -> tuple[int, int]:
    """(height, width) the image is scaled to before padding and tiling."""
    if height < 1 or width < 1:
        raise ValueError(f"an image needs at least one pixel; got {height} x {width}")
    side = working_long_side(geometry)
    if geometry.fit_mode == "squeeze":
        return side, side
    scale = side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def tile_origins(length: int, tile: int, overlap: float) -> list[int]:
    """Starts of tiles along one axis: evenly spread, the first at 0 and the last at the end,
    neighbours overlapping by at least `overlap` of a tile."""
    if length <= tile:
        return [0]
    step = max(1, tile - round(overlap * tile))
    count = math.ceil((length - tile) / step) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def layout_of(height: int, width: int, geometry: Geometry) -> Layout:
    content_height, content_width = content_size(height, width, geometry)
    side = geometry.image_size
    rows = tile_origins(max(content_height, side), side, geometry.tile_overlap)
    columns = tile_origins(max(content_width, side), side, geometry.tile_overlap)
    origins = tuple((top, left) for top in rows for left in columns)
    return Layout(height, width, content_height, content_width, side, origins)


def tile_count(height: int, width: int, geometry: Geometry) -> int:
    """How many model inputs an image of this size becomes."""
    return len(layout_of(height, width, geometry).origins)


def model_inputs(image: np.ndarray, geometry: Geometry, bit_depth: int = 8) -> tuple[np.ndarray, Layout]:
    """An image -> its model inputs (T, S, S, 3) float32 in [0, 1], and their Layout.

    The image is (H, W) or (H, W, 3): uint8, uint16 (normalised by `bit_depth`, the real
    depth of its samples; a uint16 image given as 8 bits is taken as 16), or float32 already
    in [0, 1]. It is resized in its own type (area when shrinking, linear when enlarging), and
    mono is replicated to three channels only here.
    """
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"an image must be (H, W) or (H, W, 3); got shape {image.shape}")
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"images must be uint8, uint16 or float32 in [0, 1]; got {image.dtype}")
    layout = layout_of(image.shape[0], image.shape[1], geometry)
    resized = to_unit(working_image(image, geometry), bit_depth)
    canvas_height, canvas_width = layout.canvas
    if resized.shape[:2] != (canvas_height, canvas_width):
        canvas = np.full((canvas_height, canvas_width, 3), PAD_VALUE, dtype=np.float32)
        canvas[:layout.content_height, :layout.content_width] = resized
        resized = canvas
    side = layout.tile
    inputs = np.stack([resized[top:top + side, left:left + side] for top, left in layout.origins])
    return inputs, layout  # (T, S, S, 3)


def working_image(image: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The image scaled as the model works on it, before padding and tiling, in its own
    type. Reading images through this keeps only what the model will use: `model_inputs`
    of the result gives the same inputs as of the original."""
    return _resize(image, *content_size(image.shape[0], image.shape[1], geometry))


def working_long_side(geometry: Geometry) -> int:
    """The long side of every working image, in pixels."""
    return geometry.working_side if geometry.tiled else geometry.image_size


def to_unit(image: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """uint8 / uint16 / float32 (H, W[, 3]) -> float32 (H, W, 3) in [0, 1]."""
    if image.dtype == np.uint8:
        unit = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        depth = bit_depth if 8 < bit_depth <= 16 else 16
        unit = np.minimum(image.astype(np.float32) / float(2 ** depth - 1), 1.0)
    elif image.dtype == np.float32:
        unit = image
    else:
        raise ValueError(f"images must be uint8, uint16 or float32 in [0, 1]; got {image.dtype}")
    if unit.ndim == 2:
        unit = np.repeat(unit[:, :, None], 3, axis=2)
    return unit


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area averaging when shrinking avoids aliasing; linear when enlarging."""
    if image.shape[:2] == (height, width):
        return image
    shrinking = image.shape[0] * image.shape[1] > height * width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


def blend_weights(side: int) -> np.ndarray:
    """(S, S) weights of one tile's map when tiles are blended: highest at the centre and
    falling linearly to a small positive value at the edges, so that where tiles overlap the
    map passes smoothly from one to the next (no seam), and every pixel has some weight."""
    ramp = np.minimum(np.arange(1, side + 1), np.arange(side, 0, -1)).astype(np.float32)
    ramp /= ramp.max()
    return np.outer(ramp, ramp)


def stitch(maps: np.ndarray, layout: Layout) -> np.ndarray:
    """The inputs' maps (T, S, S) -> one float32 map (H, W) at the image's own size."""
    return at_image_size(blend(maps, layout), layout)


def at_image_size(content: np.ndarray, layout: Layout) -> np.ndarray:
    """A map over the working image (as `blend` gives it) -> (H, W) at the image's own size."""
    if content.shape == (layout.height, layout.width):
        return content
    # Bilinear, pixel centres aligned (as torch's interpolate with align_corners=False).
    return cv2.resize(content, (layout.width, layout.height), interpolation=cv2.INTER_LINEAR)


def blend(maps: np.ndarray, layout: Layout) -> np.ndarray:
    """The inputs' maps (T, S, S) -> one map over the working image (padding cropped), at
    working resolution: overlapping tiles averaged with `blend_weights`."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.shape != (len(layout.origins), layout.tile, layout.tile):
        raise ValueError(f"expected {len(layout.origins)} maps of {layout.tile} x {layout.tile} "
                         f"for this layout; got shape {maps.shape}")
    if len(layout.origins) == 1:
        canvas = maps[0]
    else:
        side = layout.tile
        weights = blend_weights(side)
        total = np.zeros(layout.canvas, dtype=np.float32)
        weight = np.zeros(layout.canvas, dtype=np.float32)
        for anomaly_map, (top, left) in zip(maps, layout.origins):
            total[top:top + side, left:left + side] += anomaly_map * weights
            weight[top:top + side, left:left + side] += weights
        canvas = total / weight
    return np.ascontiguousarray(canvas[:layout.content_height, :layout.content_width])


def image_score(scores: np.ndarray) -> float:
    """An image's score from its inputs' scores: its most anomalous input decides."""
    return float(np.max(scores))
