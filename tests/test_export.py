"""Exported recipes: export -> load -> the torch model's verdicts, scores and maps; tampered
or foreign folders refused; a failed parity check writes nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adgui.pipeline.inspection import ExportedInspector, Inspector
from adgui.runtime import (MAP_TOLERANCE, SCORE_TOLERANCE, ExportFolderError, ParityError,
                           RuntimeSettings, load_exported)
from adgui.runtime.export import EXPORTABLE, ExportError, export_recipe
from adgui.runtime.folder import GRAPH, MANIFEST, PROBES, RECIPE, read_exported, write_exported
from adgui.runtime.parity import beyond
from algorithms import create_detector, save_detector
from conftest import synthetic_part

ROOT = Path(__file__).resolve().parents[1]
TINY = {"weights": "none", "image_size": 32}  # random backbones: parity does not need ImageNet


def odd_sized(rng, defect: bool) -> np.ndarray:
    """Parts of several sizes, so the resize before the graph and the map's resize after it
    both run (shrinking, enlarging)."""
    height, width = (int(v) for v in rng.integers(45, 110, size=2))
    return synthetic_part(rng, size=(height, width), defect=defect)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every exportable detector, fitted on synthetic parts, saved and exported once."""
    rng = np.random.default_rng(3)
    good = [synthetic_part(rng) for _ in range(12)]
    root = tmp_path_factory.mktemp("exported")
    out = {}
    for name in EXPORTABLE:
        # PaDiM on its default stride-8 grid, which averages the first stage over its cells.
        extra = {"grid_stride": 8} if name == "padim" else {}
        detector = create_detector(name, "fast", device="cpu", **TINY, **extra)
        detector.fit(good)
        detector.meta = {"name": f"tiny {name}"}
        model_path = save_detector(detector, root / f"{name}.adgui")
        report = export_recipe(detector, root / name, good[:2], source=model_path)
        out[name] = (model_path, report)
    return out


@pytest.mark.parametrize("name", EXPORTABLE)
def test_export_gives_the_torch_verdicts_scores_and_maps(exported, name):
    model_path, report = exported[name]
    assert report.parity.passed and report.parity.images == 5  # 2 given + 3 probe patterns
    torch_inspector = Inspector.open(model_path, "cpu")
    onnx_inspector = Inspector.open(report.path, "cpu")
    assert isinstance(onnx_inspector, ExportedInspector)
    torch_info, onnx_info = torch_inspector.info, onnx_inspector.info
    assert (onnx_info.runtime, torch_info.runtime) == ("onnx", "torch")
    assert (onnx_info.name, onnx_info.detector, onnx_info.backbone, onnx_info.threshold) == (
        torch_info.name, torch_info.detector, torch_info.backbone, torch_info.threshold)
    np.testing.assert_allclose(onnx_info.calibration_scores, torch_info.calibration_scores, atol=1e-6)
    rng = np.random.default_rng(11)
    images = [odd_sized(rng, defect=index % 2 == 1) for index in range(6)]
    mono = images[0][:, :, 1]  # a mono camera's frame: replicated to RGB on both paths
    for image in [*images, mono]:
        rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        expected, got = torch_inspector.inspect(rgb), onnx_inspector.inspect(image)
        assert got.anomaly_map.shape == image.shape[:2]
        assert got.anomaly_map.dtype == np.float32
        assert not beyond(SCORE_TOLERANCE, expected.score, got.score)
        assert not beyond(MAP_TOLERANCE, expected.anomaly_map, got.anomaly_map)
        assert got.verdict(0.5) == expected.verdict(0.5)
    # The graph really ran: defective parts score apart from good ones on both runtimes.
    assert np.ptp([onnx_inspector.inspect(image).score for image in images]) > 10 * SCORE_TOLERANCE


