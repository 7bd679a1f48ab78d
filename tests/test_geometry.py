"""The input geometry: pad / squeeze, tiles that cover the image, maps stitched back without seams."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from algorithms.geometry import (Geometry, image_score, layout_of, model_inputs, stitch,
                                 tile_count)

SHAPES = [(300, 1280), (1280, 300), (512, 512), (2000, 2000), (9, 13), (37, 700), (257, 255)]


def ramp_image(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(x * 255 // max(width - 1, 1)), (y * 255 // max(height - 1, 1)),
                     np.full_like(x, 200)], axis=2).astype(np.uint8)


@pytest.mark.parametrize("shape, interpolation", [((300, 1280), cv2.INTER_AREA),  # shrinking
                                                   ((9, 13), cv2.INTER_LINEAR)])  # enlarging
def test_squeeze_without_tiles_is_the_old_square_resize(shape, interpolation):
    # Noise, not a ramp: on a ramp area averaging and linear interpolation give the same pixels.
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    inputs, layout = model_inputs(image, Geometry(64, "squeeze"))
    assert inputs.shape == (1, 64, 64, 3) and inputs.dtype == np.float32
    square = cv2.resize(image, (64, 64), interpolation=interpolation)  # in uint8, then to [0, 1]
    np.testing.assert_array_equal(inputs[0], square.astype(np.float32) / 255.0)
    assert (layout.content_height, layout.content_width) == (64, 64)


def test_pad_keeps_the_aspect_ratio_top_left_and_pads_the_rest():
    image = np.full((100, 400), 255, np.uint8)  # 4:1, white
    inputs, layout = model_inputs(image, Geometry(64, "pad"))
    assert inputs.shape == (1, 64, 64, 3)
    assert (layout.content_height, layout.content_width) == (16, 64)
    np.testing.assert_array_equal(inputs[0, :16], 1.0)  # the image, replicated to 3 channels
    np.testing.assert_array_equal(inputs[0, 16:], 0.0)  # the padding below it


def test_pad_crops_the_padding_off_the_map():
    layout = layout_of(100, 400, Geometry(64, "pad"))
    anomaly_map = np.zeros((1, 64, 64), np.float32)
    anomaly_map[0, 16:] = 99.0  # whatever the model says about the padding is dropped
    out = stitch(anomaly_map, layout)
    assert out.shape == (100, 400) and out.max() == 0.0


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["pad", "squeeze"])
def test_tiles_cover_every_pixel_and_overlap(shape, mode):
    geometry = Geometry(64, mode, working_side=200, tile_overlap=0.25)
    layout = layout_of(*shape, geometry)
    covered = np.zeros(layout.canvas, np.int32)
    for top, left in layout.origins:
        assert top + 64 <= layout.canvas[0] and left + 64 <= layout.canvas[1]
        covered[top:top + 64, left:left + 64] += 1
    assert covered.min() >= 1
    assert max(layout.content_height, layout.content_width) == 200  # the long side works at 200
    rows = sorted({top for top, _ in layout.origins})
    assert all(b - a <= 64 - 16 for a, b in zip(rows, rows[1:])), "neighbours overlap by 25 %"
    assert tile_count(*shape, geometry) == len(layout.origins)
    inputs, same = model_inputs(ramp_image(*shape), geometry)
    assert same == layout and inputs.shape == (len(layout.origins), 64, 64, 3)


def test_tile_count_follows_the_working_side():
    geometry = Geometry(256, "pad", working_side=512, tile_overlap=0.25)
    assert tile_count(512, 512, geometry) == 9  # 3 x 3 tiles of 256 at a step of at most 192
    assert tile_count(300, 1280, geometry) == 3  # 512 x 120, padded to 256 high: one row
    assert tile_count(50, 60, Geometry(256, "pad")) == 1


@pytest.mark.parametrize("shape", SHAPES)
def test_constant_maps_stitch_to_the_constant_without_seams(shape):
    layout = layout_of(*shape, Geometry(64, "pad", working_side=300))
    out = stitch(np.full((len(layout), 64, 64), 0.7, np.float32), layout)
    assert out.shape == shape and out.dtype == np.float32
    np.testing.assert_allclose(out, 0.7, rtol=1e-6)


def test_stitched_smooth_map_has_no_seam():
    """Tiles that agree on a smooth map blend into it: no step where one tile hands over."""
    geometry = Geometry(64, "squeeze", working_side=200)
    layout = layout_of(200, 200, geometry)
    y, x = np.mgrid[0:200, 0:200].astype(np.float32)
    truth = np.sin(x / 17.0) + np.cos(y / 23.0)
    maps = np.stack([truth[t:t + 64, s:s + 64] for t, s in layout.origins])
    np.testing.assert_allclose(stitch(maps, layout), truth, atol=1e-5)


@pytest.mark.parametrize("mode", ["pad", "squeeze"])
def test_a_mark_in_one_tile_lands_where_it_was_in_the_image(mode):
    """A bright spot in the image: the tile that sees it, marked at the spot's tile pixel,
    gives a stitched map that peaks at the spot's place in the original image."""
    height, width = 300, 1280
    spot = (210, 1000)
    image = np.zeros((height, width), np.uint8)
    image[spot[0] - 3:spot[0] + 4, spot[1] - 3:spot[1] + 4] = 255
    geometry = Geometry(64, mode, working_side=400)
    inputs, layout = model_inputs(image, geometry)
    maps = np.zeros((len(layout), 64, 64), np.float32)
    index = int(np.argmax(inputs[..., 0].reshape(len(layout), -1).max(axis=1)))
    maps[index] = inputs[index, :, :, 0]  # only the tile that sees the spot marks it
    out = stitch(maps, layout)
    assert out.shape == (height, width)
    weight = np.where(out > 0.5 * out.max(), out, 0.0)
    y, x = np.mgrid[0:height, 0:width]
    centre = (weight * y).sum() / weight.sum(), (weight * x).sum() / weight.sum()
    # Within half a working pixel, in original pixels.
    tolerance = 0.5 * height / layout.content_height + 0.5, 0.5 * width / layout.content_width + 0.5
    assert abs(centre[0] - spot[0]) <= tolerance[0] and abs(centre[1] - spot[1]) <= tolerance[1]
    assert out[:, :900].max() == 0.0, "nothing marked far from the spot"


