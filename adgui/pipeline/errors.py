"""The one place that turns known exceptions into sentences for people."""
from __future__ import annotations

import logging

from algorithms import Cancelled, ModelFileError, NotFittedError
from algorithms.backbones import WeightsError
from algorithms.datasets import DatasetError
from algorithms.device import is_out_of_memory
from algorithms.images import ImageError


def report_error(error: BaseException, context: str = "") -> str:
    """`describe_error`, and the whole traceback kept in the diagnostic log."""
    text = describe_error(error)
    if not isinstance(error, Cancelled):
        logging.getLogger("adgui").error("%s%s", f"{context}: " if context else "", text,
                                         exc_info=(type(error), error, error.__traceback__))
    return text


def describe_error(error: BaseException) -> str:
    """A short message an operator can act on; unknown errors keep their type for support."""
    if isinstance(error, Cancelled):
        return "Cancelled."
    if is_out_of_memory(error):
        return ("The device ran out of memory. Close other programs, choose a smaller preset "
                "or image size, or switch to the CPU.")
    if isinstance(error, (ImageError, DatasetError, ModelFileError, WeightsError, NotFittedError)):
        return _sentence(str(error))
    if isinstance(error, FileNotFoundError):
        return _sentence(f"File not found: {error.filename or error}")
    if isinstance(error, PermissionError):
        return _sentence(f"No permission to use {error.filename or 'that file'}")
    if isinstance(error, (ValueError, RuntimeError, OSError)):
        return _sentence(str(error))
    return f"Unexpected error ({type(error).__name__}): {error}"


def _sentence(text: str) -> str:
    text = text.strip() or "Unknown error"
    first_word = text.split(maxsplit=1)[0].rstrip(":,")
    if first_word.isalpha():  # leave file names such as "img_01.png: ..." as they are
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
