"""PaDiM (Defard et al. 2020): one multivariate Gaussian per patch position.

Every position of the feature grid gets the mean and covariance of the concatenated
multi-stage embedding over the good images; a test patch scores its Mahalanobis distance.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..backbones import FeatureExtractor
from ..base import Detector, Progress, gaussian_blur
from .config import PadimConfig


class Padim(Detector):
    name = "padim"
    config_class = PadimConfig
    config: PadimConfig

    def __init__(self, config: PadimConfig):
        super().__init__(config)
        self.backbone = FeatureExtractor(config.backbone, config.layers, config.weights)
        total = sum(self.backbone.channels)
        keep = total if config.n_features is None else min(config.n_features, total)
        generator = torch.Generator().manual_seed(config.seed)
        channels = torch.randperm(total, generator=generator)[:keep].sort().values
        self.register_buffer("channel_index", channels)  # (D,)
        self.register_buffer("mean", torch.empty(0))  # (P, D), P = positions of the grid
        self.register_buffer("precision", torch.empty(0))  # (P, D, D) inverse covariances
        # With `precision_rank` r instead: (P, r, D), each cell's r directions of least
        # variance scaled by 1 / sqrt(variance), so that |W delta|^2 is the distance squared.
        self.register_buffer("whitening", torch.empty(0))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, D, h, w) on the grid of stride `grid_stride`.

        Stages finer than the grid are averaged over its cells, coarser ones repeated.
        """
        features = self.backbone(self.backbone.normalize(images.float()))  # float16 inputs too
        cell = max(self.config.grid_stride // self.backbone.strides[0], 1)
        size = tuple(math.ceil(side / cell) for side in features[0].shape[-2:])
        on_grid = [F.adaptive_avg_pool2d(f, size) if f.shape[-1] > size[-1]
                   else F.interpolate(f, size=size, mode="nearest") for f in features]
        return torch.cat(on_grid, dim=1).index_select(1, self.channel_index)

    @torch.inference_mode()
    def _fit(self, images: torch.Tensor, progress: Progress) -> None:
        # Streaming sums of patches shifted by the first batch's mean: with the shift, float32
        # sums keep the covariance accurate without holding every embedding in memory.
        count, shift, total, outer = 0, None, None, None
        batch_size = self.config.batch_size
        for start in range(0, len(images), batch_size):
            embedding = self.embed(images[start:start + batch_size])  # (B, D, h, w)
            patches = embedding.flatten(2).permute(2, 0, 1)  # (P, B, D)
            if shift is None:
                shift = patches.mean(dim=1, keepdim=True)  # (P, 1, D)
                total = torch.zeros_like(shift.squeeze(1))  # (P, D)
                outer = patches.new_zeros(patches.shape[0], patches.shape[2], patches.shape[2])
            centred = patches - shift
            total += centred.sum(dim=1)
            outer.baddbmm_(centred.transpose(1, 2), centred)  # (P, D, D) += (P, D, B) @ (P, B, D)
            count += patches.shape[1]
            progress(min(start + batch_size, len(images)) / len(images) * 0.8, "extracting features")
        if count < 2:
            raise ValueError("PaDiM needs at least two training images")
        progress(0.85, "inverting covariances")
        mean = total / count  # (P, D), shifted
        self.mean = mean + shift.squeeze(1)
        rank, channels = self.config.precision_rank, outer.shape[-1]
        if rank > 0:
            # Fewer good images than channels leave D - N + 1 directions without variance
            # (all epsilon): which of them a cut would keep is arbitrary, so all are kept.
            rank = min(channels, max(rank, channels - count + 1))
            self.whitening = self._whitening_rows(outer, mean, count, rank)
        else:
            self.precision = self._invert_covariances(outer, mean, count)

    def _covariances(self, outer: torch.Tensor, mean: torch.Tensor, count: int):
        """Sum of outer products (P, D, D) -> (rows, float64 covariances) in chunks of
        positions: exact enough for near-singular covariances, and the float64 copies never
        exceed a chunk (the whole grid would need gigabytes)."""
        eye = torch.eye(outer.shape[-1], dtype=torch.float64, device=outer.device)
        for start in range(0, len(outer), 256):
            rows = slice(start, start + 256)
            centre = mean[rows].double()
            covariance = (outer[rows].double() - count * centre.unsqueeze(2) * centre.unsqueeze(1))
            yield rows, covariance / (count - 1) + self.config.covariance_epsilon * eye

    def _invert_covariances(self, outer: torch.Tensor, mean: torch.Tensor, count: int) -> torch.Tensor:
        """Inverse covariances (P, D, D), overwriting `outer`."""
        for rows, covariance in self._covariances(outer, mean, count):
            outer[rows] = torch.cholesky_inverse(torch.linalg.cholesky(covariance)).float()
        return outer

    def _whitening_rows(self, outer: torch.Tensor, mean: torch.Tensor, count: int,
                        rank: int) -> torch.Tensor:
        """(P, r, D): each cell's r eigenvectors of least variance over sqrt(variance)."""
        rows_out = outer.new_empty(len(outer), rank, outer.shape[-1])
        for rows, covariance in self._covariances(outer, mean, count):
            variance, directions = torch.linalg.eigh(covariance)  # ascending; (c, D), (c, D, D)
            scaled = directions[..., :rank] / variance[:, None, :rank].sqrt()  # (c, D, r)
            rows_out[rows] = scaled.transpose(1, 2).float()
        return rows_out

    def load_fitted_state(self, state: dict[str, torch.Tensor], assign: bool = False) -> None:
        # Models saved before `precision_rank` hold full precision matrices and no whitening.
        super().load_fitted_state({"whitening": torch.empty(0), **state}, assign)

    def estimate_fit_memory(self, train_images: int) -> int:
        positions = len(self.mean) if self.mean.ndim == 2 and len(self.mean) else self._grid_positions()
        channels = len(self.channel_index)
        # Sums of outer products (P, D, D), and one float64 chunk while inverting them.
        return super().estimate_fit_memory(train_images) + positions * channels * channels * 4 \
            + 3 * 256 * channels * channels * 8

    def _grid_positions(self) -> int:
        with torch.inference_mode():
            probe = torch.zeros(1, 3, self.config.image_size, self.config.image_size, device=self.device)
            return int(self.embed(probe)[0, 0].numel())

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        distance = self.mahalanobis(self.embed(images))  # (B, 1, h, w)
        maps = F.interpolate(distance, size=images.shape[-2:], mode="bilinear", align_corners=False)
        maps = gaussian_blur(maps.squeeze(1), self.config.blur_sigma)  # (B, S, S)
        return maps.flatten(1).amax(dim=1), maps

    def mahalanobis(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) embedding -> (B, 1, h, w) distance to each cell's Gaussian."""
        batch, _, height, width = embedding.shape
        delta = (embedding.flatten(2).permute(2, 0, 1) - self.mean.unsqueeze(1)).contiguous()  # (P, B, D)
        # Batched over positions, the vectors as a transposed view: this form streams the
        # large matrices at memory speed, 2-3x faster than delta @ precision (the same result,
        # precision being symmetric).
        if self.whitening.numel():
            product = torch.bmm(self.whitening, delta.transpose(1, 2))  # (P, r, D) @ (P, D, B)
            squared = product.pow(2).sum(dim=1)  # (P, B)
        else:
            product = torch.bmm(self.precision, delta.transpose(1, 2))  # (P, D, B)
            squared = (product.transpose(1, 2) * delta).sum(dim=2)  # (P, B)
        return squared.clamp_min(0).sqrt().T.reshape(batch, 1, height, width)
