"""Running an exported recipe on ONNX Runtime (no torch needed).

Execution providers: TensorRT, then CUDA, when this ONNX Runtime build has them and the
device allows a GPU; the CPU otherwise. The GPU providers are used when present but have
not been measured here (no GPU on the machines this was built on).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from algorithms.geometry import Geometry, image_score, model_inputs, stitch

from .folder import ExportFolderError, ExportedFiles, read_exported
from .images import check_image, legacy_graph_input, probe_images
from .parity import ParityReport

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclass
class RuntimeSettings:
    device: str = "auto"  # "auto": a GPU provider when present, "cpu", or "cuda"
    threads: int = 0  # intra-op threads; 0 lets ONNX Runtime use one per physical core
    # ORT_ENABLE_ALL fuses convolutions with their activations and folds the normalisation.
    optimization: str = "all"  # "disable", "basic", "extended" or "all"


@dataclass
class ExportedModel:
    """A verified exported recipe on an ONNX Runtime session: image in, score and map out."""
    path: Path
    recipe: dict
    session: object  # onnxruntime.InferenceSession
    providers: list[str] = field(default_factory=list)
    self_check: ParityReport | None = None  # this runtime against the torch model, on loading

    def __post_init__(self) -> None:
        # Graphs exported before the geometry take uint8 (S, S, 3) and the image's size, and
        # give the map at that size; they keep working exactly as they were checked.
        self.legacy = any(item.name == "size" for item in self.session.get_inputs())
        self.geometry = (Geometry(image_size=self.image_size, fit_mode="squeeze") if self.legacy
                         else Geometry.of(self.recipe.get("geometry") or self.recipe["config"]))

    @property
    def image_size(self) -> int:
        return int(self.recipe["image_size"])

    @property
    def bit_depth(self) -> int | None:
        """What the recipe's 16-bit images hold (recorded at training), if it says."""
        return self.recipe.get("meta", {}).get("bit_depth")

    @property
    def probe_side(self) -> int:
        """The side the test patterns are made at: tiled recipes get patterns that tile."""
        return max(self.geometry.image_size, self.geometry.working_side)

    def predict(self, image: np.ndarray, bit_depth: int | None = None) -> tuple[float, np.ndarray]:
        """One image (mono or RGB; uint8, uint16 of `bit_depth` bits (default: the recipe's),
        or float32 in [0, 1]) -> calibrated score and (H, W) float32 map at its own size.

        The graph runs once per model input of the recipe's geometry, and the maps are
        stitched by the torch path's own function."""
        image = check_image(image)
        if self.legacy:
            size = np.asarray(image.shape[:2], dtype=np.int64)
            graph_input = legacy_graph_input(image, self.image_size)
            score, anomaly_map = self.session.run(None, {"image": graph_input, "size": size})
            return float(score[0]), anomaly_map
        inputs, layout = model_inputs(image, self.geometry, bit_depth or self.bit_depth or 16)
        scores, maps = self.run_inputs(inputs)
        return image_score(scores), stitch(maps, layout)

    def run_inputs(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The graph alone on model inputs (T, S, S, 3) float32: calibrated scores (T,) and
        maps (T, S, S)."""
        scores = np.empty(len(inputs), dtype=np.float32)
        maps = np.empty(inputs.shape[:3], dtype=np.float32)
        for index, model_input in enumerate(inputs):
            score, maps[index] = self.session.run(None, {"image": model_input})
            scores[index] = score[0]
        return scores, maps

    def describe_device(self) -> str:
        provider = self.providers[0] if self.providers else "CPUExecutionProvider"
        name = provider.removesuffix("ExecutionProvider")
        if name == "CPU":
            threads = self.session.get_session_options().intra_op_num_threads or os.cpu_count()
            return f"ONNX Runtime, CPU ({threads} threads)"
        return f"ONNX Runtime, {name}"


def load_exported(path: str | Path, settings: RuntimeSettings | None = None) -> ExportedModel:
    """Verify an exported folder against its manifest, open its graph, and check that this
    runtime reproduces the torch model's results on the stored test patterns.

    A GPU provider that fails the check (reduced precision, a driver's kernels) is dropped
    for the CPU when the device was left to "auto"; anything else that fails is refused.
    """
    settings = settings or RuntimeSettings()
    files = read_exported(path)
    _check_recipe(files.recipe, files.path.name)
    model = _open_checked(files, settings)
    if not model.self_check.passed and settings.device == "auto" and len(model.providers) > 1:
        model = _open_checked(files, RuntimeSettings("cpu", settings.threads, settings.optimization))
    if not model.self_check.passed:
        raise ExportFolderError(
            f"{files.path.name}: on {model.describe_device()} the exported graph does not "
            f"reproduce the torch model's results ({model.self_check.summary()})")
    return model


def _open_checked(files: ExportedFiles, settings: RuntimeSettings) -> ExportedModel:
    session = make_session(files.graph, settings)
    model = ExportedModel(files.path, files.recipe, session, list(session.get_providers()))
    report = ParityReport()
    threshold = float(files.recipe["threshold"])
    stored_scores = files.probes.get("scores", np.empty(0))
    for index, image in enumerate(probe_images(model.probe_side)):
        stored_map = files.probes.get(f"map_{index}")
        if index >= len(stored_scores) or stored_map is None:
            raise ExportFolderError(f"{files.path.name}: the stored test results are incomplete")
        report.add(f"test pattern {index}", (float(stored_scores[index]), stored_map),
                   model.predict(image), threshold)
    model.self_check = report
    return model


def make_session(graph: bytes, settings: RuntimeSettings, profile: bool = False):
    """An ONNX Runtime session on the graph; `profile` records every operator's time (see
    `scripts/profile_export.py`)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportFolderError("this installation has no ONNX Runtime, so it cannot run "
                                "exported recipes; open the recipe's .adgui model file") from None

    options = ort.SessionOptions()
    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    options.graph_optimization_level = levels[settings.optimization]
    options.intra_op_num_threads = settings.threads
    # One image at a time through a chain of operators: nothing to run in parallel between
    # them, and the buffers' sizes never change, so their layout is planned once.
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_mem_pattern = True
    # Worker threads spin between the operators of one run (waking a sleeping thread for
    # each operator made the PaDiM graph slower), and stop the moment the run returns:
    # between parts a station's camera, link and window threads share the same few cores
    # (as the bench's torch rounds do), and a pool left spinning took their time.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.enable_profiling = profile
    options.log_severity_level = 3  # warnings about unused GPU providers are not for operators
    try:
        return ort.InferenceSession(graph, options, providers=choose_providers(settings.device))
    except Exception as exc:  # noqa: BLE001 - ORT raises its own types for a bad graph
        raise ExportFolderError(f"ONNX Runtime cannot open the exported graph: {exc}") from exc


def choose_providers(device: str = "auto") -> list[str]:
    """GPU providers first when allowed and present; the CPU always last."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    device = (device or "auto").lower()
    gpu = [name for name in GPU_PROVIDERS if name in available]
    if device.startswith("cuda") and not gpu:
        raise RuntimeError("CUDA was asked for but this ONNX Runtime has no GPU provider; "
                           "use the CPU")
    chosen = gpu if device == "auto" or device.startswith("cuda") else []
    return [*chosen, "CPUExecutionProvider"]


def _check_recipe(recipe: dict, name: str) -> None:
    needed = ("detector", "backbone", "image_size", "threshold", "calibration_scores", "meta")
    missing = [key for key in needed if key not in recipe]
    if missing:
        raise ExportFolderError(f"{name}: recipe.json lacks {missing}")
