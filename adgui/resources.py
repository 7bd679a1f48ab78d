"""Where the bundled resources are: beside the source tree, or inside a frozen build."""
from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)  # set by PyInstaller
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def samples_dir() -> Path:
    """Sample part images for the self-test: good/ and bad/."""
    return resources_dir() / "samples"


def sample_recipe_dir() -> Path:
    """The exported sample recipe the station build bundles for its self-test (made at build time)."""
    return resources_dir() / "sample_recipe"
