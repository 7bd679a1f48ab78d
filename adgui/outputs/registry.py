"""One place that maps output kinds to classes; the window's settings and the command line
are built from the registered classes' declared options."""
from __future__ import annotations

from typing import Any

from .base import Output, OutputError

OUTPUTS: dict[str, type[Output]] = {}


def register(kind: type[Output]) -> type[Output]:
    OUTPUTS[kind.kind] = kind
    return kind


def output_kinds() -> list[type[Output]]:
    return list(OUTPUTS.values())


def output_class(kind: str) -> type[Output]:
    if kind not in OUTPUTS:
        raise OutputError(f"unknown output kind {kind!r}; choose from {', '.join(OUTPUTS)}")
    return OUTPUTS[kind]


def open_output(kind: str, settings: dict[str, Any] | None = None, station: str = "station") -> Output:
    """The output a kind and its settings name, constructed (not yet started)."""
    return output_class(kind)(settings, station)


__all__ = ["OUTPUTS", "open_output", "output_class", "output_kinds", "register"]
