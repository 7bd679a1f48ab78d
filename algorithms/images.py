"""Reading images robustly, for the model at their own depth and for display in 8 bits.

Factory images come as 8- or 16-bit, grayscale, RGB, RGBA, in odd sizes, and sometimes
truncated by a network copy. Everything that cannot become a picture raises ImageError
with a sentence a person can act on.

What the model sees (`read_for_model`): 8-bit files as uint8, mono (H, W) or RGB (H, W, 3);
deeper files as float32 in [0, 1], divided by the full scale of their real bit depth. A
16-bit file does not say how many of its bits a camera filled (a 12-bit camera's image saved
as a 16-bit PNG holds 0..4095), and its largest value is no guide (a dark image would be
stretched): the depth is declared by whoever knows it, when a recipe is trained (`adgui
train --bit-depth 12`), and the recipe applies it to every 16-bit file it inspects. Without
a declaration a 16-bit file is taken as 16 bits. Displays take 8-bit copies (`to_rgb8`).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MAX_SIDE = 20_000  # pixels; a larger image is almost surely a mistake and would exhaust memory
MIN_SIDE = 8


class ImageError(ValueError):
    """An image that cannot be used; the message says why in plain words."""


def read_image(path: str | Path) -> np.ndarray:
    """Read a file as an RGB uint8 array (H, W, 3)."""
    path = Path(path)
    image = cv2.imdecode(_read_bytes(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(f"{path.name}: not a readable image (unknown format or damaged file)")
    return to_rgb8(image, name=path.name, bgr=True)


def _read_bytes(path: Path) -> np.ndarray:
    """The file's bytes, refused early if empty, truncated or absurdly large."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # fromfile copes with non-ASCII paths
    except FileNotFoundError:
        raise ImageError(f"{path.name}: file not found") from None
    except IsADirectoryError:
        raise ImageError(f"{path.name}: is a folder, not an image") from None
    except OSError as exc:
        raise ImageError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise ImageError(f"{path.name}: the file is empty")
    if _is_truncated_jpeg(data):
        raise ImageError(f"{path.name}: the JPEG file is truncated")
    _check_header_size(path.name, data)
    return data


def read_native(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a file at its own depth: (image, bit depth). Mono stays (H, W), colour is RGB
    (H, W, 3); 16-bit files stay uint16 so nothing is lost before the model."""
    path = Path(path)
    image = cv2.imdecode(_read_bytes(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(f"{path.name}: not a readable image (unknown format or damaged file)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    _check_layout(image, path.name)
    if image.dtype not in (np.uint8, np.uint16):
        return to_rgb8(image, path.name, bgr=True), 8
    if image.ndim == 3:
        image = np.ascontiguousarray(image[:, :, 2::-1])  # BGR(A) -> RGB, alpha dropped
    if image.ndim == 3 and image.shape[2] == 3 and _is_gray(image):
        image = np.ascontiguousarray(image[:, :, 0])  # a grey picture saved as RGB is mono
    return image, 8 if image.dtype == np.uint8 else 16


def read_for_model(path: str | Path, bit_depth: int | None = None) -> np.ndarray:
    """Read a file as the model takes it: uint8 (H, W) or (H, W, 3) for 8-bit files, float32
    in [0, 1] for deeper ones, scaled by `bit_depth` significant bits (16 when not given).

    A value above the declared depth's full scale means the declaration is wrong for this
    file, and it is refused rather than clipped."""
    image, depth = read_native(path)
    if image.dtype == np.uint8:
        return image
    depth = deep_file_depth(bit_depth)
    if depth < 16 and int(image.max(initial=0)) > (1 << depth) - 1:
        raise ImageError(f"{Path(path).name}: holds values up to {int(image.max())}, more than "
                         f"{depth} bits allow; the recipe expects {depth}-bit images (train "
                         f"with --bit-depth 16 if the files use all 16 bits)")
    return to_unit(image, depth)


def deep_file_depth(bit_depth: int | None) -> int:
    """The significant bits of a 16-bit file: the declared depth, or all 16. A recipe
    trained on 8-bit files declares 8, which says nothing about a 16-bit file."""
    if bit_depth is None or int(bit_depth) <= 8:
        return 16
    if int(bit_depth) > 16:
        raise ImageError(f"a bit depth of {bit_depth} is not possible: at most 16")
    return int(bit_depth)


def to_unit(image: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """uint8 / uint16 samples -> float32 in [0, 1], scaled by the real bit depth."""
    if image.dtype == np.uint8 and bit_depth == 8:
        return image.astype(np.float32) / 255.0
    full_scale = float((1 << bit_depth) - 1)
    return np.clip(image.astype(np.float32) / full_scale, 0.0, 1.0)


def to_rgb8(image: np.ndarray, name: str = "image", bgr: bool = False) -> np.ndarray:
    """Convert gray / 16-bit / float / RGBA arrays to contiguous RGB uint8 (H, W, 3)."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    _check_layout(image, name)
    image = _to_uint8(image)
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.shape[2] == 4:
        image = image[:, :, :3]  # alpha carries no inspection information
    if bgr:
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _check_layout(image: np.ndarray, name: str) -> None:
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageError(f"{name}: unsupported pixel layout {image.shape}")
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageError(f"{name}: too small ({width} x {height} pixels)")
    if max(height, width) > MAX_SIDE:
        raise ImageError(f"{name}: too large ({width} x {height} pixels; at most {MAX_SIDE})")


def _is_gray(image: np.ndarray) -> bool:
    # Compare a sparse sample first: most colour images differ within a few hundred pixels.
    sample = image[::7, ::7]
    if not (np.array_equal(sample[..., 0], sample[..., 1]) and np.array_equal(sample[..., 1], sample[..., 2])):
        return False
    return bool(np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2]))


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        finite = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        scale = 255.0 if finite.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(finite * scale, 0, 255).astype(np.uint8)
    info = np.iinfo(image.dtype)
    shifted = image.astype(np.float64) - info.min
    return (shifted * (255.0 / (info.max - info.min))).astype(np.uint8)


def _is_truncated_jpeg(data: np.ndarray) -> bool:
    # libjpeg silently fills a cut-off JPEG with grey; the end-of-image marker tells.
    if data.size < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return False
    tail = data[-64:].tobytes()
    return b"\xff\xd9" not in tail


def _check_header_size(name: str, data: np.ndarray) -> None:
    # Refuse absurd dimensions before decoding allocates gigabytes.
    head = data[:32].tobytes()
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24:
        width = int.from_bytes(head[16:20], "big")
        height = int.from_bytes(head[20:24], "big")
        if max(width, height) > MAX_SIDE:
            raise ImageError(f"{name}: too large ({width} x {height} pixels; at most {MAX_SIDE})")
