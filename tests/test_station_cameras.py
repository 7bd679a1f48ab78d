"""The station with Basler's camera emulation (shipped in the pypylon wheel, no hardware):
`adgui inspect --source pylon:...` end to end, and a camera lost mid-stream and reopened."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY_MODEL, write_parts

pytest.importorskip("pypylon", reason="pypylon (Basler's SDK with its camera emulation) is not installed")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from adgui.pipeline.training import train_model

    root = tmp_path_factory.mktemp("camera_model")
    write_parts(root / "good", 10)
    return train_model(root / "good", "padim", root / "tiny.adgui", preset="fast", device="cpu",
                       **TINY_MODEL).model_path


def run_adgui(args: list[str], home: Path, cameras: int = 1, timeout: float = 300) -> subprocess.CompletedProcess:
    # PYLON_CAMEMU must be set before pypylon is first imported: a fresh process.
    env = {**os.environ, "PYLON_CAMEMU": str(cameras), "ADGUI_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "adgui", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_inspect_judges_every_software_trigger_of_an_emulated_camera(model, tmp_path):
    done = run_adgui(["inspect", "--model", str(model), "--source", "pylon:0815-0000",
                      "--trigger", "software", "--count", "200", "--width", "320", "--height", "240",
                      "--log", str(tmp_path / "log.csv")], tmp_path / "home")
    assert done.returncode == 0, done.stderr
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    assert len(lines) == 200
    assert [part_id for part_id, *_ in lines] == [f"{number:06d}" for number in range(1, 201)]
    assert {verdict for _, verdict, *_ in lines} <= {"PASS", "FAIL", "NOT_JUDGED"}
    judged = [line for line in lines if line[1] in ("PASS", "FAIL")]
    assert len(judged) == 200, "rate 0 triggers only when the queue has room: none is lost"
    assert all(float(score) == float(score) for _, _, score, *_ in judged)
    assert "200 parts: " in done.stderr


def test_inspect_names_the_serials_it_found_when_one_is_wrong(model, tmp_path):
    done = run_adgui(["inspect", "--model", str(model), "--source", "pylon:1234-5678",
                      "--trigger", "software", "--count", "3"], tmp_path / "home", cameras=2)
    assert done.returncode != 0
    assert "1234-5678" in done.stderr and "0815-0000" in done.stderr and "Traceback" not in done.stderr
