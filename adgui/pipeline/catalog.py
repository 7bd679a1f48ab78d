"""What the window may offer and read: detectors, presets, backbones, devices, images.

Re-exported from the detector package so that the widgets never import it (or torch). Importing
this module costs no torch: the training choices load the detectors on first use, and
`training_available` says whether they can (the station build has no torch and only inspects
exported recipes).
"""
from __future__ import annotations

import importlib.util

from algorithms.images import IMAGE_EXTENSIONS, ImageError, list_images, read_image, to_rgb8

__all__ = [
    "Cancelled", "DETECTOR_DEFAULT", "IMAGE_EXTENSIONS", "ImageError", "TRAINING_NEEDS_FULL_BUILD",
    "available_devices", "backbone_names", "default_preset", "detector_names", "device_choices",
    "list_images", "preset_names", "read_image", "to_rgb8", "training_available",
]


DETECTOR_DEFAULT = "detector default"
TRAINING_NEEDS_FULL_BUILD = ("Training needs the full build: this station build has no torch and "
                             "inspects exported recipes only (make them with `adgui export`).")
_TRAINING_PACKAGES = ("torch", "timm")


def training_available() -> bool:
    """Whether torch and timm are installed (the full build), without importing them."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in _TRAINING_PACKAGES)
    except (ImportError, ValueError):  # blocked, or a module entry set to None
        return False


def __getattr__(name: str):
    if name == "Cancelled":  # the exception a progress callback raises to stop a training
        from algorithms import Cancelled

        return Cancelled
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def detector_names() -> list[str]:
    from algorithms import detector_names as names

    return names()


def preset_names(detector: str) -> list[str]:
    from algorithms import preset_names as names

    return names(detector)


def available_devices() -> list[str]:
    """Every device torch can see; the CPU alone where there is no torch."""
    if not training_available():
        return ["cpu"]
    from algorithms.device import available_devices as devices

    return devices()


def backbone_names() -> list[str]:
    """'detector default' (each detector's measured choice), then the offline backbones."""
    from algorithms.backbones import OFFLINE_WEIGHTS

    return [DETECTOR_DEFAULT, *OFFLINE_WEIGHTS]


def device_choices() -> list[str]:
    """'auto' (CUDA when present, else the CPU) followed by every device torch can see."""
    return ["auto", *available_devices()]


def default_preset(detector: str) -> str:
    """DDAD's full preset needs a GPU; on a CPU-only machine its 'cpu' preset is the sane pick."""
    presets = preset_names(detector)
    if "cpu" in presets and not any(device.startswith("cuda") for device in available_devices()):
        return "cpu"
    return "default"
