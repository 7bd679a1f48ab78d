"""`adgui self-test`: train on the bundled sample parts, inspect unseen ones, check verdicts.

Proves on the machine at hand that the backbone's offline weights load, training and
inspection run on the chosen device, and a saved model reloads to the same scores.

The station build has no torch: its self-test (`run_exported_self_test`) inspects the bundled
exported sample recipe instead, which the build makes with `make_sample_recipe` from the same
sample images, and checks the same verdicts on ONNX Runtime.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

UNSEEN_GOOD = 2  # the last good samples are kept out of training and must PASS


def _training_images(samples: Path, scratch: Path) -> Path:
    """A folder with the good samples that the self-tests train on (all but the unseen ones)."""
    from algorithms.images import list_images

    train_dir = scratch / "train"
    train_dir.mkdir()
    for path in list_images(samples / "good")[:-UNSEEN_GOOD]:
        (train_dir / path.name).write_bytes(path.read_bytes())
    return train_dir


def run_self_test(device: str = "auto", report: Callable[[str], None] = print) -> bool:
    from algorithms import load_detector
    from algorithms.datasets import read_images
    from algorithms.device import describe_device
    from algorithms.images import list_images
    from adgui.pipeline.training import train_model
    from adgui.resources import samples_dir

    started = time.perf_counter()
    samples = samples_dir()
    good, bad = list_images(samples / "good"), list_images(samples / "bad")
    if len(good) <= UNSEEN_GOOD + 3 or not bad:
        report(f"FAILED: sample images missing in {samples}")
        return False
    checks: list[tuple[str, bool]] = []
    with tempfile.TemporaryDirectory() as scratch:
        train_dir = _training_images(samples, Path(scratch))
        model_path = Path(scratch) / "selftest.adgui"
        result = train_model(train_dir, "padim", model_path, preset="fast", device=device)
        report(f"trained padim on {result.train_images} images ({result.device}) "
               f"in {result.fit_seconds:.1f} s")
        detector = load_detector(model_path, device)
        report(f"device: {describe_device(detector.device)}")
        unseen = read_images(good[-UNSEEN_GOOD:])
        defective = read_images(bad)
        threshold = float(detector.threshold)
        for path, score in zip(good[-UNSEEN_GOOD:], detector.predict(unseen).scores):
            checks.append((f"{path.name} passes (score {score:.3f})", score < threshold))
        prediction = detector.predict(defective)
        for path, score in zip(bad, prediction.scores):
            checks.append((f"{path.name} fails (score {score:.3f})", score >= threshold))
        shapes = all(m.shape == image.shape[:2] for m, image in zip(prediction.maps, defective))
        checks.append(("anomaly maps have the images' size", shapes))
        again = load_detector(model_path, device).predict(defective).scores
        checks.append(("a reloaded model gives the same scores",
                       bool(np.allclose(again, prediction.scores, rtol=1e-4, atol=1e-5))))
    return _summary(checks, started, report)


def run_exported_self_test(recipe: str | Path | None = None, device: str = "auto",
                           report: Callable[[str], None] = print) -> bool:
    """Inspect the sample parts with an exported recipe (no torch): good ones PASS, bad ones FAIL.

    `recipe` defaults to the one bundled in the station build (resources/sample_recipe).
    """
    from algorithms.images import list_images, read_for_model
    from adgui.pipeline.inspection import Inspector, recipe_bit_depth
    from adgui.resources import sample_recipe_dir, samples_dir
    from adgui.runtime import is_exported_recipe

    started = time.perf_counter()
    recipe = Path(recipe) if recipe is not None else sample_recipe_dir()
    if not is_exported_recipe(recipe):
        report(f"FAILED: no exported recipe at {recipe} (the station build bundles one; "
               f"scripts/make_sample_recipe.py makes it)")
        return False
    samples = samples_dir()
    unseen, bad = list_images(samples / "good")[-UNSEEN_GOOD:], list_images(samples / "bad")
    if len(unseen) < UNSEEN_GOOD or not bad:
        report(f"FAILED: sample images missing in {samples}")
        return False
    inspector = Inspector.open(recipe, device)
    info = inspector.info
    report(f"loaded the exported {info.detector} recipe '{info.name}' ({info.runtime}, {info.device})")
    checks: list[tuple[str, bool]] = []
    for paths, verdict in ((unseen, "PASS"), (bad, "FAIL")):
        for path in paths:
            image = read_for_model(path, recipe_bit_depth(inspector))
            result = inspector.inspect(image)
            expected = "passes" if verdict == "PASS" else "fails"
            checks.append((f"{path.name} {expected} (score {result.score:.3f})",
                           result.verdict(info.threshold) == verdict))
            checks.append((f"{path.name}: the anomaly map has the image's size",
                           result.anomaly_map.shape == image.shape[:2]))
            for text, ok in checks[-2:]:  # as each part is done: start-up timing reads the first
                report(f"{'ok    ' if ok else 'FAILED'} {text}")
    return _verdict(checks, started, report)


def make_sample_recipe(out: str | Path, progress: Callable[[float, str], None] | None = None) -> Path:
    """Train PaDiM (fast preset, CPU) on the good samples and export it to `out` (needs torch).

    The station build runs this at build time and bundles the folder for its self-test.
    """
    from algorithms import load_detector
    from algorithms.datasets import read_images
    from algorithms.images import list_images
    from adgui.pipeline.training import train_model
    from adgui.resources import samples_dir
    from adgui.runtime.export import export_recipe

    samples = samples_dir()
    with tempfile.TemporaryDirectory() as scratch:
        model_path = Path(scratch) / "sample.adgui"
        train_model(_training_images(samples, Path(scratch)), "padim", model_path, preset="fast",
                    device="cpu", name="sample parts")
        checked = [*list_images(samples / "good"), *list_images(samples / "bad")]
        report = export_recipe(load_detector(model_path, "cpu"), out, read_images(checked),
                               [path.name for path in checked], source=model_path, progress=progress)
    return report.path


def _summary(checks: list[tuple[str, bool]], started: float, report: Callable[[str], None]) -> bool:
    for text, ok in checks:
        report(f"{'ok    ' if ok else 'FAILED'} {text}")
    return _verdict(checks, started, report)


def _verdict(checks: list[tuple[str, bool]], started: float, report: Callable[[str], None]) -> bool:
    passed = all(ok for _, ok in checks)
    report(f"self-test {'passed' if passed else 'FAILED'} in {time.perf_counter() - started:.1f} s")
    return passed
