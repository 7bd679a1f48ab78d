"""Runs live inspection for the window: the pipeline's threads, wired to the application state.

The pipeline (adgui.pipeline.live) is plain Python; its threads call `_Bridge`, whose Qt
signals carry parts and events to the window's thread. Nothing here waits for a thread:
Stop returns at once, and whatever a stopped run still sends is recorded (every part counts)
but its source events are ignored.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from ..access.guard import Guard
from ..access.session import Session
from ..access.users import UserStore
from ..records.audit import AuditTrail
from ..records.shifts import Shift, ShiftPlan, current_shift

from ..pipeline.database_link import DatabaseLink, default_station
from ..pipeline.errors import report_error
from ..pipeline.inspection import Inspector
from ..pipeline.live import LivePipeline
from ..pipeline.parts import Counts
from ..pipeline.userdata import todays_log_path
from ..sources.registry import SourceSpec, open_source
from .state import IDLE, LOADING, PAUSED, RUNNING, AppState
from .workers import ModelLoader

POLL_INTERVAL_MS = 250  # counts and throughput refresh


class _Bridge(QObject):
    """The pipeline's listener: called on its threads, re-emitted to the window's thread."""

    part = Signal(object)  # JudgedPart
    event = Signal(int, str, str, str)  # run id, kind, text, level

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
        self._restore_shift()
        self.loader = ModelLoader(open_inspector, parent=self)
        self.loader.loaded.connect(self._on_model_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self._pending_threshold: float | None = None
        self.inspector = None  # the loaded recipe's, for recipe changes
        self._version_worker: _VersionWorker | None = None
        self._run_id = 0  # the run whose source events count
        self.bridge.part.connect(self._on_part)
        self.bridge.event.connect(self._on_event)
        state.threshold_changed.connect(self._on_threshold)
        self._poll = QTimer(self, interval=POLL_INTERVAL_MS)
        self._poll.timeout.connect(self._refresh)
        self._poll.start()

    @property
    def queue_size(self) -> int:
        return self.pipeline.queue_size

    def set_queue_size(self, size: int) -> None:
        """Takes effect at the next Start."""
        self.pipeline.queue_size = max(1, int(size))

    # -- model ---------------------------------------------------------------------------
    def load_model(self, path: str | Path, threshold: float | None = None) -> None:
        """Load a model in the background; `threshold` restores a saved choice."""
        self.stop()
        self._pending_threshold = threshold
        self.state.set_run_state(LOADING)
        self.state.tell(f"Loading {Path(path).stem} ...")
        self.loader.load(str(path), self.device)

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
        self.stop()  # a stream started under the previous model must not mix with the new one
        self.inspector = inspector
        self.pipeline.set_inspector(inspector, recipe=info.name,
                                    recipe_version=f"v{getattr(info, 'version', 1)}")
        if self.database is not None:
            self.database.recipe_loaded(info.name)
        self.state.set_model(info, path, self._pending_threshold)
        self.pipeline.threshold = self.state.threshold
        self.state.set_run_state(IDLE)
        self.state.tell(f"Recipe '{info.name}' loaded ({info.detector}, {info.device}).")

    def _on_load_failed(self, text: str) -> None:
        self.state.set_run_state(IDLE)
        self.state.tell(f"The model could not be loaded. {text}", "error")

    # -- source --------------------------------------------------------------------------
    def start(self, spec: SourceSpec, limit: int | None = None) -> bool:
        """Start the stream (at most `limit` parts), or resume it when paused. False if
        nothing could start."""
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
        try:
            self._run_id = self.pipeline.start(spec, limit=limit)
        except (ValueError, RuntimeError) as error:  # SourceError is a RuntimeError
            self.state.tell(f"Cannot start: {error}", "error")
            return False
        self.state.set_source(spec.describe())
        self.state.set_run_state(RUNNING)
        return True

    def pause(self) -> None:
        if self.state.run_state == RUNNING:
            self.pipeline.pause()
            self.state.set_run_state(PAUSED)

    def stop(self) -> None:
        """Stop the stream at once; the stopped run's threads finish on their own."""
        self._run_id = -1
        self.pipeline.stop()
        if self.state.run_state in (RUNNING, PAUSED):
            self.state.set_run_state(IDLE)

    def trigger(self) -> None:
        """One part now (a PLC-triggered run); ignored when none runs."""
        self.pipeline.trigger()

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
        return True

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
        if kind == "source_failed":
            self.stop()

    def _on_threshold(self, value: float) -> None:
        self.pipeline.threshold = value

    # -- recipe versions: threshold and ROI changes ----------------------------------------
    def apply_threshold(self, value: float, reason: str) -> bool:
        """Make `value` the recipe's threshold as a new version (an engineer's change, with
        its reason in the audit trail); it applies from the next part. False if refused."""
        from ..recipes.changes import change_threshold

        if not self._can_change("threshold"):
            return False
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
        self.pipeline.recipe_version = f"v{version.number}"
        self.state.model = info
        self.state.threshold = version.threshold
        self.state.threshold_changed.emit(version.threshold)
        self.state.scores_changed.emit()  # the calibration scores change with an ROI
        self.state.tell(f"Recipe version {version.describe()} in force from the next part "
                        f"({version.reason}).")
        self.version_applied.emit(version)

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
        self.pipeline.shutdown(timeout=2.0)
        self.loader.shutdown()
        if self.database is not None:
            self.database.close()

