"""Camera buffers to frames at their native depth, and the two ways a frame is scaled after.

A camera sends raw bytes in a named pixel format (GenICam PFNC names, or the older GigE Vision
names such as "RGB8Packed"). `to_frame` turns them into an image a detector can use without
losing bits: mono stays (H, W), colour becomes RGB (H, W, 3); 8-bit formats give uint8, deeper
ones uint16 holding `bit_depth` significant bits (a Mono12 sample is 0..4095, never shifted).
Only the display scales to 8 bits (`to_display8`); the model gets [0, 1] floats divided by the
real full scale (`to_unit_float`, which is `algorithms.images.to_unit`), so a 12-bit frame is
not shown or judged nearly black.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from algorithms.images import to_unit

from .base import SourceError

# The top-left 2 x 2 cell of a Bayer mosaic -> OpenCV's demosaic code. OpenCV 5 also spells
# the codes by the top-left cell (RGGB...), which matches the GenICam names.
_DEMOSAIC = {"RG": cv2.COLOR_BayerRGGB2RGB, "GB": cv2.COLOR_BayerGBRG2RGB,
             "GR": cv2.COLOR_BayerGRBG2RGB, "BG": cv2.COLOR_BayerBGGR2RGB}


@dataclass(frozen=True)
class PixelFormat:
    """How one named format lays out its samples.

    layout: mono, bayer, rgb, bgr, rgba, bgra, yuyv or uyvy. storage: "8" (a byte per sample),
    "16" (little-endian uint16 per sample, `bits` of them significant), "p" (PFNC bit-packed,
    least significant bit first: Mono10p, Mono12p) or "gev" (GigE Vision 1.x packed:
    Mono10Packed, Mono12Packed, two samples in three bytes).
    """

    name: str
    layout: str
    bits: int
    storage: str
    cfa: str = ""  # the Bayer mosaic's top-left cell, "RG", "GB", "GR" or "BG"

    @property
    def channels(self) -> int:
        return {"rgb": 3, "bgr": 3, "rgba": 4, "bgra": 4, "yuyv": 2, "uyvy": 2}.get(self.layout, 1)


def _formats() -> dict[str, PixelFormat]:
    table: list[PixelFormat] = [
        PixelFormat("Mono8", "mono", 8, "8"),
        PixelFormat("Mono10", "mono", 10, "16"),
        PixelFormat("Mono12", "mono", 12, "16"),
        PixelFormat("Mono14", "mono", 14, "16"),
        PixelFormat("Mono16", "mono", 16, "16"),
        PixelFormat("Mono10p", "mono", 10, "p"),
        PixelFormat("Mono12p", "mono", 12, "p"),
        PixelFormat("Mono10Packed", "mono", 10, "gev"),
        PixelFormat("Mono12Packed", "mono", 12, "gev"),
        PixelFormat("RGB8", "rgb", 8, "8"),
        PixelFormat("BGR8", "bgr", 8, "8"),
        PixelFormat("RGBa8", "rgba", 8, "8"),
        PixelFormat("BGRa8", "bgra", 8, "8"),
        PixelFormat("RGB10", "rgb", 10, "16"),
        PixelFormat("RGB12", "rgb", 12, "16"),
        PixelFormat("RGB16", "rgb", 16, "16"),
        PixelFormat("BGR10", "bgr", 10, "16"),
        PixelFormat("BGR12", "bgr", 12, "16"),
        PixelFormat("BGR16", "bgr", 16, "16"),
        PixelFormat("YCbCr422_8", "yuyv", 8, "8"),
        PixelFormat("YUV422_8", "yuyv", 8, "8"),
        PixelFormat("YUV422_8_UYVY", "uyvy", 8, "8"),
    ]
    for cfa in ("RG", "GB", "GR", "BG"):
        table += [PixelFormat(f"Bayer{cfa}8", "bayer", 8, "8", cfa),
                  PixelFormat(f"Bayer{cfa}10", "bayer", 10, "16", cfa),
                  PixelFormat(f"Bayer{cfa}12", "bayer", 12, "16", cfa),
                  PixelFormat(f"Bayer{cfa}16", "bayer", 16, "16", cfa),
                  PixelFormat(f"Bayer{cfa}10p", "bayer", 10, "p", cfa),
                  PixelFormat(f"Bayer{cfa}12p", "bayer", 12, "p", cfa),
                  PixelFormat(f"Bayer{cfa}12Packed", "bayer", 12, "gev", cfa)]
    formats = {spec.name.lower(): spec for spec in table}
    # Older GigE Vision (and pylon) names of the same layouts: in them "Packed" on a colour
    # format means "pixels interleaved", not bit-packed (RGB12Packed holds 16-bit samples).
    aliases = {"RGB8Packed": "RGB8", "BGR8Packed": "BGR8", "RGBA8Packed": "RGBa8",
               "BGRA8Packed": "BGRa8", "RGB10Packed": "RGB10", "RGB12Packed": "RGB12",
               "RGB16Packed": "RGB16", "BGR10Packed": "BGR10", "BGR12Packed": "BGR12",
               "YUV422_YUYV_Packed": "YUV422_8", "YUV422Packed": "YUV422_8_UYVY"}
    for alias, name in aliases.items():
        formats[alias.lower()] = formats[name.lower()]
    return formats


FORMATS = _formats()
# What a camera can be asked for in the settings: the common formats, in PFNC names.
CHOICES = ("Mono8", "Mono10", "Mono12", "Mono16", "Mono10p", "Mono12p", "Mono12Packed",
           *(f"Bayer{cfa}{bits}" for bits in (8, 10, 12, 16) for cfa in ("RG", "GB", "GR", "BG")),
           "RGB8", "BGR8", "RGBa8", "BGRa8", "RGB16", "YCbCr422_8")


def pixel_format(name: str) -> PixelFormat:
    """The layout of a named format; SourceError naming the format if it is not known."""
    spec = FORMATS.get(str(name).strip().lower())
    if spec is None:
        raise SourceError(f"pixel format {name!r} is not supported; choose one of "
                          f"{', '.join(CHOICES)} on the camera")
    return spec


def to_frame(data: bytes | bytearray | memoryview | np.ndarray, pixel_format_name: str,
             width: int, height: int, padding_x: int = 0) -> tuple[np.ndarray, int]:
    """A camera buffer -> (image, bit_depth) at the native depth.

    `data` is the raw bytes of one image (lines of `padding_x` extra bytes are allowed), or a
    uint16 array of samples a driver has already unpacked. Returns (H, W) for mono, (H, W, 3)
    RGB for colour; uint8 for 8-bit formats, uint16 holding `bit_depth` bits otherwise.
    """
    spec = pixel_format(pixel_format_name)
    if width <= 0 or height <= 0:
        raise SourceError(f"a {spec.name} image of {width} x {height} pixels is empty")
    samples = width * spec.channels
    if isinstance(data, np.ndarray) and data.dtype == np.uint16:
        values = _unpacked_samples(data, spec, samples, height)
    else:
        raw = data.reshape(-1).view(np.uint8) if isinstance(data, np.ndarray) else \
            np.frombuffer(data, dtype=np.uint8)
        values = _samples(raw, spec, samples, height, padding_x)  # (H, W * channels)
    image = _arrange(values, spec, width, height)
    if image.base is not None or not image.flags.writeable:
        image = image.copy()  # never a view of the driver's buffer, which is reused
    return image, spec.bits


def _unpacked_samples(data: np.ndarray, spec: PixelFormat, samples: int, height: int) -> np.ndarray:
    if data.size != samples * height:
        raise SourceError(f"a {spec.name} image of {samples // spec.channels} x {height} pixels "
                          f"needs {samples * height} samples; the camera sent {data.size}")
    return data.reshape(height, samples)


def _samples(raw: np.ndarray, spec: PixelFormat, samples: int, height: int,
             padding_x: int) -> np.ndarray:
    """Raw bytes -> (H, samples per line) uint8 or uint16 sample values."""
    if spec.storage in ("p", "gev") and padding_x == 0:
        # Packed lines need not end on a byte: the whole image is one bit stream.
        count = samples * height
        _require(raw, _packed_bytes(spec, count), spec, samples, height)
        return _unpack(raw, spec, count).reshape(height, samples)
    line = _packed_bytes(spec, samples) if spec.storage in ("p", "gev") else \
        samples * (1 if spec.storage == "8" else 2)
    stride = line + padding_x
    _require(raw, stride * (height - 1) + line, spec, samples, height)
    if raw.size < stride * height:  # the last line's padding may be left out
        raw = np.concatenate([raw, np.zeros(stride * height - raw.size, np.uint8)])
    lines = raw[:stride * height].reshape(height, stride)[:, :line]  # (H, line bytes)
    if spec.storage == "8":
        return lines
    if spec.storage == "16":
        return np.ascontiguousarray(lines).view("<u2").astype(np.uint16, copy=False)
    group = _group(spec)[1]
    lines = np.pad(lines, ((0, 0), (0, -line % group)))  # whole groups per line
    return _unpack(lines.reshape(-1), spec, lines.size // group * _group(spec)[0]
                   ).reshape(height, -1)[:, :samples]


def _require(raw: np.ndarray, needed: int, spec: PixelFormat, samples: int, height: int) -> None:
    if raw.size < needed:
        raise SourceError(f"a {spec.name} image of {samples // spec.channels} x {height} pixels "
                          f"needs {needed} bytes; the camera sent {raw.size} (incomplete frame?)")


def _group(spec: PixelFormat) -> tuple[int, int]:
    """(samples, bytes) of the smallest whole group of a packed format: 12 bits -> (2, 3)."""
    if spec.storage == "gev":
        return 2, 3  # two samples in three bytes, 10 or 12 bits alike
    samples = 8 // math.gcd(spec.bits, 8)
    return samples, spec.bits * samples // 8


def _packed_bytes(spec: PixelFormat, count: int) -> int:
    if spec.storage == "gev":
        return (count + 1) // 2 * 3
    return (count * spec.bits + 7) // 8


def _unpack(stream: np.ndarray, spec: PixelFormat, count: int) -> np.ndarray:
    """`count` packed samples from a byte stream -> 1-D uint16."""
    per_group, group_bytes = _group(spec)
    stream = stream[:_packed_bytes(spec, count)]
    stream = np.pad(stream, (0, -stream.size % group_bytes))
    groups = stream.reshape(-1, group_bytes).astype(np.uint64)  # (groups, bytes)
    mask = np.uint64((1 << spec.bits) - 1)
    if spec.storage == "gev":
        # GigE Vision 1.x: bytes (A high, low bits of A | low bits of B << 4, B high).
        low = np.uint64(spec.bits - 8)
        low_mask = np.uint64((1 << (spec.bits - 8)) - 1)
        first = (groups[:, 0] << low) | (groups[:, 1] & low_mask)
        second = (groups[:, 2] << low) | ((groups[:, 1] >> np.uint64(4)) & low_mask)
        values = np.stack([first, second], axis=1)
    else:
        # PFNC "p": one little-endian bit stream, each sample least significant bit first.
        word = np.zeros(len(groups), np.uint64)
        for index in range(group_bytes):
            word |= groups[:, index] << np.uint64(8 * index)
        shifts = np.arange(per_group, dtype=np.uint64) * np.uint64(spec.bits)
        values = (word[:, None] >> shifts[None, :]) & mask
    return values.reshape(-1)[:count].astype(np.uint16)


def _arrange(values: np.ndarray, spec: PixelFormat, width: int, height: int) -> np.ndarray:
    """(H, W * channels) samples -> the frame the pipeline uses."""
    if spec.layout == "mono":
        return np.ascontiguousarray(values.reshape(height, width))
    if spec.layout == "bayer":
        mosaic = np.ascontiguousarray(values.reshape(height, width))
        return cv2.cvtColor(mosaic, _DEMOSAIC[spec.cfa])  # (H, W, 3), dtype kept
    if spec.layout in ("yuyv", "uyvy"):
        packed = np.ascontiguousarray(values.reshape(height, width, 2))
        code = cv2.COLOR_YUV2RGB_YUYV if spec.layout == "yuyv" else cv2.COLOR_YUV2RGB_UYVY
        return cv2.cvtColor(packed, code)
    pixels = values.reshape(height, width, spec.channels)
    order = [0, 1, 2] if spec.layout in ("rgb", "rgba") else [2, 1, 0]
    return np.ascontiguousarray(pixels[:, :, order])  # alpha carries no inspection information


def full_scale(bit_depth: int) -> int:
    if not 1 <= int(bit_depth) <= 16:
        raise ValueError(f"bit depth {bit_depth} is not between 1 and 16")
    return (1 << int(bit_depth)) - 1


def to_display8(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """A frame for the screen: uint8 with the real full scale (4095 for 12 bits) at 255."""
    if image.dtype == np.uint8 and bit_depth == 8:
        return image
    # convertScaleAbs rounds and saturates, so stray bits above `bit_depth` show as white.
    return cv2.convertScaleAbs(image, alpha=255.0 / full_scale(bit_depth))


def to_unit_float(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """A frame for the model: float32 in [0, 1], divided by the real full scale."""
    full_scale(bit_depth)  # refuse an impossible depth here, with the camera's words
    return to_unit(image, bit_depth)


__all__ = ["CHOICES", "FORMATS", "PixelFormat", "full_scale", "pixel_format", "to_display8",
           "to_frame", "to_unit_float"]
