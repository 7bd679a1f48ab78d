"""Camera pixel formats: synthetic buffers whose decoded image is known exactly."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from adgui.sources import SourceError
from adgui.sources.pixels import FORMATS, to_display8, to_frame, to_unit_float

CFAS = ("RG", "GB", "GR", "BG")


def pack_pfnc(values: np.ndarray, bits: int) -> bytes:
    """Reference packer for Mono10p / Mono12p: one bit stream, least significant bit first."""
    stream = 0
    for index, value in enumerate(int(v) for v in values.ravel()):
        stream |= value << (index * bits)
    return stream.to_bytes((values.size * bits + 7) // 8, "little")


def pack_gev(values: np.ndarray, bits: int) -> bytes:
    """Reference packer for GigE Vision Mono10Packed / Mono12Packed, line by line."""
    low = bits - 8
    mask = (1 << low) - 1
    out = bytearray()
    for line in values:
        line = [int(v) for v in line] + [0] * (len(line) % 2)
        for a, b in zip(line[0::2], line[1::2]):
            out += bytes([a >> low, (a & mask) | ((b & mask) << 4), b >> low])
    return bytes(out)


def mosaic(rgb: np.ndarray, cfa: str) -> np.ndarray:
    """The Bayer mosaic a sensor with top-left cell `cfa` (e.g. "RG" = R G / G B) records."""
    cell = {"RG": "RGGB", "GB": "GBRG", "GR": "GRBG", "BG": "BGGR"}[cfa]
    channel = {"R": 0, "G": 1, "B": 2}
    out = np.zeros(rgb.shape[:2], rgb.dtype)
    for index, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        out[dy::2, dx::2] = rgb[dy::2, dx::2, channel[cell[index]]]
    return out


def smooth_rgb(height: int, width: int, scale: int = 1, dtype=np.uint8) -> np.ndarray:
    """Linear ramps, different per channel: bilinear demosaicing reproduces them exactly
    away from the border, and a swapped channel or a wrong mosaic phase cannot."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.dstack([40 + 4 * x + y, 60 + 2 * y + x, 220 - 3 * x - 2 * y]) * scale
    return rgb.astype(dtype)


def test_mono8_is_exact_writable_and_not_a_view_of_the_driver_buffer():
    values = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    data = values.tobytes()
    image, depth = to_frame(data, "Mono8", 10, 12)
    assert depth == 8 and image.dtype == np.uint8 and image.shape == (12, 10)
    np.testing.assert_array_equal(image, values)
    image[0, 0] = 99  # the pipeline may draw on it; bytes from a driver are read-only
    assert image.flags.owndata or image.base is None


@pytest.mark.parametrize("name,bits", [("Mono10", 10), ("Mono12", 12), ("Mono16", 16)])
def test_unpacked_mono_keeps_its_depth(name, bits):
    ramp = np.linspace(0, (1 << bits) - 1, 8 * 16).astype(np.uint16).reshape(8, 16)
    image, depth = to_frame(ramp.astype("<u2").tobytes(), name, 16, 8)
    assert depth == bits and image.dtype == np.uint16
    np.testing.assert_array_equal(image, ramp)
    assert image.max() == (1 << bits) - 1  # full scale kept, never shifted to 8 bits


def test_line_padding_is_skipped():
    values = np.arange(6 * 10, dtype=np.uint8).reshape(6, 10)
    padded = np.hstack([values, np.full((6, 3), 255, np.uint8)]).tobytes()
    image, _ = to_frame(padded, "Mono8", 10, 6, padding_x=3)
    np.testing.assert_array_equal(image, values)


@pytest.mark.parametrize("name,bits,width", [("Mono12p", 12, 16), ("Mono10p", 10, 16),
                                             ("Mono12p", 12, 15), ("Mono10p", 10, 13)])
def test_pfnc_packed_formats_unpack_exactly(name, bits, width):
    # Odd widths too: a packed line then ends mid-byte and the next one carries on.
    rng = np.random.default_rng(bits + width)
    values = rng.integers(0, 1 << bits, (7, width), dtype=np.uint16)
    values[0, :3] = (0, (1 << bits) - 1, 1 << (bits - 1))
    image, depth = to_frame(pack_pfnc(values, bits), name, width, 7)
    assert depth == bits and image.dtype == np.uint16
    np.testing.assert_array_equal(image, values)


@pytest.mark.parametrize("name,bits", [("Mono12Packed", 12), ("Mono10Packed", 10)])
def test_gige_vision_packed_formats_unpack_exactly(name, bits):
    rng = np.random.default_rng(bits)
    values = rng.integers(0, 1 << bits, (5, 12), dtype=np.uint16)
    image, depth = to_frame(pack_gev(values, bits), name, 12, 5)
    assert depth == bits
    np.testing.assert_array_equal(image, values)


def test_samples_a_driver_already_unpacked_are_taken_as_they_are():
    values = np.arange(4 * 6, dtype=np.uint16).reshape(4, 6) * 170  # 12-bit values
    image, depth = to_frame(values.ravel(), "Mono12p", 6, 4)  # a uint16 array, not bytes
    assert depth == 12
    np.testing.assert_array_equal(image, values)


@pytest.mark.parametrize("cfa", CFAS)
def test_bayer8_demosaics_to_the_right_colours(cfa):
    rgb = smooth_rgb(16, 20)
    image, depth = to_frame(mosaic(rgb, cfa).tobytes(), f"Bayer{cfa}8", 20, 16)
    assert depth == 8 and image.dtype == np.uint8 and image.shape == (16, 20, 3)
    inner = (slice(2, -2), slice(2, -2))
    error = np.abs(image[inner].astype(int) - rgb[inner].astype(int))
    assert error.max() <= 1, f"{cfa}: demosaiced colours differ by up to {error.max()}"


