"""The working resolution and tiling proposed for the smallest defect an engineer declares.

The detectors score a grid of feature cells, one cell per `grid_stride` pixels of the model's
input (PaDiM's grid and PatchCore's layer-2 features have a stride of 8). A defect `d` pixels
wide in the image, scaled by `s` on its way to the model, spans `d * s / grid_stride` cells.
The proposal is the smallest scale at which the declared defect spans at least
`MIN_CELLS` cells (one, from synthetic defects on bottle: see below): the whole image at the
model's input size when that is enough, otherwise a larger working image cut into overlapping
tiles, never larger than the image itself (enlarging adds no detail).

Pure Python, no torch: the training dialog and the command line use it before any model exists.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

# Feature cells a defect must span to be caught. Measured on bottle with the model's input at
# 256 px (`adgui validate --candidate padim --candidate patchcore --synthetic-defects
# spot:2,spot:3,spot:4,spot:6,spot:8`, 21 held-out good images, spots pasted at the model's
# input): spots of 2 / 3 / 4 / 6 / 8 px (1/4 to 1 cell) were caught at the calibrated
# threshold in 62 / 67 / 67 / 86 / 100 % of the images by PaDiM and 43 / 43 / 62 / 81 / 100 %
# by PatchCore. Half a cell catches two images in three; a whole cell caught them all.
MIN_CELLS = 1.0
FIT_MODES = ("pad", "squeeze")
DEFAULT_OVERLAP = 0.25  # share of a tile that its neighbours overlap


@dataclass(frozen=True)
class Proposal:
    """Settings for the detector's config, and why, in one sentence."""

    image_size: int  # the model's square input side (px)
    fit_mode: str  # "pad": aspect ratio kept; "squeeze": stretched to a square
    working_side: int  # long side (px) the image is scaled to before tiling; 0 = no tiling
    tile_overlap: float  # share of `image_size` neighbouring tiles overlap
    tiles: int  # model inputs per image (1 without tiling)
    smallest_defect_px: float  # declared, in pixels of the original image (0 = not declared)
    cells: float  # feature cells the declared defect spans at the model's input
    explanation: str

    def config_overrides(self) -> dict:
        """The DetectorConfig settings this proposal stands for."""
        return {"image_size": self.image_size, "fit_mode": self.fit_mode,
                "working_side": self.working_side, "tile_overlap": self.tile_overlap,
                "smallest_defect_px": self.smallest_defect_px}


def propose_geometry(height: int, width: int, smallest_defect_px: float, grid_stride: int = 8,
                     image_size: int = 256) -> Proposal:
    """The smallest working resolution at which a defect `smallest_defect_px` wide (pixels of
    an image `height` x `width`) spans at least MIN_CELLS feature cells; aspect ratio kept."""
    _check(height, width, smallest_defect_px, grid_stride, image_size)
    long_side = max(height, width)
    working_side = 0
    if smallest_defect_px > 0:
        needed = _needed_side(long_side, smallest_defect_px, grid_stride)
        if needed > image_size:  # the whole image at the input size is too coarse: tile
            working_side = needed
    return describe_geometry(height, width, smallest_defect_px, working_side, "pad",
                             DEFAULT_OVERLAP, grid_stride, image_size)


def describe_geometry(height: int, width: int, smallest_defect_px: float, working_side: int,
                      fit_mode: str = "pad", tile_overlap: float = DEFAULT_OVERLAP,
                      grid_stride: int = 8, image_size: int = 256) -> Proposal:
    """What a chosen geometry means for an image of this size and the declared defect (the
    proposal, or the engineer's own choice of working resolution)."""
    _check(height, width, smallest_defect_px, grid_stride, image_size)
    if fit_mode not in FIT_MODES:
        raise ValueError(f"fit mode {fit_mode!r}: choose one of {', '.join(FIT_MODES)}")
    if working_side < 0:
        raise ValueError(f"working side {working_side}: a number of pixels, or 0 for no tiling")
    if not 0.0 <= tile_overlap < 1.0:
        raise ValueError(f"tile overlap {tile_overlap}: a share of the tile from 0 to below 1")
    long_side = max(height, width)
    if 0 < working_side <= image_size:
        working_side = 0  # a working image no larger than one input is the whole image
    side = working_side or image_size
    # The long side's scale; a squeeze stretches the short side more, so a defect along the
    # long side is the one that shrinks most either way.
    scale = side / long_side
    scaled = (side, side) if fit_mode == "squeeze" else (round(height * scale), round(width * scale))
    tiles = 1
    if working_side:
        tiles = math.prod(_tiles_along(length, image_size, tile_overlap) for length in scaled)
    cells = smallest_defect_px * scale / grid_stride
    proposal = Proposal(image_size, fit_mode, working_side, tile_overlap, tiles,
                        float(smallest_defect_px), cells, "")
    return replace(proposal, explanation=_explain(proposal, height, width, scale, grid_stride))


