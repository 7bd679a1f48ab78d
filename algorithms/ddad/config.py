"""DDAD settings; the paper's choices (and its official configuration's) in the comments."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..base import DetectorConfig


@dataclass
class DdadConfig(DetectorConfig):
    # image_size (256, as the paper) is where features and maps are computed; the UNet
    # works at diffusion_size, which may be smaller to make a CPU fast enough.
    diffusion_size: int = 256  # paper: 256
    # Denoising UNet. Official configuration at 256 px: 64 base channels, multipliers
    # (1, 1, 2, 2, 4, 4), two residual blocks per level, attention at 32, 16 and 8 pixels.
    unet_channels: int = 64
    unet_multipliers: tuple[int, ...] = (1, 1, 2, 2, 4, 4)
    unet_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (32, 16, 8)
    attention_heads: int = 4
    dropout: float = 0.0
    # DDPM training: linear betas 1e-4..0.02 over 1000 steps; AdamW lr 3e-4, weight decay
    # 0.05, batch 32; the paper trains for up to 2000 epochs (checkpoint at 1000 for MVTec).
    diffusion_steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    train_epochs: int = 1000
    # The budget in optimiser steps: train_epochs passes, but at least min_steps (bottle's
    # 1000 epochs of 188 images are 5,000 steps; fewer images need as many steps, not as many
    # passes) and at most max_steps (0 = no bound).
    min_steps: int = 5000
    max_steps: int = 0
    train_seconds: float | None = None  # optional time budget; training stops at it
    train_batch_size: int = 32
    learning_rate: float = 3e-4
    weight_decay: float = 0.05
    # Paper: t drawn from all 1000 steps. Reconstruction never starts above
    # test_start_step, so a small model on a CPU can spend its capacity below a bound.
    train_max_step: int = 1000
    ema_decay: float = 0.0  # exponential moving average of the UNet's weights; 0 = off
    # Conditioned reconstruction: noise to step 250, DDIM back in skips of 25, w = 4
    # (tuned per category in the paper), eta = 1 (the official code's stochasticity).
    test_start_step: int = 250
    skip: int = 25
    w: float = 4.0
    eta: float = 1.0
    # Anomaly map: v * max(D_f) / max(D_p) * D_p + D_f (v = 7), D_f the cosine distance of
    # two shallow stages (paper: WRN50 layer1 + layer2; MobileNetV2 strides 4 and 8 here),
    # blurred with sigma 4.
    backbone: str = "mobilenetv2_100"  # the backbone its presets were measured with
    layers: tuple[str, ...] = ("blocks.1", "blocks.2")
    v: float = 7.0
    blur_sigma: float = 4.0
    # Domain adaptation: 3 epochs fine-tuning the extractor on reconstructions of good images
    # conditioned on other good images (w_DA = 3), similarity loss + lambda (0.1) x
    # distillation toward the frozen original; Adam lr 1e-4.
    da_epochs: int = 3
    da_batch_size: int = 16  # pairs: half targets, half images reconstructed toward them
    da_learning_rate: float = 1e-4
    da_w: float = 3.0
    da_lambda: float = 0.1
    # Good training images whose maxima of D_f and D_p fix the map's weighting (the paper
    # takes them over the test set, which a live frame does not have).
    weighting_images: int = 32
    SAVED_BEFORE: ClassVar[dict[str, object]] = {**DetectorConfig.SAVED_BEFORE, "min_steps": 0,
                                                  "max_steps": 0}


# Seconds on a CPU, for tests.
FAST = dict(image_size=32, diffusion_size=16, unet_channels=8, unet_multipliers=(1, 2),
            unet_res_blocks=1, attention_resolutions=(8,), attention_heads=1, train_epochs=100,
            min_steps=0, train_batch_size=8, learning_rate=2e-3, test_start_step=100, skip=50, da_epochs=1,
            da_batch_size=4, weighting_images=4, blur_sigma=1.0, batch_size=8)

# A 2-core factory PC with no GPU: the UNet works at 64 px (the map comes back at 128 px),
# is narrow, trains for 20 minutes on the low-noise steps it is used at (t <= 300), and
# reconstructs in 5 DDIM steps (250, 200, ..., 50 -> 0).
CPU = dict(image_size=128, diffusion_size=64, unet_channels=16, unet_multipliers=(1, 2, 4, 4),
           unet_res_blocks=1, attention_resolutions=(8,), train_epochs=300, min_steps=3300,
           train_seconds=1200.0, train_batch_size=16, learning_rate=1e-3, weight_decay=0.0,
           train_max_step=300, ema_decay=0.995, test_start_step=250, skip=50, blur_sigma=2.0,
           da_epochs=2)

# The paper's sizes, for a GPU.
GPU = dict(batch_size=32)
