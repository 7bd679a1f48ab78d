"""PatchCore's nearest-neighbour search and reweighted score, against direct computations."""
from __future__ import annotations

import pytest
import torch

from algorithms import create_detector
from algorithms.patchcore.torch_model import DISTANCE_CHUNK


@pytest.fixture
def patchcore():
    detector = create_detector("patchcore", "fast", device="cpu", weights="none")
    generator = torch.Generator().manual_seed(0)
    # A bank over several distance blocks, the last one partial.
    detector.memory_bank = torch.randn(2 * DISTANCE_CHUNK + 37, 20, generator=generator)
    return detector


def test_nearest_is_the_exact_nearest_bank_entry(patchcore):
    queries = torch.randn(300, 20, generator=torch.Generator().manual_seed(1))
    queries[:5] = patchcore.memory_bank[[0, 1, DISTANCE_CHUNK, 2 * DISTANCE_CHUNK + 36, 77]]
    distance, index = patchcore._nearest(queries)
    expected = torch.cdist(queries.double(), patchcore.memory_bank.double())
    torch.testing.assert_close(distance.double(), expected.min(dim=1).values, rtol=1e-4, atol=5e-3)
    assert torch.equal(index, expected.argmin(dim=1))


def test_score_is_the_reweighted_largest_patch_distance(patchcore):
    bank = patchcore.memory_bank
    patches = torch.randn(2, 50, 20, generator=torch.Generator().manual_seed(2))
    distance, nearest = patchcore._nearest(patches.flatten(0, 1))
    distance, nearest = distance.view(2, -1), nearest.view(2, -1)
    scores = patchcore._reweighted_scores(patches, distance, nearest)
    for image in range(2):
        worst = int(distance[image].argmax())
        match = bank[nearest[image, worst]]
        neighbours = torch.cdist(match[None], bank)[0].topk(9, largest=False).indices
        to_test = torch.linalg.vector_norm(bank[neighbours] - patches[image, worst], dim=1)
        weight = 1.0 - torch.softmax(to_test, dim=0)[0]
        assert float(scores[image]) == pytest.approx(float(weight * distance[image, worst]), rel=1e-4)
