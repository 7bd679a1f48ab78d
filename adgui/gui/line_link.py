"""The window's outputs to the line: a `Station` around the window's own pipeline.

The station feeds every final part to the configured outputs (Modbus, OPC UA, MQTT) and lets
the PLC trigger, start, stop and switch recipes while it is in remote control. Its listeners
run on the outputs' and the pipeline's threads; `LineLink` hands what they report to the
window's thread as Qt signals.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from ..outputs.base import RECIPE_FAILED
from ..outputs.registry import open_output, output_kinds
from ..sources.registry import SourceSpec
from ..station import RecipeTable, Station

SECRET_WORDS = ("password", "key")  # option names whose values never reach the audit trail


class LineConfig:
    """Which outputs run with which settings, and the PLC's recipe table: what the settings
    file keeps and the outputs dialog edits."""

    def __init__(self, outputs: dict[str, dict[str, Any]] | None = None, recipe_table: str = ""):
        known = {kind.kind for kind in output_kinds()}
        self.outputs = {kind: dict(values) for kind, values in (outputs or {}).items()
                        if kind in known}
        self.recipe_table = recipe_table

    @classmethod
    def from_text(cls, text: str) -> "LineConfig":
        """Parsed from the settings; ValueError says what is wrong."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ValueError(f"the saved line outputs are not readable ({error})") from None
        if not isinstance(data, dict) or not isinstance(data.get("outputs", {}), dict):
            raise ValueError("the saved line outputs are not in the expected form")
        return cls(data.get("outputs", {}), str(data.get("recipe_table", "")))

    def to_text(self) -> str:
        return json.dumps({"outputs": self.outputs, "recipe_table": self.recipe_table},
                          sort_keys=True)

    def describe(self) -> str:
        """For the audit trail: kinds and settings, secrets left out."""
        parts = []
        for kind, values in sorted(self.outputs.items()):
            shown = {name: ("***" if any(word in name for word in SECRET_WORDS) and value else value)
                     for name, value in sorted(values.items())}
            parts.append(f"{kind} {json.dumps(shown, sort_keys=True)}")
        if self.recipe_table:
            parts.append(f"recipe table {self.recipe_table}")
        return "; ".join(parts) or "none"

    def __bool__(self) -> bool:
        return bool(self.outputs)


class LineLink(QObject):
    """Holds the station while outputs are configured; None of it runs otherwise."""

    link_changed = Signal(object)  # LinkStatus
    state_changed = Signal(object)  # StationState
    recipe_switched = Signal(object, str)  # ModelInfo, model path: the PLC chose a recipe
    recipe_kept = Signal(str, int)  # model path, its number: the PLC's switch is complete

    def __init__(self, pipeline, database=None, station_name: str = "station",
                 open_inspector: Callable[[Path], Any] | None = None, guard=None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.pipeline = pipeline
        self.guard = guard  # records the PLC's recipe choices, which the pipeline then takes
        self.database = database
        self.station_name = station_name
        self.open_inspector = open_inspector
        self.config = LineConfig()
        self.station: Station | None = None
        # The number the line sees for the recipe in force; a new station starts with it.
        self.recipe_number = 0
        self._switch_path: str | None = None  # the PLC's recipe being switched to

    @property
    def active(self) -> bool:
        return self.station is not None

    @property
    def remote_control(self) -> bool:
        return self.station is not None and self.station.remote_control

    @property
    def plc_capable(self) -> bool:
        """An output through which a PLC can run the station is configured."""
        return self.station is not None and any(output.plc for output in self.station.outputs)

    def configure(self, config: LineConfig) -> None:
        """Replace the outputs with `config`'s, started; on failure (a port in use, a bad
        certificate) none runs and the error says why."""
        self.close()
        self.config = config
        if not config:
            return
        table = RecipeTable.parse([config.recipe_table]) if config.recipe_table else None
        outputs = [open_output(kind, values, self.station_name)
                   for kind, values in config.outputs.items()]
        station = Station(self.pipeline, SourceSpec("folder", {}, ""), outputs, table,
                          load_inspector=self._load_inspector, database=self.database)
        station.recipe_number = self.recipe_number  # as before a restart or a new config
        if self.guard is not None:
            station.approve_recipe = lambda old, new, reason: self.guard.change_by_line(
                "recipe", old, new, reason)
        station.link_listeners.append(self._emit_link)
        station.state_listeners.append(self._emit_state)
        try:
            station.open()
        except Exception:
            station.detach()
            raise
        self.station = station

    def start(self, spec: SourceSpec, limit: int | None = None) -> None:
        """Start a run through the station, so that its state tells the line."""
        self.station.spec = spec
        self.station.limit = limit
        self.station.start_run()

    def stop(self) -> None:
        if self.station is not None:
            self.station.stop_run()

    def set_remote_control(self, on: bool, spec: SourceSpec | None, user: str, reason: str) -> None:
        if spec is not None:
            self.station.spec = spec
        self.station.set_remote_control(on, user, reason)

    def follow_local_recipe(self, path: str | Path) -> None:
        """An engineer loaded `path` here: the line sees the table's number for it (0 if it
        has none) now, not at the station's next start."""
        self.recipe_number = self.number_of(path)
        if self.station is not None:
            self.station.set_recipe_number(self.recipe_number)

    def number_of(self, path: str | Path) -> int:
        """The table's number for a model file; 0 (the station's own recipe) if it has none."""
        return self.station.recipes.number_of(path) if self.station is not None else 0

    def links(self) -> list:
        return self.station.links() if self.station is not None else []

    def close(self) -> None:
        station, self.station = self.station, None
        if station is not None:
            station.detach()

    # -- called on the station's threads ------------------------------------------------
    def _load_inspector(self, path: Path):
        self._switch_path = str(path)
        inspector = self.open_inspector(path)
        info = getattr(inspector, "info", None)
        if info is not None:
            self._emit(self.recipe_switched, info, str(path))
        return inspector

    def _emit_link(self, status) -> None:
        self._emit(self.link_changed, status)

    def _emit_state(self, state) -> None:
        path, station = self._switch_path, self.station
        if path is not None and station is not None and not station.switching:
            self._switch_path = None  # the switch is over: in force, or refused with an error
            if state.error_code != RECIPE_FAILED and state.recipe_number == self.number_of(path):
                self.recipe_number = state.recipe_number
                self._emit(self.recipe_kept, path, state.recipe_number)
        self._emit(self.state_changed, state)

    @staticmethod
    def _emit(signal, *values) -> None:
        try:
            signal.emit(*values)
        except RuntimeError:  # the window is gone
            pass


__all__ = ["LineConfig", "LineLink"]
