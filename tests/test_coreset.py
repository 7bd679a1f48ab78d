"""The pruned greedy coreset selects exactly what the naive k-center greedy selects."""
from __future__ import annotations

import numpy as np
import pytest

from algorithms.patchcore.coreset import _project, greedy_coreset


def naive_greedy(points, count, projection_dim, seed):
    rng = np.random.default_rng(seed)
    projected = _project(points.astype(np.float32), projection_dim, rng)
    chosen = [int(rng.integers(len(points)))]
    distance = ((projected - projected[chosen[0]]) ** 2).sum(1)
    for _ in range(count - 1):
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, ((projected - projected[chosen[-1]]) ** 2).sum(1))
    return np.array(chosen)


def clustered_points(seed=0, count=2500, dim=24):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (12, dim))
    return (centres[rng.integers(0, 12, count)] + rng.normal(0, 1, (count, dim))).astype(np.float32)


@pytest.mark.parametrize("dim, projection_dim", [(24, 16), (96, 48)])
def test_same_selection_as_naive_greedy(dim, projection_dim):
    # (96, 48): more coordinates than the lower bound's leading ones, so its pruning is exercised.
    points = clustered_points(dim=dim)
    np.testing.assert_array_equal(greedy_coreset(points, 250, projection_dim, seed=4),
                                  naive_greedy(points, 250, projection_dim, 4))


def test_smaller_coreset_is_a_prefix_of_a_larger_one():
    points = clustered_points(seed=1)
    large = greedy_coreset(points, 300, 128, seed=0)
    np.testing.assert_array_equal(greedy_coreset(points, 30, 128, seed=0), large[:30])


def test_duplicates_and_count_limits():
    points = np.zeros((50, 4), np.float32)
    points[:5] = np.eye(5, 4) * 3
    chosen = greedy_coreset(points, 500)
    assert len(chosen) == 50 and len(set(chosen.tolist())) == 50