@pytest.mark.parametrize("cfa,bits", [("RG", 12), ("BG", 12), ("GB", 10), ("GR", 16)])
def test_deep_bayer_stays_uint16(cfa, bits):
    scale = {10: 4, 12: 16, 16: 200}[bits]
    rgb = smooth_rgb(16, 20, scale=scale, dtype=np.uint16)
    assert rgb.max() < (1 << bits) and rgb.max() > 255
    raw = mosaic(rgb, cfa).astype("<u2").tobytes()
    image, depth = to_frame(raw, f"Bayer{cfa}{bits}", 20, 16)
    assert depth == bits and image.dtype == np.uint16
    inner = (slice(2, -2), slice(2, -2))
    error = np.abs(image[inner].astype(int) - rgb[inner].astype(int))
    assert error.max() <= 1


def test_packed_bayer_unpacks_then_demosaics():
    rgb = smooth_rgb(8, 12, scale=16, dtype=np.uint16)
    raw = pack_pfnc(mosaic(rgb, "RG"), 12)
    image, depth = to_frame(raw, "BayerRG12p", 12, 8)
    assert depth == 12
    assert np.abs(image[2:-2, 2:-2].astype(int) - rgb[2:-2, 2:-2].astype(int)).max() <= 1


@pytest.mark.parametrize("name,order,alpha", [
    ("RGB8", [0, 1, 2], False), ("RGB8Packed", [0, 1, 2], False), ("BGR8", [2, 1, 0], False),
    ("BGR8Packed", [2, 1, 0], False), ("BGRa8", [2, 1, 0], True), ("BGRA8Packed", [2, 1, 0], True),
    ("RGBa8", [0, 1, 2], True)])
def test_colour_formats_become_rgb(name, order, alpha):
    rgb = smooth_rgb(6, 8)
    sent = rgb[:, :, order]
    if alpha:
        sent = np.dstack([sent, np.full((6, 8), 7, np.uint8)])
    image, depth = to_frame(np.ascontiguousarray(sent).tobytes(), name, 8, 6)
    assert depth == 8 and image.shape == (6, 8, 3)
    np.testing.assert_array_equal(image, rgb)


def test_rgb16_keeps_its_depth():
    rgb = smooth_rgb(6, 8, scale=200, dtype=np.uint16)
    image, depth = to_frame(rgb.astype("<u2").tobytes(), "RGB16Packed", 8, 6)
    assert depth == 16 and image.dtype == np.uint16
    np.testing.assert_array_equal(image, rgb)


@pytest.mark.parametrize("name,code", [("YCbCr422_8", cv2.COLOR_RGB2YUV_YUYV),
                                       ("YUV422_8_UYVY", cv2.COLOR_RGB2YUV_UYVY)])
def test_yuv422_becomes_rgb(name, code):
    rgb = np.zeros((4, 8, 3), np.uint8)
    rgb[:, :] = (180, 90, 40)  # one colour: 4:2:2 chroma sharing loses nothing
    packed = cv2.cvtColor(rgb, code)  # (H, W, 2)
    image, depth = to_frame(packed.tobytes(), name, 8, 4)
    assert depth == 8
    assert np.abs(image.astype(int) - rgb.astype(int)).max() <= 3


def test_unknown_format_names_itself():
    with pytest.raises(SourceError, match="RGB12V1Packed"):
        to_frame(b"\0" * 100, "RGB12V1Packed", 4, 4)


def test_short_buffer_is_refused_with_the_sizes():
    with pytest.raises(SourceError, match="needs 128 bytes; the camera sent 100"):
        to_frame(b"\0" * 100, "Mono16", 8, 8)


def test_every_listed_format_decodes_a_buffer_of_its_size():
    for key, spec in FORMATS.items():
        width, height = 8, 4
        bytes_per_line = {"8": 1, "16": 2}.get(spec.storage, 2) * width * spec.channels
        image, depth = to_frame(bytes(bytes_per_line * height), key, width, height)
        assert image.shape[:2] == (height, width) and depth == spec.bits, key


def test_display_scales_by_the_real_bit_depth():
    twelve = np.array([[0, 2048, 4095]], np.uint16)
    np.testing.assert_array_equal(to_display8(twelve, 12), [[0, 128, 255]])
    assert (twelve >> 8).max() == 15  # what scaling as 16 bits showed: nearly black
    ten = np.array([[1023, 512]], np.uint16)
    np.testing.assert_array_equal(to_display8(ten, 10), [[255, 128]])
    sixteen = np.array([[65535, 257]], np.uint16)
    np.testing.assert_array_equal(to_display8(sixteen, 16), [[255, 1]])
    eight = np.array([[3, 200]], np.uint8)
    assert to_display8(eight, 8) is eight
    colour = np.full((2, 2, 3), 4095, np.uint16)
    out = to_display8(colour, 12)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3) and (out == 255).all()
    stray = np.array([[5000]], np.uint16)  # bits above 12: saturate, do not wrap
    np.testing.assert_array_equal(to_display8(stray, 12), [[255]])


def test_unit_float_divides_by_the_real_full_scale():
    twelve = np.array([[0, 4095, 2048, 6000]], np.uint16)
    unit = to_unit_float(twelve, 12)
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit, [[0.0, 1.0, 2048 / 4095, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(to_unit_float(np.array([[255, 51]], np.uint8), 8),
                               [[1.0, 0.2]], rtol=1e-6)
    np.testing.assert_allclose(to_unit_float(np.array([[65535]], np.uint16), 16), [[1.0]])
    with pytest.raises(ValueError, match="bit depth 0"):
        to_unit_float(twelve, 0)
