"""A recipe's own source settings (camera, exposure, gain, trigger ...), kept beside its model
file as `<recipe file>.source.json`, so that loading a recipe also sets up its camera."""
from __future__ import annotations

import json
from pathlib import Path

from algorithms.files import atomic_write

from .registry import SOURCES, SourceSpec

SUFFIX = ".source.json"


def recipe_source_path(model_path: str | Path) -> Path:
    path = Path(model_path)
    return path.with_name(path.name + SUFFIX)


def save_recipe_source(model_path: str | Path, spec: SourceSpec) -> Path:
    spec.resolved()  # never store settings the kind would refuse
    target = recipe_source_path(model_path)
    with atomic_write(target, "w") as stream:
        json.dump({"kind": spec.kind, "trigger": spec.trigger, "settings": spec.settings}, stream,
                  indent=2, sort_keys=True)
    return target


def load_recipe_source(model_path: str | Path) -> SourceSpec | None:
    """The recipe's source, or None if it has none. A damaged or foreign file raises
    ValueError with the file's name."""
    path = recipe_source_path(model_path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        spec = SourceSpec(str(data["kind"]), dict(data.get("settings") or {}), str(data.get("trigger") or ""))
        if spec.kind not in SOURCES:
            raise ValueError(f"unknown source kind {spec.kind!r}")
        spec.resolved()
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path.name} holds no usable source settings ({error})") from None
    return spec
