"""The headless command line end to end on the bundled sample parts."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from adgui.cli import main
from adgui.inspection_log import read_log
from adgui.resources import samples_dir


@pytest.fixture(autouse=True)
def isolated_home(adgui_home):
    """The default inspection database lives in the user data folder: a fresh one per test."""
    return adgui_home


@pytest.fixture
def labelled_folder(tmp_path):
    """Plain labelled layout: good/ (images the model did not train on) and bad/."""
    root = tmp_path / "labelled"
    shutil.copytree(samples_dir() / "bad", root / "bad")
    (root / "good").mkdir()
    for path in sorted((samples_dir() / "good").glob("*.png"))[-3:]:
        shutil.copy(path, root / "good" / path.name)
    return root


@pytest.fixture
def model(tmp_path):
    train = tmp_path / "train"
    train.mkdir()
    for path in sorted((samples_dir() / "good").glob("*.png"))[:-3]:
        shutil.copy(path, train / path.name)
    (train / "broken.png").write_bytes(b"not a png")  # skipped with a message, not fatal
    out = tmp_path / "model.adgui"
    assert main(["train", "--detector", "padim", "--preset", "fast", "--data", str(train),
                 "--out", str(out), "--device", "cpu"]) == 0
    return out


def test_train_reports_skipped_images(model, capsys):
    assert model.is_file()


def test_eval_prints_and_writes_the_metrics(model, labelled_folder, tmp_path, capsys):
    json_path = tmp_path / "report" / "metrics.json"
    assert main(["eval", "--model", str(model), "--data", str(labelled_folder), "--json", str(json_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads(json_path.read_text())
    assert printed == written
    for key in ("detector", "backbone", "image_auroc", "pixel_auroc", "aupro", "f1_max",
                "fit_seconds", "latency_ms"):
        assert key in written
    assert written["image_auroc"] == 1.0
    assert written["pixel_auroc"] is None, "no masks in a plain folder"
    assert written["confusion_at_threshold"]["accuracy"] == 1.0
    assert (json_path.parent / "roc.png").is_file()
    assert list(json_path.parent.glob("example_*.png"))


def test_inspect_logs_every_verdict_and_saves_failures(model, labelled_folder, tmp_path, capsys):
    log = tmp_path / "log.csv"
    failed = tmp_path / "failed"
    assert main(["inspect", "--model", str(model), str(labelled_folder / "good"),
                 str(labelled_folder / "bad"), "--log", str(log), "--save-failed", str(failed)]) == 0
    rows = read_log(log)
    assert len(rows) == 6
    assert [r["verdict"] for r in rows] == ["PASS"] * 3 + ["FAIL"] * 3
    assert [int(r["sequence"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert len(list(failed.glob("*_overlay.png"))) == 3 and len(list(failed.glob("*.png"))) == 6
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [(Path(part).name, verdict) for part, verdict, *_ in lines] == \
        [(Path(r["part_id"]).name, r["verdict"]) for r in rows]

    from adgui.records.database import ALL_STATIONS, open_database

    with open_database(None, "any") as database:  # the default: SQLite in the user data folder
        stored = database.parts(station=ALL_STATIONS)
    assert [(record.verdict, record.sequence) for record in stored] == \
        [(r["verdict"], int(r["sequence"])) for r in rows]

    # Inspecting the same failures again never replaces the images saved the first time.
    assert main(["inspect", "--model", str(model), str(labelled_folder / "bad"),
                 "--save-failed", str(failed)]) == 0
    assert len(list(failed.glob("*.png"))) == 12


def test_inspect_gives_each_unreadable_file_its_own_reason(model, labelled_folder, capsys):
    folder = labelled_folder / "bad"
    (folder / "a_junk.png").write_bytes(b"not a png")
    (folder / "b_empty.png").write_bytes(b"")
    assert main(["inspect", "--model", str(model), "--source", f"folder:{folder}"]) == 0
    lines = {Path(line.split("\t")[0]).name: line.split("\t")
             for line in capsys.readouterr().out.splitlines()}
    assert len(lines) == 5
    _, verdict, score, latency, reason = lines["a_junk.png"]
    assert (verdict, score) == ("ERROR", "") and "a_junk.png: not a readable image" in reason
    _, verdict, score, latency, reason = lines["b_empty.png"]
    assert (verdict, score) == ("ERROR", "") and "b_empty.png: the file is empty" in reason
    assert lines["bad_spot.png"][1] == "FAIL" and float(lines["bad_spot.png"][2]) > 0.5


def test_inspect_fails_when_no_input_could_be_read(model, tmp_path, capsys):
    (tmp_path / "junk.png").write_bytes(b"junk")
    assert main(["inspect", "--model", str(model), str(tmp_path / "junk.png")]) == 1
    assert capsys.readouterr().out.split("\t")[1] == "ERROR"


def test_inspect_refuses_a_setting_the_source_lacks(model, labelled_folder, capsys):
    assert main(["inspect", "--model", str(model), "--source", f"folder:{labelled_folder}",
                 "--exposure-us", "100"]) == 1
    assert "has no setting --exposure-us" in capsys.readouterr().err
    assert main(["inspect", "--model", str(model)]) == 1
    assert "carries no source settings" in capsys.readouterr().err


def test_a_recipe_can_carry_its_own_source_settings(model, labelled_folder, capsys):
    from adgui.sources import SourceSpec
    from adgui.sources.recipe_settings import load_recipe_source, save_recipe_source

    spec = SourceSpec("folder", {"path": str(labelled_folder / "bad"), "rate": 50.0}, "")
    save_recipe_source(model, spec)
    assert load_recipe_source(model) == spec
    assert main(["inspect", "--model", str(model)]) == 0
    verdicts = [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()]
    assert verdicts == ["FAIL"] * 3
    (model.parent / (model.name + ".source.json")).write_text("{ not json")
    assert main(["inspect", "--model", str(model)]) == 1
    assert "holds no usable source settings" in capsys.readouterr().err


def test_errors_are_messages_not_tracebacks(tmp_path, capsys):
    bad_model = tmp_path / "x.adgui"
    bad_model.write_bytes(b"junk")
    assert main(["inspect", "--model", str(bad_model), str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "not a readable adgui model" in error and "Traceback" not in error
    assert main(["train", "--detector", "padim", "--data", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "m.adgui")]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_self_test_passes(capsys):
    assert main(["self-test", "--device", "cpu"]) == 0
    assert "self-test passed" in capsys.readouterr().out


def test_bench_times_each_detector_against_its_backbone(tmp_path, capsys):
    json_path = tmp_path / "bench.json"
    assert main(["bench", "--data", str(samples_dir() / "good"), "--detectors", "padim,patchcore",
                 "--preset", "padim=fast", "--preset", "patchcore=fast", "--repeats", "3",
                 "--weights", "none", "--set", "image_size=48", "--json", str(json_path)]) == 0
    rows = json.loads(json_path.read_text())
    assert rows == json.loads(capsys.readouterr().out)
    # PatchCore adds a row for the 1 % prefix of its coreset.
    assert [(row["detector"], row["note"][:11]) for row in rows] == [
        ("padim", ""), ("patchcore", "coreset 25%"), ("patchcore", "coreset 1% ")]
    for row in rows:
        assert row["image_size"] == 48, "--set reaches every detector"
        assert row["fit_seconds"] > 0 and row["latency_ms"] > 0 and row["backbone_ms"] > 0
        assert row["ratio_to_backbone"] == pytest.approx(row["latency_ms"] / row["backbone_ms"], rel=0.01)
        assert row["peak_memory_mb"] is None or row["peak_memory_mb"] > 100


def test_bench_rejects_a_setting_the_detector_lacks(capsys):
    assert main(["bench", "--data", str(samples_dir() / "good"), "--detectors", "padim",
                 "--set", "coreset_ratio=0.01"]) != 0
    assert "no setting" in capsys.readouterr().err


def test_bench_parts_reports_latency_and_a_held_rate(model, capsys):
    assert main(["bench", "--parts", "--model", str(model), "--hold", "2", "--queue", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["queue_size"] == 4 and result["free_run_parts_per_s"] > 1
    held = [attempt for attempt in result["attempts"] if attempt["not_judged"] == 0]
    assert result["held_rate_per_s"] == pytest.approx(held[0]["rate_per_s"], abs=0.01)
    assert result["held_rate_per_s"] <= result["free_run_parts_per_s"]
    assert held[0]["triggers"] >= 0.8 * result["held_rate_per_s"] * 2
    assert 0 < result["trigger_to_verdict_ms_median"] <= result["trigger_to_verdict_ms_p99"]


def test_ddad_on_the_cpu_picks_the_cpu_preset_as_the_window_does(tmp_path, capsys, monkeypatch):
    from algorithms import base

    from adgui.pipeline import training

    chosen = []

    def record(data, detector, out, preset="default", **kwargs):
        chosen.append(preset)
        raise RuntimeError("stop here")

    monkeypatch.setattr(training, "train_model", record)
    assert main(["train", "--detector", "ddad", "--data", str(samples_dir() / "good"),
                 "--out", str(tmp_path / "m.adgui"), "--device", "cpu"]) == 1
    assert chosen == ["cpu"] and "using the 'cpu' preset" in capsys.readouterr().err
    monkeypatch.undo()

    # The full preset asked for on purpose: refused with a message, before any image is read.
    monkeypatch.setattr(base, "free_memory", lambda device: 8 * 2**30)
    monkeypatch.setattr(training, "_read_good", lambda *args: pytest.fail("read images"))
    assert main(["train", "--detector", "ddad", "--preset", "default", "--data",
                 str(samples_dir() / "good"), "--out", str(tmp_path / "m.adgui"),
                 "--device", "cpu", "--weights", "none"]) == 1
    error = capsys.readouterr().err
    assert "needs about" in error and "GB" in error and "'cpu' preset" in error
    assert not (tmp_path / "m.adgui").exists()


def test_train_images_grows_the_training_set_with_augmented_copies(tmp_path, capsys):
    from algorithms import load_detector

    out = tmp_path / "grown.adgui"
    assert main(["train", "--detector", "patchcore", "--preset", "fast", "--data",
                 str(samples_dir() / "good"), "--out", str(out), "--device", "cpu",
                 "--weights", "none", "--train-images", "40"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["train_images"] == 40
    assert load_detector(out, "cpu").meta["train_images"] == 40


def test_subset_takes_that_many_good_images_at_random(tmp_path, capsys):
    from adgui.pipeline.training import random_subset
    from algorithms.datasets import DatasetError, training_images

    paths = training_images(samples_dir() / "good")
    chosen = random_subset(paths, 6, seed=0)
    assert len(set(chosen)) == 6 and chosen == sorted(chosen, key=paths.index)
    assert random_subset(paths, 6, seed=0) == chosen != random_subset(paths, 6, seed=1)
    for count in (0, len(paths) + 1):
        with pytest.raises(DatasetError, match="choose 1 to"):
            random_subset(paths, count)
    out = tmp_path / "subset.adgui"
    assert main(["train", "--detector", "patchcore", "--preset", "fast", "--data",
                 str(samples_dir() / "good"), "--out", str(out), "--device", "cpu",
                 "--weights", "none", "--subset", "8", "--subset-seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["train_images"] + report["calibration_images"] == 8


def test_bench_fit_times_each_count(tmp_path, capsys):
    out = tmp_path / "fit.json"
    assert main(["bench", "--fit", "patchcore", "--preset", "patchcore=fast", "--weights", "none",
                 "--train-images", "6,24", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [row["train_images"] for row in rows] == [6, 24]
    assert all(row["fit_seconds"] > 0 and row["seconds_per_image"] > 0 for row in rows)
    assert rows[0]["calibration_images"] == rows[1]["calibration_images"], "same held-out images"


def test_train_and_eval_say_what_the_model_catches_on_synthetic_defects(tmp_path, labelled_folder,
                                                                       capsys):
    from algorithms import load_detector

    out = tmp_path / "caught.adgui"
    assert main(["train", "--detector", "padim", "--preset", "fast", "--data",
                 str(samples_dir() / "good"), "--out", str(out), "--device", "cpu",
                 "--weights", "none", "--synthetic-defects", "spot:2,blob:24"]) == 0
    captured = capsys.readouterr()
    stored = load_detector(out, "cpu").meta["synthetic_defects"]
    assert json.loads(captured.out)["synthetic_defects"] == stored
    assert [(row["kind"], row["size"]) for row in stored["results"]] == [("spot", 2), ("blob", 24)]
    assert stored["summary"].startswith("detects ") and "blobs" in stored["summary"]
    assert f"synthetic defects in held-out good images: {stored['summary']}" in captured.err
    assert main(["eval", "--model", str(out), "--data", str(labelled_folder)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["synthetic_summary"] == stored["summary"]
    assert stored["summary"] in captured.err
