"""Accuracy floors on MVTec AD bottle with the default offline backbone (slow: minutes)."""
from __future__ import annotations

import pytest

from algorithms import load_detector
from adgui.pipeline.evaluation import evaluate
from adgui.pipeline.training import train_model

# anomalib 2.7 with MobileNetV2 at 256 px: PaDiM 0.997 / 0.983, PatchCore 1.000 / 0.981
# (image / pixel AUROC). With the default EfficientNet-Lite0 we measured PaDiM 1.000 / 0.985
# and PatchCore 1.000 / 0.983; the floors are anomalib's figures, or just below them.
FLOORS = {
    "padim": dict(image_auroc=0.997, pixel_auroc=0.983),
    "patchcore": dict(image_auroc=0.998, pixel_auroc=0.981),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FLOORS))
def test_bottle_accuracy(name, bottle, tmp_path):
    model_path = tmp_path / f"{name}.adgui"
    train_model(bottle, name, model_path, device="cpu")
    result = evaluate(load_detector(model_path, "cpu"), bottle)
    metrics = result.metrics
    assert metrics["image_auroc"] >= FLOORS[name]["image_auroc"]
    assert metrics["pixel_auroc"] >= FLOORS[name]["pixel_auroc"]
    assert metrics["aupro"] > 0.8
    # Trained on good images only, the calibrated threshold must classify the test set.
    assert metrics["confusion_at_threshold"]["accuracy"] >= 0.95
