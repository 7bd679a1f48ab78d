"""Benchmark: fit time, batch-1 latency and peak memory of each detector, side by side.

Each detector runs in a fresh process, so its peak memory is its own. Inside it, the
detector's forward pass and the backbone's bare forward pass are timed in alternation on
the same input, so that the ratio between them holds on a noisy shared machine.

With the "onnx" runtime the fitted detector is also exported (parity-checked) and its graph
joins the same alternation: both runtimes are timed over the same span, an 8-bit image at
its original size in, the calibrated score and the full-size map out (`end_to_end_ms`).
"""
from __future__ import annotations

import math
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from algorithms.base import Progress, no_progress
from algorithms.registry import make_config

WARM_UP_ROUNDS = 3  # first rounds of a timing, which only warm caches up
RUNTIMES = ("torch", "onnx")
SETTLE_S = 0.05  # idle time before the first call of another runtime in each round


@dataclass
class BenchResult:
    detector: str
    preset: str
    backbone: str
    device: str
    image_size: int
    train_images: int
    fit_seconds: float  # reading the images and fitting, calibration included
    runtime: str  # "torch" (eager) or "onnx" (the exported graph on ONNX Runtime)
    latency_ms: float  # median model forward of one input (a whole image, or one tile)
    backbone_ms: float  # median bare forward of the stages the detector uses
    full_backbone_ms: float  # median forward of the whole classification network
    ratio_to_backbone: float
    end_to_end_ms: float  # median predict() on the original image: resize, model, map upsampling
    end_to_end_to_backbone: float  # end_to_end_ms over backbone_ms: a part's cost in eager backbones
    speedup_vs_torch: float  # torch's end_to_end_ms over this runtime's, same alternation
    peak_memory_mb: float | None  # peak resident memory of the whole process (fit + inference)
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def run_bench(data: str | Path, detectors: list[str], presets: dict[str, str] | None = None,
              repeats: int = 30, device: str = "cpu", progress: Progress | None = None,
              overrides: dict | None = None, runtimes: tuple[str, ...] = ("torch",),
              threads: int = 0) -> list[dict]:
    """Bench every detector in its own process; returns one dict per measured configuration
    and runtime.

    `overrides` (backbone, weights, any setting) apply to every detector. `threads` > 0 sets
    the CPU threads of both runtimes (0: each runtime's default).
    """
    progress = progress or no_progress
    presets, overrides = presets or {}, overrides or {}
    unknown = sorted(set(runtimes) - set(RUNTIMES))
    if unknown or not runtimes:
        raise ValueError(f"unknown runtime {unknown}; choose from {', '.join(RUNTIMES)}")
    if "onnx" in runtimes:
        from adgui.runtime.export import EXPORTABLE

        torch_only = [name for name in detectors if name not in EXPORTABLE]
        if torch_only:
            raise ValueError(f"{', '.join(torch_only)} cannot be exported; bench it with "
                             f"--runtimes torch")
    for name in detectors:  # a wrong name or setting fails now, not after minutes of benching
        make_config(name, presets.get(name, "default"), **overrides)
    results: list[dict] = []
    context = multiprocessing.get_context("spawn")
    for index, name in enumerate(detectors):
        progress(index / len(detectors), f"benchmarking {name}")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            results.extend(pool.submit(bench_detector, str(data), name, presets.get(name, "default"),
                                       repeats, device, overrides, tuple(runtimes),
                                       threads).result())
    progress(1.0, "done")
    return results


