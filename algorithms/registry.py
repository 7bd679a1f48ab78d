"""One place that maps detector names to classes, presets, and model files to detectors."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from .base import MODEL_FORMAT, MODEL_VERSION, Detector, DetectorConfig
from .device import resolve_device
from .files import atomic_write
from .cflow import Cflow, config as cflow_config
from .ddad import Ddad, config as ddad_config
from .padim import Padim, config as padim_config
from .patchcore import Patchcore, config as patchcore_config

DETECTORS: dict[str, type[Detector]] = {}
PRESETS: dict[str, dict[str, dict]] = {}


class ModelFileError(ValueError):
    """A model file that is missing, damaged, foreign or from a newer version."""


def register(detector: type[Detector], presets: dict[str, dict]) -> None:
    """Make a detector selectable everywhere (command line, window, tests)."""
    DETECTORS[detector.name] = detector
    PRESETS[detector.name] = {"default": {}, **presets}


def detector_names() -> list[str]:
    return list(DETECTORS)


def preset_names(detector: str) -> list[str]:
    return list(PRESETS[_known(detector)])


def make_config(detector: str, preset: str = "default", **overrides) -> DetectorConfig:
    """The detector's config: class defaults, then the preset, then explicit overrides."""
    presets = PRESETS[_known(detector)]
    if preset not in presets:
        raise ValueError(f"{detector} has no preset {preset!r}; choose from {list(presets)}")
    values = {**presets[preset], **{k: v for k, v in overrides.items() if v is not None}}
    config_class = DETECTORS[detector].config_class
    known = {field.name for field in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{detector} has no setting {unknown}")
    return config_class(**values)


def create_detector(detector: str, preset: str = "default", device: str = "auto",
                    **overrides) -> Detector:
    config = make_config(detector, preset, **overrides)
    return DETECTORS[detector](config).to(resolve_device(device))


def save_detector(detector: Detector, path: str | Path) -> Path:
    """Save atomically: an existing model at `path` survives any failure."""
    path = Path(path)
    payload = detector.to_payload()
    with atomic_write(path) as stream:
        torch.save(payload, stream)
    return path


def load_detector(path: str | Path, device: str = "auto") -> Detector:
    """Load a saved model; never unpickles code (weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ModelFileError(f"{path.name} is not a readable adgui model (damaged, truncated "
                             f"or another program's file)") from exc
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path.name} is not an adgui model")
    if payload.get("version", 0) > MODEL_VERSION:
        raise ModelFileError(f"{path.name} was saved by a newer adgui; update to open it")
    name = payload.get("detector")
    if name not in DETECTORS:
        raise ModelFileError(f"{path.name} uses detector {name!r}, which this adgui does not have")
    config_class = DETECTORS[name].config_class
    known = {field.name for field in dataclasses.fields(config_class)}
    values = {k: tuple(v) if isinstance(v, list) else v
              for k, v in payload["config"].items() if k in known}
    values = {**config_class.SAVED_BEFORE, **values}
    values["weights"] = "none"  # the backbone's weights are in the state dict
    try:
        detector = DETECTORS[name](config_class(**values))
        detector.load_fitted_state(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path.name} does not match the {name} detector: {exc}") from exc
    detector.config.weights = payload["config"].get("weights", "imagenet")
    detector.meta = dict(payload.get("meta") or {})
    return detector.to(resolve_device(device))


def _known(detector: str) -> str:
    if detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r}; choose from {detector_names()}")
    return detector


register(Padim, {"fast": padim_config.FAST})
register(Patchcore, {"fast": patchcore_config.FAST})
register(Ddad, {"fast": ddad_config.FAST, "cpu": ddad_config.CPU, "gpu": ddad_config.GPU})
register(Cflow, {"fast": cflow_config.FAST})
