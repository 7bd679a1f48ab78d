"""Verdict colours and shapes an operator tells apart from 3 m, also with red-green colour
blindness, and the measures that check them.

Colours are from the Okabe–Ito set (Okabe & Ito 2008), chosen to stay apart for the common
colour-vision deficiencies: PASS is blue with white text, FAIL orange with black text, so the
two differ in lightness as well as hue. Each verdict also has its own symbol and box shape,
so the verdict never rests on colour alone.

Contrast is the WCAG 2 ratio of relative luminances. Deuteranopia is simulated with the
Machado, Oliveira & Fernandes (2009) matrix at severity 1.0, applied to linear RGB.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..records.part import ERROR, FAIL, NOT_JUDGED, PASS

IDLE_KIND, PREVIEW_KIND = "none", "preview"


@dataclass(frozen=True)
class VerdictLook:
    word: str  # what the big display says
    background: str  # "#rrggbb"
    text: str
    shape: str  # "rounded", "square" (thick border), "hatched", "notched"
    symbol: str  # "check", "cross", "question", "exclamation", ""
    border: str = ""  # colour of the thick border of a "square" box
    hatch: str = ""  # colour of the stripes of a "hatched" box


LOOKS: dict[str, VerdictLook] = {
    PASS: VerdictLook("PASS", "#0072B2", "#FFFFFF", "rounded", "check"),  # Okabe–Ito blue
    FAIL: VerdictLook("FAIL", "#E69F00", "#000000", "square", "cross", border="#000000"),  # orange
    NOT_JUDGED: VerdictLook("NOT JUDGED", "#474747", "#FFFFFF", "hatched", "question",
                            hatch="#666666"),
    ERROR: VerdictLook("ERROR", "#CC79A7", "#000000", "notched", "exclamation"),  # reddish purple
    IDLE_KIND: VerdictLook("READY", "#2B2C2F", "#C8C8C8", "rounded", ""),
    PREVIEW_KIND: VerdictLook("PREVIEW", "#2B2C2F", "#C8C8C8", "rounded", ""),
}

# Machado et al. 2009, deuteranomaly at severity 1.0 (deuteranopia), on linear RGB.
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968],
                         [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])


def look(kind: str) -> VerdictLook:
    return LOOKS.get(kind, LOOKS[IDLE_KIND])


def rgb(color: str) -> np.ndarray:
    """"#rrggbb" as sRGB in 0..1, shape (3,)."""
    text = color.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"not a #rrggbb colour: {color!r}")
    return np.array([int(text[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.float64) / 255.0


def to_hex(srgb: np.ndarray) -> str:
    values = np.clip(np.round(np.asarray(srgb, dtype=np.float64) * 255.0), 0, 255).astype(int)
    return "#" + "".join(f"{value:02X}" for value in values)


def to_linear(srgb: np.ndarray) -> np.ndarray:
    srgb = np.asarray(srgb, dtype=np.float64)
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)


def relative_luminance(color: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour, 0 (black) to 1 (white)."""
    return float(to_linear(rgb(color)) @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio, 1 (same luminance) to 21 (black on white); 4.5 is the floor for
    normal text at level AA."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def simulate_deuteranopia(color: str) -> str:
    """The colour as a deuteranope sees it (Machado 2009, severity 1.0)."""
    return to_hex(to_srgb(DEUTERANOPIA @ to_linear(rgb(color))))


def simulate_image(image: np.ndarray, matrix: np.ndarray = DEUTERANOPIA) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image as seen through a colour-vision matrix."""
    linear = to_linear(image.astype(np.float64) / 255.0)  # (H, W, 3)
    seen = to_srgb(linear @ matrix.T)
    return np.round(seen * 255.0).astype(np.uint8)


def delta_e76(first: str, second: str) -> float:
    """CIE 1976 colour difference in L*a*b* (D65); about 2.3 is just noticeable side by side."""
    return float(np.linalg.norm(_lab(first) - _lab(second)))


def _lab(color: str) -> np.ndarray:
    to_xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                       [0.0193, 0.1192, 0.9505]])
    xyz = to_xyz @ to_linear(rgb(color)) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def text_contrast(kind: str) -> float:
    """The verdict's text against its background (the lighter stripe where it is hatched)."""
    style = look(kind)
    backgrounds = [style.background] + ([style.hatch] if style.hatch else [])
    return min(contrast_ratio(style.text, background) for background in backgrounds)
