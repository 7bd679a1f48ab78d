"""Training that grows linearly with the data, and says how long is left."""
from __future__ import annotations

import numpy as np
import pytest

from algorithms import create_detector
from algorithms.augment import light_augmentation, resize_count
from algorithms.base import format_duration, with_time_left
from algorithms.patchcore import torch_model as patchcore_model


def test_resize_count_takes_a_subset_or_adds_light_copies(good_images):
    assert resize_count(good_images, 5) == good_images[:5]
    grown = resize_count(good_images, 40, seed=3)
    assert len(grown) == 40 and all(a is b for a, b in zip(grown, good_images))
    for copy, original in zip(grown[len(good_images):], good_images * 3):
        assert copy.shape == original.shape and copy.dtype == np.uint8
        difference = np.abs(copy.astype(int) - original.astype(int)).mean()
        assert 0 < difference < 25, "a copy is the same part, slightly moved and lit"
    with pytest.raises(ValueError):
        resize_count(good_images, 0)


def test_light_augmentation_is_reproducible(good_images):
    a = light_augmentation(good_images[0], np.random.default_rng(1))
    b = light_augmentation(good_images[0], np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)


def test_time_left_follows_the_pace_so_far():
    now = [0.0]
    seen = []
    progress = with_time_left(lambda fraction, message: seen.append(message), clock=lambda: now[0])
    progress(0.0, "start")
    now[0] = 30.0
    progress(0.25, "working")
    now[0] = 120.0
    progress(1.0, "done")
    assert seen == ["start", "working (1 min 30 s left)", "done"]
    assert format_duration(7300) == "2 h 01 min"


def test_patchcore_chooses_its_coreset_run_by_run(good_images, monkeypatch):
    sizes = []
    greedy = patchcore_model.greedy_coreset

    def recording(points, count, *args, **kwargs):
        sizes.append((len(points), count))
        return greedy(points, count, *args, **kwargs)

    monkeypatch.setattr(patchcore_model, "greedy_coreset", recording)
    detector = create_detector("patchcore", "fast", device="cpu", weights="none",
                               coreset_chunk=1000)
    per_image = detector._patches_per_image()  # 64 px at stride 8: 64 patches
    images = resize_count(good_images, 60)
    detector.fit(images, calibration=good_images[:2])
    per_run = 1000 // per_image
    assert all(points <= per_run * per_image for points, _ in sizes), "the work per run is bounded"
    assert sum(points for points, _ in sizes) == len(images) * per_image, "every patch is seen"
    assert len(detector.memory_bank) == sum(count for _, count in sizes)
    # The bank is made of the training patches themselves.
    patches = detector._patches(detector.training_inputs(images[:per_run]),
                                lambda fraction, message: None)
    distance, _ = detector._nearest(patches)
    assert int((distance < 0.05).sum()) >= sizes[0][1]  # 0.05: float32 rounding of |q - b|


def test_one_run_is_the_paper_greedy_over_all_patches(good_images, monkeypatch):
    sizes = []
    greedy = patchcore_model.greedy_coreset
    monkeypatch.setattr(patchcore_model, "greedy_coreset",
                        lambda points, count, *a, **k: sizes.append(len(points)) or greedy(points, count, *a, **k))
    detector = create_detector("patchcore", "fast", device="cpu", weights="none", coreset_chunk=0)
    detector.fit(good_images[:10], calibration=good_images[10:])
    assert sizes == [10 * detector._patches_per_image()]


def test_step_budget_follows_the_data():
    from algorithms.base import step_budget

    assert step_budget(100, 4, 1000, 0) == 1000, "few images: at least min_steps"
    assert step_budget(1000, 4, 1000, 0) == 4000, "more images: the passes"
    assert step_budget(1000, 4, 1000, 2500) == 2500, "and never beyond max_steps"


# 64 px: 8x8, 4x4 and 2x2 fibres per image, in batches of 64 per scale. 4 images: 4 + 1 + 1
# steps a pass, 2 passes fall short of 20 steps; 12 images: 12 + 3 + 1 a pass, 32 in 2 passes.
@pytest.mark.parametrize("images, expected", [(4, 20), (12, 32)])
def test_cflow_trains_for_the_step_budget(good_images, images, expected):
    detector = create_detector("cflow", "fast", device="cpu", weights="none", epochs=2,
                               min_steps=20)
    steps = []

    def record(fraction, message):
        if message.startswith("training the flows"):
            steps.append(message.split("step ")[1].split(",")[0])

    detector.fit(good_images[:images], calibration=good_images[-2:], progress=record)
    done, total = steps[-1].split("/")
    assert int(done) == int(total) == expected and len(steps) == expected


def test_patchcore_fit_costs_grow_linearly_with_the_images(good_images, monkeypatch):
    """Distance evaluations of the coreset: 4x the images must cost about 4x, not 16x."""
    from algorithms.patchcore import coreset

    rows = [0]
    for name in ("_squared_distances", "_lower_bounds"):
        original = getattr(coreset, name)

        def counting(points, *args, original=original):
            rows[0] += len(points)
            return original(points, *args)

        monkeypatch.setattr(coreset, name, counting)
    # Naive greedy bound: the points of each greedy times the centres it chooses.
    naive = [0]
    greedy = patchcore_model.greedy_coreset
    monkeypatch.setattr(patchcore_model, "greedy_coreset", lambda points, count, *a, **k: (
        naive.__setitem__(0, naive[0] + len(points) * count) or greedy(points, count, *a, **k)))
    costs = []
    for count in (30, 120):
        rows[0] = naive[0] = 0
        detector = create_detector("patchcore", "fast", device="cpu", weights="none",
                                   coreset_chunk=960)  # 15 images of 64 patches per run
        detector.fit(resize_count(good_images, count), calibration=good_images[:2])
        costs.append((rows[0], naive[0]))
    (small, small_naive), (large, large_naive) = costs
    assert large_naive == 4 * small_naive, "runs of a bounded size: the work per run is fixed"
    assert large < 6 * small, f"distance evaluations grew {large / small:.1f}x for 4x the images"


def test_patchcore_progress_grows_with_the_work(good_images):
    seen = []
    detector = create_detector("patchcore", "fast", device="cpu", weights="none",
                               coreset_chunk=640)  # 10 images per run: 4 runs
    detector.fit(resize_count(good_images, 40), calibration=good_images[:2],
                 progress=lambda fraction, message: seen.append(fraction))
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert sum(1 for fraction in seen if fraction < 0.95) > 8, "progress within every run"
