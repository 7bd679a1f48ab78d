"""Invariants every registered detector keeps, on small synthetic images (fast presets)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import algorithms
from algorithms import Cancelled, NotFittedError, create_detector, load_detector, save_detector

DETECTORS = algorithms.detector_names()


def fast(name: str, **overrides):
    torch.manual_seed(0)
    return create_detector(name, "fast", device="cpu", weights="none", **overrides)


# Shorter trainings where a test only needs a model, not a good one.
QUICK = {"ddad": dict(train_epochs=10, weighting_images=2), "cflow": dict(epochs=5)}


@pytest.fixture(params=DETECTORS)
def fitted(request, good_images):
    # Four of the 14 parts calibrate: the default share (two) leaves the threshold of the
    # tiniest presets at the mercy of which two were drawn.
    detector = fast(request.param, holdout_fraction=0.3)
    detector.fit(good_images)
    return detector


def test_good_images_score_below_defective(fitted, good_images, defective_images):
    good = fitted.predict(good_images).scores
    bad = fitted.predict(defective_images).scores
    assert good.max() < bad.min()
    assert np.median(good) < 0.5 <= bad.min(), "the calibrated threshold separates them"


def test_maps_come_back_at_each_images_own_size(fitted, good_images):
    sizes = [(72, 80), (50, 131), (200, 90)]
    images = [np.resize(good_images[0], (h, w, 3)).astype(np.uint8) for h, w in sizes]
    prediction = fitted.predict(images)
    assert [m.shape for m in prediction.maps] == sizes
    assert all(m.dtype == np.float32 and np.isfinite(m).all() for m in prediction.maps)


def test_defect_is_where_the_map_is_high(fitted, defective_images):
    image = defective_images[0]
    anomaly_map = fitted.predict([image]).maps[0]
    is_defect = (image[:, :, 0] == 250) & (image[:, :, 1] == 30)
    assert anomaly_map[is_defect].mean() > anomaly_map[~is_defect].mean()


def test_save_then_load_gives_identical_scores(fitted, good_images, defective_images, tmp_path):
    images = good_images[:3] + defective_images
    before = fitted.predict(images)
    path = save_detector(fitted, tmp_path / "model.adgui")
    for parameter in fitted.state_dict().values():  # spoil the original: the copy must come from disk
        if parameter.is_floating_point():
            parameter.add_(1.0)
    loaded = load_detector(path, device="cpu")
    after = loaded.predict(images)
    assert loaded is not fitted and type(loaded) is type(fitted)
    np.testing.assert_allclose(after.scores, before.scores, rtol=1e-5, atol=1e-6)
    for a, b in zip(after.maps, before.maps):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", DETECTORS)
def test_cancel_stops_fitting_and_leaves_no_model(name, good_images):
    detector = fast(name)
    calls = []

    def cancel_on_second_call(fraction, message):
        calls.append(fraction)
        if len(calls) >= 2:
            raise Cancelled

    with pytest.raises(Cancelled):
        detector.fit(good_images, progress=cancel_on_second_call)
    assert not detector.is_fitted
    with pytest.raises(NotFittedError):
        detector.predict(good_images[:1])


@pytest.mark.parametrize("name", DETECTORS)
def test_too_few_images_is_a_clear_error(name, good_images):
    with pytest.raises(ValueError, match="at least"):
        fast(name).fit(good_images[:1])


@pytest.mark.parametrize("name", DETECTORS)
def test_progress_reaches_the_end(name, good_images):
    seen = []
    fast(name).fit(good_images, progress=lambda fraction, message: seen.append(fraction))
    assert seen[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in seen)
    assert seen == sorted(seen), "progress never goes backwards"


def _cancel_when(stop):
    def progress(fraction, message):
        if stop(fraction, message):
            raise Cancelled
    return progress


CANCEL_POINTS = {
    "preparing": lambda fraction, message: message.startswith("preparing"),
    "training": lambda fraction, message: 0.3 <= fraction < 0.9,
    "calibrating": lambda fraction, message: message.startswith("calibrating"),
}


@pytest.mark.parametrize("name", DETECTORS)
def test_a_cancelled_refit_leaves_the_previous_model_scoring_as_before(name, good_images,
                                                                        defective_images):
    from conftest import synthetic_part

    detector = fast(name, **QUICK.get(name, {}))
    detector.fit(good_images)
    probe = good_images[:3] + defective_images
    before = detector.predict(probe)
    state = {key: value.clone() for key, value in detector.state_dict().items()}
    rng = np.random.default_rng(7)
    other_parts = [synthetic_part(rng, size=(64, 90)) for _ in range(10)]
    for point, stop in CANCEL_POINTS.items():
        with pytest.raises(Cancelled):
            detector.fit(other_parts, progress=_cancel_when(stop))
        assert detector.is_fitted, point
        after = detector.predict(probe)
        np.testing.assert_array_equal(after.scores, before.scores, err_msg=point)
        for a, b in zip(after.maps, before.maps):
            np.testing.assert_array_equal(a, b, err_msg=point)
        assert all(torch.equal(state[key], value) for key, value in detector.state_dict().items())
    detector.fit(other_parts)  # a refit that completes does replace the model
    assert not np.array_equal(detector.predict(probe).scores, before.scores)


@pytest.mark.parametrize("name", DETECTORS)
def test_a_fit_that_would_not_fit_in_memory_refuses_before_starting(name, good_images, monkeypatch):
    from algorithms import base

    detector = fast(name, **QUICK.get(name, {}))
    needed = detector.estimate_fit_memory(len(good_images))
    assert needed > detector.estimate_fit_memory(2) > 0, "the estimate grows with the images"
    monkeypatch.setattr(base, "free_memory", lambda device: needed // 4)
    started = []
    with pytest.raises(algorithms.InsufficientMemoryError, match="needs about"):
        detector.fit(good_images, progress=lambda fraction, message: started.append(message))
    assert not started and not detector.is_fitted
    monkeypatch.setattr(base, "free_memory", lambda device: 2 * needed)
    with pytest.raises(Cancelled):  # with room enough it starts
        detector.fit(good_images, progress=_cancel_when(lambda fraction, message: True))
