"""PatchCore settings; the paper's choices in the comments."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..base import DetectorConfig


@dataclass
class PatchcoreConfig(DetectorConfig):
    # Paper: the two middle stages of WRN50 (layer2 + layer3); here strides 8 and 16.
    layers: tuple[str, ...] = ("blocks.2", "blocks.4")
    coreset_ratio: float = 0.1  # paper: 1% to 25% of all patches; 10% is its main setting
    # The coreset is chosen per run of consecutive training images holding about this many
    # patches (paper: one greedy over all of them, which grows with the square of the data).
    # 0 = one greedy over everything, as the paper.
    coreset_chunk: int = 65536
    projection_dim: int = 128  # paper: random projection to 128 dims for coreset selection
    neighbourhood: int = 3  # paper: p = 3, local average over each patch's neighbourhood
    reweight_neighbors: int = 9  # paper: b = 9 bank neighbours in the score's reweighting
    blur_sigma: float = 4.0  # paper: Gaussian smoothing with sigma 4
    SAVED_BEFORE: ClassVar[dict[str, object]] = {**DetectorConfig.SAVED_BEFORE, "coreset_chunk": 0}


FAST = dict(image_size=64, coreset_ratio=0.25)  # seconds on a CPU, for tests
