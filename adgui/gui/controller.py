"""Runs live inspection for the window: the pipeline's threads, wired to the application state.

The pipeline (adgui.pipeline.live) is plain Python; its threads call `_Bridge`, whose Qt
signals carry parts and events to the window's thread. Nothing here waits for a thread:
Stop returns at once, and whatever a stopped run still sends is recorded (every part counts)
but its source events are ignored.

Every change of how parts are judged or acquired (threshold, recipe, training, source, queue,
device, new shift) is checked by the guard here, whatever widget or caller asked for it, and
recorded in the audit trail; a refusal is said in the notice bar (and recorded by the guard).
The pipeline holds the same guard, so a threshold or recipe set on it without the guard's
approval is refused there too. Golden samples are judged at shift start and after a recipe
change; until all are judged right, Start is refused with the reason.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from ..access.guard import STARTUP_USER, Guard
from ..access.session import Session
from ..access.users import UserStore
from ..golden import GoldenReport, GoldenSet, check as check_golden, record_check
from ..records.audit import AuditTrail
from ..records.shifts import Shift, ShiftPlan, current_shift

from ..pipeline.database_link import DatabaseLink, default_station
from ..pipeline.errors import report_error
from ..pipeline.inspection import Inspector
from ..pipeline.live import LivePipeline
from ..pipeline.parts import Counts
from ..pipeline.userdata import todays_log_path
from ..sources.registry import SourceSpec, open_source
from .line_link import LineConfig, LineLink
from .state import IDLE, LOADING, PAUSED, RUNNING, AppState
from .workers import ModelLoader

POLL_INTERVAL_MS = 250  # counts and throughput refresh


class _Bridge(QObject):
    """The pipeline's listener: called on its threads, re-emitted to the window's thread."""

    part = Signal(object)  # JudgedPart
    event = Signal(int, str, str, str)  # run id, kind, text, level
    golden = Signal(int, object, str)  # check number, GoldenReport or error text, occasion

    def part_judged(self, part) -> None:
        try:
            self.part.emit(part)
        except RuntimeError:  # the window is gone; a stopped run's last parts are in the records
            pass

    def source_event(self, run_id: int, kind: str, text: str, level: str) -> None:
        try:
            self.event.emit(run_id, kind, text, level)
        except RuntimeError:
            pass


@dataclass
class GoldenPolicy:
    """When the golden samples are judged again (each blocks Start until all are right)."""

    on_shift_start: bool = True  # also when the window starts
    on_recipe_change: bool = True


class _VersionWorker(QThread):
    """Runs one recipe change (an ROI's recalibration is model work) off the window's thread."""

    done = Signal(object)  # RecipeVersion
    failed = Signal(str)

    def __init__(self, job: Callable, parent: QObject | None = None):
        super().__init__(parent)
        self.job = job

    def run(self) -> None:
        try:
            self.done.emit(self.job())
        except BaseException as error:  # noqa: BLE001 - a worker reports, never raises into Qt
            self.failed.emit(report_error(error))


class InspectionController(QObject):
    version_applied = Signal(object)  # the new RecipeVersion, now in force
    change_refused = Signal(str)  # why a threshold or ROI change was not made
    # The source handed to the PLC, or None under local control: what the settings keep so
    # that a restart (a power cut) gives the station back to the line.
    remote_control_kept = Signal(object)
    recipe_kept = Signal(str, int)  # model path, the line's number for it: a switch is complete

    def __init__(self, state: AppState, open_inspector: Callable = Inspector.open,
                 open_source_fn: Callable = open_source, parent: QObject | None = None,
                 database_url: str | None = None, station: str = "",
                 shift_plan: ShiftPlan | None = None):
        super().__init__(parent)
        self.state = state
        self.device = "auto"
        self.bridge = _Bridge(self)
        self.pipeline = LivePipeline(self.bridge, open_source_fn=open_source_fn)
        self.pipeline.recorder.log_path = todays_log_path()
        self.database: DatabaseLink | None = None
        self.database_problem = ""  # set when the database cannot be used: nothing may start
        self.shift_plan = shift_plan or ShiftPlan()
        self.shift: Shift | None = None
        self._open_database(database_url, station or default_station())
        self.guard = self._make_guard()
        self.pipeline.guard = self.guard
        self.source_in_force: SourceSpec | None = None  # the settings the last run started with
        self.golden_policy = GoldenPolicy()
        self.golden_block = ""  # why Start is refused until the golden samples are judged right
        self.golden_report: GoldenReport | None = None
        self._golden_runs = 0  # the check whose result counts
        self._golden_due = ""  # a check waiting for a model: its occasion
        self._restore_shift()
        self.line = LineLink(self.pipeline, self.database, self.pipeline.station or "station",
                             lambda path: open_inspector(path, self.device), self.guard,
                             parent=self)
        self.line.link_changed.connect(self._on_link)
        self.line.state_changed.connect(self._on_station_state)
        self.line.recipe_switched.connect(self._on_plc_recipe)
        self.line.recipe_kept.connect(self.recipe_kept)
        self._line_error_code = 0
        self._remote_due: SourceSpec | None = None  # remote control to restore at start-up
        self._golden_checking = False  # a golden check runs: a restore waits for its result
        if self.golden_policy.on_shift_start:
            self._golden_due = "station start"  # judged when the first recipe has loaded
        self.loader = ModelLoader(open_inspector, parent=self)
        self.loader.loaded.connect(self._on_model_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self._pending_threshold: float | None = None
        self._pending_change: tuple[str, str] | None = None  # (reason, action) of a recipe load
        self.inspector = None  # the loaded recipe's, for recipe changes
        self._version_worker: _VersionWorker | None = None
        self._run_id = 0  # the run whose source events count
        self.bridge.part.connect(self._on_part)
        self.bridge.event.connect(self._on_event)
        self.bridge.golden.connect(self._on_golden_checked)
        state.threshold_changed.connect(self._on_threshold)
        self._poll = QTimer(self, interval=POLL_INTERVAL_MS)
        self._poll.timeout.connect(self._refresh)
        self._poll.start()

    @property
    def queue_size(self) -> int:
        return self.pipeline.queue_size

    def set_queue_size(self, size: int, reason: str = "set in the source bar",
                       restoring: bool = False) -> bool:
        """Takes effect at the next Start; an engineer's change (recorded) unless it restores
        the saved setting at start-up. False if refused."""
        size = max(1, int(size))
        if size == self.pipeline.queue_size:
            return True
        if not restoring and self.change("source", f"queue of {self.pipeline.queue_size} parts",
                                         f"queue of {size} parts", reason) is None:
            return False
        self.pipeline.queue_size = size
        return True

    # -- the guard -----------------------------------------------------------------------
    def allowed(self, action: str) -> bool:
        """For widgets: whether the user now may `action` (the change itself is checked again)."""
        return self.guard is not None and self.guard.allowed(action)

    def require(self, action: str) -> bool:
        """True if the user may `action`; else the refusal is said (and recorded)."""
        if self.guard is None:
            self.state.tell("No inspection database: changes cannot be recorded, so none is "
                            "made.", "error")
            return False
        try:
            self.guard.require(action)
        except RuntimeError as error:  # PermissionDenied
            self.state.tell(str(error), "warning")
            return False
        return True

    def change(self, action: str, old: Any, new: Any, reason: str,
               detail: dict | None = None):
        """Check and record a change; its audit event (the approval), or None after saying
        why it is refused (not allowed, no reason, or it could not be recorded)."""
        if not self.require(action):
            return None
        try:
            return self.guard.change(action, old, new, reason, detail)
        except Exception as error:  # noqa: BLE001 - no reason, or the trail cannot be written
            self.state.tell(f"Not changed: {report_error(error)}", "warning")
            return None

    # -- model ---------------------------------------------------------------------------
    def load_model(self, path: str | Path, threshold: float | None = None, reason: str = "",
                   restoring: bool = False) -> bool:
        """Load a model in the background: an engineer's change of recipe (recorded once it
        has loaded), unless `restoring` the recipe in force when the window closed;
        `threshold` restores a saved choice. False if refused."""
        if self._refused_in_remote_control("change the recipe"):
            return False
        if not restoring and not self.require("recipe"):
            return False
        self._stop_run()
        self._pending_threshold = threshold
        self._pending_change = None if restoring else (
            reason or f"recipe {Path(path).stem} chosen", "recipe")
        self.state.set_run_state(LOADING)
        self.state.tell(f"Loading {Path(path).stem} ...")
        self.loader.load(str(path), self.device)
        return True

    def set_device(self, device: str, reason: str = "device chosen in the menu") -> bool:
        """Another compute device: the recipe is loaded again on it (an engineer's change)."""
        if device == self.device:
            return True
        recipe = self.pipeline.recipe or "(no recipe)"
        if self.change("recipe", f"{recipe} on {self.device}", f"{recipe} on {device}",
                       reason) is None:
            return False
        self.device = device
        if self.state.model_path:
            if self.golden_policy.on_recipe_change:
                self._golden_due = "device change"
            self.load_model(self.state.model_path, restoring=True)  # the same recipe again
        return True

    def may_train(self) -> bool:
        """Training makes recipes: an engineer's; the refusal is said."""
        return self.require("train")

    def recipe_trained(self, path: str, reason: str = "") -> bool:
        """Record a newly trained recipe, then load it as the recipe in force."""
        name = Path(path).stem
        if self.change("train", None, name, reason or "trained in the window",
                       detail={"path": str(path)}) is None:
            return False
        return self.load_model(path, reason=f"newly trained recipe {name}")

    def _open_database(self, url: str | None, station: str) -> None:
        try:
            self.database = DatabaseLink(url or None, station, on_error=self._on_database_error)
        except Exception as error:  # noqa: BLE001 - DatabaseError, or a driver's own
            self.database_problem = (f"the inspection database cannot be used "
                                     f"({report_error(error)}). Check the database setting.")
            self.state.tell(self.database_problem, "error")
            return
        self.database.attach(self.pipeline)
        self.pipeline.station = station
        if self.database.recovery:
            self.state.tell(self.database.recovery, "warning")

    def _make_guard(self) -> Guard | None:
        """Who may change what, and the audit trail of the changes (needs the database)."""
        if self.database is None:
            return None
        try:
            guard = Guard(Session(UserStore()), AuditTrail.open(self.database.database))
        except (OSError, ValueError, RuntimeError) as error:
            self.state.tell(f"Users or audit trail unusable: {report_error(error)}", "error")
            return None
        return guard

    def log_in(self, name: str, password: str) -> bool:
        if self.guard is None:
            self.state.tell("No inspection database: nobody can log in.", "error")
            return False
        try:
            self.guard.login(name, password)
        except (ValueError, RuntimeError) as error:  # wrong password, locked, unknown user
            self.state.tell(str(error), "warning")
            return False
        self.state.set_role(self.guard.user, self.guard.role)
        return True

    def log_out(self) -> None:
        if self.guard is not None:
            self.guard.logout()
            self.state.set_role(self.guard.user, self.guard.role)

    def _on_database_error(self, error: Exception) -> None:
        # Called on the writer's thread: the records wait in its queue and are retried.
        self.bridge.event.emit(-1, "database", f"Records are waiting: the database does not "
                               f"answer ({report_error(error)}).", "warning")

    def _on_model_loaded(self, inspector, info, path: str) -> None:
        self._stop_run()  # a stream started under the previous model must not mix with the new one
        pending, self._pending_change = self._pending_change, None
        threshold = info.threshold if self._pending_threshold is None else self._pending_threshold
        approval = None
        if pending is not None:
            reason, action = pending
            approval = self.change(action, self.pipeline.recipe or None, info.name, reason,
                                   detail={"path": str(path), "threshold": threshold})
            if approval is None:  # refused meanwhile (engineer mode timed out): not used
                self.state.set_run_state(IDLE)
                return
        try:
            self.pipeline.set_inspector(inspector, recipe=info.name, threshold=threshold,
                                        approval=approval,
                                        recipe_version=f"v{getattr(info, 'version', 1)}")
        except RuntimeError as error:  # PermissionDenied: the pipeline's own check
            self.state.set_run_state(IDLE)
            self.state.tell(str(error), "warning")
            return
        self.inspector = inspector
        if self.database is not None:
            self.database.recipe_loaded(info.name)
        self.state.set_model(info, path, self.pipeline.threshold)
        self.state.set_run_state(IDLE)
        if pending is not None:  # an engineer's switch: the table's number for it, if any
            self.line.follow_local_recipe(path)
        self.recipe_kept.emit(str(path), self.line.recipe_number)
        self.state.tell(f"Recipe '{info.name}' loaded ({info.detector}, {info.device}).")
        if self._golden_due or (self.golden_policy.on_recipe_change and pending is not None):
            self.check_golden(self._golden_due or "recipe change")
        self._restore_when_ready()

    def _on_load_failed(self, text: str) -> None:
        self.state.set_run_state(IDLE)
        self.state.tell(f"The model could not be loaded. {text}", "error")
        self._restore_when_ready()

    # -- source --------------------------------------------------------------------------
    def start(self, spec: SourceSpec, limit: int | None = None) -> bool:
        """Start the stream (at most `limit` parts), or resume it when paused. False if
        nothing could start."""
        if self._refused_in_remote_control("start inspection"):
            return False
        if self.golden_block:
            self.state.tell(f"Start is blocked: {self.golden_block}", "error")
            return False
        if self.state.run_state == PAUSED and self.pipeline.running:
            self.pipeline.resume()
            self.state.set_run_state(RUNNING)
            return True
        if self.database_problem:
            self.state.tell(f"Inspection cannot start: {self.database_problem}", "error")
            return False
        if self.state.model is None or not self.pipeline.has_model:
            self.state.tell("Load or train a recipe first (Recipe menu, or drop a folder of good "
                            "images on the window).", "warning")
            return False
        if not self._source_allowed(spec):
            return False
        try:
            if self.line.active:  # through the station, so that its state tells the line
                self.line.start(spec, limit)
                self._run_id = self.pipeline.run_id
            else:
                self._run_id = self.pipeline.start(spec, limit=limit)
        except (ValueError, RuntimeError) as error:  # SourceError is a RuntimeError
            self.state.tell(f"Cannot start: {error}", "error")
            return False
        self.source_in_force = spec
        self.state.set_source(spec.describe())
        self.state.set_run_state(RUNNING)
        return True

    def pause(self) -> None:
        if self._refused_in_remote_control("pause inspection"):
            return
        if self.state.run_state == RUNNING:
            self.pipeline.pause()
            self.state.set_run_state(PAUSED)

    def stop(self) -> None:
        """Stop the stream at once; the stopped run's threads finish on their own."""
        if self._refused_in_remote_control("stop inspection"):
            return
        self._stop_run()

    def _stop_run(self) -> None:
        self._run_id = -1
        if self.line.active:
            self.line.stop()
        else:
            self.pipeline.stop()
        if self.state.run_state in (RUNNING, PAUSED):
            self.state.set_run_state(IDLE)

    def trigger(self) -> None:
        """One part now (a PLC-triggered run); ignored when none runs."""
        self.pipeline.trigger()

    # -- the line: outputs to the PLC and MQTT, remote control ------------------------------
    def configure_line(self, config: LineConfig, reason: str = "", record: bool = True) -> bool:
        """Run the outputs `config` names (none: no outputs). A change is an engineer's and
        is recorded; `record=False` restores the saved configuration at start-up."""
        if self.state.remote_control:
            self.state.tell("The line's PLC is in charge: take back local control before "
                            "changing the outputs.", "warning")
            return False
        if record:
            if self.change("output", self.line.config.describe(), config.describe(), reason) is None:
                return False
        try:
            self.line.configure(config)
        except (ValueError, RuntimeError, OSError) as error:  # OutputError is a RuntimeError
            self.state.tell(f"The line outputs could not start: {report_error(error)}", "error")
            self._publish_line()
            return False
        if config:
            self.state.tell(f"Line outputs running: {', '.join(s.output for s in self.line.links())}.")
        self._publish_line()
        return True

    def enter_remote_control(self, spec: SourceSpec) -> bool:
        """Hand the station to the line's PLC: it starts, stops, triggers and chooses recipes;
        the window's Start / Stop / recipe controls are locked until an engineer takes it back."""
        problem = self._not_ready_for_the_line()
        if problem:
            self.state.tell(f"Cannot hand the station to the line: {problem}",
                            "error" if self.golden_block else "warning")
            return False
        if not self.require("start") or not self._source_allowed(spec):
            return False
        error = self._hand_to_the_line(spec, self._user(), "handed to the line")
        if error:
            self.state.tell(f"Cannot hand the station to the line: {error}", "error")
            return False
        self.state.tell("Remote control: the line's PLC now runs this station.")
        self.remote_control_kept.emit(spec)
        return True

    def restore_remote_control(self, spec: SourceSpec) -> None:
        """At start-up: the station was under remote control when the window closed, so it
        goes back to the line (recorded as the system's) once its recipe has loaded and its
        golden samples are judged right; if it cannot, it stays local and says why."""
        self._remote_due = spec
        if self.state.run_state == LOADING:
            self.state.tell("The station was under remote control when it closed: it goes back "
                            "to the line's PLC once its recipe is loaded.")
        self._restore_when_ready()

    def _restore_when_ready(self) -> None:
        if self._remote_due is None or self.state.run_state == LOADING:
            return
        if self.state.model is not None and (self._golden_due or self._golden_checking):
            return  # called again with the golden samples' result
        self._restore_remote_control()

    def _restore_remote_control(self) -> None:
        spec, self._remote_due = self._remote_due, None
        problem = self._not_ready_for_the_line() or self._hand_to_the_line(
            spec, STARTUP_USER, "restored at start-up: the station was under remote control")
        if problem:
            self.state.tell(f"Remote control not restored: {problem.rstrip('.')}. The station "
                            f"is under local control; hand it to the line again (Station menu).",
                            "error")
            self.remote_control_kept.emit(None)
            return
        self.state.tell("Remote control restored: the line's PLC runs this station, as before "
                        "the restart.")
        self.remote_control_kept.emit(spec)

    def _not_ready_for_the_line(self) -> str:
        """Why the station cannot be handed to the PLC now ("" if it can)."""
        if not self.line.plc_capable:
            return "remote control needs a Modbus or OPC UA output (Station ▸ Line outputs…)."
        if self.state.model is None:
            return "load a recipe first."
        if self.golden_block:
            return f"the station is not ready: {self.golden_block}"
        return ""

    def _hand_to_the_line(self, spec: SourceSpec, user: str, reason: str) -> str:
        """Start `spec` under the PLC's control, recorded as `user`'s; "" or, if the source
        does not start (the station then stays local), why."""
        self._stop_run()
        self.source_in_force = spec
        self.line.set_remote_control(True, spec, user, reason)
        try:  # running and ready for the PLC's triggers; its Stop / Start methods take over
            self.line.start(spec)
        except (ValueError, RuntimeError) as error:  # SourceError is a RuntimeError
            self.line.set_remote_control(False, None, user, "the source did not start")
            self._publish_line()
            return str(error)
        self._run_id = self.pipeline.run_id
        self.state.set_source(spec.describe())
        self.state.set_run_state(RUNNING)
        self._publish_line()
        return ""

    def leave_remote_control(self, reason: str) -> bool:
        """An engineer takes the station back from the PLC (recorded with the reason)."""
        if not self.state.remote_control:
            return True
        if self.change("leave_remote_control", "remote control", "local control", reason) is None:
            return False
        self.line.set_remote_control(False, None, self._user(), reason)
        self.state.tell("Local control: the PLC can no longer trigger, start or switch recipes.")
        self._publish_line()
        self.remote_control_kept.emit(None)
        return True

    def stop_to_quit(self) -> None:
        """Quitting stops the run, also under remote control (the choice is kept: at the next
        start the station goes back to the line)."""
        self._stop_run()

    def _user(self) -> str:
        return self.guard.user if self.guard is not None else ""

    def _refused_in_remote_control(self, what: str) -> bool:
        if not self.state.remote_control:
            return False
        self.state.tell(f"The line's PLC is in charge, so the window cannot {what}. An engineer "
                        f"can take back local control (Station menu).", "warning")
        return True

    def _on_link(self, status) -> None:
        if status.up:
            self.state.tell(f"Line link {status.output} is up.")
        else:
            self.state.tell(f"Line link {status.output} is down: {status.text}", "warning")
        self._publish_line()

    def _on_station_state(self, station_state) -> None:
        if self.state.remote_control:  # the PLC starts and stops runs: follow them
            running = self.pipeline.running
            if running:
                self._run_id = self.pipeline.run_id
            if self.state.run_state in (IDLE, RUNNING, PAUSED):
                self.state.set_run_state(RUNNING if running else IDLE)
        if station_state.error_code != self._line_error_code:
            self._line_error_code = station_state.error_code
            if station_state.error_code:
                self.state.tell(f"The line sees an error: {station_state.error_text}", "error")
        self._publish_line(station_state.error_text if station_state.error_code else "")

    def _on_plc_recipe(self, info, path: str) -> None:
        self.state.set_model(info, path)
        self.state.tell(f"The line chose recipe '{info.name}'.")

    def _publish_line(self, line_error: str | None = None) -> None:
        error = self.state.line_error if line_error is None else line_error
        self.state.set_line(self.line.remote_control, self.line.links(), error if self.line.active else "")

    def _source_allowed(self, spec: SourceSpec) -> bool:
        """Starting with other source settings than the last run is an engineer's change."""
        if self.source_in_force is None or spec == self.source_in_force:
            return True
        return self.change("source", self.source_in_force.describe(), spec.describe(),
                           "source settings changed in the source bar",
                           detail={"kind": spec.kind, "trigger": spec.trigger,
                                   "settings": _plain(spec.settings)}) is not None

    def set_failed_dir(self, folder: str | Path | None) -> None:
        self.pipeline.recorder.failed_dir = Path(folder) if folder else None

    # -- shifts: the counters are the current shift's, read back from the database -------
    def start_new_shift(self, reason: str) -> bool:
        """Counters start again from zero; the reason is kept as an event, nothing is deleted."""
        if self.database is None or self.guard is None:
            self.state.tell("No inspection database: a new shift cannot be recorded.", "error")
            return False
        try:  # an engineer's change, kept in the audit trail
            self.shift = self.guard.start_new_shift(self.database.database, self.shift_plan, reason)
        except (ValueError, RuntimeError) as error:  # no reason given, or not an engineer
            self.state.tell(str(error), "warning")
            return False
        self.pipeline.counts.reset()
        self.state.set_counts(self.pipeline.counts.snapshot())
        self.state.set_shift(self.shift.label)
        self.state.tell(f"New shift started: {reason.strip()}")
        if self.golden_policy.on_shift_start:
            self.check_golden("shift start")
        return True

    # -- golden samples ------------------------------------------------------------------
    def check_golden(self, occasion: str) -> None:
        """Judge the recipe's golden samples in the background; Start is refused until every
        one is judged right. Without a model the check waits for the next one loaded."""
        self._golden_runs += 1
        number = self._golden_runs
        if not self.pipeline.has_model or not self.state.model_path:
            self._golden_due = occasion
            return
        self._golden_due = ""
        try:
            golden = GoldenSet.load(self.state.model_path)
        except ValueError as error:
            self._set_golden_block(str(error))
            return
        recipe, threshold = self.pipeline.recipe, self.pipeline.threshold
        if not golden.samples:
            self._on_golden_checked(number, GoldenReport(recipe, threshold, []), occasion)
            return
        self.stop()
        self._set_golden_block(f"the golden samples are being judged ({occasion})")
        self._golden_checking = True

        def work() -> None:
            try:
                report = self.pipeline.run_alone(
                    lambda inspector: check_golden(inspector, golden, threshold, recipe))
            except Exception as error:  # noqa: BLE001 - said, and Start stays blocked
                report = f"the golden samples could not be judged: {report_error(error)}"
            try:
                self.bridge.golden.emit(number, report, occasion)
            except RuntimeError:  # the window is gone
                pass
        threading.Thread(target=work, name="golden-samples", daemon=True).start()

    def add_golden(self, paths: list[str], expected: str, copy: bool = True,
                   reason: str = "golden samples registered") -> bool:
        """Register known good or bad images with the recipe in force (an engineer's change
        of the recipe, recorded); they are judged at once. False (and why) if refused."""
        if not self.state.model_path:
            self.state.tell("Load a recipe first: golden samples belong to a recipe.", "warning")
            return False
        if not self.require("recipe"):
            return False
        try:
            golden = GoldenSet.load(self.state.model_path)
            before = golden.describe()
            added = golden.add(paths, expected, copy)
        except (OSError, ValueError) as error:
            self.state.tell(f"Golden samples not changed: {error}", "warning")
            return False
        if not added:
            return True
        if self.change("recipe", f"golden samples {before}", f"golden samples {golden.describe()}",
                       reason, detail={"recipe": self.pipeline.recipe,
                                       "added": [sample.path for sample in added],
                                       "expected": expected}) is None:
            return False
        golden.save()
        self.check_golden("golden samples changed")
        return True

    def set_golden_policy(self, policy: GoldenPolicy) -> None:
        self.golden_policy = policy
        if not policy.on_shift_start and self._golden_due == "station start":
            self._golden_due = ""

    def _on_golden_checked(self, number: int, report, occasion: str) -> None:
        if number != self._golden_runs:
            return  # a later check (another recipe, a new shift) is the one that counts
        self._golden_checking = False
        self._judge_golden(report, occasion)
        self._restore_when_ready()

    def _judge_golden(self, report, occasion: str) -> None:
        if isinstance(report, str):
            self._set_golden_block(report)
            return
        self.golden_report = report
        if self.database is not None and not report.empty:
            record_check(self.database, report, self.guard.user if self.guard else "", occasion)
        if report.passed:
            self.golden_block = ""
            if not report.empty:
                self.state.tell(f"Golden samples all right ({occasion}): {report.summary()}.")
        else:
            self._set_golden_block(f"{report.summary()}. Check the recipe, the threshold and "
                                   f"the camera, then start a new shift or load the recipe "
                                   f"again to judge them anew.")

    def _set_golden_block(self, text: str) -> None:
        self.golden_block = text
        self.state.tell(f"Start is blocked: {text}", "error")

    def _restore_shift(self) -> None:
        if self.database is None:
            return
        database = self.database.database
        self.shift = current_shift(database, self.shift_plan)
        totals = database.shift_totals(self.shift)
        self.pipeline.counts.reset(Counts(totals.inspected, totals.passed, totals.failed,
                                          totals.not_judged, totals.errors))
        self.state.set_counts(self.pipeline.counts.snapshot())
        self.state.set_shift(self.shift.label)

    def hourly_totals(self):
        """The current shift's counts per clock hour, from the database ([] without one)."""
        if self.database is None or self.shift is None:
            return []
        return self.database.database.hourly_yield(self.shift)

    def record_event(self, kind: str, **fields) -> None:
        if self.database is not None:
            self.database.writer.add_event(kind, **fields)

    def _follow_the_clock(self) -> None:
        """At a scheduled shift change the counters move on to the new shift."""
        if self.shift is not None and not self.shift.contains(time.time()):
            previous = self.shift.label
            self._restore_shift()
            self.state.tell(f"Shift {previous} ended; shift {self.shift.label} started.")
            if self.golden_policy.on_shift_start:
                self.check_golden("shift start")

    # -- from the pipeline ---------------------------------------------------------------
    def _on_part(self, part) -> None:
        if part.preview and part.record.run_id != self._run_id:
            return  # a preview frame of a stopped run: not a part, nothing to show
        self.state.add_part(part)
        self.state.set_counts(self.pipeline.counts.snapshot())

    def _on_event(self, run_id: int, kind: str, text: str, level: str) -> None:
        if kind == "database":
            self.state.tell(text, level)
            return
        if run_id != self._run_id:
            return  # from a source that is no longer current
        if kind == "run_finished":
            self._run_id = -1
            if self.state.run_state in (RUNNING, PAUSED):
                self.state.set_run_state(IDLE)
            return
        if text:
            self.state.tell(text, level)
        if kind == "source_failed" and not self.state.remote_control:
            self._stop_run()  # under remote control the station reports it to the line

    def _on_threshold(self, value: float) -> None:
        """The state's threshold follows the pipeline's; it changes only through a recipe
        version (`apply_threshold`), so any other change is put back."""
        if value != self.pipeline.threshold:
            QTimer.singleShot(0, lambda: self.state.set_threshold(self.pipeline.threshold))

    # -- recipe versions: threshold and ROI changes ----------------------------------------
    def apply_threshold(self, value: float, reason: str) -> bool:
        """Make `value` the recipe's threshold as a new version (an engineer's change, with
        its reason in the audit trail); it applies from the next part. False if refused."""
        from ..recipes.changes import change_threshold

        if not self._can_change("threshold"):
            return False
        value = round(float(value), 6)  # as recorded: the pipeline takes the recorded value
        model = self.state.model
        try:
            version = change_threshold(self.state.model_path, self.guard, float(value), reason,
                                       model.threshold)
        except (ValueError, RuntimeError, OSError) as error:  # refused, no reason, unrecorded
            return self._refuse(report_error(error))
        self._version_in_force(version)
        return True

    def apply_roi(self, roi, reason: str) -> bool:
        """Recalibrate for `roi` (None: the whole image) in the background, then make it the
        recipe's as a new version. True if the change started; the outcome is signalled."""
        from ..recipes.changes import change_roi

        if not self._can_change("roi"):
            return False
        if not reason.strip():
            return self._refuse("Say why (the reason is kept in the audit trail with the change)")
        if self._version_worker is not None and self._version_worker.isRunning():
            return self._refuse("A recipe change is still being applied.")
        try:
            self.guard.require("roi")  # an operator is refused now, not after a recalibration
        except (ValueError, RuntimeError) as error:
            return self._refuse(str(error))
        inspector, path, guard = self.inspector, self.state.model_path, self.guard
        threshold = self.state.model.threshold
        worker = _VersionWorker(lambda: change_roi(path, guard, roi, reason,
                                                   inspector.calibrated_map, threshold), self)
        worker.done.connect(self._version_in_force)
        worker.failed.connect(self._refuse)
        self._version_worker = worker
        worker.start()
        return True

    def _can_change(self, action: str) -> bool:
        model = self.state.model
        if self.guard is None:
            return self._refuse("No inspection database: the change cannot be recorded, so it "
                                "is not made.")
        if model is None or not self.state.model_path:
            return self._refuse("Load a recipe first.")
        if getattr(model, "runtime", "torch") != "torch":
            return self._refuse("An exported recipe is a copy of one version: change the "
                                "recipe's model file (.adgui) and export it again.")
        return True

    def _refuse(self, text: str) -> bool:
        self.state.tell(text, "warning")
        self.change_refused.emit(text)
        return False

    def _version_in_force(self, version) -> None:
        """The new version judges from the next part; verdicts given stay as they were.

        Only the model's facts change (not the recipe): nothing is reloaded, the source and
        the counts stay, and the threshold is announced even when its value is the same, so
        that the panel shows the new version."""
        if hasattr(self.inspector, "use_version"):
            self.inspector.use_version(version)
            info = self.inspector.info
        else:  # an inspector that judges without versions (a test's fake)
            info = replace(self.state.model, threshold=version.threshold, version=version.number)
        if version.threshold != self.pipeline.threshold:
            try:  # with the approval the guard recorded for this change
                self.pipeline.set_threshold(version.threshold, self.guard.approval("threshold"))
            except RuntimeError as error:  # PermissionDenied
                self._refuse(str(error))
                return
        self.pipeline.recipe_version = f"v{version.number}"
        self.state.model = info
        self.state.threshold = version.threshold
        self.state.threshold_changed.emit(version.threshold)
        self.state.scores_changed.emit()  # the calibration scores change with an ROI
        self.state.tell(f"Recipe version {version.describe()} in force from the next part "
                        f"({version.reason}).")
        self.version_applied.emit(version)
        if self.golden_policy.on_recipe_change:
            self.check_golden(f"recipe version {version.number}")

    def _refresh(self) -> None:
        self._follow_the_clock()
        if self.guard is not None and self.guard.session.expire_if_idle():
            self.state.set_role(self.guard.user, self.guard.role)
            self.state.tell("Engineer mode timed out; back to operator.")
        self.pipeline.recorder.log_path = todays_log_path()
        self.state.set_counts(self.pipeline.counts.snapshot())
        self.state.refresh_throughput()

    def shutdown(self) -> None:
        self._poll.stop()
        if self._version_worker is not None:
            self._version_worker.wait(30_000)  # a version is written whole or not at all
        self.loader.loaded.disconnect(self._on_model_loaded)
        self.line.close()
        self.pipeline.shutdown(timeout=2.0)
        self.loader.shutdown()
        if self.database is not None:
            self.database.close()



def _plain(settings: dict) -> dict:
    """Source settings as JSON can keep them (paths and other objects as text)."""
    return {key: value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
            for key, value in settings.items()}
