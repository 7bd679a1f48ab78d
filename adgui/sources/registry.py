"""One place that maps source kinds to classes, and specs (`pylon:0815-0000`) to sources.

Adding a kind is one class and one `register` call; the window's source bar, the settings
and the command line are built from the registered classes' declared options.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import FREE, Source, SourceError, resolve_settings

SOURCES: dict[str, type[Source]] = {}


def register(kind: type[Source]) -> type[Source]:
    """Make a source kind selectable everywhere (window, settings, command line)."""
    SOURCES[kind.kind] = kind
    return kind


def source_kinds() -> list[type[Source]]:
    return list(SOURCES.values())


def source_class(kind: str) -> type[Source]:
    if kind not in SOURCES:
        raise SourceError(f"unknown source kind {kind!r}; choose from {', '.join(SOURCES)}")
    return SOURCES[kind]


@dataclass
class SourceSpec:
    """Which source, with which settings, on which trigger: what a start needs, as plain data."""

    kind: str = "folder"
    settings: dict[str, Any] = field(default_factory=dict)
    trigger: str = ""  # "" = the kind's first (its usual) trigger mode

    @property
    def source_class(self) -> type[Source]:
        return source_class(self.kind)

    @property
    def trigger_mode(self) -> str:
        return self.trigger or self.source_class.triggers[0]  # a kind's first mode is its usual

    @property
    def part_mode(self) -> bool:
        """Every frame is a part with a record; otherwise a preview where the newest frame wins."""
        return self.trigger_mode != FREE

    def resolved(self) -> dict[str, Any]:
        return resolve_settings(self.source_class, self.settings)

    def describe(self) -> str:
        if self.kind not in SOURCES:  # a source made in code (tests, benchmarks, the soak)
            return self.kind
        kind = self.source_class
        address = self.resolved().get(kind.address, "") if kind.address else ""
        text = f"{kind.label.lower()} {address}".strip()
        return text if self.part_mode else f"{text} (preview)"


def parse_source(text: str, trigger: str = "", **settings) -> SourceSpec:
    """`KIND:VALUE` as the command line gives it, e.g. `folder:parts/`, `pylon:0815-0000`."""
    kind, sep, value = text.partition(":")
    if not sep:
        raise SourceError(f"--source needs KIND:VALUE (e.g. folder:DIR, pylon:SERIAL); "
                          f"kinds: {', '.join(SOURCES)}")
    kind_class = source_class(kind.strip())
    values = {name: setting for name, setting in settings.items() if setting is not None}
    if kind_class.address:
        values[kind_class.address] = value
    spec = SourceSpec(kind_class.kind, values, trigger)
    spec.resolved()  # refuse unknown or out-of-range settings now, not at start
    return spec


def open_source(spec: SourceSpec) -> Source:
    """The source a spec names, constructed (not yet opened)."""
    return spec.source_class(spec.settings, spec.trigger_mode)
