"""Anomaly detectors trained on good images only (no Qt here).

Every detector shares the surface of `base.Detector`: `fit(images, progress)`,
`predict(images) -> Prediction`, and saving / loading through the registry.
"""
from importlib import import_module

# Loaded on first use: `algorithms.images` (image reading, no torch) is used by the sources and
# the exported runtime, which must not pay for torch (or need it at all) just to read a file.
_SOURCES = {
    ".base": ("Cancelled", "Detector", "DetectorConfig", "FitReport", "NotFittedError",
              "Prediction", "Progress"),
    ".memory": ("InsufficientMemoryError",),
    ".registry": ("DETECTORS", "ModelFileError", "create_detector", "detector_names",
                  "load_detector", "make_config", "preset_names", "register", "save_detector"),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_MODULE_OF[name], __name__), name)
