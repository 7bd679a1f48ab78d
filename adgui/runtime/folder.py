"""The exported recipe folder: its files, their SHA-256 manifest, and how it is read back.

    DIR/manifest.json   format, version, and the SHA-256 of every other file
    DIR/recipe.json     detector, calibration, threshold, ROI, metadata, parity figures
    DIR/model.onnx      the inference of one model input: float32 RGB in, calibrated score and
                        map out (version 1: uint8 image and its size in, map at that size)
    DIR/probes.npz      the torch model's scores and maps on fixed test patterns, which
                        loading runs again to check the runtime at hand (a GPU provider,
                        another ONNX Runtime version) still gives the same results

Everything is JSON or ONNX: nothing is unpickled. A file whose hash does not match the
manifest is refused, so a damaged copy or a hand-edited threshold never inspects a part.
The hashes guard against corruption and accidental edits, not against someone who rewrites
the manifest too (the audit trail is the place for that).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "adgui-exported-recipe"
VERSION = 2  # 2: the graph takes one float32 model input of the recipe's geometry
MANIFEST = "manifest.json"
RECIPE = "recipe.json"
GRAPH = "model.onnx"
PROBES = "probes.npz"


class ExportFolderError(ValueError):
    """An exported recipe folder that is missing, damaged, tampered with or too new."""


@dataclass
class ExportedFiles:
    """The verified contents of an exported recipe folder."""
    path: Path
    recipe: dict
    graph: bytes  # the ONNX model exactly as hashed, so what runs is what was checked
    probes: dict[str, np.ndarray]  # "scores" (3,) and "map_0".. "map_2", from the torch model


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_exported_recipe(path: str | Path) -> bool:
    """True for a folder that looks like an export (its contents are checked on reading)."""
    path = Path(path)
    return path.is_dir() and (path / MANIFEST).is_file()


def read_exported(path: str | Path) -> ExportedFiles:
    """Read and verify an exported recipe folder; every problem becomes an ExportFolderError."""
    path = Path(path)
    if not path.is_dir():
        raise ExportFolderError(f"exported recipe {path} does not exist or is not a folder")
    manifest = _read_json(path / MANIFEST, path.name)
    if manifest.get("format") != FORMAT:
        raise ExportFolderError(f"{path.name} is not an exported adgui recipe")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise ExportFolderError(f"{path.name} was exported by a newer adgui; update to open it")
    hashes = manifest.get("files")
    if not isinstance(hashes, dict) or {RECIPE, GRAPH, PROBES} - set(hashes):
        raise ExportFolderError(f"{path.name}: the manifest does not list {RECIPE}, {GRAPH} "
                                f"and {PROBES}")
    contents = {}
    for name, expected in hashes.items():
        if Path(name).name != name:  # the manifest names files of this folder only
            raise ExportFolderError(f"{path.name}: the manifest names a file outside the folder")
        try:
            data = (path / name).read_bytes()
        except OSError:
            raise ExportFolderError(f"{path.name}: {name} is missing") from None
        if sha256(data) != expected:
            raise ExportFolderError(
                f"{path.name}: {name} does not match its stored SHA-256 hash (the file was "
                f"changed or damaged after export); export the recipe again")
        contents[name] = data
    try:
        recipe = json.loads(contents[RECIPE].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportFolderError(f"{path.name}: {RECIPE} is not valid JSON") from exc
    try:
        with np.load(io.BytesIO(contents[PROBES]), allow_pickle=False) as stored:
            probes = {name: stored[name] for name in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ExportFolderError(f"{path.name}: {PROBES} is damaged") from exc
    return ExportedFiles(path, recipe, contents[GRAPH], probes)


def write_exported(path: str | Path, recipe: dict, graph: bytes, probes: bytes) -> Path:
    """Write the folder beside `path`, then move it into place: a reader sees the old export
    or the complete new one. Refuses to replace a folder that is not an export."""
    path = Path(path)
    check_destination(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        files = {RECIPE: json.dumps(recipe, indent=2, sort_keys=True).encode("utf-8"), GRAPH: graph,
                 PROBES: probes}
        for name, data in files.items():
            _write_synced(staging / name, data)
        manifest = {"format": FORMAT, "version": VERSION,
                    "files": {name: sha256(data) for name, data in files.items()}}
        _write_synced(staging / MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
        _swap_in(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def check_destination(path: Path) -> None:
    """An export may replace an earlier export or fill an empty folder, nothing else."""
    if path.exists() and not is_exported_recipe(path):
        if not path.is_dir() or any(path.iterdir()):
            raise ExportFolderError(f"{path} exists and is not an exported recipe; "
                                    f"choose a new folder")


def _swap_in(staging: Path, path: Path) -> None:
    """Rename `staging` to `path`; an existing export is set aside first and removed after."""
    if not path.exists():
        os.replace(staging, path)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    os.replace(path, old / "previous")
    try:
        os.replace(staging, path)
    except BaseException:
        os.replace(old / "previous", path)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def _read_json(path: Path, folder: str) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportFolderError(f"{folder} has no {path.name}: not an exported recipe") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportFolderError(f"{folder}: {path.name} is damaged ({exc})") from None
    if not isinstance(value, dict):
        raise ExportFolderError(f"{folder}: {path.name} is damaged")
    return value
