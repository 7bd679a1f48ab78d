"""The interface every image source shares, and the options it declares.

A source kind is one small class: it declares its options as data (from which the window's
source bar, the saved settings and the command line are all built), opens, delivers frames at
their native pixel depth and closes. Plain Python: no Qt, no torch.

Errors a source raises:
- `SourceError`: it cannot work at all (a folder that is not there, a camera not found);
- `SourceLost`: it worked and stopped (a camera unplugged); the station reopens it with backoff;
- `ImageError`: one bad item (an unreadable file); that part is recorded as an error, the rest go on;
- `SourceEnded`: a finite source (folder, video file) has delivered its last frame.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from algorithms.images import ImageError

# How parts start. FREE: a free-running camera (preview only). SOFTWARE: the station issues a
# trigger per part. HARDWARE: an edge on the camera's trigger input. PLC: the line's controller
# asks for a part over its link; the station then issues a software trigger.
FREE, SOFTWARE, HARDWARE, PLC = "free", "software", "hardware", "plc"
TRIGGERS = (FREE, SOFTWARE, HARDWARE, PLC)


class SourceError(RuntimeError):
    """The source cannot deliver images; the message says what to check."""


class SourceLost(SourceError):
    """A source that was working stopped (a camera unplugged): worth reopening."""


class SourceEnded(Exception):
    """A finite source has delivered its last frame."""


@dataclass(frozen=True)
class Option:
    """One setting of a source kind, declared once for the window, the settings and the CLI.

    kind: "folder", "file" (a path chosen with a dialog), "text", "int", "float", "bool" or
    "choice". `device` marks a setting written to (and read back from) the camera itself.
    """

    name: str
    kind: str
    default: Any
    label: str
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    file_filter: str = ""
    device: bool = False
    zero_label: str = ""  # what 0 means, shown in place of the number (e.g. "as judged")

    def parse(self, value: Any) -> Any:
        """A value from the command line or a settings file, as this option's type."""
        if value is None or value == "":
            return self.default
        if self.kind == "int":
            return self._bounded(int(float(value)))
        if self.kind == "float":
            return self._bounded(float(value))
        if self.kind == "bool":
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        text = str(value)
        if self.kind == "choice" and self.choices and text not in self.choices:
            raise ValueError(f"{self.label}: {text!r} is not one of {', '.join(self.choices)}")
        return text

    def _bounded(self, value):
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.label}: {value} is below the minimum {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{self.label}: {value} is above the maximum {self.maximum:g}")
        return value


@dataclass
class Frame:
    """One image as the source delivered it, with the times the part's record needs."""

    image: np.ndarray  # (H, W) mono or (H, W, 3) RGB; uint8, or uint16 holding `bit_depth` bits
    part_id: str  # file name, or the source's frame / trigger number
    source: str  # what the records call the source ("pylon:0815-0000", "folder:bottle")
    bit_depth: int = 8  # significant bits per sample: 8, 10, 12 or 16
    # False for a 16-bit file, whose real depth the file does not say: the recipe's applies.
    depth_known: bool = True
    trigger_time: float | None = None  # time.time() when the part's trigger was issued or seen
    acquired_time: float = field(default_factory=time.time)  # when the frame was in hand
    run_id: int = 0  # which start of the stream it belongs to; the station ignores older runs
    trigger_number: int = 0  # 1, 2, 3, ... per start, counted where the trigger starts


class Source(ABC):
    """Base of every source kind. Subclasses declare `kind`, `label`, `options`."""

    kind: ClassVar[str]
    label: ClassVar[str]  # what the window's kind list shows
    options: ClassVar[tuple[Option, ...]] = ()
    address: ClassVar[str] = ""  # the option `--source KIND:VALUE` sets (path, index, serial)
    # A folder or a file: read as fast as parts are judged (the source waits for the model).
    finite: ClassVar[bool] = False
    triggers: ClassVar[tuple[str, ...]] = (FREE,)  # the trigger modes this kind can run in

    def __init__(self, settings: dict[str, Any] | None = None, trigger: str | None = None):
        self.settings = resolve_settings(type(self), settings or {})
        mode = trigger or self.triggers[0]
        if not accepts_trigger(type(self), mode):
            raise SourceError(f"a {self.label.lower()} cannot run on a {mode} trigger; "
                              f"it can run on: {', '.join(self.triggers)}")
        # How the device itself is triggered: a PLC's request reaches it as a software trigger.
        self.trigger_mode = SOFTWARE if mode == PLC else mode

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.settings.get(self.address, '')}" if self.address else self.kind

    @abstractmethod
    def open(self) -> None:
        """Connect and configure; raises SourceError with a reason a person can act on."""

    @abstractmethod
    def read(self, timeout_s: float) -> Frame | None:
        """The next frame, or None if none came within `timeout_s` (a camera waiting for a
        trigger). Raises SourceEnded, SourceLost or ImageError as the module says."""

    def trigger(self) -> None:
        """Issue one software trigger (only for sources that list SOFTWARE)."""
        raise SourceError(f"a {self.label.lower()} takes no software trigger")

    def read_back(self, name: str) -> Any:
        """A device setting as the camera reports it now (cameras override)."""
        return self.settings[name]

    def close(self) -> None:
        """Release the device or file; safe to call twice and after a failed open."""

    def __enter__(self) -> "Source":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def accepts_trigger(kind: type[Source], mode: str) -> bool:
    """Whether `kind` can run on trigger `mode`; any kind that takes software triggers can
    serve a PLC's requests."""
    return mode in kind.triggers or (mode == PLC and SOFTWARE in kind.triggers)


def resolve_settings(kind: type[Source], given: dict[str, Any]) -> dict[str, Any]:
    """Every declared option of `kind`, parsed, defaults filled in; unknown names refused."""
    known = {option.name: option for option in kind.options}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"a {kind.label.lower()} has no setting {', '.join(unknown)}; "
                         f"it has {', '.join(known) or 'none'}")
    return {name: option.parse(given.get(name)) for name, option in known.items()}


__all__ = ["FREE", "HARDWARE", "PLC", "SOFTWARE", "TRIGGERS", "Frame", "ImageError", "Option",
           "Source", "SourceEnded", "SourceError", "SourceLost", "accepts_trigger",
           "resolve_settings"]
