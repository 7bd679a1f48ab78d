"""Export-friendly inference modules: each detector's forward in a form that traces to an
ONNX graph. They compute the same numbers as `forward` (the export's parity check holds
them to it); what differs is that every size is a fixed number worked out once for the
detector's input size, where the tracer would otherwise record shape arithmetic that the
exporter cannot always turn into ONNX (adaptive pooling, for one).

Each maps (B, 3, S, S) in [0, 1] to raw scores (B,) and raw maps (B, S, S).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Detector, gaussian_blur


class PadimInference(nn.Module):
    """PaDiM's forward with the grid's pooling fixed for the input size."""

    def __init__(self, padim: Detector):
        super().__init__()
        self.padim = padim
        size = padim.config.image_size
        with torch.no_grad():
            shapes = [tuple(f.shape[-2:]) for f in padim.backbone(torch.zeros(1, 3, size, size))]
        grid = tuple(int(side) for side in padim.embed(torch.zeros(1, 3, size, size)).shape[-2:])
        self.grid = grid
        self.kernels: list[tuple[int, int] | None] = []  # average pool per stage, None: repeat
        for height, width in shapes:
            if width > grid[1]:
                if height % grid[0] or width % grid[1]:
                    raise ValueError(f"PaDiM's {grid} grid does not divide a {height}x{width} "
                                     f"stage; choose an image size that is a multiple of 32")
                self.kernels.append((height // grid[0], width // grid[1]))
            else:
                self.kernels.append(None)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        padim = self.padim
        features = padim.backbone(padim.backbone.normalize(images))
        on_grid = [F.avg_pool2d(f, kernel, stride=kernel) if kernel is not None
                   else F.interpolate(f, size=self.grid, mode="nearest")
                   for f, kernel in zip(features, self.kernels)]
        embedding = torch.cat(on_grid, dim=1).index_select(1, padim.channel_index)  # (B, D, h, w)
        distance = padim.mahalanobis(embedding)  # (B, 1, h, w)
        size = padim.config.image_size
        maps = F.interpolate(distance, size=(size, size), mode="bilinear", align_corners=False)
        maps = gaussian_blur(maps.squeeze(1), padim.config.blur_sigma)  # (B, S, S)
        return maps.flatten(1).amax(dim=1), maps


def inference_module(detector: Detector) -> nn.Module:
    """The module to trace for `detector`; its own forward where that traces as it is."""
    if detector.name == "padim":
        return PadimInference(detector)
    return detector
