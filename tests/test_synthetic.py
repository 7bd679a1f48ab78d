"""Synthetic defects of declared sizes, and the validation that reports what a model catches."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithms import create_detector
from algorithms.synthetic import (DefectSpec, SyntheticResult, paste_defect, parse_specs,
                                  perlin_noise, summary, synthetic_validation)


@pytest.mark.parametrize("spec, pixels", [(DefectSpec("spot", 3), (9, 9)),
                                           (DefectSpec("spot", 12), (100, 125)),
                                           (DefectSpec("scratch", 16), (14, 60)),
                                           (DefectSpec("blob", 16), (40, 201))])
def test_a_pasted_defect_has_its_declared_size_and_shows(spec, pixels):
    rng = np.random.default_rng(0)
    image = np.full((64, 64, 3), 90, np.uint8)
    image[::2] = 110  # a striped surface, so the blob's foreign texture differs from it
    pasted, mask = paste_defect(image, spec, rng)
    assert pixels[0] <= mask.sum() <= pixels[1]
    rows, cols = np.nonzero(mask)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 <= spec.size + 1, "no larger than declared"
    changed = np.abs(pasted.astype(int) - image.astype(int)).max(axis=2) > 0
    assert changed[mask].mean() > 0.9 and not changed[~mask].any(), "only the defect changes"


def test_perlin_noise_is_smooth_and_reproducible():
    noise = perlin_noise((32, 32), 4, np.random.default_rng(1))
    np.testing.assert_array_equal(noise, perlin_noise((32, 32), 4, np.random.default_rng(1)))
    assert np.abs(noise).max() <= 1.5 and noise.std() > 0.1
    assert np.abs(np.diff(noise, axis=1)).max() < 0.5, "neighbouring pixels stay close"


def test_specs_are_declared_as_text_and_checked():
    assert parse_specs("spot:3, scratch:8") == (DefectSpec("spot", 3), DefectSpec("scratch", 8))
    for bad in ("spot", "crack:3", "spot:0"):
        with pytest.raises(ValueError):
            parse_specs(bad)


def test_summary_names_the_smallest_defect_caught():
    rows = [SyntheticResult("spot", 3, 20, 0.5, 0.0), SyntheticResult("spot", 6, 20, 0.95, 0.0),
            SyntheticResult("scratch", 8, 20, 1.0, 0.0)]
    assert summary(rows) == "detects 95 % of 6-pixel spots, 100 % of 8-pixel scratches"


def test_validation_catches_large_defects_better_than_small(good_images):
    torch.manual_seed(0)
    detector = create_detector("padim", "fast", device="cpu", weights="none")
    detector.fit(good_images[:10])
    specs = (DefectSpec("spot", 2), DefectSpec("spot", 24))
    held_out = good_images[10:]
    results = synthetic_validation(detector, held_out, specs)
    small, large = results
    assert small.images == large.images == len(held_out)
    assert large.detected == 1.0 and large.detected > small.detected
    assert small.false_alarms == large.false_alarms < 1.0


def test_the_summary_comes_from_real_detections(good_images):
    from algorithms.synthetic import score_synthetic

    torch.manual_seed(0)
    detector = create_detector("padim", "fast", device="cpu", weights="none")
    detector.fit(good_images[:10])
    specs = (DefectSpec("spot", 4), DefectSpec("scratch", 16))
    detector.threshold.fill_(float("inf"))  # a model that never fails a part
    blind = score_synthetic(detector, good_images[10:], specs)
    assert [r.detected for r in blind.results] == [0.0, 0.0]
    assert summary(blind.results) == "detects 0 % of 4-pixel spots, 0 % of 16-pixel scratches"
    detector.threshold.fill_(float("-inf"))  # one that fails every part
    assert summary(synthetic_validation(detector, good_images[10:], specs)) == \
        "detects 100 % of 4-pixel spots, 100 % of 16-pixel scratches"
    # The AUROCs rank scores and maps: the threshold does not move them.
    assert score_synthetic(detector, good_images[10:], specs).image_auroc == blind.image_auroc
    assert 0.5 < blind.image_auroc <= 1.0 and 0.5 < blind.pixel_auroc <= 1.0
