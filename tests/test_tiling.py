"""The detectors through the input geometry: aspect ratio kept, tiles trained on and stitched,
models saved before the geometry scoring as before, memory bounded whatever the image size."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from algorithms import create_detector, load_detector, save_detector
from algorithms.base import Detector
from algorithms.geometry import Geometry, model_inputs, tile_count
from conftest import synthetic_part

TILED = dict(image_size=32, working_side=64)  # 3 x 3 tiles of 32 px on a square image


def fast(name: str, **overrides) -> Detector:
    torch.manual_seed(0)
    return create_detector(name, "fast", device="cpu", weights="none", **overrides)


def parts(count: int, size=(72, 80), seed: int = 0, defect: bool = False) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [synthetic_part(rng, size, defect) for _ in range(count)]


@pytest.fixture(scope="module", params=["padim", "patchcore"])
def tiled(request) -> Detector:
    detector = fast(request.param, **TILED)
    detector.fit(parts(10))
    return detector


def test_tiled_detector_trains_on_every_tile(monkeypatch):
    detector = fast("padim", **TILED)
    seen = {}
    original = type(detector)._fit

    def spy(self, images, progress):
        seen["inputs"] = tuple(images.shape)
        return original(self, images, progress)

    monkeypatch.setattr(type(detector), "_fit", spy)
    images = parts(8)
    report = detector.fit(images)
    per_image = tile_count(72, 80, detector.geometry)
    assert per_image > 1
    assert seen["inputs"] == (report.train_images * per_image, 3, 32, 32)


def test_tiled_defects_score_above_good_and_maps_at_image_size(tiled):
    good = tiled.predict(parts(4, seed=7))
    bad = tiled.predict(parts(4, seed=8, defect=True))
    assert good.scores.max() < bad.scores.min()
    assert all(m.shape == (72, 80) and m.dtype == np.float32 for m in bad.maps)


def test_tiled_map_points_at_the_defect(tiled):
    rng = np.random.default_rng(3)
    image = synthetic_part(rng, (72, 80))
    image[40:52, 50:62] = (250, 30, 200)  # a defect near the lower right
    anomaly_map = tiled.predict([image]).maps[0]
    peak = np.unravel_index(np.argmax(anomaly_map), anomaly_map.shape)
    assert 30 <= peak[0] <= 62 and 40 <= peak[1] <= 72


@pytest.mark.parametrize("shape", [(2000, 2000), (1280, 300), (300, 1280)])
def test_huge_and_long_images_come_back_at_their_size_in_bounded_batches(tiled, shape, monkeypatch):
    """Every tile of a large image goes through the model in batches of at most batch_size."""
    batches = []
    original = type(tiled).forward

    def spy(self, images):
        batches.append(len(images))
        return original(self, images)

    monkeypatch.setattr(type(tiled), "forward", spy)
    image = np.resize(parts(1)[0], (*shape, 3)).astype(np.uint8)
    prediction = tiled.predict([image])
    assert prediction.maps[0].shape == shape
    assert sum(batches) == tile_count(*shape, tiled.geometry)
    assert max(batches) <= tiled.config.batch_size


def test_image_score_is_its_worst_tile(tiled):
    image = parts(1, seed=9, defect=True)[0]
    ((score, maps, layout),) = tiled.raw_images([image])
    inputs, _ = model_inputs(image, tiled.geometry)  # (T, S, S, 3)
    tile_scores, _ = tiled.raw_predict(torch.from_numpy(inputs).permute(0, 3, 1, 2).contiguous())
    assert score == pytest.approx(float(tile_scores.max()))
    assert len(maps) == len(layout) == tile_count(72, 80, tiled.geometry)


def test_patchcore_bank_holds_patches_of_every_tile():
    detector = fast("patchcore", **TILED, coreset_ratio=1.0, coreset_chunk=0)
    report = detector.fit(parts(6))
    per_tile = (32 // detector.backbone.strides[0]) ** 2
    assert len(detector.memory_bank) == report.train_images * tile_count(72, 80, detector.geometry) * per_tile


def test_square_images_pad_as_they_squeeze_and_long_ones_do_not():
    images = parts(8, size=(64, 64))
    squeezed, padded = fast("padim", fit_mode="squeeze"), fast("padim", fit_mode="pad")
    squeezed.fit(images)
    padded.fit(images)
    square = parts(3, size=(64, 64), seed=5, defect=True)
    np.testing.assert_array_equal(squeezed.predict(square).scores, padded.predict(square).scores)
    long = parts(1, size=(40, 120), seed=5)
    padded_map = padded.predict(long).maps[0]
    assert padded_map.shape == (40, 120)
    assert not np.allclose(squeezed.predict(long).maps[0], padded_map)


@pytest.mark.parametrize("name", ["padim", "patchcore"])
def test_squeeze_scores_exactly_as_the_square_path_before(name):
    """fit_mode="squeeze" without tiles is the old path: the same inputs, scores and maps."""
    detector = fast(name, fit_mode="squeeze")
    detector.fit(parts(8))
    test = [*parts(2, seed=4, defect=True), *parts(1, size=(50, 131), seed=6)]
    prediction = detector.predict(test)
    # The old predict: every image squeezed into one batch, maps resized by torch.
    raw_scores, raw_maps = detector.raw_predict(detector.training_inputs(test))  # (N,), (N, S, S)
    np.testing.assert_array_equal(prediction.scores, detector.normalize_scores(raw_scores).numpy())
    normalized = detector.normalize_maps(raw_maps)
    before = [F.interpolate(anomaly_map[None, None], size=image.shape[:2], mode="bilinear",
                            align_corners=False)[0, 0].numpy()
              for anomaly_map, image in zip(normalized, test)]
    for anomaly_map, old_map in zip(prediction.maps, before):
        np.testing.assert_allclose(anomaly_map, old_map, rtol=0, atol=1e-4 * np.abs(old_map).max())


def test_a_model_saved_before_the_geometry_loads_as_squeeze_and_scores_the_same(tmp_path):
    detector = fast("padim", fit_mode="squeeze")
    detector.fit(parts(8))
    path = save_detector(detector, tmp_path / "model.adgui")
    payload = torch.load(path, weights_only=True)
    for key in ("fit_mode", "working_side", "tile_overlap", "smallest_defect_px"):
        del payload["config"][key]  # as the files written before these settings existed
    torch.save(payload, path)
    loaded = load_detector(path, "cpu")
    assert loaded.geometry == Geometry(detector.config.image_size, "squeeze", 0, 0.25)
    test = parts(3, size=(50, 131), seed=2, defect=True)
    np.testing.assert_array_equal(loaded.predict(test).scores, detector.predict(test).scores)


def test_geometry_settings_survive_save_and_load(tmp_path, tiled):
    loaded = load_detector(save_detector(tiled, tmp_path / "tiled.adgui"), "cpu")
    assert loaded.geometry == tiled.geometry
    test = parts(2, seed=11, defect=True)
    np.testing.assert_allclose(loaded.predict(test).scores, tiled.predict(test).scores, rtol=1e-6)


def test_training_inputs_compact_when_float32_would_not_fit(monkeypatch):
    """Inputs that would take too much of the free memory are held as float16, and the fit
    still learns: scores close to a float32 fit's."""
    images = parts(8)
    full = fast("padim", **TILED)
    full.fit(images)
    compact = fast("padim", **TILED)
    inputs = len(images) * compact.inputs_per_image()
    monkeypatch.setattr("algorithms.base.free_memory", lambda device: inputs * 3 * 32 * 32 * 4)
    # So little memory would refuse the whole fit: only the inputs' storage is tested here.
    monkeypatch.setattr(Detector, "check_fit_memory", lambda self, train_images: None)
    assert compact.input_dtype(inputs) == torch.float16
    assert compact.training_inputs(images).dtype == torch.float16
    compact.fit(images)
    test = parts(3, seed=12, defect=True)
    np.testing.assert_allclose(compact.predict(test).scores, full.predict(test).scores, rtol=0.02)


