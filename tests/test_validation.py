"""Synthetic-defect validation: settings chosen on held-out good images, never on a test split."""
from __future__ import annotations

import json

import numpy as np
import pytest

from adgui.pipeline.validation import (Candidate, markdown_table, parse_candidate, split_good,
                                       validate)
from algorithms.synthetic import DefectSpec

TINY = {"weights": "none", "image_size": 48}


def test_a_candidate_is_read_from_text_and_checked_before_training():
    assert parse_candidate("patchcore:coreset_ratio=0.01") == Candidate(
        "patchcore", "default", {"coreset_ratio": 0.01})
    candidate = parse_candidate("padim/fast:layers=('blocks.1', 'blocks.2'),backbone=mobilenetv2_100")
    assert candidate.preset == "fast"
    assert candidate.settings == {"layers": ("blocks.1", "blocks.2"), "backbone": "mobilenetv2_100"}
    assert candidate.label == "padim/fast (layers=('blocks.1', 'blocks.2'), backbone=mobilenetv2_100)"
    with pytest.raises(ValueError, match="no setting"):
        parse_candidate("padim:coreset_ratio=0.1")
    with pytest.raises(ValueError, match="unknown detector"):
        parse_candidate("nosuch")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_candidate("padim:n_features")


def test_a_stage_the_backbone_lacks_is_refused_before_any_candidate_trains(tmp_path):
    from conftest import write_parts

    write_parts(tmp_path / "good", 20)
    messages: list[str] = []
    with pytest.raises(ValueError, match=r"no stage \['blocks.3'\]"):
        validate(tmp_path / "good", [Candidate("padim", "fast", TINY),
                                     Candidate("padim", "fast", {**TINY, "layers": ("blocks.3",)})],
                 device="cpu", progress=lambda fraction, message: messages.append(message))
    assert messages == [], "nothing was read or trained"


def test_the_split_keeps_validation_images_out_of_training_and_calibration():
    images = [np.full((4, 4, 3), i, np.uint8) for i in range(30)]
    split = split_good(images, seed=3)
    ids = [[int(image[0, 0, 0]) for image in part]
           for part in (split.train, split.calibration, split.validation)]
    assert [len(part) for part in ids] == [21, 3, 6]
    assert sorted(sum(ids, [])) == list(range(30)), "every image in exactly one part"
    assert split_good(images, seed=3).validation[0] is split.validation[0], "reproducible"
    with pytest.raises(Exception, match="too few"):
        split_good(images[:7])


def test_validate_scores_each_candidate_on_pasted_defects(tmp_path):
    from conftest import write_parts

    write_parts(tmp_path / "good", 20)
    specs = (DefectSpec("spot", 2), DefectSpec("blob", 20))
    report = validate(tmp_path / "good", [Candidate("padim", "fast", {**TINY, "n_features": 8}),
                                          Candidate("padim", "fast", TINY)], specs, device="cpu")
    assert (report["train_images"], report["calibration_images"], report["validation_images"]) == (14, 2, 4)
    assert report["defects"] == ["2-pixel spots", "20-pixel blobs"]
    for row in report["candidates"]:
        assert set(row["detected"]) == {"2-pixel spots", "20-pixel blobs"}
        assert row["detected"]["20-pixel blobs"] == 1.0 and row["false_alarms"] < 1.0
        assert 0.5 < row["image_auroc"] <= 1.0 and 0.5 < row["pixel_auroc"] <= 1.0
        assert row["fit_seconds"] > 0 and row["latency_ms"] > 0
        assert row["summary"].startswith("detects ")
    table = markdown_table(report).splitlines()
    assert len(table) == 4 and "spots 2 px caught %" in table[0] and "blobs 20 px" in table[0]
    assert table[2].startswith("| padim/fast (weights=none, image_size=48, n_features=8) |")


def test_validate_command_writes_json_and_table(tmp_path, capsys):
    from conftest import write_parts

    from adgui.cli import main

    write_parts(tmp_path / "good", 16)
    out = tmp_path / "validation.json"
    code = main(["validate", "--data", str(tmp_path / "good"), "--candidate",
                 "padim/fast:weights=none,image_size=48", "--synthetic-defects", "spot:16",
                 "--device", "cpu", "--json", str(out), "--table", str(tmp_path / "table.md")])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["command"].startswith("adgui validate --data ")
    assert list(report["candidates"][0]["detected"]) == ["16-pixel spots"]
    assert (tmp_path / "table.md").read_text().startswith("| candidate | image AUROC")


def test_a_failing_candidate_loses_nothing_the_others_found(tmp_path):
    from conftest import write_parts

    write_parts(tmp_path / "good", 20)
    kept: list[tuple[list[str], list[str]]] = []
    candidates = [Candidate("padim", "fast", TINY),
                  Candidate("patchcore", "fast", {**TINY, "coreset_ratio": 2.0}),  # refused at its turn
                  Candidate("padim", "fast", {**TINY, "n_features": 8})]
    report = validate(tmp_path / "good", candidates, (DefectSpec("blob", 20),), device="cpu",
                      on_candidate=lambda so_far: kept.append(
                          ([row["candidate"] for row in so_far["candidates"]],
                           [row["candidate"] for row in so_far["failed"]])))
    first, failing, last = (candidate.label for candidate in candidates)
    assert kept == [([first], []), ([first], [failing]), ([first, last], [failing])]
    assert "coreset_ratio must be in (0, 1]" in report["failed"][0]["error"]
    assert markdown_table(report).splitlines()[-1].startswith(f"| {failing} | failed: ")
    with pytest.raises(ValueError, match="no candidate could be validated"):
        validate(tmp_path / "good", candidates[1:2], (DefectSpec("blob", 20),), device="cpu")


def test_the_validate_command_keeps_each_candidate_as_it_finishes(tmp_path, capsys):
    from conftest import write_parts

    from adgui.cli import main

    write_parts(tmp_path / "good", 16)
    out, table = tmp_path / "validation.json", tmp_path / "table.md"
    code = main(["validate", "--data", str(tmp_path / "good"),
                 "--candidate", "padim/fast:weights=none,image_size=48",
                 "--candidate", "patchcore/fast:weights=none,image_size=48,coreset_ratio=2.0",
                 "--synthetic-defects", "spot:16", "--device", "cpu",
                 "--json", str(out), "--table", str(table)])
    assert code == 1, "a candidate failed"
    report = json.loads(out.read_text())
    assert [row["candidate"] for row in report["candidates"]] == [
        "padim/fast (weights=none, image_size=48)"]
    assert "coreset_ratio" in report["failed"][0]["error"]
    assert json.loads(capsys.readouterr().out) == report
    assert "| failed: " in table.read_text()


def test_the_table_has_a_column_per_kind_with_its_sizes():
    report = {"defects": ["3-pixel spots", "8-pixel scratches", "16-pixel scratches"],
              "candidates": [{"candidate": "cflow", "image_auroc": 0.91234, "pixel_auroc": 0.97,
                              "detected": {"3-pixel spots": 0.5, "8-pixel scratches": 0.25,
                                           "16-pixel scratches": 1.0},
                              "false_alarms": 0.05, "fit_seconds": 12.3, "latency_ms": 40.4}]}
    header, _, row = markdown_table(report).splitlines()
    assert header == ("| candidate | image AUROC | pixel AUROC | spots 3 px caught % | "
                      "scratches 8/16 px caught % | good failing % | fit s | ms / part |")
    assert row == "| cflow | 0.912 | 0.970 | 50 | 25/100 | 5 | 12 | 40 |"