def test_uint16_is_normalised_by_its_bit_depth():
    twelve_bit = np.full((40, 60), 4095, np.uint16)
    inputs, _ = model_inputs(twelve_bit, Geometry(32, "pad"), bit_depth=12)
    np.testing.assert_allclose(inputs[0, :21], 1.0)  # full scale of 12 bits is white
    half = np.full((40, 60), 2048, np.uint16)
    inputs, _ = model_inputs(half, Geometry(32, "pad"), bit_depth=12)
    np.testing.assert_allclose(inputs[0, 0, 0], 2048 / 4095, rtol=1e-6)
    inputs, _ = model_inputs(half, Geometry(32, "pad"), bit_depth=16)
    np.testing.assert_allclose(inputs[0, 0, 0], 2048 / 65535, rtol=1e-6)


def test_uint16_keeps_its_low_bits_through_the_resize():
    """Two 16-bit levels one 8-bit step apart stay apart: no trip through 8 bits."""
    image = np.full((64, 64), 1000, np.uint16)
    image[:, 32:] = 1100  # 1000 and 1100 are both 3 in 8 bits
    inputs, _ = model_inputs(image, Geometry(32, "squeeze"), bit_depth=16)
    assert inputs[0, 0, 31, 0] > inputs[0, 0, 0, 0]


def test_float_images_in_unit_range_pass_as_they_are():
    image = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    inputs, _ = model_inputs(image, Geometry(64, "pad"))
    np.testing.assert_array_equal(inputs[0], image)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((10, 10, 4), np.uint8), "shape"),
    (np.zeros((10, 10), np.int32), "uint8, uint16 or float32"),
])
def test_bad_images_are_refused_clearly(bad, match):
    with pytest.raises(ValueError, match=match):
        model_inputs(bad, Geometry(32))


def test_bad_geometry_is_refused_clearly():
    with pytest.raises(ValueError, match="fit_mode"):
        Geometry(fit_mode="crop")
    with pytest.raises(ValueError, match="tile_overlap"):
        Geometry(tile_overlap=1.0)


def test_stitch_refuses_maps_of_another_layout():
    layout = layout_of(100, 100, Geometry(32, "pad", working_side=80))
    with pytest.raises(ValueError, match="maps"):
        stitch(np.zeros((1, 32, 32), np.float32), layout)


def test_geometry_of_a_config_or_a_recipe_dict():
    assert Geometry.of({"image_size": 128}) == Geometry(128, "squeeze", 0, 0.25)  # saved before
    config = type("Config", (), dict(image_size=64, fit_mode="pad", working_side=256,
                                      tile_overlap=0.5))()
    assert Geometry.of(config) == Geometry(64, "pad", 256, 0.5)


def test_image_score_is_the_most_anomalous_input():
    assert image_score(np.array([0.1, 0.9, 0.3], np.float32)) == pytest.approx(0.9)
