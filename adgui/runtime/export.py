"""Exporting a trained recipe to ONNX, checked against the torch model before it is written.

The graph is the inference of one model input, a square of the recipe's input size (float32
RGB in [0, 1], so 16-bit images lose nothing on the way): the backbone's normalisation, the
backbone, the detector's head (PaDiM's Mahalanobis distances, PatchCore's nearest-neighbour
search and reweighting, CFlow's decoders), the calibration, and the input's calibrated map.
The upsampling and the blur are linear and separable, so the graph applies them as two small
matrix products to the detector's small map instead of filtering images (see
`algorithms.export`). Cutting an image into the recipe's inputs (its geometry: padded or
squeezed, tiled at a working size) and stitching their maps back at the image's own size
happen outside the graph, in `algorithms.geometry`, the functions the torch path calls.

DDAD stays torch-only: its inference is a reverse-diffusion loop of several UNet passes,
run in bfloat16 on a GPU, so an fp32 graph could not meet the 1e-4 score parity against
the path that actually runs there, and on a CPU the UNet passes dominate whatever runtime
executes them.
"""
from __future__ import annotations

import io
import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

from algorithms import Detector
from algorithms.base import Progress, no_progress
from algorithms.export import inference_module
from algorithms.geometry import Geometry

from .folder import FORMAT, VERSION, check_destination, sha256, write_exported
from .images import probe_images
from .parity import ParityError, ParityReport
from .session import ExportedModel, RuntimeSettings, make_session

OPSET = 17
EXPORTABLE = ("padim", "patchcore", "cflow")


class ExportError(RuntimeError):
    """A recipe that cannot be exported (detector without a graph, untrained model)."""


@dataclass
class ExportReport:
    path: Path
    detector: str
    parity: ParityReport
    graph_bytes: int
    seconds: float


class CalibratedGraph(nn.Module):
    """float32 (S, S, 3) RGB in [0, 1] -> calibrated score (1,) and map (S, S).

    The calibrated map is F C F^T, with F (S, r) the detector's expansion matrices side by
    side (`algorithms.export`) and C the core (r, r): each small map calibrated, on the
    diagonal. Calibration is affine and every row of F sums to one, so calibrating the small
    maps first is the same as calibrating the map.
    """

    def __init__(self, detector: Detector):
        super().__init__()
        self.model = inference_module(detector)
        for name in ("image_threshold", "image_scale", "map_threshold", "map_scale"):
            self.register_buffer(name, getattr(detector, name).detach().cpu().float().clone())
        self.sides = list(self.model.maps.grids)
        self.register_buffer("factors", torch.cat(self.model.maps.factors, dim=1))  # (S, r)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = image.permute(2, 0, 1).unsqueeze(0)  # (1, 3, S, S) in [0, 1]
        scores, terms = self.model(x)  # (1,) raw, small raw maps (1, h_i, h_i)
        scores = 0.5 + 0.5 * (scores - self.image_threshold) / self.image_scale
        gain = 0.5 / self.map_scale  # calibrated = base + gain * raw
        base = 0.5 - gain * self.map_threshold + gain * self.model.offset
        total, blocks, start = sum(self.sides), [], 0
        for term, side in zip(terms, self.sides):  # each on the diagonal of (r, r)
            calibrated = gain * term[0] + base / len(terms)
            blocks.append(F.pad(calibrated, (start, total - start - side, start, total - start - side)))
            start += side
        core = blocks[0] if len(blocks) == 1 else torch.stack(blocks).sum(0)  # (r, r)
        return scores, self.factors @ core @ self.factors.T  # (S, S)


def export_recipe(detector: Detector, out: str | Path, images: Sequence[np.ndarray] = (),
                  names: Sequence[str] = (), source: Path | None = None,
                  progress: Progress | None = None,
                  settings: RuntimeSettings | None = None, version=None) -> ExportReport:
    """Export a fitted detector to the folder `out` after the parity check on `images`
    (plus a few generated probe images). Raises ParityError, writing nothing, on a mismatch.

    `version` (a RecipeVersion, normally the one in force) gives the threshold and the ROI
    that the exported recipe applies; the graph itself is the model's, without the ROI."""
    progress = progress or no_progress
    started = time.perf_counter()
    if detector.name not in EXPORTABLE:
        raise ExportError(f"the {detector.name} detector cannot be exported: it runs with torch "
                          f"only (exportable: {', '.join(EXPORTABLE)})")
    if not detector.is_fitted:
        raise ExportError("only a trained recipe can be exported")
    check_destination(Path(out))  # before minutes of tracing and checking, not after
    device = detector.device
    try:  # traced and checked on the CPU: cuDNN's TF32 convolutions would fail the parity
        report = _export_on_cpu(detector.cpu().eval(), Path(out), images, names, source, progress,
                                settings or RuntimeSettings(device="cpu"), version)
    finally:
        detector.to(device)
    report.seconds = time.perf_counter() - started
    return report