def defect_in_pixels(size: float, unit: str = "px", mm_per_px: float | None = None) -> float:
    """A declared defect size in image pixels: `size` px, or `size` mm at `mm_per_px`."""
    if not math.isfinite(size) or size < 0:
        raise ValueError(f"smallest defect {size}: a size of 0 or more")
    if unit == "px":
        return float(size)
    if unit != "mm":
        raise ValueError(f"smallest defect unit {unit!r}: px or mm")
    if mm_per_px is None or not math.isfinite(mm_per_px) or mm_per_px <= 0:
        raise ValueError("a defect size in mm needs the image scale in mm per pixel (more than 0)")
    return round(size / mm_per_px, 6)  # 0.3 / 0.05 is 6, not 5.999999999999999


def _explain(proposal: Proposal, height: int, width: int, scale: float, grid_stride: int) -> str:
    size = proposal.image_size
    if proposal.working_side:
        native = " (the image's own resolution)" if proposal.working_side >= max(height, width) else ""
        where = (f"Working at {proposal.working_side} px{native} in {proposal.tiles} tiles of "
                 f"{size} px (about {proposal.tiles}x the model time of one input)")
    else:
        where = f"The whole image at {size} px"
    if proposal.fit_mode == "squeeze":
        where += ", stretched to a square"
    finest = MIN_CELLS * grid_stride / scale  # the smallest defect this geometry reaches, px
    if proposal.smallest_defect_px <= 0:
        return (f"{where}: defects smaller than about {finest:.0f} px may be missed (declare the "
                f"smallest defect to size the working resolution).")
    spans = (f"a defect of {_number(proposal.smallest_defect_px)} px spans {proposal.cells:.2f} "
             f"of the model's {grid_stride} px feature cells")
    if proposal.cells + 1e-9 >= MIN_CELLS:
        return f"{where}: {spans} (at least {MIN_CELLS:g} is needed)."
    if scale >= 1.0:  # no finer grid to be had: enlarging adds no detail
        return (f"{where}: {spans}, less than the {MIN_CELLS:g} needed; defects under about "
                f"{finest:.0f} px may be missed.")
    long_side = max(height, width)
    needed = _needed_side(long_side, proposal.smallest_defect_px, grid_stride)
    at_most = proposal.smallest_defect_px * needed / long_side / grid_stride
    if at_most + 1e-9 < MIN_CELLS:  # even the image's own resolution is too coarse
        return (f"{where}: {spans}, less than the {MIN_CELLS:g} needed; even the image's own "
                f"{needed} px would give it only {at_most:.2f}.")
    return (f"{where}: {spans}, less than the {MIN_CELLS:g} needed; working at {needed} px "
            f"would give it that.")


def _needed_side(long_side: int, defect_px: float, grid_stride: int) -> int:
    """The long side at which the defect spans MIN_CELLS, rounded up to the grid, but never
    beyond the image's own (enlarging adds no detail)."""
    scale = MIN_CELLS * grid_stride / defect_px
    return min(long_side, _round_up(math.ceil(scale * long_side - 1e-9), grid_stride))


def _tiles_along(length: int, tile: int, overlap: float) -> int:
    """Tiles of `tile` px overlapping by `overlap` that cover `length` px (a shorter side is padded)."""
    if length <= tile:
        return 1
    step = tile - round(tile * overlap)
    return math.ceil((length - tile) / step) + 1


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _number(value: float) -> str:
    return f"{value:g}" if value >= 10 else f"{value:.3g}"


def _check(height: int, width: int, smallest_defect_px: float, grid_stride: int,
           image_size: int) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"an image of {width} x {height} px: both sides must be at least 1 px")
    if not math.isfinite(smallest_defect_px) or smallest_defect_px < 0:
        raise ValueError(f"smallest defect {smallest_defect_px} px: a size of 0 (not declared) "
                         f"or more")
    if grid_stride < 1 or image_size < grid_stride:
        raise ValueError(f"grid stride {grid_stride} and input size {image_size}: the input must "
                         f"hold at least one cell")
