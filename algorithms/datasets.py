"""Folders of images: training folders, and labelled sets in the MVTec AD layout or plain.

MVTec AD category: `train/good`, `test/<type>/*.png`, `ground_truth/<type>/<id>_mask.png`.
Plain labelled folder: a `good` (or `ok`, `pass`) sub-folder of good images and any other
sub-folders of defective ones, without masks.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from .images import ImageError, list_images, read_for_model

GOOD_NAMES = ("good", "ok", "pass", "normal")


class DatasetError(ValueError):
    """A folder that does not hold what was asked of it."""


@dataclass
class LabelledImage:
    path: Path
    defective: bool
    kind: str  # the defect type, or "good"
    mask_path: Path | None = None  # ground truth, when the layout has it


def training_images(folder: str | Path) -> list[Path]:
    """Good images to train on: an MVTec category's train/good, a good/ sub-folder, or the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    for candidate in (folder / "train" / "good", *(folder / name for name in GOOD_NAMES), folder):
        if candidate.is_dir():
            paths = list_images(candidate)
            if paths:
                return paths
    raise DatasetError(f"no images found in {folder} (looked for .png, .jpg, .bmp, .tif files)")


def labelled_images(folder: str | Path) -> list[LabelledImage]:
    """The labelled test set of an MVTec category or of a plain good/defect folder."""
    folder = Path(folder)
    root = folder / "test" if (folder / "test").is_dir() else folder
    if not root.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    items: list[LabelledImage] = []
    for kind_folder in sorted(p for p in root.iterdir() if p.is_dir()):
        kind = kind_folder.name
        defective = kind.lower() not in GOOD_NAMES
        for path in list_images(kind_folder):
            mask = folder / "ground_truth" / kind / f"{path.stem}_mask.png"
            items.append(LabelledImage(path, defective, kind, mask if mask.is_file() else None))
    if not items:
        raise DatasetError(f"{folder} has no labelled images: expected test/<type>/ or "
                           f"good/ and defect sub-folders")
    if not any(item.defective for item in items) or all(item.defective for item in items):
        raise DatasetError(f"{folder} needs both good and defective images to be evaluated")
    return items


def has_masks(items: Sequence[LabelledImage]) -> bool:
    """True when every defective image has a ground-truth mask."""
    return all(item.mask_path is not None for item in items if item.defective)


def read_mask(item: LabelledImage, size: int) -> np.ndarray:
    """The item's ground truth as a (size, size) boolean mask; all False for good images."""
    if item.mask_path is None:
        return np.zeros((size, size), dtype=bool)
    mask = cv2.imdecode(np.fromfile(item.mask_path, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ImageError(f"{item.mask_path.name}: not a readable mask")
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST) > 127


def read_images(paths: Sequence[Path], on_error: Callable[[Path, ImageError], None] | None = None,
                progress: Callable[[int], None] | None = None,
                transform: Callable[[np.ndarray], np.ndarray] | None = None,
                bit_depth: int | None = None) -> list[np.ndarray | None]:
    """Read many images as the model takes them (`images.read_for_model`: 8-bit files as
    uint8, mono or RGB; deeper files as float32 in [0, 1] by `bit_depth`), two threads at a
    time (decoding releases the GIL).

    An unreadable image becomes None and is reported to `on_error`; without `on_error`
    the first bad image raises. `transform` (e.g. a resize) is applied as each image
    arrives, so that large originals are never all held at once.
    """
    def read(path: Path) -> np.ndarray | None:
        try:
            image = read_for_model(path, bit_depth)
            return transform(image) if transform is not None else image
        except ImageError as error:
            if on_error is None:
                raise
            on_error(path, error)
            return None

    images = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for index, image in enumerate(pool.map(read, paths)):
            images.append(image)
            if progress is not None:
                progress(index + 1)
    return images
