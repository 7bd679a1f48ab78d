"""Export-friendly inference modules: the same computation as each detector's forward, in a
form that traces to an ONNX graph (no data-dependent Python control flow, no ops the
exporter lacks). Each returns raw scores (B,) and raw maps (B, S, S) for (B, 3, S, S) in [0, 1].
"""
from __future__ import annotations

from torch import nn

from .base import Detector


def inference_module(detector: Detector) -> nn.Module:
    return detector
