"""Exported recipes: ONNX graphs plus calibration, run on ONNX Runtime without torch.

`export.export_recipe` (needs torch) writes a folder; `load_exported` (numpy, OpenCV and
ONNX Runtime only) verifies it against its SHA-256 manifest and runs it. Torch stays the
path for training; a station that only inspects needs nothing but this package's readers.
"""
from .folder import ExportFolderError, is_exported_recipe, read_exported
from .parity import MAP_TOLERANCE, SCORE_TOLERANCE, ParityError, ParityReport
from .session import ExportedModel, RuntimeSettings, choose_providers, load_exported

__all__ = [
    "ExportFolderError", "ExportedModel", "MAP_TOLERANCE", "ParityError", "ParityReport",
    "RuntimeSettings", "SCORE_TOLERANCE", "choose_providers", "is_exported_recipe",
    "load_exported", "read_exported",
]
