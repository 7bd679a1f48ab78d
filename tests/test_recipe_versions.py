"""Recipe versions: changes are new files beside the model, never the model itself; the
newest version is what Inspector.open, evaluation and export apply."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from adgui.access.session import PermissionDenied, Session
from adgui.recipes.changes import change_roi, change_threshold
from adgui.recipes.roi import Roi, RoiError, Shape
from adgui.recipes.versions import (RecipeVersion, VersionError, list_versions,
                                    load_calibration_images, version_in_force, versions_dir,
                                    write_version)

from conftest import synthetic_part, write_parts


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def guard(tmp_path):
    """The command line's guard (an engineer) on a fresh database with its audit trail."""
    from adgui.access.guard import command_line_guard
    from adgui.records import open_database
    from adgui.records.audit import AuditTrail

    database = open_database(f"sqlite:///{tmp_path / 'inspections.sqlite3'}", "line-1")
    yield command_line_guard(AuditTrail.open(database, tmp_path / "key", tmp_path / "head"), "erin")
    database.close()


LEFT_HALF_OUT = Roi((Shape("rectangle", ((0, 0), (40, 72)), include=False),), 80, 72)


def test_training_writes_version_1_and_keeps_the_calibration_images(tiny_model):
    from algorithms import load_detector

    [version] = list_versions(tiny_model)
    assert (version.number, version.threshold, version.roi, version.parent) == (1, 0.5, None, None)
    assert version.model_sha256 == sha(tiny_model)
    detector = load_detector(tiny_model, "cpu")
    images = load_calibration_images(tiny_model)
    assert len(images) == detector.meta["calibration_images"] >= 2
    # They are the images the model was calibrated on: their scores are the stored ones.
    scores = detector.predict(images).scores
    assert np.sort(scores) == pytest.approx(np.sort(detector.calibration_scores.numpy()), abs=1e-4)


def test_a_threshold_change_is_a_new_version_and_the_model_file_is_untouched(recipe, guard):
    from adgui.pipeline.inspection import Inspector

    before, modified = sha(recipe), recipe.stat().st_mtime_ns
    version = change_threshold(recipe, guard, 0.62, "fewer false rejects")
    assert (version.number, version.parent, version.threshold) == (2, 1, 0.62)
    assert (version.author, version.reason) == ("erin (command line)", "fewer false rejects")
    assert sha(recipe) == before and recipe.stat().st_mtime_ns == modified
    assert sorted(p.name for p in versions_dir(recipe).iterdir()) == [
        "0001.json", "0002.json", "calibration"]  # no temporary file left behind
    info = Inspector.open(recipe, "cpu").info
    assert (info.version, info.threshold, info.calibrated_threshold) == (2, 0.62, 0.5)
    [event] = [e for e in guard.trail.database.events() if e.kind == "threshold_changed"]
    assert (event.old_value, event.new_value, event.reason) == ("0.5", "0.62",
                                                               "fewer false rejects")


def test_a_version_is_never_overwritten(recipe):
    first = (versions_dir(recipe) / "0001.json").read_bytes()
    again = RecipeVersion(1, 0.9, None, None, "someone", "", "overwrite", None)
    with pytest.raises(VersionError, match="version 1 of .* exists already"):
        write_version(recipe, again)
    assert (versions_dir(recipe) / "0001.json").read_bytes() == first
    assert not [p for p in versions_dir(recipe).iterdir() if p.name.startswith(".")]


def test_an_roi_change_recalibrates_and_every_path_applies_it(recipe, guard, tmp_path):
    from algorithms import load_detector
    from adgui.pipeline.evaluation import evaluate
    from adgui.pipeline.inspection import Inspector, roi_result

    before = sha(recipe)
    plain = Inspector.open(recipe, "cpu")
    version = change_roi(recipe, guard, LEFT_HALF_OUT, "glare on the left", plain.calibrated_map)
    assert sha(recipe) == before
    assert version.roi == LEFT_HALF_OUT and len(version.roi_calibration.scores) >= 2
    assert max(version.roi_calibration.scores) <= 0.5 + 1e-6  # good parts pass again

    inspector = Inspector.open(recipe, "cpu")
    assert inspector.info.roi == LEFT_HALF_OUT
    assert list(inspector.info.calibration_scores) == pytest.approx(version.roi_calibration.scores)
    rng = np.random.default_rng(3)
    image = synthetic_part(rng, defect=True)
    result = inspector.inspect(image)
    expected = roi_result(0.0, plain.calibrated_map(image), version.roi, version.roi_calibration)
    assert result.score == pytest.approx(expected[0], abs=1e-5)
    assert result.score != pytest.approx(plain.inspect(image).score, abs=1e-3)
    outside = ~LEFT_HALF_OUT.mask(*image.shape[:2])
    assert (result.anomaly_map[outside] == result.anomaly_map.min()).all()

    # Evaluation applies the same version: its score for a file equals the inspector's.
    data = tmp_path / "labelled"
    good = write_parts(data / "good", 2, seed=5)
    bad = write_parts(data / "defect", 2, defect=True, seed=6)
    evaluation = evaluate(load_detector(recipe, "cpu"), data, version=version_in_force(recipe))
    assert evaluation.metrics["recipe_version"] == 2 and evaluation.metrics["roi"]
    from algorithms.datasets import read_images

    by_path = dict(zip([item.path for item in evaluation.items], evaluation.scores))
    for path, image in zip([*good, *bad], read_images([*good, *bad])):
        assert by_path[path] == pytest.approx(inspector.inspect(image).score, abs=1e-4)

    # Clearing the ROI is a version too; the whole image counts again.
    cleared = change_roi(recipe, guard, None, "glare fixed", plain.calibrated_map)
    assert cleared.number == 3 and cleared.roi is None
    assert Inspector.open(recipe, "cpu").inspect(image).score == pytest.approx(
        plain.inspect(image).score, abs=1e-5)
    kinds = [(e.kind, e.old_value, e.new_value) for e in guard.trail.database.events()]
    assert kinds == [("roi_changed", "whole image", "exclude rectangle"),
                     ("roi_changed", "exclude rectangle", "whole image")]