def deep_and_mono(image: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """The same part as a 12-bit mono camera gives it (uint16), and as float32 in [0, 1]."""
    mono12 = image[:, :, 1].astype(np.uint16) * 16 + 7
    return [(mono12, 12), (mono12.astype(np.float32) / 4095.0, 8), (image, 8)]


GEOMETRIES = {  # the recipe settings beyond TINY: squeezed, padded (default), tiled
    "squeeze": {"fit_mode": "squeeze"},
    "tiled": {"working_side": 80, "tile_overlap": 0.25},
}


@pytest.mark.parametrize(("name", "geometry"), [("padim", "squeeze"), ("padim", "tiled"),
                                               ("patchcore", "tiled")])
def test_export_follows_the_recipes_geometry_and_depth(tmp_path, name, geometry):
    """Squeezed and tiled recipes (padded ones: the test above) give the torch model's scores
    and maps, at each image's own size, for 8-bit RGB, 12-bit mono and float32 images."""
    rng = np.random.default_rng(5)
    good = [synthetic_part(rng, size=(72, 100)) for _ in range(10)]
    detector = create_detector(name, "fast", device="cpu", **TINY, **GEOMETRIES[geometry])
    detector.fit(good)
    report = export_recipe(detector, tmp_path / name, good[:1])
    assert report.parity.passed, report.parity.summary()
    recipe = json.loads((report.path / RECIPE).read_text())
    assert recipe["geometry"] == {"image_size": 32, "fit_mode": "pad", "working_side": 0,
                                  "tile_overlap": 0.25, **GEOMETRIES[geometry]}
    model = load_exported(report.path, RuntimeSettings(device="cpu"))
    if geometry == "tiled":  # each image really is cut into several inputs
        from algorithms.geometry import tile_count

        assert tile_count(100, 130, model.geometry) > 1
    images = [odd_sized(rng, defect=False), synthetic_part(rng, (100, 130), defect=True)]
    for image in images:
        for variant, bit_depth in deep_and_mono(image):
            expected = detector.predict([variant], bit_depth=bit_depth)
            score, anomaly_map = model.predict(variant, bit_depth)
            assert anomaly_map.shape == image.shape[:2] and anomaly_map.dtype == np.float32
            assert not beyond(SCORE_TOLERANCE, float(expected.scores[0]), score)
            assert not beyond(MAP_TOLERANCE, expected.maps[0], anomaly_map)
    # The depth is used, not guessed: the 12-bit image read as 16 bits is another image.
    mono12, _ = deep_and_mono(images[1])[0]
    assert abs(model.predict(mono12, 16)[0] - model.predict(mono12, 12)[0]) > 100 * SCORE_TOLERANCE


def as_first_format(folder: Path, out: Path) -> Path:
    """The export at `folder` (a squeezed recipe) rewritten as the first export format had
    it: the graph takes the uint8 image squeezed to (S, S, 3) and the image's (height, width)
    and gives the map at that size; recipe.json has no geometry; the manifest says version 1.
    The map's bilinear resize is linear, so resizing the working map equals the first
    format's resized expansion matrices: the same numbers that format gave."""
    import onnx
    from onnx import TensorProto, helper

    files = read_exported(folder)
    model = onnx.load_from_string(files.graph)
    graph = model.graph
    side = files.recipe["image_size"]
    for node in graph.node:  # the float input and the working map become inner values
        node.input[:] = ["unit_image" if name == "image" else name for name in node.input]
        node.output[:] = ["working_map" if name == "map" else name for name in node.output]
    del graph.input[:]
    graph.input.extend([helper.make_tensor_value_info("image", TensorProto.UINT8, [side, side, 3]),
                        helper.make_tensor_value_info("size", TensorProto.INT64, [2])])
    graph.initializer.extend([helper.make_tensor("byte_scale", TensorProto.FLOAT, [], [255.0]),
                              helper.make_tensor("lead", TensorProto.INT64, [2], [1, 1]),
                              helper.make_tensor("map_4d", TensorProto.INT64, [4], [1, 1, side, side])])
    prologue = [helper.make_node("Cast", ["image"], ["float_image"], to=TensorProto.FLOAT),
                helper.make_node("Div", ["float_image", "byte_scale"], ["unit_image"])]
    nodes = [*prologue, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.node.extend([
        helper.make_node("Reshape", ["working_map", "map_4d"], ["working_4d"]),
        helper.make_node("Concat", ["lead", "size"], ["sizes"], axis=0),
        helper.make_node("Resize", ["working_4d", "", "", "sizes"], ["map_full"], mode="linear",
                         coordinate_transformation_mode="pytorch_half_pixel"),
        helper.make_node("Reshape", ["map_full", "size"], ["map"]),
    ])
    del graph.output[1:]
    graph.output.append(helper.make_tensor_value_info("map", TensorProto.FLOAT, ["height", "width"]))
    onnx.checker.check_model(model)
    recipe = {key: value for key, value in files.recipe.items() if key != "geometry"}
    written = write_exported(out, recipe, model.SerializeToString(), (folder / PROBES).read_bytes())
    manifest = json.loads((written / MANIFEST).read_text())
    (written / MANIFEST).write_text(json.dumps({**manifest, "version": 1}))
    return written


def test_recipes_exported_in_the_first_format_still_load_and_agree(tmp_path):
    rng = np.random.default_rng(8)
    good = [synthetic_part(rng) for _ in range(10)]
    detector = create_detector("padim", "fast", device="cpu", **TINY, fit_mode="squeeze")
    detector.fit(good)
    report = export_recipe(detector, tmp_path / "current", good[:1])
    folder = as_first_format(report.path, tmp_path / "first")
    model = load_exported(folder, RuntimeSettings(device="cpu"))  # the stored patterns agree
    assert model.legacy and model.geometry.fit_mode == "squeeze"
    for image in (odd_sized(rng, defect=True), odd_sized(rng, defect=False)[:, :, 0]):
        expected = detector.predict([image])
        score, anomaly_map = model.predict(image)
        assert anomaly_map.shape == image.shape[:2]
        assert not beyond(SCORE_TOLERANCE, float(expected.scores[0]), score)
        assert not beyond(MAP_TOLERANCE, expected.maps[0], anomaly_map)
    with pytest.raises(ValueError, match="export it again"):
        model.predict(np.zeros((40, 50), np.uint16), 12)


def test_recipe_records_calibration_parity_and_source(exported):
    model_path, report = exported["padim"]
    recipe = json.loads((report.path / RECIPE).read_text())
    assert recipe["detector"] == "padim" and recipe["image_size"] == TINY["image_size"]
    assert set(recipe["calibration"]) == {"image_threshold", "image_scale", "map_threshold", "map_scale"}
    assert recipe["parity"]["beyond_tolerance"] == []
    assert recipe["source_model"]["file"] == model_path.name
    assert sorted(p.name for p in report.path.iterdir()) == sorted([GRAPH, MANIFEST, PROBES, RECIPE])


@pytest.mark.parametrize("victim", [RECIPE, GRAPH, PROBES])
def test_tampered_export_is_refused(exported, tmp_path, victim):
    import shutil

    folder = shutil.copytree(exported["padim"][1].path, tmp_path / "copy")
    load_exported(folder)  # the untouched copy loads
    if victim == RECIPE:  # the quiet edit someone might try: a laxer threshold
        recipe = json.loads((folder / RECIPE).read_text())
        recipe["threshold"] = 0.9
        (folder / RECIPE).write_text(json.dumps(recipe, indent=2, sort_keys=True))
    else:
        data = bytearray((folder / victim).read_bytes())
        data[len(data) // 2] ^= 0x01
        (folder / victim).write_bytes(bytes(data))
    with pytest.raises(ExportFolderError, match=f"{victim} does not match its stored SHA-256"):
        Inspector.open(folder)


def test_loading_checks_the_runtime_against_the_stored_torch_results(exported, tmp_path):
    """Loading re-runs the stored test patterns: a runtime that drifts from the torch model
    (here simulated by map references 1 % off, at least 0.01) is refused even though every
    hash matches."""
    import io

    files = read_exported(exported["padim"][1].path)
    assert load_exported(files.path).self_check.passed
    shifted = {name: value + (0.01 * np.maximum(1.0, np.abs(value)) if name.startswith("map_") else 0.0)
               for name, value in files.probes.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **shifted)
    folder = write_exported(tmp_path / "drifted", files.recipe, files.graph, buffer.getvalue())
    with pytest.raises(ExportFolderError, match="does not reproduce the torch model"):
        load_exported(folder, RuntimeSettings(device="cpu"))


def test_missing_foreign_and_newer_folders_are_refused(exported, tmp_path):
    import shutil

    folder = shutil.copytree(exported["padim"][1].path, tmp_path / "copy")
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / GRAPH).unlink()
    with pytest.raises(ExportFolderError, match=f"{GRAPH} is missing"):
        load_exported(folder)
    (folder / MANIFEST).write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(ExportFolderError, match="newer adgui"):
        load_exported(folder)
    (folder / MANIFEST).write_text(json.dumps({**manifest, "format": "something-else"}))
    with pytest.raises(ExportFolderError, match="not an exported adgui recipe"):
        load_exported(folder)
    (folder / MANIFEST).write_text("{ damaged")
    with pytest.raises(ExportFolderError, match="damaged"):
        load_exported(folder)


def test_failed_parity_writes_nothing_and_keeps_the_old_export(exported, tmp_path, monkeypatch):
    import shutil

    import adgui.runtime.export as export_module

    model_path, report = exported["padim"]
    detector = Inspector.open(model_path, "cpu").detector
    target = shutil.copytree(report.path, tmp_path / "recipe")  # an earlier export to replace
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    real_build = export_module.build_graph

    def shifted_graph(model):  # maps 1.05 (c - 0.5) + 1.05 instead of c: off at any size
        threshold, scale = model.map_threshold.clone(), model.map_scale.clone()
        model.map_threshold -= 2.0 * scale
        model.map_scale /= 1.05
        try:
            return real_build(model)
        finally:
            model.map_threshold, model.map_scale = threshold, scale

    monkeypatch.setattr(export_module, "build_graph", shifted_graph)
    with pytest.raises(ParityError, match="largest map difference") as caught:
        export_recipe(detector, target, [])
    assert caught.value.report.max_map_difference > 0.5
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    with pytest.raises(ParityError):
        export_recipe(detector, tmp_path / "new", [])
    assert not (tmp_path / "new").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["recipe"], "no staging folder left behind"


def test_export_refuses_ddad_and_foreign_folders(exported, tmp_path, good_images):
    detector = create_detector("ddad", "fast", device="cpu", **TINY)
    with pytest.raises(ExportError, match="ddad detector cannot be exported"):
        export_recipe(detector, tmp_path / "ddad", [])
    keep = tmp_path / "documents"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    padim = Inspector.open(exported["padim"][0], "cpu").detector
    with pytest.raises(ExportFolderError, match="not an exported recipe"):
        export_recipe(padim, keep, [])
    assert (keep / "notes.txt").read_text() == "mine"


def test_wrong_images_get_a_clear_message(exported):
    inspector = Inspector.open(exported["padim"][1].path)
    with pytest.raises(ValueError, match="8-bit, 16-bit or float32"):
        inspector.inspect(np.zeros((40, 40, 3), np.float64))
    with pytest.raises(ValueError, match="RGB"):
        inspector.inspect(np.zeros((40, 40, 4), np.uint8))


def test_exported_inspection_imports_no_torch(exported):
    """The station's path: open an exported recipe and inspect, with torch never imported."""
    code = (
        "import sys, numpy as np\n"
        "from adgui.pipeline.inspection import Inspector\n"
        f"inspector = Inspector.open({str(exported['cflow'][1].path)!r})\n"
        "result = inspector.inspect(np.full((50, 60, 3), 90, np.uint8))\n"
        "assert result.anomaly_map.shape == (50, 60)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'timm', 'algorithms')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    # The geometry (numpy and OpenCV) is the one piece of the detectors' package it shares.
    assert done.stdout.strip() == "['algorithms', 'algorithms.geometry']"


def test_cli_export_then_inspect_gives_the_same_verdicts(tiny_model, tmp_path, capsys):
    from adgui.cli import main
    from conftest import write_parts

    images = [*write_parts(tmp_path / "parts", 3, seed=5),
              *write_parts(tmp_path / "parts", 3, defect=True, seed=6, prefix="bad")]
    out = tmp_path / "tiny.export"
    assert main(["export", "--model", str(tiny_model), "--out", str(out),
                 "--data", str(tmp_path / "parts")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["written"] and printed["parity"]["images"] == len(images) + 3

    def verdicts(model: Path) -> dict[str, tuple[str, float]]:
        assert main(["inspect", "--model", str(model), "--device", "cpu", *map(str, images)]) == 0
        rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
        return {row[0]: (row[1], float(row[2])) for row in rows}

    torch_rows, onnx_rows = verdicts(tiny_model), verdicts(out)
    assert torch_rows.keys() == onnx_rows.keys() == {str(p) for p in images}
    for path, (verdict, score) in torch_rows.items():
        assert onnx_rows[path][0] == verdict
        assert abs(onnx_rows[path][1] - score) <= 1.5e-4  # printed to 4 decimals
    assert {verdict for verdict, _ in onnx_rows.values()} == {"PASS", "FAIL"}


@pytest.mark.slow
def test_bottle_exports_match_the_torch_models(bottle, tmp_path):
    """Real parts, real backbones: every exportable detector trained on bottle, exported with
    the parity check on test images, then inspected on other test images by both runtimes."""
    from adgui.pipeline.training import train_model
    from algorithms.datasets import read_images
    from algorithms.images import list_images

    test_images = sorted(p for kind in (bottle / "test").iterdir() for p in list_images(kind))
    parity_paths, check_paths = test_images[0::8], test_images[3::8]  # every defect type, both
    # Short trainings where they can be: parity does not depend on how well the model learnt.
    # CFlow keeps its 16,000-step floor: with fewer its scores are flat, and verdicts of flat
    # scores prove nothing.
    settings = {"padim": {}, "patchcore": {"coreset_ratio": 0.01}, "cflow": {"epochs": 1}}
    for name in EXPORTABLE:
        model_path = train_model(bottle, name, tmp_path / f"{name}.adgui", device="cpu",
                                 **settings[name]).model_path
        torch_inspector = Inspector.open(model_path, "cpu")
        report = export_recipe(torch_inspector.detector, tmp_path / name, read_images(parity_paths))
        assert report.parity.passed, report.parity.summary()
        onnx_inspector = Inspector.open(report.path)
        pairs = []
        for image in read_images(check_paths):
            expected, got = torch_inspector.inspect(image), onnx_inspector.inspect(image)
            assert got.anomaly_map.shape == image.shape[:2]
            assert not beyond(SCORE_TOLERANCE, expected.score, got.score), name
            assert not beyond(MAP_TOLERANCE, expected.anomaly_map, got.anomaly_map), name
            assert got.verdict(0.5) == expected.verdict(0.5)
            pairs.append((expected.score, got))
        # Verdicts also at a threshold between the middle scores, so that both verdicts occur
        # whatever a short training learnt.
        scores = sorted(score for score, _ in pairs)
        low, high = scores[len(scores) // 2 - 1], scores[len(scores) // 2]
        assert high - low > 2 * SCORE_TOLERANCE, f"{name}: scores too close to split"
        threshold = (low + high) / 2
        verdicts = {(got.verdict(threshold), "FAIL" if score >= threshold else "PASS")
                    for score, got in pairs}
        assert verdicts == {("PASS", "PASS"), ("FAIL", "FAIL")}, name


def test_exported_folders_are_listed_as_recipes(exported, adgui_home):
    import shutil

    from adgui.pipeline.userdata import list_recipes, recipes_dir

    folder = shutil.copytree(exported["padim"][1].path, recipes_dir() / "bottle-onnx")
    (recipes_dir() / "not-a-recipe").mkdir()
    listed = {recipe.name: recipe.path for recipe in list_recipes()}
    assert listed == {"bottle-onnx (exported)": folder}
    assert Inspector.open(listed["bottle-onnx (exported)"]).info.runtime == "onnx"


def test_bench_refuses_unknown_runtimes_and_torch_only_detectors(tmp_path):
    from adgui.pipeline.benchmark import run_bench

    with pytest.raises(ValueError, match="unknown runtime"):
        run_bench(tmp_path, ["padim"], runtimes=("torch", "tensorflow"))
    with pytest.raises(ValueError, match="ddad cannot be exported"):
        run_bench(tmp_path, ["padim", "ddad"], runtimes=("torch", "onnx"))


def test_bench_times_both_runtimes_in_one_run(tmp_path, capsys):
    from adgui.cli import main
    from adgui.resources import samples_dir

    json_path = tmp_path / "bench.json"
    assert main(["bench", "--data", str(samples_dir() / "good"), "--detectors", "padim",
                 "--preset", "padim=fast", "--repeats", "3", "--weights", "none",
                 "--set", "image_size=48", "--runtimes", "torch,onnx", "--json", str(json_path)]) == 0
    rows = json.loads(json_path.read_text())
    assert [(row["detector"], row["runtime"]) for row in rows] == [("padim", "torch"), ("padim", "onnx")]
    torch_row, onnx_row = rows
    assert onnx_row["device"].startswith("ONNX Runtime")
    assert onnx_row["backbone_ms"] == torch_row["backbone_ms"], "one alternation, one backbone figure"
    assert torch_row["speedup_vs_torch"] == 1.0
    assert onnx_row["speedup_vs_torch"] == pytest.approx(
        torch_row["end_to_end_ms"] / onnx_row["end_to_end_ms"], rel=0.02)
    for row in rows:
        assert row["latency_ms"] > 0 and row["end_to_end_ms"] > 0
        assert row["end_to_end_to_backbone"] == pytest.approx(
            row["end_to_end_ms"] / row["backbone_ms"], rel=0.02, abs=1e-3)  # rounded to 3 places


def test_the_profile_script_times_every_operator_of_an_export(exported, tmp_path):
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(repo / "scripts" / "profile_export.py"),
                           str(exported["padim"][1].path), "--runs", "5", "--top", "500"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("median run: ") and float(lines[0].split()[2]) > 0
    types = {line.split()[0] for line in lines[2:lines.index("slowest 500 nodes (ms per run):")]}
    assert {"Conv", "MatMul"} <= types  # the backbone and the Mahalanobis head
    assert any(line.endswith("/model/head/MatMul") for line in lines), done.stdout
    assert list(tmp_path.iterdir()) == [], "the profiler's file is removed"


def test_expansion_matrix_is_the_torch_paths_upsampling_and_blur():
    """F D F^T, the form the graph uses, equals bilinear upsampling then the Gaussian blur."""
    import torch
    import torch.nn.functional as F

    from algorithms.base import gaussian_blur
    from algorithms.export import expansion_matrix, working_map

    small = torch.rand(2, 8, 8) * 5.0  # (B, h, w)
    for sigma in (4.0, 1.5, 0.0):
        factor = expansion_matrix(8, 64, sigma)  # (S, h)
        assert factor.shape == (64, 8)
        upsampled = F.interpolate(small.unsqueeze(1), size=(64, 64), mode="bilinear",
                                  align_corners=False).squeeze(1)
        expected = gaussian_blur(upsampled, sigma)
        torch.testing.assert_close(working_map([small], [factor], 0.0), expected, atol=2e-5, rtol=0)
        torch.testing.assert_close(factor.sum(1), torch.ones(64), atol=1e-6, rtol=0)  # rows sum to 1


@pytest.mark.parametrize("channels, blocks", [(12, 2), (13, 2), (13, 3), (9, 1)])
def test_blocked_mahalanobis_equals_the_full_quadratic_form(channels, blocks):
    """Only the precision's upper blocks are stored and read; the distances stay the same,
    also when the channels do not divide into the blocks (zero padding)."""
    import torch

    from algorithms.export import BlockedMahalanobis

    generator = torch.Generator().manual_seed(channels)
    positions = 6
    root = torch.randn(positions, channels, channels, generator=generator, dtype=torch.float64)
    precision = root @ root.transpose(1, 2) + 0.1 * torch.eye(channels, dtype=torch.float64)
    mean = torch.randn(positions, channels, generator=generator, dtype=torch.float64)
    embedding = torch.randn(2, channels, 2, 3, generator=generator, dtype=torch.float64)  # (B, D, h, w)
    head = BlockedMahalanobis(mean.float(), precision.float(), blocks)
    side = -(-channels // blocks)
    assert head.upper.shape == (positions, blocks * (blocks + 1) // 2, side, side)
    delta = embedding.flatten(2).transpose(1, 2) - mean  # (B, P, D)
    expected = torch.einsum("bpd,pde,bpe->bp", delta, precision, delta).sqrt().view(2, 2, 3)
    torch.testing.assert_close(head(embedding.float()).double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rank", [0, 16])
def test_padim_exports_full_and_cut_precisions_alike(tmp_path, rank):
    """Full precision matrices (read by upper blocks) and a cut to the directions of least
    variance (whitening rows) both pass the export's parity check on real inference."""
    rng = np.random.default_rng(5)
    good = [synthetic_part(rng) for _ in range(12)]
    detector = create_detector("padim", "fast", device="cpu", precision_rank=rank, **TINY)
    detector.fit(good)
    assert (detector.whitening.numel() > 0) == (rank > 0)
    report = export_recipe(detector, tmp_path / "padim", good[:2])  # refused if parity fails
    assert report.parity.passed
    loaded = load_exported(tmp_path / "padim")
    expected = detector.predict(good[:1]).scores[0]
    assert loaded.predict(good[0])[0] == pytest.approx(expected, abs=SCORE_TOLERANCE)


def test_patchcore_search_by_blocks_finds_the_torch_paths_neighbours(monkeypatch):
    """The export's search by blocks and runs of the bank gives the torch path's neighbours
    and distances, and on a tie, within a run or between blocks, the same (first) entry; the
    entries that pad the bank to whole runs are never anyone's neighbour."""
    import torch

    import algorithms.export as export_module
    import algorithms.patchcore.torch_model as patchcore_module
    from algorithms.export import PatchcoreInference

    monkeypatch.setattr(patchcore_module, "DISTANCE_CHUNK", 64)  # several chunks on the torch path
    monkeypatch.setattr(export_module, "PATCHCORE_BLOCK", 96)  # and other blocks in the export
    detector = create_detector("patchcore", "fast", device="cpu", **TINY)
    generator = torch.Generator().manual_seed(0)
    bank = torch.randn(300, sum(detector.backbone.channels), generator=generator)
    bank[250] = bank[10]  # a tie between the first block and the third
    bank[12] = bank[10]  # and within the first run
    detector.memory_bank = bank
    module = PatchcoreInference(detector)
    assert module.blocks == 4 and module.run_entries.shape[:2] == (19, 16), "4 entries pad the bank"
    queries = torch.randn(50, bank.shape[1], generator=generator)
    queries[7] = bank[10]
    distance, nearest = detector._nearest(queries)
    assert nearest[7] == 10
    assert torch.equal(module.nearest(queries), nearest)
    torch.testing.assert_close(torch.cdist(queries, detector.memory_bank).min(1).values, distance)


def test_cflow_export_flow_is_the_decoders_flow():
    """The export's flow (permutations as one-hot products) gives the decoders' likelihoods."""
    import torch

    from algorithms.export import CflowInference

    detector = create_detector("cflow", "fast", device="cpu", **TINY)
    module = CflowInference(detector)
    generator = torch.Generator().manual_seed(1)
    for scale, decoder in enumerate(detector.decoders):
        fibres = torch.randn(2, 5, decoder.channels, generator=generator)  # (B, hw, C)
        condition = decoder.project(torch.randn(5, detector.config.condition_dim, generator=generator))
        with torch.no_grad():
            torch.testing.assert_close(module.log_likelihood(scale, fibres, condition),
                                       decoder.log_likelihood(fibres, condition))


def test_a_parity_error_crosses_processes_with_its_report():
    """The bench exports in a worker process: its ParityError must reach the parent whole,
    not as a broken process pool."""
    import pickle

    from adgui.runtime.parity import ParityReport

    report = ParityReport(images=2, max_score_difference=0.5, worst_score_image="probe")
    error = pickle.loads(pickle.dumps(ParityError(report)))
    assert isinstance(error, ParityError) and error.report == report
    assert "largest score difference 0.5 (probe)" in str(error)


def test_the_parity_tolerance_is_absolute_near_the_threshold_and_relative_far_past_it():
    """float32 cannot hold 1e-4 on a score of 1,840 (its step there is 1.2e-4): far past the
    threshold the tolerance scales with the score; near it, it stays 1e-4."""
    from adgui.runtime.parity import ParityReport

    flat = np.zeros((4, 4), dtype=np.float32)
    near = ParityReport()
    near.add("near", (0.6, flat), (0.6 + 2e-4, flat), threshold=0.5)
    assert not near.passed and near.beyond_tolerance == ["near"]
    far = ParityReport()
    far.add("far", (1840.0, flat), (1840.0027, flat), threshold=0.5)
    assert far.passed
    far.add("far and off", (1840.0, flat), (1840.5, flat), threshold=0.5)
    far.add("map off", (0.2, flat), (0.2, flat + 2e-3), threshold=0.5)
    assert not far.passed and far.beyond_tolerance == ["far and off", "map off"]