def _export_on_cpu(detector: Detector, out: Path, images: Sequence[np.ndarray],
                   names: Sequence[str], source: Path | None, progress: Progress,
                   settings: RuntimeSettings, version=None) -> ExportReport:
    progress(0.0, "tracing the graph")
    graph = build_graph(detector)
    progress(0.3, "checking parity with the torch model")
    recipe = recipe_record(detector, source, version)
    session = make_session(graph, settings)
    exported = ExportedModel(out, recipe, session, list(session.get_providers()))
    probes = probe_images(exported.probe_side)
    all_images = [*images, *probes]
    all_names = [*(names or [f"image {i}" for i in range(len(images))]),
                 *(f"probe {p.shape[0]}x{p.shape[1]}" for p in probes)]
    parity = ParityReport()
    threshold = float(detector.threshold)
    references = []
    for index, (name, image) in enumerate(zip(all_names, all_images)):
        prediction = detector.predict([image])
        reference = (float(prediction.scores[0]), prediction.maps[0])
        parity.add(name, reference, exported.predict(image), threshold)
        references.append(reference)
        progress(0.3 + 0.65 * (index + 1) / len(all_images), f"parity: {name}")
    if not parity.passed:
        raise ParityError(parity)
    recipe["parity"] = parity.as_dict()
    path = write_exported(out, recipe, graph, probe_references(references[len(images):]))
    progress(1.0, "written")
    return ExportReport(path, detector.name, parity, len(graph), 0.0)


def build_graph(detector: Detector) -> bytes:
    """Trace the calibrated inference of one model input."""
    size = detector.config.image_size
    module = CalibratedGraph(detector).eval()
    example = torch.zeros(size, size, 3, dtype=torch.float32)
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the dynamo one, which needs
        # onnxscript; this graph has no control flow, so tracing captures it whole.
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (example,), buffer, input_names=["image"],
                              output_names=["score", "map"], opset_version=OPSET,
                              dynamo=False, do_constant_folding=True)
        except Exception as exc:  # noqa: BLE001 - the exporter's messages run to pages
            first_line = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"the {detector.name} model could not be traced to ONNX "
                              f"({first_line})") from exc
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model)
    return model.SerializeToString()


def recipe_record(detector: Detector, source: Path | None, version=None) -> dict:
    """Everything about the recipe beside the graph, as plain JSON; threshold and ROI from
    `version` (a RecipeVersion) when given."""
    meta = json.loads(json.dumps(detector.meta, default=str))
    record = {
        "format": FORMAT,
        "version": VERSION,
        "detector": detector.name,
        "backbone": detector.config.backbone,
        "image_size": detector.config.image_size,
        "config": json.loads(json.dumps(asdict(detector.config), default=str)),
        # How images become model inputs and maps come back (see algorithms.geometry).
        "geometry": asdict(Geometry.of(detector.config)),
        "calibration": {name: float(getattr(detector, name)) for name in
                        ("image_threshold", "image_scale", "map_threshold", "map_scale")},
        "threshold": float(detector.threshold),
        "calibration_scores": [float(v) for v in detector.calibration_scores.cpu().tolist()],
        "roi": None,
        "recipe_version": 1,
        "meta": meta,
        "graph": {"opset": OPSET,
                  "inputs": {"image": "float32 (S, S, 3) RGB in [0, 1]: one model input of the "
                                      "geometry"},
                  "outputs": {"score": "float32 (1,) calibrated",
                              "map": "float32 (S, S) calibrated, stitched by the geometry"}},
        "exported_with": {"torch": torch.__version__, "onnx": onnx.__version__},
    }
    if version is not None:
        record["threshold"] = float(version.threshold)
        record["recipe_version"] = version.number
        if version.has_roi:
            calibration = version.roi_calibration
            record["roi"] = {**version.roi.as_dict(), "calibration": calibration.as_dict()}
            record["calibration_scores"] = list(calibration.scores)
    if source is not None and Path(source).is_file():
        record["source_model"] = {"file": Path(source).name,
                                  "sha256": sha256(Path(source).read_bytes())}
    return record


def probe_references(references: list[tuple[float, np.ndarray]]) -> bytes:
    """The torch model's scores and maps on the probe patterns, as a pickle-free .npz."""
    arrays = {"scores": np.asarray([score for score, _ in references], dtype=np.float64)}
    arrays.update({f"map_{i}": anomaly_map for i, (_, anomaly_map) in enumerate(references)})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def parity_paths(items: Sequence[Path], limit: int) -> list[Path]:
    """Image files for the parity check: files as given; a folder's images; an MVTec
    category's test images of every type. Evenly spread over the list when over `limit`."""
    from algorithms.images import list_images

    paths: list[Path] = []
    for item in map(Path, items):
        if item.is_dir() and (item / "test").is_dir():
            for kind in sorted(p for p in (item / "test").iterdir() if p.is_dir()):
                paths.extend(list_images(kind))
        elif item.is_dir():
            paths.extend(list_images(item))
        else:
            paths.append(item)
    if len(paths) > limit > 0:
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]
    return paths