def bench_detector(data: str, name: str, preset: str, repeats: int, device: str,
                   overrides: dict | None = None, runtimes: tuple[str, ...] = ("torch",),
                   threads: int = 0) -> list[dict]:
    """Fit one detector on the training images of `data` and time it (runs in a child process)."""
    import timm
    import torch

    if threads > 0:
        torch.set_num_threads(threads)

    from algorithms import create_detector
    from algorithms.datasets import read_images, training_images
    from algorithms.geometry import model_inputs, working_image
    from algorithms.images import read_for_model

    paths = training_images(data)
    detector = create_detector(name, preset, device=device, **(overrides or {}))
    started = time.perf_counter()
    # As the training pipeline does: images shrink to the working size as they are read.
    images = read_images(paths, transform=lambda image: working_image(image, detector.geometry))
    report = detector.fit(images)
    fit_seconds = time.perf_counter() - started
    originals = [read_for_model(path) for path in paths[:3]]  # for the export's parity check
    original = originals[:1]

    inputs, _ = model_inputs(original[0], detector.geometry)  # (T, S, S, 3): one model input timed
    sample = torch.from_numpy(inputs[:1]).permute(0, 3, 1, 2).contiguous().to(detector.device)
    full_network = timm.create_model(detector.config.backbone, pretrained=False).eval().to(detector.device)
    backbone = getattr(detector, "backbone", None)

    synchronize = torch.cuda.synchronize if detector.device.type == "cuda" else (lambda: None)

    def measure(note: str = "") -> list[dict]:
        calls = {"model": lambda: detector(sample)}
        if backbone is not None:
            calls["backbone"] = lambda: backbone(backbone.normalize(sample))
        calls["full"] = lambda: full_network(sample)
        calls["predict"] = lambda: detector.predict(original)
        exported = export_for_bench(detector, originals, threads) if "onnx" in runtimes else None
        if exported is not None:
            first = model_inputs(original[0], exported.geometry)[0][:1]  # (1, S, S, 3), as torch's
            calls["onnx_graph"] = lambda: exported.run_inputs(first)
            calls["onnx_predict"] = lambda: exported.predict(original[0])
        with torch.inference_mode():
            medians = alternating_medians(calls, repeats, synchronize,
                                          settle_before=frozenset({"onnx_graph", "model"}))
        bare = medians.get("backbone", math.nan)
        rows = []
        for runtime in runtimes:
            latency, end_to_end = ((medians["model"], medians["predict"]) if runtime == "torch"
                                   else (medians["onnx_graph"], medians["onnx_predict"]))
            rows.append(BenchResult(
                detector=name, preset=preset, backbone=detector.config.backbone,
                device=str(detector.device) if runtime == "torch" else exported.describe_device(),
                image_size=detector.config.image_size, train_images=report.train_images,
                fit_seconds=round(fit_seconds, 2), runtime=runtime, latency_ms=round(latency, 2),
                backbone_ms=round(bare, 2), full_backbone_ms=round(medians["full"], 2),
                ratio_to_backbone=round(latency / bare, 3) if bare == bare else float("nan"),
                end_to_end_ms=round(end_to_end, 2),
                end_to_end_to_backbone=round(end_to_end / bare, 3) if bare == bare else float("nan"),
                speedup_vs_torch=round(medians["predict"] / end_to_end, 3),
                peak_memory_mb=peak_memory_mb(), note=note).as_dict())
        return rows

    results = measure()
    if name == "patchcore":
        # Greedy selection is incremental: the first 1 % chosen of a 10 % coreset is exactly
        # the 1 % coreset, so the smaller bank needs no second fit.
        bank = detector.memory_bank
        all_patches = round(len(bank) / detector.config.coreset_ratio)
        for ratio in (0.01,):
            if ratio < detector.config.coreset_ratio:
                detector.memory_bank = bank[:max(1, round(all_patches * ratio))]
                results.extend(measure(note=f"coreset {ratio:.0%} (prefix of the fitted coreset)"))
        detector.memory_bank = bank
        for row in results[:len(runtimes)]:
            row["note"] = f"coreset {detector.config.coreset_ratio:.0%}"
    return results


def export_for_bench(detector, images, threads: int = 0):
    """The detector exported to a scratch folder (parity-checked) and loaded for timing."""
    import tempfile

    from adgui.runtime import RuntimeSettings, load_exported
    from adgui.runtime.export import export_recipe

    with tempfile.TemporaryDirectory() as scratch:
        export_recipe(detector, Path(scratch) / "recipe", images)
        return load_exported(Path(scratch) / "recipe", RuntimeSettings(device="cpu", threads=threads))


def alternating_medians(calls: dict[str, Callable[[], object]], repeats: int,
                        synchronize: Callable[[], object] = lambda: None,
                        warm_up: int = WARM_UP_ROUNDS,
                        settle_before: frozenset[str] = frozenset()) -> dict[str, float]:
    """Median milliseconds of each call. The calls take turns, round after round, so a noisy
    machine slows them alike and the ratios between them hold; warm-up rounds are not kept.

    Before the calls named in `settle_before` the machine is left idle for SETTLE_S (not
    timed): another runtime's worker threads keep spinning for a while after its last call
    (torch's OpenMP threads do), and would take the cores from the call timed next."""
    timings: dict[str, list[float]] = {key: [] for key in calls}
    for round_index in range(warm_up + repeats):
        for key, call in calls.items():
            if key in settle_before:
                time.sleep(SETTLE_S)
            synchronize()
            begun = time.perf_counter()
            call()
            synchronize()
            if round_index >= warm_up:
                timings[key].append((time.perf_counter() - begun) * 1000.0)
    return {key: statistics.median(values) for key, values in timings.items()}


def peak_memory_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows: no resource module
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)
