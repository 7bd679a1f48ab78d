"""The input geometry options of `adgui train` and `adgui eval --detector`.

    adgui train ... --smallest-defect 3                    # px of the training images
    adgui train ... --smallest-defect 0.2mm --mm-per-px 0.05
    adgui train ... --working-side 900 --fit pad           # the engineer's own choice

With --smallest-defect, the working resolution and tiling are proposed from the size of the
first training image (algorithms.geometry_advice); --working-side and --fit override the
proposal. The result is a set of detector settings, passed like any `--set KEY=VALUE`. The
training dialog asks the same questions and uses the same helpers.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Callable, NamedTuple

# Pure Python (no torch): the window's training dialog takes these from here.
from algorithms.geometry_advice import Proposal, defect_in_pixels, describe_geometry, propose_geometry

__all__ = ["FirstImage", "Proposal", "add_geometry_options", "defect_in_pixels", "defect_size",
           "describe_geometry", "first_image_layout", "first_image_shape", "geometry_overrides",
           "model_input_size", "propose_geometry"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(px|mm)?\s*$", re.IGNORECASE)


def defect_size(text: str) -> tuple[float, str]:
    """'3', '3px' or '0.2mm' -> (size, unit); argparse's type for --smallest-defect."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: a size in pixels (3 or 3px) or in "
                                         f"millimetres (0.2mm)")
    return float(match.group(1)), (match.group(2) or "px").lower()


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: millimetres per pixel, a number above 0")
    return value


def _side(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of pixels (0: no tiling)")
    return int(text)


def add_geometry_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "input geometry", "the smallest defect to catch chooses the working resolution and tiling")
    group.add_argument("--smallest-defect", type=defect_size, metavar="SIZE",
                       help="smallest defect to catch, in pixels of the training images (3, 3px) "
                            "or in millimetres (0.2mm, with --mm-per-px)")
    group.add_argument("--mm-per-px", type=_positive, metavar="MM",
                       help="image scale for a --smallest-defect in mm, e.g. 0.05")
    group.add_argument("--working-side", type=_side, metavar="N",
                       help="long side (px) the image is scaled to before it is cut into tiles; "
                            "0: no tiles (default: proposed from --smallest-defect)")
    group.add_argument("--fit", choices=("pad", "squeeze"),
                       help="pad: keep the aspect ratio (default); squeeze: stretch to a square")


def geometry_overrides(args, image_size: Callable[[], int], image_shape: Callable[[], tuple]
                       ) -> tuple[dict, str]:
    """The detector settings the geometry options ask for, and a sentence on the choice ("" when
    none was given). `image_size` gives the model's input side, `image_shape` the (height, width)
    of a training image: each is asked for only when needed."""
    if args.mm_per_px is not None and (args.smallest_defect is None
                                       or args.smallest_defect[1] != "mm"):
        raise ValueError("--mm-per-px converts a --smallest-defect given in mm, e.g. "
                         "--smallest-defect 0.2mm --mm-per-px 0.05")
    overrides: dict = {}
    if args.fit is not None:
        overrides["fit_mode"] = args.fit
    if args.working_side is not None:
        overrides["working_side"] = args.working_side
    if args.smallest_defect is None:
        return overrides, ""
    size, unit = args.smallest_defect
    defect_px = defect_in_pixels(size, unit, args.mm_per_px)
    height, width = image_shape()
    proposal = propose_geometry(height, width, defect_px, image_size=image_size())
    chosen = {**proposal.config_overrides(), **overrides}
    if overrides:  # the engineer's choice, described for what it gives
        proposal = describe_geometry(height, width, defect_px, chosen["working_side"],
                                     chosen["fit_mode"], proposal.tile_overlap,
                                     image_size=proposal.image_size)
        chosen["working_side"] = proposal.working_side
    declared = f"{size:g} mm at {args.mm_per_px:g} mm/px = " if unit == "mm" else ""
    return chosen, (f"smallest defect {declared}{defect_px:g} px, images of {width} x {height} "
                    f"px. {proposal.explanation}")


def model_input_size(detector: str, preset: str, overrides: dict) -> int:
    """The square input side of the detector's config with these settings (loads the detectors)."""
    from algorithms import make_config

    return make_config(detector, preset, **overrides).image_size


class FirstImage(NamedTuple):
    """What the first good image of a training folder tells before training."""

    height: int
    width: int
    bit_depth: int  # of the file: 8, or 16 for any deeper file
    peak: int  # its largest value


def first_image_shape(data: Path) -> tuple[int, int]:
    """(height, width) of the first good image training would read from `data`."""
    first = first_image_layout(data)
    return first.height, first.width


def first_image_layout(data: Path) -> FirstImage:
    """Size, file depth and largest value of the first good image training would read."""
    from algorithms.datasets import training_images
    from algorithms.images import read_native

    image, depth = read_native(training_images(data)[0])
    return FirstImage(image.shape[0], image.shape[1], depth, int(image.max(initial=0)))
