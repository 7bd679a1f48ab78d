"""PaDiM's grid and its Mahalanobis distance, checked against direct computations."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from algorithms import create_detector


def padim(preset="fast", **overrides):
    torch.manual_seed(0)
    return create_detector("padim", preset, device="cpu", weights="none", **overrides)


@pytest.mark.parametrize("grid_stride, cells", [(4, 16), (8, 8), (16, 4)])
def test_the_grid_has_the_configured_stride(grid_stride, cells):
    detector = padim("default", image_size=64, grid_stride=grid_stride)  # every channel kept
    images = torch.rand(2, 3, 64, 64)
    embedding = detector.embed(images)
    assert embedding.shape == (2, sum(detector.backbone.channels), cells, cells)
    # The first (stride-4) stage is averaged over each grid cell, the deepest repeated.
    features = detector.backbone(detector.backbone.normalize(images))
    first = features[0].shape[1]
    expected = F.avg_pool2d(features[0], grid_stride // 4) if grid_stride > 4 else features[0]
    torch.testing.assert_close(embedding[:, :first], expected)
    deepest = features[-1]
    repeat = cells // deepest.shape[-1]
    torch.testing.assert_close(embedding[:, -deepest.shape[1]:, ::repeat, ::repeat], deepest)


@pytest.mark.parametrize("rank", [0, 24, 16, 8])
def test_distance_is_the_mahalanobis_distance_of_each_cell(good_images, defective_images, rank):
    """Every direction (rank 0 keeps the full precision matrices; 24 of 24 channels as
    whitening rows), or only the `rank` directions of least variance: at least all those
    without variance, which fewer good images than channels leave."""
    detector = padim(grid_stride=8, precision_rank=rank)
    detector.fit(good_images, calibration=good_images[:2])
    with torch.inference_mode():
        # The inputs the model is trained on and inspects (the parts padded to a square).
        train = detector.embed(detector.training_inputs(good_images)).numpy()  # (N, D, h, w)
        test = detector.embed(detector.training_inputs(defective_images[:1]))
        distance = detector.mahalanobis(test)[0, 0].numpy()  # (h, w)
    epsilon = detector.config.covariance_epsilon
    kept_rank = max(rank, 24 - len(train) + 1) if rank else 0
    assert (detector.whitening.shape[1] if rank else detector.whitening.numel()) == kept_rank
    for row, column in [(0, 0), (3, 5), (7, 7)]:
        samples = train[:, :, row, column].astype(np.float64)
        covariance = np.cov(samples, rowvar=False) + epsilon * np.eye(samples.shape[1])
        delta = test[0, :, row, column].numpy().astype(np.float64) - samples.mean(axis=0)
        variance, directions = np.linalg.eigh(covariance)  # ascending
        kept = slice(0, kept_rank or len(variance))
        expected = np.sqrt(np.sum((directions[:, kept].T @ delta) ** 2 / variance[kept]))
        assert distance[row, column] == pytest.approx(expected, rel=1e-3)
