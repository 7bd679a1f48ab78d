"""CFlow-AD: the flow's mathematics, cancelling, saving and a floor on real data."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from algorithms import Cancelled, NotFittedError, create_detector, load_detector, save_detector
from algorithms.cflow.flow import ConditionalFlow, positional_encoding_2d

BOTTLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mvtec_ad" / "bottle"


def good_images(count: int, seed: int = 0) -> list[np.ndarray]:
    """A blue part on a grey belt, with sensor noise."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        image = np.full((72, 72, 3), 120, np.float32)
        image[18:54, 18:54] = (40, 160, 200)
        images.append(np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8))
    return images


def defective(images: list[np.ndarray]) -> list[np.ndarray]:
    """The same parts with a red blotch across the part's corner."""
    out = []
    for image in images:
        image = image.copy()
        image[6:30, 40:66] = (255, 0, 0)
        out.append(image)
    return out


@pytest.fixture(scope="module")
def fitted():
    detector = create_detector("cflow", "fast", device="cpu", weights="none")
    train = good_images(12)
    detector.fit(train)
    return detector, train


def test_flow_log_determinant_matches_the_jacobian():
    torch.manual_seed(0)
    flow = ConditionalFlow(6, 8, blocks=3, clamp=1.9, generator=torch.Generator().manual_seed(0))
    flow = flow.double()
    with torch.no_grad():
        for parameter in flow.parameters():
            parameter.normal_(0.0, 0.5)  # away from the near-identity start
    x, condition = torch.randn(6, dtype=torch.double), torch.randn(8, dtype=torch.double)
    projected = flow.project(condition)
    _, log_det = flow(x, projected)
    jacobian = torch.autograd.functional.jacobian(lambda v: flow(v, projected)[0], x)
    assert float(log_det.detach()) == pytest.approx(float(torch.linalg.slogdet(jacobian)[1]), rel=1e-9)


def test_positional_encoding_tells_positions_apart():
    encoding = positional_encoding_2d(32, 8, 8).flatten(1).T  # (64, 32)
    distances = torch.cdist(encoding, encoding) + torch.eye(64) * 1e3
    assert float(distances.min()) > 0.1


def test_defects_score_higher_than_training_images(fitted):
    detector, train = fitted
    good = detector.predict(train[:4])
    bad = detector.predict(defective(train[:4]))
    assert good.scores.max() < bad.scores.min()
    assert all(m.shape == (72, 72) for m in good.maps)
    # The defect is where the map is hot.
    assert np.mean([m[6:30, 40:66].mean() > m[40:, :30].mean() for m in bad.maps]) == 1.0


def test_single_image_scores_do_not_depend_on_the_batch(fitted):
    detector, train = fitted
    images = train[:2] + defective(train[:2])
    together = detector.predict(images).scores
    alone = np.concatenate([detector.predict([image]).scores for image in images])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)


def test_save_reload_gives_identical_scores(fitted, tmp_path):
    detector, train = fitted
    images = train[:3] + defective(train[:3])
    path = save_detector(detector, tmp_path / "cflow.pt")
    loaded = load_detector(path, device="cpu")
    assert loaded is not detector and loaded.name == "cflow"
    # The file, not the fresh initialisation, decides the decoders.
    fresh = create_detector("cflow", "fast", device="cpu", weights="none", seed=1)
    assert not torch.equal(fresh.decoders[0].blocks[0].out.weight, loaded.decoders[0].blocks[0].out.weight)
    before, after = detector.predict(images), loaded.predict(images)
    np.testing.assert_array_equal(before.scores, after.scores)
    for a, b in zip(before.maps, after.maps):
        np.testing.assert_array_equal(a, b)


def test_cancel_mid_training_leaves_nothing_fitted():
    detector = create_detector("cflow", "fast", device="cpu", weights="none")
    calls = []

    def cancel_in_training(fraction: float, message: str) -> None:
        calls.append(message)
        if message.startswith("training the flows") and len(calls) > 5:
            raise Cancelled

    with pytest.raises(Cancelled):
        detector.fit(good_images(12), cancel_in_training)
    assert not detector.is_fitted
    with pytest.raises(NotFittedError):
        detector.predict(good_images(1))


def test_cancelled_refit_keeps_the_trained_model(fitted):
    detector, train = fitted
    before = detector.predict(train[:2] + defective(train[:2])).scores
    steps = []

    def cancel_late(fraction: float, message: str) -> None:
        steps.append(fraction)
        if fraction > 0.5:
            raise Cancelled

    with pytest.raises(Cancelled):
        detector.fit(good_images(12, seed=1), cancel_late)
    assert detector.is_fitted
    np.testing.assert_array_equal(before, detector.predict(train[:2] + defective(train[:2])).scores)


@pytest.mark.slow
@pytest.mark.skipif(not BOTTLE.is_dir(), reason=f"MVTec AD bottle not found at {BOTTLE}")
def test_real_bottle_reaches_a_floor_on_a_short_budget():
    """Three epochs on 128 px images: about two minutes on two CPU cores."""
    from sklearn.metrics import roc_auc_score

    from algorithms.datasets import labelled_images, read_images, read_mask

    try:
        detector = create_detector("cflow", device="cpu", image_size=128, epochs=3, min_steps=0,
                                   fiber_batch_size=64)
    except Exception as exc:  # noqa: BLE001 - the offline weights package may be absent
        pytest.skip(f"offline ImageNet weights unavailable: {exc}")
    train = read_images(sorted((BOTTLE / "train" / "good").glob("*.png")))
    started = time.perf_counter()
    detector.fit(train)
    assert time.perf_counter() - started < 600
    items = labelled_images(BOTTLE)
    # Raw scores and maps as predict makes them (square images: one input each, no padding).
    raw = list(detector.raw_images(read_images([i.path for i in items])))
    scores = torch.tensor([score for score, _, _ in raw])  # (N,)
    maps = torch.cat([input_maps for _, input_maps, _ in raw])  # (N, S, S)
    labels = np.array([item.defective for item in items])
    assert roc_auc_score(labels, scores.numpy()) >= 0.97
    masks = np.stack([read_mask(item, 128) for item in items])
    assert roc_auc_score(masks.ravel() > 0, maps.numpy().ravel()) >= 0.95
