"""Shared fixtures: small synthetic parts made in the test, and the real bottle data if present."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BOTTLE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mvtec_ad" / "bottle"


def synthetic_part(rng: np.random.Generator, size: tuple[int, int] = (72, 80),
                   defect: bool = False) -> np.ndarray:
    """A smooth gradient 'part' with mild noise; a defect is a bright square with a dark edge."""
    height, width = size
    y, x = np.mgrid[0:height, 0:width]
    base = 90 + 40 * np.sin(x / width * np.pi) + 20 * np.cos(y / height * np.pi)
    image = np.dstack([base, base * 0.9, base * 0.8]) + rng.normal(0, 3, (height, width, 3))
    if defect:
        top, left = int(rng.integers(10, height - 30)), int(rng.integers(10, width - 30))
        image[top:top + 20, left:left + 20] = (250, 30, 200)
        image[top:top + 20, left:left + 2] = 0
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture
def good_images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [synthetic_part(rng) for _ in range(14)]


@pytest.fixture
def defective_images() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [synthetic_part(rng, defect=True) for _ in range(4)]


@pytest.fixture
def bottle() -> Path:
    if not (BOTTLE / "train" / "good").is_dir():
        pytest.skip(f"MVTec AD bottle not found at {BOTTLE} (real-data test)")
    return BOTTLE


# --- the window's tests: an isolated user data folder and tiny models -----------------------

@pytest.fixture
def adgui_home(tmp_path, monkeypatch) -> Path:
    """Recipes, logs and settings go to a fresh folder, never the user's own."""
    home = tmp_path / "adgui_home"
    monkeypatch.setenv("ADGUI_HOME", str(home))
    return home


TINY_MODEL = {"weights": "none", "image_size": 32}  # random backbone: seconds to train


def write_parts(folder: Path, count: int, defect: bool = False, seed: int = 0,
                prefix: str = "part") -> list[Path]:
    """Synthetic part images as PNG files, for folder sources and training folders."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        path = folder / f"{prefix}_{index:02d}.png"
        cv2.imwrite(str(path), synthetic_part(rng, defect=defect)[:, :, ::-1])
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A PaDiM model trained once per test module on synthetic good parts."""
    from adgui.pipeline.training import train_model

    root = tmp_path_factory.mktemp("tiny_model")
    write_parts(root / "good", 10)
    return train_model(root / "good", "padim", root / "tiny.adgui", preset="fast", device="cpu",
                       **TINY_MODEL).model_path


# --- the inspection database: the same tests on SQLite and on a real PostgreSQL server -------

@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL 15 server of the tests' own (see tests/postgres.py), stopped at the end."""
    from postgres import PostgresServer, missing_reason

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """The URL of a new, empty inspection database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'inspections.sqlite3'}"
    return request.getfixturevalue("postgres_server").create_database(f"test_{uuid.uuid4().hex}")


@pytest.fixture
def recipe(tiny_model, tmp_path) -> Path:
    """A copy of the module's tiny trained recipe (model, versions, calibration images)."""
    import shutil

    from adgui.recipes.versions import versions_dir

    target = tmp_path / "recipe" / tiny_model.name
    target.parent.mkdir()
    shutil.copy2(tiny_model, target)
    shutil.copytree(versions_dir(tiny_model), versions_dir(target))
    return target