def test_an_operator_cannot_change_the_roi_or_threshold(recipe, guard):
    from adgui.access.guard import Guard
    from adgui.pipeline.inspection import Inspector

    operator = Guard(Session(None), guard.trail)
    inspector = Inspector.open(recipe, "cpu")
    with pytest.raises(PermissionDenied, match="An operator cannot change the region of interest"):
        change_roi(recipe, operator, LEFT_HALF_OUT, "try", inspector.calibrated_map)
    with pytest.raises(PermissionDenied, match="An operator cannot change the threshold"):
        change_threshold(recipe, operator, 0.9, "try")
    assert [v.number for v in list_versions(recipe)] == [1]


def test_a_recipe_without_calibration_images_asks_for_them(recipe, guard, tmp_path):
    from adgui.pipeline.inspection import Inspector

    shutil.rmtree(versions_dir(recipe))  # as a recipe saved before versions existed
    assert version_in_force(recipe).number == 1 and not list_versions(recipe)
    inspector = Inspector.open(recipe, "cpu")
    with pytest.raises(RoiError, match="keeps no calibration images.*--data"):
        change_roi(recipe, guard, LEFT_HALF_OUT, "glare", inspector.calibrated_map)
    assert not list_versions(recipe)
    rng = np.random.default_rng(9)
    images = [synthetic_part(rng) for _ in range(3)]
    version = change_roi(recipe, guard, LEFT_HALF_OUT, "glare", inspector.calibrated_map,
                         calibration_images=images)
    assert version.number == 2 and [v.number for v in list_versions(recipe)] == [1, 2]
    assert len(load_calibration_images(recipe)) == 3  # kept for the next change


def test_a_damaged_version_file_is_named(recipe):
    (versions_dir(recipe) / "0002.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(VersionError, match="0002.json is not a readable recipe version"):
        version_in_force(recipe)


def test_the_command_line_lists_applies_and_exports_the_version_in_force(recipe, tmp_path, capsys):
    from adgui.cli import main
    from adgui.pipeline.inspection import Inspector

    roi_file = tmp_path / "roi.json"
    roi_file.write_text(json.dumps(LEFT_HALF_OUT.as_dict()), encoding="utf-8")
    db = ["--db", f"sqlite:///{tmp_path / 'cli.sqlite3'}", "--station", "line-1"]
    assert main(["recipe", "roi", "--model", str(recipe), "--roi", str(roi_file),
                 "--reason", "glare", "--device", "cpu", *db]) == 0
    assert main(["recipe", "threshold", "--model", str(recipe), "--value", "0.7",
                 "--reason", "looser", *db]) == 0
    capsys.readouterr()
    assert main(["recipe", "versions", "--model", str(recipe)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[2].startswith("v3, threshold 0.70 (calibrated 0.50), ROI")

    data = tmp_path / "labelled"
    write_parts(data / "good", 2, seed=5)
    write_parts(data / "defect", 2, defect=True, seed=6)
    assert main(["eval", "--model", str(recipe), "--data", str(data), "--device", "cpu",
                 "--json", str(tmp_path / "metrics.json")]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert (metrics["recipe_version"], metrics["roi"], metrics["threshold"]) == (3, True, 0.7)

    exported = tmp_path / "exported"
    assert main(["export", "--model", str(recipe), "--out", str(exported)]) == 0
    torch_inspector, onnx_inspector = Inspector.open(recipe, "cpu"), Inspector.open(exported, "cpu")
    assert onnx_inspector.info.version == 3 and onnx_inspector.info.roi == LEFT_HALF_OUT
    assert onnx_inspector.info.threshold == 0.7
    image = synthetic_part(np.random.default_rng(4), defect=True)
    assert onnx_inspector.inspect(image).score == pytest.approx(
        torch_inspector.inspect(image).score, abs=1e-3)
