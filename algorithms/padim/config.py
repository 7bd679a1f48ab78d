"""PaDiM settings; the paper's choices in the comments."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..base import DetectorConfig


@dataclass
class PadimConfig(DetectorConfig):
    # Paper: ResNet layer1-3. The backbone's stages of stride 4, 8 and 16 play that part.
    layers: tuple[str, ...] = ("blocks.1", "blocks.2", "blocks.4")
    # Paper: a random subset of channels (100 of 448 for ResNet18, 550 of 1792 for WRN50).
    # None keeps every channel (176 for EfficientNet-Lite0, few enough to model whole; 128 or
    # 100 random ones, every direction kept, measured 0.9828 / 0.9817 pixel AUROC on bottle,
    # below anomalib's 0.983).
    n_features: int | None = None
    # Paper: one Gaussian per cell of the first stage's grid (stride 4). Here the grid has
    # stride 8, the stride-4 stage averaged over each 2 x 2 cell: on bottle with Lite0 this
    # measured 1.000 / 0.985 image / pixel AUROC against 0.999 / 0.984 at stride 4, with a
    # quarter of the Gaussians (latency and model file). 4 gives the paper's grid.
    grid_stride: int = 8
    # With tiles (working_side > 0) the Gaussians are shared by every tile, as anomalib's
    # tiler does: each grid cell of a tile learns from that cell of every tile of every good
    # image. One set per tile position would multiply the model by the tiles: at 256 px and
    # stride 8 the precision matrices are 1,024 x 176 x 176 floats, 127 MB (the saved bottle
    # model measured 140 MB), so the 9 tiles of 512 px would make a model of about 1 GB to
    # load and stream at every part, and images of another shape would have tile positions
    # never trained. The price, measured on bottle (80 good images, `adgui validate`, 2 / 4 /
    # 6 px spots at 512 px): shared Gaussians of an aligned object mix the tiles' different
    # parts, and 4 tiles of 256 caught 6 / 31 / 31 % against 31 / 56 / 44 % for the whole
    # image squeezed to 256. PatchCore, whose bank has no positions to mix, caught more with
    # the same tiles (12 / 44 / 50 % against 6 / 25 / 44 %): tile PatchCore, not PaDiM, for
    # small defects on an aligned object.
    # Older files: the paper's grid, and every direction of each cell (precision_rank 0).
    SAVED_BEFORE: ClassVar[dict[str, object]] = {**DetectorConfig.SAVED_BEFORE, "grid_stride": 4,
                                                 "precision_rank": 0}
    covariance_epsilon: float = 0.01  # paper: Sigma + 0.01 I keeps the covariance invertible
    # The distance in each cell's `precision_rank` directions of least variance only (0: all
    # D, the paper's). The directions of most variance are where good parts differ
    # anyway; they add noise more than evidence, and the matrices read at every part shrink
    # from D x D to r x D floats per cell (127 to 46 MB at 256 px). Chosen with `adgui
    # validate` on bottle's good images (42 held out with synthetic defects, none of its test
    # images): all 176 directions 0.969 / 0.994 image / pixel AUROC, 64 0.969 / 0.996 with
    # the same defects caught to one image, 48 0.969 / 0.996, 32 0.968 / 0.996 and fewer of
    # the smallest caught. On bottle's test images (`adgui eval`) 64 scored 1.000 / 0.986.
    precision_rank: int = 64
    blur_sigma: float = 4.0  # paper: Gaussian filter with sigma 4 on the upsampled map


# At 64 px a stride-8 cell is an eighth of the image: the paper's finer grid suits it.
FAST = dict(image_size=64, n_features=24, grid_stride=4)  # seconds on a CPU, for tests
