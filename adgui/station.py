"""The station: the live pipeline with its database link and its outputs to the line.

`Station` is what `adgui station` runs headless and what the window can hold: it feeds every
final part record to each output, lets the line's controller trigger parts, start, stop and
switch recipes by number (through `StationControl`), keeps the state and error code the line
sees, and refuses triggers while an output has no room for another result (back-pressure:
results are queued, never overwritten, and every part is still judged and recorded).

For the window: `remote_control` (True while the PLC is in charge: lock Start / Stop /
recipe), `set_remote_control(False, user, reason)` (an engineer takes it back; recorded),
`link_listeners` (each output's `LinkStatus` when it goes up or down), `links()` (all of
them now) and `state_listeners` (every `StationState` published). Listeners are called from
the outputs' and the pipeline's threads: hand over to the GUI thread.

Golden samples (adgui.golden): with `golden=True` the recipe's known good and bad parts are
judged when the station opens (its shift start) and after every recipe switch; until all are
judged right the line sees "not ready" (Ready = 0, state not Ready, triggers refused, Start
refused) and the reason as the error text. Each check is a `golden_check` row in the events
table.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .outputs.base import (BAD_REQUEST, ERROR, ERROR_CODES, IDLE, NO_ERROR,
                           QUEUE_FULL, READY, RECIPE_FAILED, RUNNING, SOURCE_FAILED,
                           TRIGGER_REFUSED, UNKNOWN_RECIPE, LinkStatus, Output, StationState)
from .pipeline.errors import describe_error
from .records.part import FAIL, PASS
from .sources.base import PLC
from .sources.registry import SourceSpec

# Cleared by the next accepted trigger or recipe change; the others last while their cause does.
LATCHED = (TRIGGER_REFUSED, UNKNOWN_RECIPE, RECIPE_FAILED, BAD_REQUEST)
SWITCH_WAIT_S = 10.0  # a recipe change waits this long for parts in flight to be recorded
REMOTE_ON, REMOTE_OFF = "remote_control_on", "remote_control_off"


@dataclass
class RecipeTable:
    """The numbers a PLC selects recipes by: number -> model file. Number 0 is the model the
    station started with."""

    models: dict[int, Path] = field(default_factory=dict)

    @classmethod
    def parse(cls, items: Iterable[str]) -> "RecipeTable":
        """`N=MODEL_FILE` items, or JSON files `{"1": "bottle.adgui", ...}` (paths relative
        to the file's folder)."""
        models: dict[int, Path] = {}
        for item in items:
            if "=" not in item and item.endswith(".json"):
                try:
                    table = json.loads(Path(item).read_text(encoding="utf-8"))
                except (OSError, ValueError) as error:
                    raise ValueError(f"recipe table {item}: {error}") from None
                if not isinstance(table, dict):
                    raise ValueError(f"recipe table {item}: expected {{\"NUMBER\": \"MODEL\"}}")
                # Paths in the table are relative to the table's own folder.
                pairs = [(number, Path(item).parent / path) for number, path in table.items()]
            else:
                number, sep, path = item.partition("=")
                if not sep:
                    raise ValueError(f"a recipe is NUMBER=MODEL_FILE, got {item!r}")
                pairs = [(number, path)]
            for number, path in pairs:
                try:
                    value = int(number)
                except ValueError:
                    raise ValueError(f"recipe number {number!r} is not a whole number") from None
                if not 1 <= value <= 65535:
                    raise ValueError(f"recipe number {value} must be between 1 and 65535")
                models[value] = Path(path)
        return cls(models)

    def number_of(self, path: str | Path) -> int:
        """The number of a model file in the table; 0 (the station's own recipe) if it has none."""
        wanted = Path(path).resolve()
        return next((number for number, model in sorted(self.models.items())
                     if model.resolve() == wanted), 0)


class Station:
    """A pipeline, its outputs and the line's control of it. Thread-safe: outputs call the
    `StationControl` methods from their own threads, the pipeline calls `_part_final` and
    `_source_event` from its threads."""

    def __init__(self, pipeline, spec: SourceSpec, outputs: Iterable[Output] = (),
                 recipes: RecipeTable | None = None,
                 load_inspector: Callable[[Path], object] | None = None, database=None,
                 limit: int | None = None, model_path: Path | None = None,
                 golden: bool = False):
        self.pipeline = pipeline
        self.spec = spec
        self.outputs = list(outputs)
        self.recipes = recipes or RecipeTable()
        self.database = database  # a DatabaseLink, for the station's own events
        self.limit = limit
        self.recipe_number = 0
        self.approve_recipe: Callable[[str | None, str, str], object] | None = None
        self.model_path = model_path  # recipe 0's file (its golden samples lie beside it)
        self.golden = golden
        self.golden_block = ""  # why the station is not ready: its golden samples failed
        # The window locks the operator's Start / Stop / recipe controls while this is True.
        self.remote_control = spec.trigger_mode == PLC and any(out.plc for out in self.outputs)
        self.state_listeners: list[Callable[[StationState], None]] = []
        self.link_listeners: list[Callable[[LinkStatus], None]] = []
        self._load_inspector = load_inspector or _open_inspector
        self._lock = threading.RLock()
        self._errors: dict[int, str] = {}  # active error codes, in the order raised
        self._in_flight = 0  # PLC triggers accepted and not yet recorded
        self._parts = self._passed = self._failed = self._not_judged = 0
        self._switching = False
        self._started = False
        self._threads_before: int | None = None  # the model's threads before a PLC link opened
        for output in self.outputs:
            output.attach(self)
            output.status_listeners.append(self._link_changed)
        pipeline.recorder.verdict_subscribers.append(self._part_final)
        pipeline.event_subscribers.append(self._source_event)

    # -- running -----------------------------------------------------------------------------
    def open(self) -> "Station":
        """Start every output (OutputError if one cannot), then publish the state."""
        started = []
        try:
            for output in self.outputs:
                output.start()
                started.append(output)
        except Exception:
            for output in started:
                output.stop()
            raise
        if any(output.plc for output in self.outputs) and self._threads_before is None:
            switch_for_the_line()
            self._threads_before = share_cores_with_the_line()
        self._publish()
        return self

    def start_run(self) -> int:
        """Start (or restart) inspecting; 0 or an error code."""
        with self._lock:
            if self._switching:
                return self._refuse(BAD_REQUEST, "a recipe is being loaded")
            if self.golden_block:
                return self._refuse(BAD_REQUEST, f"not ready: {self.golden_block}")
            self._in_flight = 0
            self._errors.pop(SOURCE_FAILED, None)
            self.pipeline.start(self.spec, limit=self.limit)
            self._started = True
        self._publish()
        return NO_ERROR

    def stop_run(self) -> int:
        with self._lock:
            self.pipeline.stop()
            self._started = False
        self._publish()
        return NO_ERROR

    def detach(self) -> None:
        """Stop the outputs and stop listening to the pipeline, which goes on (the window
        changing its outputs); the database link stays its owner's."""
        if self._part_final in self.pipeline.recorder.verdict_subscribers:
            self.pipeline.recorder.verdict_subscribers.remove(self._part_final)
        if self._source_event in self.pipeline.event_subscribers:
            self.pipeline.event_subscribers.remove(self._source_event)
        for output in self.outputs:
            output.stop()
        self._leave_the_line()

    def close(self, timeout: float = 5.0) -> None:
        """Stop inspecting (parts in flight are still recorded), then the outputs, then the
        database link (what is queued for it is written first)."""
        self.pipeline.shutdown(timeout)
        self._started = False
        self._publish()
        for output in self.outputs:
            output.stop()
        self._leave_the_line()
        if self.database is not None:
            self.database.close()

    def _leave_the_line(self) -> None:
        threads, self._threads_before = self._threads_before, None
        leave_the_line(threads)

    # -- StationControl: called by outputs -------------------------------------------------
    def plc_trigger(self) -> bool:
        with self._lock:
            if not self.remote_control:
                self._refuse(TRIGGER_REFUSED, "the station is under local control")
                return False
            if not self._accepting():
                reason = ("an output's results queue is full" if QUEUE_FULL in self._errors
                          else "the station is not running")
                self._refuse(TRIGGER_REFUSED, f"trigger refused: {reason}")
                return False
            if self.pipeline.trigger() is None:
                self._refuse(TRIGGER_REFUSED, "trigger refused: no run")
                return False
            self._in_flight += 1
            for code in LATCHED:
                self._errors.pop(code, None)
            self._check_room()
        self._publish()
        return True

    def select_recipe(self, number: int) -> int:
        with self._lock:
            if not self.remote_control:
                return self._refuse(BAD_REQUEST, "the station is under local control")
            if number not in self.recipes.models:
                known = ", ".join(str(n) for n in sorted(self.recipes.models)) or "none"
                return self._refuse(UNKNOWN_RECIPE, f"recipe number {number} is not in the "
                                                    f"table (known: {known})")
            if self._switching:
                return self._refuse(BAD_REQUEST, "a recipe is already being loaded")
            self._switching = True
        self._publish()
        threading.Thread(target=self._switch, args=(number,), name="recipe-switch",
                         daemon=True).start()
        return NO_ERROR

    def report_error(self, code: int, text: str) -> None:
        with self._lock:
            self._errors.pop(code, None)
            self._errors[code] = text or ERROR_CODES.get(code, "")
        self._event("station_error", code, text)
        self._publish()

    def clear_error(self, code: int) -> None:
        with self._lock:
            if self._errors.pop(code, None) is None:
                return
        self._publish()

    def set_recipe_number(self, number: int) -> None:
        """The number the line sees for the recipe in force, when it was chosen here (an
        engineer's switch) rather than by the line: published at once."""
        with self._lock:
            self.recipe_number = number
        self._publish()

    def room_changed(self) -> None:
        with self._lock:
            self._check_room()
        self._publish()

    # -- remote control ----------------------------------------------------------------------
    def set_remote_control(self, on: bool, user: str = "", reason: str = "",
                           guard=None) -> None:
        """Hand the station to the PLC or take it back; recorded as an event either way.
        With a `guard` (the window's), taking it back is an engineer's change, checked and
        kept in the audit trail (PermissionDenied for an operator)."""
        with self._lock:
            if self.remote_control == on:
                return
        if guard is not None and not on:
            guard.change("leave_remote_control", "remote control", "local control", reason)
            user = guard.user
        with self._lock:
            self.remote_control = on
        if self.database is not None and not self.database.closed:
            self.database.writer.add_event(REMOTE_ON if on else REMOTE_OFF, user=user,
                                           reason=reason)
        self._publish()

    # -- golden samples --------------------------------------------------------------------
    def check_golden(self, model_path: Path | None, occasion: str):
        """Judge the recipe's golden samples with the model in force, at its threshold;
        the station is not ready until all are right. Returns the GoldenReport (None if the
        samples file cannot be read: that blocks too)."""
        from .golden import GoldenSet, check, record_check

        report, block = None, ""
        if model_path is not None:
            try:
                golden = GoldenSet.load(model_path)
            except ValueError as error:
                block = str(error)
            else:
                threshold, recipe = self.pipeline.threshold, self.pipeline.recipe
                report = self.pipeline.run_alone(  # never beside a part being judged
                    lambda inspector: check(inspector, golden, threshold, recipe))
                block = "" if report.passed else report.summary()
                if self.database is not None and not self.database.closed and not report.empty:
                    record_check(self.database, report, "station", occasion)
        with self._lock:
            self.golden_block = block
        if block:
            self.report_error(RECIPE_FAILED, f"golden samples ({occasion}): {block}")
        else:
            self._publish()
        return report

    # -- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> StationState:
        with self._lock:
            code, text = (next(reversed(self._errors.items())) if self._errors
                          else (NO_ERROR, ""))
            running = self._started and self.pipeline.running
            ready = self._accepting()
            busy = self._in_flight > 0 or (running and self.spec.trigger_mode != PLC)
            if code:
                name = ERROR
            elif running and busy:
                name = RUNNING
            elif ready:
                name = READY
            else:
                name = IDLE
            return StationState(name, code, text, self.pipeline.recipe, self.recipe_number,
                                ready, busy, self._parts, self._passed, self._failed,
                                self._not_judged, self.remote_control)

    @property
    def switching(self) -> bool:
        """A recipe is being loaded (the run restarts on the new one)."""
        with self._lock:
            return self._switching

    @property
    def errors(self) -> dict[int, str]:
        with self._lock:
            return dict(self._errors)

    def links(self) -> list[LinkStatus]:
        return [output.status for output in self.outputs]

    # -- the pipeline's side -------------------------------------------------------------------
    def _part_final(self, record) -> None:
        """A station part's verdict, before its pictures, log line and images (the line
        waits on it; see Recorder.hand_off)."""
        with self._lock:
            self._parts += 1
            self._passed += record.verdict == PASS
            self._failed += record.verdict == FAIL
            self._not_judged += record.verdict not in (PASS, FAIL)
            self._in_flight = max(0, self._in_flight - 1)
        for output in self.outputs:
            if not output.deliver(record):
                self.report_error(QUEUE_FULL, f"{output.name}: results queue full; part "
                                              f"{record.part_id} could not be queued")
        for output in self.outputs:
            if output.plc:  # the line first: nothing else of this part runs meanwhile
                output.wait_sent(LINE_FIRST_WAIT_S)
        with self._lock:
            self._check_room()
        self._publish()

    def _source_event(self, run_id: int, kind: str, text: str, level: str) -> None:
        if kind in ("source_failed", "camera_lost"):
            self.report_error(SOURCE_FAILED, text)
        elif kind == "camera_back":
            self.clear_error(SOURCE_FAILED)
        elif kind == "run_finished":
            self._publish()

    # -- helpers (under the lock) --------------------------------------------------------------
    def _accepting(self) -> bool:
        """A trigger now would be served, and every output has room for its result."""
        return (self._started and self.pipeline.running and not self._switching
                and not self.golden_block and self.spec.trigger_mode == PLC
                and self.remote_control and self._has_room())

    def _has_room(self) -> bool:
        """Room in every output for the parts in flight and one more."""
        in_flight = (self._in_flight if self.spec.trigger_mode == PLC
                     else self.pipeline.counts.snapshot().in_flight)
        return all(output.queue.room > in_flight for output in self.outputs)

    def _check_room(self) -> None:
        """QUEUE_FULL while an output has no room for one more result; in a run the station
        does not trigger itself (a folder, a software clock) the source is paused meanwhile."""
        full = not self._has_room()
        if full and QUEUE_FULL not in self._errors:
            self._errors[QUEUE_FULL] = ERROR_CODES[QUEUE_FULL]
            if self.spec.trigger_mode != PLC:
                self.pipeline.pause()
        elif not full and QUEUE_FULL in self._errors:
            self._errors.pop(QUEUE_FULL)
            if self.spec.trigger_mode != PLC:
                self.pipeline.resume()

    def _refuse(self, code: int, text: str) -> int:
        with self._lock:
            self._errors.pop(code, None)
            self._errors[code] = text
        self._publish()
        return code

    def _switch(self, number: int) -> None:
        path = self.recipes.models[number]
        try:
            inspector = self._load_inspector(path)
        except Exception as error:  # noqa: BLE001 - the old recipe stays in use
            with self._lock:
                self._switching = False
            self.report_error(RECIPE_FAILED, f"recipe {number} ({path.name}): {describe_error(error)}")
            return
        deadline = time.monotonic() + SWITCH_WAIT_S
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.005)  # let parts already triggered finish on the old recipe
        info = getattr(inspector, "info", None)
        name = getattr(info, "name", "") or path.stem
        approval = None
        if self.approve_recipe is not None:  # a guarded pipeline (the window's): recorded first
            try:
                approval = self.approve_recipe(self.pipeline.recipe or None, name,
                                               f"recipe number {number} chosen by the line")
            except Exception as error:  # noqa: BLE001 - not recorded, so not made
                with self._lock:
                    self._switching = False
                self.report_error(RECIPE_FAILED, f"recipe {number}: {describe_error(error)}")
                return
        with self._lock:
            was_running = self._started and self.pipeline.running
            self.pipeline.set_inspector(inspector, recipe=name, approval=approval,
                                        recipe_version=f"v{getattr(info, 'version', 1)}",
                                        threshold=getattr(info, "threshold", None))
            self.recipe_number = number
            for code in LATCHED:
                self._errors.pop(code, None)
        if self.golden:
            self.check_golden(path, f"recipe {number}")
        with self._lock:
            self._switching = False
            if self.golden_block:
                self.pipeline.stop()  # the recipe is in force but inspects nothing yet
                self._started = False
            elif was_running:
                self._in_flight = 0
                self.pipeline.start(self.spec, limit=self.limit)
        if self.database is not None and not self.database.closed:
            self.database.recipe_loaded(name, str(number))
        self._publish()

    def _link_changed(self, status: LinkStatus) -> None:
        if not status.up and self.database is not None and not self.database.closed:
            from .records.event import OUTPUT_DOWN

            self.database.writer.add_event(OUTPUT_DOWN, new_value=status.output,
                                           reason=status.text)
        for listener in list(self.link_listeners):
            listener(status)

    def _event(self, kind: str, code: int, text: str) -> None:
        if self.database is not None and not self.database.closed:
            self.database.writer.add_event(kind, new_value=str(code), reason=text)

    def _publish(self) -> None:
        state = self.state
        for output in self.outputs:
            try:
                output.publish_state(state)
            except Exception:  # noqa: BLE001 - one output never stops the others
                pass
        for listener in list(self.state_listeners):
            listener(state)


