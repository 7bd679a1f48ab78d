"""The station's path without torch: the window, the pipeline, the sources, records and outputs,
`adgui inspect`, `adgui station` and the self-test on an exported recipe, in an interpreter
where torch cannot be imported (as in the station build); training says it needs the full build.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample_recipe(tmp_path_factory) -> Path:
    """The exported sample recipe as the station build makes it (PaDiM on the bundled samples)."""
    from adgui.selftest import make_sample_recipe

    return make_sample_recipe(tmp_path_factory.mktemp("station") / "sample_recipe")


def test_the_station_path_runs_without_torch(sample_recipe, tmp_path):
    from adgui.resources import samples_dir

    parts = tmp_path / "parts"  # 2 good, 3 bad sample parts
    parts.mkdir()
    good = sorted((samples_dir() / "good").glob("*.png"))[-2:]
    for path in [*good, *sorted((samples_dir() / "bad").glob("*.png"))]:
        shutil.copy(path, parts / path.name)
    torch_model = tmp_path / "trained.adgui"
    torch_model.write_bytes(b"a model file of the full build")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen",
           "ADGUI_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "torchless.py"), str(sample_recipe),
                             str(parts), str(torch_model)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])

    assert report["block_works"], "the detectors must be unimportable in this interpreter"
    assert report["forbidden_loaded"] == []

    window = report["window"]
    assert not window["train_button_enabled"] and not window["train_action_enabled"]
    assert "needs the full build" in window["train_tooltip"]
    assert not window["training_dialog"]
    assert window["message"][0] == "warning" and "needs the full build" in window["message"][1]
    assert window["runtime"] == "onnx"
    assert window["judged"] == 5 and window["failed"] == 3
    assert window["failed_parts"] == sorted(path.name for path in parts.glob("bad_*"))

    inspect = report["inspect"]
    assert inspect["code"] == 0, inspect["err"]
    rows = [line.split("\t") for line in inspect["out"].splitlines()]
    verdicts = {Path(row[0]).name: row[1] for row in rows}
    assert verdicts == {path.name: "FAIL" if path.name.startswith("bad") else "PASS"
                        for path in parts.iterdir()}

    station = report["station"]
    assert station["code"] == 0, station["err"]
    assert len(station["out"].splitlines()) == 3

    assert report["self_test"]["code"] == 0, report["self_test"]["out"]
    assert "self-test passed" in report["self_test"]["out"]

    train = report["train"]
    assert train["code"] == 1 and "Training needs the full build" in train["err"]
    torch_model = report["torch_model"]
    assert torch_model["code"] == 1 and "runs exported recipes only" in torch_model["err"]


def test_the_exported_self_test_fails_when_a_part_gets_the_wrong_verdict(sample_recipe, tmp_path,
                                                                         monkeypatch):
    from adgui import selftest
    from adgui.resources import samples_dir

    samples = tmp_path / "samples"  # a good part filed as bad must make the self-test fail
    shutil.copytree(samples_dir(), samples)
    shutil.copy(samples / "good" / "good_15.png", samples / "bad" / "bad_not_really.png")
    monkeypatch.setattr("adgui.resources.samples_dir", lambda: samples)
    lines: list[str] = []
    assert not selftest.run_exported_self_test(sample_recipe, "cpu", report=lines.append)
    assert any(line.startswith("FAILED bad_not_really.png fails") for line in lines)
    assert not selftest.run_exported_self_test(tmp_path / "none", "cpu", report=lines.append)
    assert "no exported recipe" in lines[-1]
