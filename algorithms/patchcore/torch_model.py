"""PatchCore (Roth et al. 2022): a memory bank of good patch features, scored by nearest neighbour.

Locally aware patch features: each stage's map is averaged over a p x p neighbourhood, the
deeper stage upsampled to the shallower one's grid, and the two concatenated. A greedy
coreset of the training patches (chosen per run of images, so the fit grows linearly with
the data) forms the memory bank. A test patch scores its distance
to the nearest bank entry; the image score is the largest patch score, reweighted by how
isolated that patch's nearest bank entry is among its own b neighbours (paper, eq. 7).
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from ..backbones import FeatureExtractor
from ..base import Detector, Progress, gaussian_blur, sub_progress
from .config import PatchcoreConfig
from .coreset import greedy_coreset

DISTANCE_CHUNK = 2048  # bank rows per distance block: bounds memory, and each block stays in cache
CPU_FIT_BATCH = 4  # images per backbone pass when fitting on a CPU
FEATURE_SHARE_GUESS = 0.3  # of a run's time, until the first run has measured it


class Patchcore(Detector):
    name = "patchcore"
    config_class = PatchcoreConfig
    config: PatchcoreConfig

    def __init__(self, config: PatchcoreConfig):
        super().__init__(config)
        if not 0.0 < config.coreset_ratio <= 1.0:
            raise ValueError("coreset_ratio must be in (0, 1]")
        self.backbone = FeatureExtractor(config.backbone, config.layers, config.weights)
        self.register_buffer("memory_bank", torch.empty(0))  # (M, D)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, D, h, w) locally aware patch features."""
        features = self.backbone(self.backbone.normalize(images.float()))  # float16 inputs too
        size = features[0].shape[-2:]
        pooled = [F.avg_pool2d(f, self.config.neighbourhood, stride=1,
                               padding=self.config.neighbourhood // 2) for f in features]
        upsampled = [pooled[0]] + [F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                                   for f in pooled[1:]]
        return torch.cat(upsampled, dim=1)

    @torch.inference_mode()
    def _fit(self, images: torch.Tensor, progress: Progress) -> None:
        """Embed runs of consecutive images and keep a greedy coreset of each run's patches.

        Every training patch ends within its run's greedy radius of a bank entry, and greedy
        is within twice the best covering radius of the run for that many entries. The work
        per run is bounded, so the fit grows linearly with the number of images, and only
        the chosen patches are kept.
        """
        runs = math.ceil(len(images) / self._images_per_run(len(images)))
        per_run = math.ceil(len(images) / runs)  # runs of equal size, no small remainder
        bank = []
        # Share of a run's time spent on features (the rest is the coreset), measured on the
        # runs done so far, so that the progress grows evenly with time and the time left
        # estimated from it holds from the second run on.
        seconds = {"features": 0.0, "coreset": 0.0}
        for run, start in enumerate(range(0, len(images), per_run)):
            done = seconds["features"] + seconds["coreset"]
            share = seconds["features"] / done if done > 0 else FEATURE_SHARE_GUESS
            run_progress = sub_progress(progress, run / runs, (run + 1) / runs)
            started = time.perf_counter()
            patches = self._patches(images[start:start + per_run], sub_progress(run_progress, 0.0, share))
            seconds["features"] += time.perf_counter() - started
            started = time.perf_counter()
            count = max(1, round(len(patches) * self.config.coreset_ratio))
            chosen = greedy_coreset(patches.numpy(), count, self.config.projection_dim,
                                    self.config.seed, sub_progress(run_progress, share, 1.0))
            bank.append(patches[torch.from_numpy(chosen)])
            seconds["coreset"] += time.perf_counter() - started
            end = min(start + per_run, len(images))
            progress((run + 1) / runs, f"memory bank of images {start + 1}-{end} of {len(images)}")
        self.memory_bank = torch.cat(bank).contiguous().to(self.device)

    def _patches(self, images: torch.Tensor, progress: Progress) -> torch.Tensor:
        """(n, 3, S, S) -> (n * h * w, D) patch features on the CPU."""
        # Small batches keep a CPU's caches warm (4 images: 30 ms each, 16: 50 ms on two cores).
        batch_size = self.config.batch_size if self.device.type == "cuda" else min(
            self.config.batch_size, CPU_FIT_BATCH)
        patches = []
        for start in range(0, len(images), batch_size):
            embedding = self.embed(images[start:start + batch_size])
            patches.append(embedding.permute(0, 2, 3, 1).flatten(0, 2).float().cpu())  # (b*h*w, D)
            progress(min(start + batch_size, len(images)) / len(images), "extracting features")
        return torch.cat(patches)

    def _patches_per_image(self) -> int:
        side = math.ceil(self.config.image_size / self.backbone.strides[0])
        return side * side

    def _images_per_run(self, total: int) -> int:
        if self.config.coreset_chunk <= 0:
            return total
        return max(1, self.config.coreset_chunk // self._patches_per_image())

    def estimate_fit_memory(self, train_images: int) -> int:
        inputs = train_images * self.inputs_per_image()  # every tile's patches join the bank
        per_image = self._patches_per_image() * sum(self.backbone.channels) * 4  # float32 patches
        run = min(self._images_per_run(inputs), inputs)
        # A run's patches with their projected and rotated copies, and the growing bank.
        bank = inputs * per_image * self.config.coreset_ratio
        return super().estimate_fit_memory(train_images) + int(3 * run * per_image + bank)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.embed(images)  # (B, D, h, w)
        batch, _, height, width = embedding.shape
        patches = embedding.permute(0, 2, 3, 1).reshape(batch, height * width, -1)  # (B, P, D)
        distance, nearest = self._nearest(patches.flatten(0, 1))
        distance, nearest = distance.view(batch, -1), nearest.view(batch, -1)  # (B, P)
        scores = self._reweighted_scores(patches, distance, nearest)
        maps = distance.view(batch, 1, height, width)
        maps = F.interpolate(maps, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return scores, gaussian_blur(maps.squeeze(1), self.config.blur_sigma)

    def _nearest(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Euclidean distance and index of every query's (Q, D) nearest bank entry."""
        # |q - b|^2 = |q|^2 + |b|^2 - 2 q.b; |q|^2 does not change which b is nearest, so it is
        # added after the minimum, and |b|^2 - 2 q.b is one fused multiply-add per block.
        bank_norms = self.memory_bank.pow(2).sum(1)  # (M,)
        best = torch.full((len(queries),), float("inf"), device=queries.device)
        best_index = torch.zeros(len(queries), dtype=torch.long, device=queries.device)
        for start in range(0, len(self.memory_bank), DISTANCE_CHUNK):
            rows = slice(start, start + DISTANCE_CHUNK)
            partial = torch.addmm(bank_norms[rows], queries, self.memory_bank[rows].T, alpha=-2.0)  # (Q, C)
            value, index = partial.min(dim=1)
            better = value < best
            best = torch.where(better, value, best)
            best_index = torch.where(better, index + start, best_index)
        # The expanded form above cancels badly for near matches (float32 error grows with
        # |q|^2, not with the distance), so the winner's distance is recomputed directly: exact,
        # and the same on every runtime (the exported graph must agree to 1e-3 on the map).
        difference = queries - self.memory_bank.index_select(0, best_index)  # (Q, D)
        return torch.linalg.vector_norm(difference, dim=1), best_index

    def _reweighted_scores(self, patches, distance, nearest) -> torch.Tensor:
        """Paper eq. 7: s = (1 - softmax over m*'s b bank neighbours, at m*) * s*."""
        worst = distance.argmax(dim=1)  # (B,)
        rows = torch.arange(len(patches), device=patches.device)
        max_distance = distance[rows, worst]  # (B,) s*
        test_patch = patches[rows, worst]  # (B, D) m_test*
        bank_match = self.memory_bank[nearest[rows, worst]]  # (B, D) m*
        neighbours = min(self.config.reweight_neighbors, len(self.memory_bank))
        # m*'s b nearest bank entries (m* itself first), then their distances to m_test*.
        to_bank = torch.cdist(bank_match, self.memory_bank)  # (B, M)
        support = to_bank.topk(neighbours, largest=False).indices  # (B, b)
        support_distance = torch.linalg.vector_norm(
            test_patch.unsqueeze(1) - self.memory_bank[support], dim=2)  # (B, b)
        weight = 1.0 - torch.softmax(support_distance, dim=1)[:, 0]
        return weight * max_distance
