"""The one place that turns known exceptions into sentences for people.

Importing it costs no torch: the detectors' exception classes are looked up only once their
modules are loaded (an error cannot be one of them otherwise), so the station build, which has
no torch, reports its errors through the same code.
"""
from __future__ import annotations

import logging
import sys

from algorithms.images import ImageError  # torch-free: image reading only

# (module, class) of the detectors' errors whose message is already meant for people.
_PLAIN_ERRORS = (
    ("algorithms.base", "NotFittedError"),
    ("algorithms.registry", "ModelFileError"),
    ("algorithms.backbones", "WeightsError"),
    ("algorithms.datasets", "DatasetError"),
)


def report_error(error: BaseException, context: str = "") -> str:
    """`describe_error`, and the whole traceback kept in the diagnostic log."""
    text = describe_error(error)
    if not is_cancelled(error):
        logging.getLogger("adgui").error("%s%s", f"{context}: " if context else "", text,
                                         exc_info=(type(error), error, error.__traceback__))
    return text


def describe_error(error: BaseException) -> str:
    """A short message an operator can act on; unknown errors keep their type for support."""
    if is_cancelled(error):
        return "Cancelled."
    if is_out_of_memory(error):
        return ("The device ran out of memory. Close other programs, choose a smaller preset "
                "or image size, or switch to the CPU.")
    if isinstance(error, (ImageError, *_loaded_classes(_PLAIN_ERRORS))):
        return _sentence(str(error))
    if isinstance(error, FileNotFoundError):
        return _sentence(f"File not found: {error.filename or error}")
    if isinstance(error, PermissionError):
        return _sentence(f"No permission to use {error.filename or 'that file'}")
    if isinstance(error, (ValueError, RuntimeError, OSError)):
        return _sentence(str(error))
    return f"Unexpected error ({type(error).__name__}): {error}"


def is_cancelled(error: BaseException) -> bool:
    return isinstance(error, _loaded_classes([("algorithms.base", "Cancelled")]))


def is_out_of_memory(error: BaseException) -> bool:
    return (isinstance(error, _loaded_classes([("torch", "OutOfMemoryError")]))
            or "out of memory" in str(error).lower())


def _loaded_classes(names) -> tuple[type, ...]:
    """The classes among `names` whose module is already imported (nothing is imported here)."""
    found = (getattr(sys.modules.get(module), name, None) for module, name in names)
    return tuple(cls for cls in found if isinstance(cls, type))


def _sentence(text: str) -> str:
    text = text.strip() or "Unknown error"
    first_word = text.split(maxsplit=1)[0].rstrip(":,")
    if first_word.isalpha():  # leave file names such as "img_01.png: ..." as they are
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