def _open_inspector(path: Path):
    from .pipeline.inspection import Inspector

    return Inspector.open(path, "auto")


__all__ = ["RecipeTable", "Station", "leave_the_line", "share_cores_with_the_line"]


LINE_SWITCH_INTERVAL_S = 0.001
# How long a part's judging thread holds back for a PLC link to send its result: sending takes
# about a millisecond; a link that is stuck costs each part no more than this.
LINE_FIRST_WAIT_S = 0.02


def switch_for_the_line() -> None:
    """Let the link threads run within a millisecond of being woken: Python hands the
    interpreter lock between threads every 5 ms by default, which a PLC polling every
    millisecond would see as latency behind the judging thread's Python work."""
    import sys

    sys.setswitchinterval(min(sys.getswitchinterval(), LINE_SWITCH_INTERVAL_S))


def share_cores_with_the_line() -> int | None:
    """While a PLC link is open, torch runs the model on one core fewer than the machine has
    (at least one): the link's loop then finds a core free the moment a verdict is handed
    over, instead of waiting behind the model's threads (which also spin a while after each
    part). Torch takes the count per thread, when a thread first runs the model: a run's
    judging thread started after this call uses it. Returns the count before, for
    `leave_the_line`; None if nothing changed (no torch model loaded: ONNX Runtime's threads
    already sleep when idle)."""
    import os
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    before = torch.get_num_threads()
    threads = max(1, min(before, (cores or 1) - 1))
    if threads == before:
        return None
    torch.set_num_threads(threads)
    return before


