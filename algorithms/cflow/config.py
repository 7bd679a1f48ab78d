"""CFlow-AD settings; the paper's choices in the comments."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..base import DetectorConfig


@dataclass
class CflowConfig(DetectorConfig):
    # Paper: three scales of the encoder (WRN50 layer2-4). MobileNetV2's stages of stride
    # 8, 16 and 32 play that part.
    backbone: str = "mobilenetv2_100"  # the backbone its defaults were measured with
    layers: tuple[str, ...] = ("blocks.2", "blocks.4", "blocks.6")
    condition_dim: int = 128  # paper: P = 128 channels of positional encoding
    coupling_blocks: int = 8  # paper: L = 8 coupling blocks per decoder
    clamp_alpha: float = 1.9  # paper code: soft clamp of the affine log-scales at 1.9
    # Anomalib: 64 fibres per step (paper: N = 256). On a CPU the cost per fibre is the
    # same, and four times the steps learn far more per epoch.
    fiber_batch_size: int = 64
    learning_rate: float = 2e-4  # paper: Adam, lr 2e-4 (anomalib: 1e-4, constant)
    # The budget, in optimiser steps: `epochs` passes over every training fibre of every
    # scale, but at least min_steps and at most max_steps. Paper: 25 meta-epochs x 8 = 200;
    # on MVTec bottle 4 (15,800 steps at 256 px on 188 images) reach image AUROC 0.997 and
    # pixel AUROC 0.979. Fewer images need as many steps, not as many passes: 4 passes over
    # 48 images are 4,000 steps and fall short. The frozen encoder's features are computed
    # once, so a step costs only the flows.
    epochs: float = 4
    min_steps: int = 16000
    max_steps: int = 48000
    warmup_fraction: float = 0.08  # paper: linear warm-up from lr / 10 over 2 of 25 meta-epochs
    final_lr_factor: float = 1e-3  # paper: cosine decay to lr * 0.1 ** 3
    SAVED_BEFORE: ClassVar[dict[str, object]] = {**DetectorConfig.SAVED_BEFORE, "min_steps": 0,
                                                  "max_steps": 0}



FAST = dict(image_size=64, epochs=20, min_steps=0, fiber_batch_size=64, coupling_blocks=2,
            condition_dim=32)  # ~2 s on a CPU