def test_fit_memory_estimate_counts_tiles():
    whole, tiled = fast("patchcore", image_size=32), fast("patchcore", **TILED)
    assert tiled.inputs_per_image() == 9
    extra = tiled.estimate_fit_memory(100) - whole.estimate_fit_memory(100)
    assert extra >= 8 * 100 * 3 * 32 * 32 * 2  # at least the eight more tiles per image


def test_ddad_refuses_tiles_clearly():
    with pytest.raises(ValueError, match="does not work on tiles"):
        fast("ddad", working_side=64)


def test_bad_fit_mode_is_refused_when_the_detector_is_made():
    with pytest.raises(ValueError, match="fit_mode"):
        fast("padim", fit_mode="stretch")


def test_training_keeps_images_at_the_working_side(tmp_path, monkeypatch):
    """The training pipeline reads each image scaled to the working size (not the input size),
    its aspect ratio kept, so that the tiles are cut at the resolution the model works at."""
    from adgui.pipeline.training import train_model
    from conftest import write_parts

    shapes = []
    original = Detector.fit

    def spy(self, images, *args, **kwargs):
        shapes.extend(image.shape[:2] for image in images)
        return original(self, images, *args, **kwargs)

    monkeypatch.setattr(Detector, "fit", spy)
    write_parts(tmp_path / "good", 6)  # 72 x 80 parts
    result = train_model(tmp_path / "good", "padim", tmp_path / "m.adgui", preset="fast",
                         device="cpu", weights="none", image_size=32, working_side=160)
    assert set(shapes) == {(144, 160)}  # enlarged to the working side, aspect ratio kept
    assert load_detector(result.model_path, "cpu").geometry.working_side == 160


def test_cflow_learns_from_tiles():
    detector = fast("cflow", **TILED, epochs=2)
    detector.fit(parts(8))
    good = detector.predict(parts(3, seed=13))
    bad = detector.predict(parts(3, seed=14, defect=True))
    assert good.scores.max() < bad.scores.min()
    assert bad.maps[0].shape == (72, 80)