def leave_the_line(threads_before: int | None) -> None:
    import sys

    torch = sys.modules.get("torch")
    if threads_before is not None and torch is not None:
        torch.set_num_threads(threads_before)


DRAIN_S = 10.0  # at the end of a counted run, how long the line has to take its last results


def run_headless(station: Station, drain_s: float = DRAIN_S,
                 stop_requested: threading.Event | None = None) -> None:
    """`adgui station`: open the outputs, start, and run until the source ends, `limit`
    parts are recorded or `stop_requested` is set (Ctrl+C, SIGTERM); then give the line
    `drain_s` seconds to take the results its outputs still hold, and close everything."""
    stop_requested = stop_requested or threading.Event()
    station.open()
    try:
        if not station.pipeline.has_model:
            raise RuntimeError("no model loaded")
        if station.golden:
            station.check_golden(station.model_path, "station start")
            if station.golden_block:  # the line has seen "not ready"; nothing is inspected
                raise RuntimeError(f"not ready: {station.golden_block}")
        station.start_run()
        while not stop_requested.wait(0.2):
            if not station.switching and station.pipeline.wait_finished(0):
                break
        station.stop_run()  # parts still waiting are recorded as NOT_JUDGED
        station.pipeline.shutdown()
        deadline = time.monotonic() + drain_s
        while (not stop_requested.is_set() and time.monotonic() < deadline
               and any(output.pending for output in station.outputs)):
            time.sleep(0.05)
    finally:
        station.close()
