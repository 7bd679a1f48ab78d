"""The packaged builds: PyInstaller from build_app.spec, then their self-test and window, run the
way a factory PC runs them (outside the source tree, empty environment, no network)."""
from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STATION_LIMIT_MB = 600
# What torch and its CUDA runtime would bring: none of it may be in the station build.
TORCH_FILES = ["libtorch*", "libc10*", "libcu*", "libnvrtc*", "libcudnn*", "libnccl*", "libnvJit*"]
TORCH_FOLDERS = {"torch", "torchvision", "timm", "nvidia", "triton", "cuda"}


def pyinstaller() -> str:
    beside = Path(sys.executable).parent / "pyinstaller"
    found = str(beside) if beside.exists() else shutil.which("pyinstaller")
    if found is None:
        pytest.skip("PyInstaller is not installed (setup.sh installs it)")
    return found


def build_and_check(checkout: Path, *options: str) -> str:
    result = subprocess.run(
        ["bash", str(checkout / "scripts" / "build_and_check.sh"), *options],
        env={"PATH": "/usr/bin:/bin", "PYINSTALLER": pyinstaller()},
        capture_output=True, text=True, cwd=checkout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_frozen_build_runs_its_self_test_and_window():
    output = build_and_check(ROOT)
    assert "self-test passed" in output
    assert "window opened and closed" in output


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_station_build_from_a_clean_clone_has_no_torch_and_passes_its_self_test(tmp_path):
    """Cloned from the committed tree, built, then run with `env -i` and no network."""
    pyinstaller()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    output = build_and_check(clone, "--station")
    print(re.search(r"^build: \d+ s$", output, re.MULTILINE).group(0))  # CI budget: see -s

    assert "loaded the exported padim recipe" in output  # the bundled recipe, on ONNX Runtime
    assert "self-test passed" in output
    assert "window opened and closed" in output
    assert "3 parts: " in output  # from the emulated Basler camera: pylon's drivers load
    folder = clone / "dist" / "adgui-station"
    paths = list(folder.rglob("*"))
    torch_like = [path for path in paths
                  if any(fnmatch.fnmatch(path.name, pattern) for pattern in TORCH_FILES)
                  or (path.is_dir() and path.name in TORCH_FOLDERS)]
    assert torch_like == []
    assert (folder / "_internal" / "onnxruntime").is_dir()
    # PyInstaller links many libraries into the top folder: count each file once.
    size_mb = sum(path.stat().st_size for path in paths
                  if path.is_file() and not path.is_symlink()) / 2**20
    assert size_mb < STATION_LIMIT_MB, f"{size_mb:.0f} MB"
