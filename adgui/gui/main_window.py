"""The main window: lays out the panels, the menus, drag and drop, and saved settings.

The panels subscribe to the application state; the controller runs the threads. This
class only connects them. Widgets that change how parts are judged are disabled for an
operator, but the controller checks every change itself.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QUrl
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices
from PySide6.QtWidgets import (QApplication, QFileDialog, QHBoxLayout, QInputDialog, QLineEdit,
                               QMainWindow, QMessageBox, QSplitter, QTabWidget, QVBoxLayout,
                               QWidget)

from ..access.roles import may
from ..pipeline.catalog import TRAINING_NEEDS_FULL_BUILD, device_choices, training_available
from ..pipeline.control_chart import EwmaConfig
from ..pipeline.userdata import RECIPE_SUFFIX, logs_dir, recipes_dir
from ..runtime import is_exported_recipe
from ..sources.base import accepts_trigger
from ..sources.recipe_settings import load_recipe_source, save_recipe_source
from .charts_panel import ChartsPanel
from .controller import GoldenPolicy, InspectionController
from .golden_dialog import GoldenDialog
from .counters_panel import CountersPanel
from .failure_strip import FailureStrip
from .image_panel import ImagePanel
from .line_link import LineConfig
from .links_panel import LinksPanel
from .notice_bar import NoticeBar
from .operator_view import SHORTCUTS, ReviewPane, RunBar
from .outputs_dialog import OutputsDialog
from .recipe_bar import RecipeBar
from .shift_report import write_shift_report
from .settings import flag, load_source_settings, number, save_source_settings
from .source_bar import SourceBar
from .state import PAUSED, RUNNING, AppState
from .status_panel import StatusPanel
from .threshold_panel import ThresholdPanel
from .training_dialog import TrainingDialog
from .verdict_panel import VerdictPanel

# Of the window's height, the verdict's least on the operator's screen: readable from 3 m (the
# box is as wide as the column, and its letters are bound by the width at 1280 x 800).
VERDICT_SHARE = 0.22
VERDICT_SHARE_ENGINEER = 0.17
SIDE_MIN_WIDTH = 420
SIDE_SHARE = 0.32  # of the window's width for the operator's verdict column
SHORTCUT_HELP = (("start", "Start, or resume after a pause"), ("pause", "Pause"),
                 ("stop", "Stop"), ("previous_failure", "Review the previous (older) reject"),
                 ("next_failure", "Review the next (newer) reject"),
                 ("close_review", "Close the review"), ("reset_view", "Show the whole part again"),
                 ("overlay", "Heatmap overlay on / off"), ("full_screen", "Full screen on / off"))


class MainWindow(QMainWindow):
    def __init__(self, state: AppState, controller: InspectionController, settings: QSettings,
                 train_overrides: dict | None = None):
        super().__init__()
        self.state, self.controller, self.settings = state, controller, settings
        self.train_overrides = train_overrides or {}
        self.training_dialog: TrainingDialog | None = None
        self.setWindowTitle("adgui — visual inspection")
        self.setAcceptDrops(True)

        self.notice = NoticeBar(state)
        self.recipe_bar = RecipeBar(state)
        self.source_bar = SourceBar(state)
        self.image_panel = ImagePanel(state)
        self.review_pane = ReviewPane(state)
        self.run_bar = RunBar(state)
        # Wide limits: at line rates the textbook L = 3 cries wolf every few minutes.
        self.charts_panel = ChartsPanel(state, EwmaConfig(width=4.0))
        self.verdict_panel = VerdictPanel(state)
        self.counters_panel = CountersPanel(state)
        self.threshold_panel = ThresholdPanel(state)
        self.failure_strip = FailureStrip(state)
        self.status_panel = StatusPanel(state, self.statusBar())
        self.links_panel = LinksPanel(state)
        self._lay_out()
        self._build_menus()
        self.can_train = training_available()
        if not self.can_train:  # the station build: no torch, exported recipes only
            for control in (self.recipe_bar.train_button, self.train_action):
                control.setToolTip(TRAINING_NEEDS_FULL_BUILD)
        self.run_bar.start_requested.connect(self.start_configured)
        self.run_bar.pause_requested.connect(controller.pause)
        self.run_bar.stop_requested.connect(controller.stop)
        state.role_changed.connect(self._apply_role)
        self._apply_role()

        self.threshold_panel.apply_requested.connect(controller.apply_threshold)
        self.roi_editor = None
        self.recipe_bar.recipe_chosen.connect(self.load_recipe)
        self.recipe_bar.train_requested.connect(lambda: self.open_training())
        self.source_bar.start_requested.connect(self._start)
        self.source_bar.pause_requested.connect(controller.pause)
        self.source_bar.stop_requested.connect(controller.stop)
        self.source_bar.queue_size_changed.connect(self._on_queue_size)
        self.counters_panel.new_shift_requested.connect(self.ask_new_shift)
        state.part_added.connect(lambda part: self.charts_panel.add_record(part.record))
        state.shift_changed.connect(self._load_shift_charts)
        self.charts_panel.drift_alarm.connect(self._on_drift)
        self._load_shift_charts()
        state.model_changed.connect(self._apply_recipe_source)
        for signal in (state.role_changed, state.model_changed, state.run_state_changed,
                       state.line_changed):
            signal.connect(self._reflect_role)
        controller.remote_control_kept.connect(self._keep_remote_control)
        controller.recipe_kept.connect(self._keep_recipe)
        self._restore_settings()
        self._reflect_role()
        QApplication.instance().installEventFilter(self)

    def _lay_out(self) -> None:
        side = QWidget(objectName="sidePanel")
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(8, 0, 0, 0)
        side_layout.addWidget(self.verdict_panel, 1)
        side_layout.addWidget(self.counters_panel)
        side.setMinimumWidth(SIDE_MIN_WIDTH)
        self.side = side
        # The review opens beside the live image, never in its place.
        live = QSplitter(Qt.Orientation.Horizontal, objectName="liveSplitter")
        live.addWidget(self.image_panel)
        live.addWidget(self.review_pane)
        live.setChildrenCollapsible(False)
        self.live_splitter = live
        splitter = QSplitter(Qt.Orientation.Horizontal, objectName="mainSplitter")
        self.views = QTabWidget(objectName="views")
        self.views.addTab(live, "Live")
        self.views.addTab(self.threshold_panel, "Threshold")
        self.views.addTab(self.charts_panel, "Shift charts")
        splitter.addWidget(self.views)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(10, 8, 10, 4)
        layout.addWidget(self.notice)
        layout.addWidget(self.links_panel)
        recipe_row = QHBoxLayout()  # the source's Start, Pause, Stop: its own row is full
        recipe_row.addWidget(self.recipe_bar, 1)
        recipe_row.addWidget(self.source_bar.run_buttons)
        layout.addLayout(recipe_row)
        layout.addWidget(self.source_bar)
        layout.addWidget(self.run_bar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.failure_strip)
        self.setCentralWidget(central)

    def engineering_widgets(self) -> list[QWidget]:
        """What only an engineer sees besides the Threshold and Shift charts tabs: recipes and
        training, sources (and their Start, Pause, Stop), new shift."""
        return [self.recipe_bar, self.source_bar, self.source_bar.run_buttons,
                self.counters_panel.new_shift_button]

    def _apply_role(self, *_args) -> None:
        """The operator's run screen, or the engineer's with every control."""
        engineer = may(self.state.role, "threshold")
        # The verdict's new height first, and what goes is hidden before what comes is shown:
        # else for a moment both are there, and the window grows past a 800-pixel screen.
        self._size_verdict()
        if engineer:
            self.run_bar.hide()
        else:
            self._show_engineering(False)
        self._settle_layouts()  # showing a widget makes the window read its panels' minimums
        for action in self.engineer_actions:
            action.setVisible(engineer)
        self._show_engineering(engineer)
        self.run_bar.setVisible(not engineer)  # the source bar has its own Start, Pause, Stop
        for panel in (self.threshold_panel, self.charts_panel):
            self.views.setTabVisible(self.views.indexOf(panel), engineer)
        self.views.tabBar().setVisible(engineer)
        if not engineer:
            self.views.setCurrentIndex(0)
        self._size_verdict()
        self._settle_layouts()

    def _settle_layouts(self) -> None:
        """Every panel's new minimum, innermost first, before the window reads its own. Qt
        passes a change up one level per posted event, so the window could read a panel's
        minimum from the other role beside one from this role, grow past the screen for it,
        and a window never shrinks back by itself."""
        for widget in reversed(self.centralWidget().findChildren(QWidget)):  # children first
            if widget.isVisible():
                layout = widget.layout()
                if layout is not None:
                    layout.activate()
                else:
                    widget.updateGeometry()
        self.centralWidget().layout().activate()

    def _show_engineering(self, shown: bool) -> None:
        for widget in self.engineering_widgets():
            widget.setVisible(shown)

    def _size_verdict(self) -> None:
        engineer = may(self.state.role, "threshold")
        share = VERDICT_SHARE_ENGINEER if engineer else VERDICT_SHARE
        self.verdict_panel.set_verdict_height(int(share * self.height()))
        if not engineer:  # the operator's verdict column is wider, for larger letters
            side = max(SIDE_MIN_WIDTH, int(SIDE_SHARE * self.width()))
            self.splitter.setSizes([max(1, self.splitter.width() - side), side])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._size_verdict()

    def _build_menus(self) -> None:
        recipe = self.menuBar().addMenu("&Recipe")
        self.train_action = train = recipe.addAction("&Train new recipe…",
                                                      lambda: self.open_training(), "Ctrl+T")
        open_file = recipe.addAction("&Open model file…", self._open_model_file, "Ctrl+O")
        open_exported = recipe.addAction("Open &exported recipe folder…", self._open_exported_recipe)
        recipes_folder = recipe.addAction("Show recipes folder", lambda: _open_folder(recipes_dir()))
        keep_source = recipe.addAction("Keep the current source settings with this recipe",
                                       self.keep_source_with_recipe)
        golden = recipe.addAction("&Golden samples…", self.open_golden_samples)
        roi = recipe.addAction("Region of interest…", lambda: self.open_roi_editor())
        recipe.addSeparator()
        recipe.addAction("&Quit", self.close, "Ctrl+Q")
        inspection = self.menuBar().addMenu("&Inspection")
        self.start_action = inspection.addAction("Start / resume", self.start_configured,
                                                 SHORTCUTS["start"])
        self.pause_action = inspection.addAction("Pause", self.controller.pause, SHORTCUTS["pause"])
        self.stop_action = inspection.addAction("Stop", self.controller.stop, SHORTCUTS["stop"])
        inspection.addSeparator()
        self.save_failed_action = QAction("Save failed images to a folder…", self, checkable=True)
        self.save_failed_action.toggled.connect(self._toggle_save_failed)
        inspection.addAction(self.save_failed_action)
        inspection.addAction("Show inspection logs", lambda: _open_folder(logs_dir()))
        new_shift = inspection.addAction("New shift…", self.ask_new_shift)
        inspection.addAction("Shift report (PDF)…", self.export_shift_report)
        self.device_menu = device_menu = inspection.addMenu("Device for inspection")
        group = QActionGroup(self)
        for device in device_choices():
            action = device_menu.addAction(device)
            action.setCheckable(True)
            action.setChecked(device == self.controller.device)
            action.triggered.connect(lambda _=False, d=device: self._set_device(d))
            group.addAction(action)
        self.device_actions = group
        view = self.menuBar().addMenu("&View")
        self.full_screen_action = view.addAction("Full screen", self.toggle_full_screen,
                                                 SHORTCUTS["full_screen"])
        self.full_screen_action.setCheckable(True)
        self.overlay_action = view.addAction("Heatmap overlay")
        self.overlay_action.setShortcut(SHORTCUTS["overlay"])
        self.overlay_action.setCheckable(True)
        self.overlay_action.setChecked(self.state.overlay)
        self.overlay_action.toggled.connect(self.state.set_overlay)
        self.state.overlay_changed.connect(self.overlay_action.setChecked)
        view.addAction("Whole part (reset zoom)", self.reset_views, SHORTCUTS["reset_view"])
        view.addSeparator()
        view.addAction("Review previous (older) reject", lambda: self.state.review_step(-1),
                       SHORTCUTS["previous_failure"])
        view.addAction("Review next (newer) reject", lambda: self.state.review_step(+1),
                       SHORTCUTS["next_failure"])
        view.addAction("Close the review", self.state.back_to_live, SHORTCUTS["close_review"])
        view.addSeparator()
        self.show_score_action = view.addAction("Show the score (0–100) on the run screen")
        self.show_score_action.setCheckable(True)
        self.show_score_action.setChecked(self.verdict_panel.show_score)
        self.show_score_action.toggled.connect(self._set_show_score)
        station = self.menuBar().addMenu("&Station")
        station.addAction("Engineer login…", self.ask_login, "Ctrl+L")
        station.addAction("Log out", self.controller.log_out)
        station.addAction("Set a password…", self.ask_set_password)
        station.addSeparator()
        line_outputs = station.addAction("Line outputs (PLC, MQTT)…", self.edit_line_outputs)
        station.addAction("Hand control to the line (PLC)",
                          lambda: self.controller.enter_remote_control(self.source_bar.spec()))
        station.addAction("Take back local control…", self.ask_leave_remote_control)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("How to begin", self._show_help)
        help_menu.addAction("Keyboard shortcuts", self._show_shortcuts)
        self.engineer_actions = [train, open_file, recipes_folder, keep_source, new_shift,
                                 self.save_failed_action, device_menu.menuAction(),
                                 self.show_score_action, line_outputs, golden, open_exported, roi]

    # -- recipes and training ------------------------------------------------------------
    def load_recipe(self, path: str, threshold: float | None = None, reason: str = "") -> bool:
        """An engineer's change of recipe (refused with a message for an operator)."""
        if not self.controller.load_model(path, threshold, reason):
            self.recipe_bar.refresh()  # the recipe in force stays selected
            return False
        return True

    def open_training(self, folder: str = "") -> TrainingDialog | None:
        """The training dialog, for an engineer of a full build; None (and a message) else."""
        if not self.can_train:
            self.state.tell(TRAINING_NEEDS_FULL_BUILD, "warning")
            return None
        if not self.controller.may_train():
            return None
        dialog = self.training_dialog
        if dialog is None:
            dialog = TrainingDialog(folder, self.train_overrides, parent=self)
            dialog.may_start = self.controller.may_train
            dialog.recipe_trained.connect(self._on_recipe_trained)
            dialog.finished.connect(self._forget_training_dialog)
            dialog.progress_text.connect(self.status_panel.training.setText)
            self.training_dialog = dialog
        elif folder and dialog.worker is None:
            dialog.folder.setText(folder)
        dialog.show()
        dialog.raise_()
        return dialog

    def _on_recipe_trained(self, path: str) -> None:
        self.recipe_bar.refresh()
        self.controller.recipe_trained(path)

    def _forget_training_dialog(self) -> None:
        if self.training_dialog is not None and self.training_dialog.worker is None:
            self.training_dialog.deleteLater()
            self.training_dialog = None

    def open_roi_editor(self, image=None):
        """The ROI editor on `image`, the last part shown, or a calibration image."""
        from ..recipes.versions import load_calibration_images
        from .roi_editor import RoiEditor

        model = self.state.model
        if model is None:
            self.state.tell("Load a recipe first.", "warning")
            return None
        latest = self.state.shown  # the live part
        if image is None and latest is not None and latest.image is not None:
            image = latest.image
        if image is None and self.state.model_path:
            stored = load_calibration_images(self.state.model_path)
            image = stored[0] if stored else None
        if image is None:
            self.state.tell("Inspect a part first: the ROI is drawn on a part's image.", "warning")
            return None
        if self.roi_editor is not None:
            try:
                self.roi_editor.close()
            except RuntimeError:  # closed already: Qt deleted it
                pass
        editor = RoiEditor(image, getattr(model, "roi", None), self._version_text(), parent=self)
        editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor.apply_requested.connect(self.controller.apply_roi)
        self.controller.change_refused.connect(editor.on_refused)
        self.controller.version_applied.connect(editor.on_version)
        editor.resize(1100, 700)
        editor.show()
        self.roi_editor = editor
        return editor

    def _version_text(self) -> str:
        model = self.state.model
        roi = "an ROI" if getattr(model, "roi", None) is not None else "the whole image"
        return f"Recipe '{model.name}', version {getattr(model, 'version', 1)} in force: {roi}."

    def _open_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model file", str(recipes_dir()),
                                              f"adgui models (*{RECIPE_SUFFIX});;All files (*)")
        if path:
            self.load_recipe(path)

    def _open_exported_recipe(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open an exported recipe folder",
                                                str(recipes_dir()))
        if path:
            self.load_recipe(path)

    # -- drag and drop: a folder of images trains, a model file or exported recipe loads --
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if _dropped_path(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        path = _dropped_path(event.mimeData())
        if path is None:
            return
        event.acceptProposedAction()
        if path.is_dir() and not is_exported_recipe(path):
            self.open_training(str(path))
        else:
            self.load_recipe(str(path))

    # -- sources and options -------------------------------------------------------------
    def start_configured(self) -> None:
        """Start (or resume) with the source an engineer set up."""
        self._start(self.source_bar.spec())

    def _start(self, spec) -> None:
        if not self.controller.set_queue_size(self.source_bar.queue.value()):
            return
        if self.controller.start(spec):
            save_source_settings(self.settings, spec, self.source_bar.all_settings())

    def keep_source_with_recipe(self) -> None:
        """The recipe then sets up its own camera (exposure, gain, trigger) when loaded."""
        if not self.state.model_path:
            self.state.tell("Load a recipe first.", "warning")
            return
        spec = self.source_bar.spec()
        try:
            before = load_recipe_source(self.state.model_path)
        except ValueError:
            before = None
        if self.controller.change("source", before.describe() if before else None,
                                  spec.describe(), f"kept with recipe {self.state.model.name}",
                                  detail={"recipe": self.state.model.name}) is None:
            return
        try:
            path = save_recipe_source(self.state.model_path, spec)
        except (OSError, ValueError) as error:
            self.state.tell(f"The source settings could not be kept: {error}", "error")
            return
        self.state.tell(f"Source settings kept with the recipe ({path.name}).")

    def _apply_recipe_source(self) -> None:
        if not self.state.model_path:
            return
        try:
            spec = load_recipe_source(self.state.model_path)
        except ValueError as error:
            self.state.tell(str(error), "warning")
            return
        if spec is not None:
            self.source_bar.set_spec(spec)
            self.controller.source_in_force = spec  # it came with the recipe
            self.state.tell(f"Source settings of recipe '{self.state.model.name}' applied "
                            f"({spec.describe()}).")

    def _load_shift_charts(self, *_args) -> None:
        shift = self.controller.shift
        self.charts_panel.reset_chart()
        if shift is not None:
            self.charts_panel.set_hourly(self.controller.hourly_totals(), shift.start.tzinfo)

    def _on_drift(self, alarm: bool) -> None:
        status = self.charts_panel.chart_status()
        if alarm:
            self.state.tell(f"Scores of good parts are drifting: {status} Check light, lens and "
                            f"part position.", "warning")
        self.controller.record_event("drift_alarm" if alarm else "drift_cleared",
                                     detail={"status": status})

    def export_shift_report(self, path: str = "") -> Path | None:
        """The current shift as a PDF report, with its parts as a CSV beside it."""
        database, shift = self.controller.database, self.controller.shift
        if database is None or shift is None:
            self.state.tell("No inspection database: there is no shift to report.", "error")
            return None
        if not path:
            default = logs_dir() / f"shift-{shift.start:%Y%m%d-%H%M}.pdf"
            path, _ = QFileDialog.getSaveFileName(self, "Shift report", str(default), "PDF (*.pdf)")
            if not path:
                return None
        database.writer.flush(10.0)  # the report holds every part recorded so far
        try:
            written = write_shift_report(path, database.database, shift, self.charts_panel,
                                         station=database.database.station)
        except (OSError, ValueError, RuntimeError) as error:
            self.state.tell(f"The shift report could not be written: {error}", "error")
            return None
        self.state.tell(f"Shift report written: {written} (and its parts as CSV beside it).")
        return written

    def ask_login(self) -> bool:
        name, accepted = QInputDialog.getText(self, "Engineer login", "User name:")
        if not accepted or not name.strip():
            return False
        password, accepted = QInputDialog.getText(self, "Engineer login", f"Password of {name}:",
                                                  QLineEdit.EchoMode.Password)
        return accepted and self.controller.log_in(name.strip(), password)

    def ask_set_password(self) -> None:
        """The first engineer of a station is set here (or with `adgui users set-password`);
        later ones need an engineer or admin logged in."""
        guard = self.controller.guard
        if guard is None:
            self.state.tell("No inspection database: users cannot be kept.", "error")
            return
        name, accepted = QInputDialog.getText(self, "Set a password", "User name:")
        if not accepted or not name.strip():
            return
        password, accepted = QInputDialog.getText(self, "Set a password", f"New password of {name}:",
                                                  QLineEdit.EchoMode.Password)
        if not accepted:
            return
        try:
            guard.set_password(name.strip(), password, "engineer")
        except (ValueError, RuntimeError) as error:
            self.state.tell(str(error), "warning")
            return
        self.state.tell(f"Password of {name.strip()} set.")

    def edit_line_outputs(self) -> OutputsDialog:
        """Non-modal, so that tests drive it; the change is the controller's (guarded)."""
        dialog = OutputsDialog(self.controller.line.config, self._apply_line_outputs, self)
        dialog.open()
        return dialog

    def _apply_line_outputs(self, config: LineConfig, reason: str) -> bool:
        if not self.controller.configure_line(config, reason):
            return False
        self.settings.setValue("line/outputs", config.to_text())
        return True

    def _keep_remote_control(self, spec) -> None:
        """Written at once, not at closing: after a power cut the station goes back to the
        line with the source it was handed over with."""
        if spec is not None:
            self.source_bar.set_spec(spec)
            save_source_settings(self.settings, spec, self.source_bar.all_settings())
            # The bar offers a kind's own triggers only; the PLC's is kept here.
            self.settings.setValue("line/remote_trigger", spec.trigger)
        self.settings.setValue("line/remote_control", spec is not None)
        self.settings.sync()

    def _keep_recipe(self, path: str, number: int) -> None:
        """Written at once, whoever switched: after a power cut the station comes back on the
        recipe the line chose, under the number the PLC knows it by."""
        self.settings.setValue("recipe/path", path)
        self.settings.setValue("line/recipe_number", number)
        self.settings.sync()

    def ask_leave_remote_control(self) -> None:
        reason, accepted = QInputDialog.getText(
            self, "Take back local control", "Why does the station leave the PLC's control? "
            "(kept in the audit trail)")
        if accepted:
            self.controller.leave_remote_control(reason)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        # Any key or click counts as activity: engineer mode times out only when left alone.
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress):
            guard = self.controller.guard
            if guard is not None:
                guard.session.touch()
        return super().eventFilter(watched, event)

    def ask_new_shift(self) -> None:
        """Counters are the shift's record on screen: they restart only with a reason."""
        if not self.controller.require("shift"):
            return
        reason, accepted = QInputDialog.getText(
            self, "New shift", "Why is a new shift started? (kept in the records; every part "
            "already recorded stays)")
        if accepted:
            self.controller.start_new_shift(reason)

    def _toggle_save_failed(self, checked: bool) -> None:
        folder = ""
        if checked:
            folder = QFileDialog.getExistingDirectory(self, "Folder for failed images",
                                                      str(self.settings.value("failed_dir", "")))
            if not folder:
                self.save_failed_action.setChecked(False)
                return
            self.state.tell(f"Failed images will be saved to {folder}.")
        self.settings.setValue("failed_dir", folder)
        self.settings.setValue("save_failed", bool(folder))
        self.controller.set_failed_dir(folder or None)

    def _set_device(self, device: str) -> None:
        if self.controller.set_device(device):
            self.settings.setValue("device", device)
        for action in self.device_actions.actions():
            action.setChecked(action.text() == self.controller.device)

    def _on_queue_size(self, size: int) -> None:
        if not self.controller.set_queue_size(size):
            self.source_bar.queue.blockSignals(True)
            self.source_bar.queue.setValue(self.controller.queue_size)
            self.source_bar.queue.blockSignals(False)

    def open_golden_samples(self) -> GoldenDialog | None:
        if not self.state.model_path:
            self.state.tell("Load a recipe first: golden samples belong to a recipe.", "warning")
            return None
        dialog = GoldenDialog(self.controller, self.state.model_path, parent=self)
        dialog.open()
        return dialog

    def _reflect_role(self, *_args) -> None:
        """Engineering controls are disabled for an operator (the controller still checks),
        and the recipe and source for everyone while the line's PLC is in charge."""
        allowed = self.controller.allowed
        local = not self.state.remote_control
        idle = local and self.state.run_state not in ("running", "paused")
        has_model = self.state.model is not None
        for widget in (self.threshold_panel.slider, self.threshold_panel.default_button):
            widget.setEnabled(has_model and allowed("threshold"))
        self.threshold_panel.line.setMovable(has_model and allowed("threshold"))
        self.recipe_bar.combo.setEnabled(local and allowed("recipe"))
        self.recipe_bar.train_button.setEnabled(local and allowed("train") and self.can_train)
        self.train_action.setEnabled(self.can_train)
        bar = self.source_bar
        for widget in (bar.kind, bar.stack, bar.settings_button, bar.queue):
            widget.setEnabled(idle and allowed("source"))
        bar.trigger.setEnabled(idle and allowed("source") and bar.trigger.count() > 1)
        self.counters_panel.new_shift_button.setEnabled(allowed("shift"))
        self.device_menu.setEnabled(local and allowed("recipe"))

    def _show_help(self) -> None:
        QMessageBox.information(self, "How to begin", (
            "1. Train: drop a folder of good part images on the window (or Recipe ▸ Train new "
            "recipe). The recipe is saved and listed for later.\n"
            "2. Inspect: choose an image folder, video file or camera and press Start. In part "
            "mode every image or trigger gets exactly one verdict; a part the model could not "
            "judge in time is a NOT JUDGED reject. Preview shows the newest frame and records "
            "nothing.\n"
            "3. Adjust: a new threshold applies from the next part; verdicts already given "
            "stay as they were.\n"
            "Rejected parts appear in the strip at the bottom; click one to review it beside "
            "the live view."))

    def _show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", shortcut_help())

    def toggle_full_screen(self) -> None:
        full = not self.isFullScreen()
        if full:
            self.showFullScreen()
        else:
            self.showNormal()
        self.full_screen_action.setChecked(full)
        self.settings.setValue("window/full_screen", full)

    def reset_views(self) -> None:
        self.image_panel.reset_view()
        self.review_pane.image.reset_view()

    def _set_show_score(self, shown: bool) -> None:
        self.verdict_panel.set_show_score(shown)
        self.settings.setValue("operator/show_score", shown)

    # -- settings ------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        settings = self.settings
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 940)
        self.verdict_panel.set_show_score(flag(settings, "operator/show_score", True))
        self.show_score_action.setChecked(self.verdict_panel.show_score)
        # The station opens on the operator's full screen; F11 leaves it, and that is kept.
        if self.state.role == "operator" and flag(settings, "window/full_screen", True):
            self.setWindowState(self.windowState() | Qt.WindowState.WindowFullScreen)
            self.full_screen_action.setChecked(True)
        splitter = settings.value("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        spec, per_kind = load_source_settings(settings)
        self.source_bar.set_all_settings(per_kind)
        self.source_bar.set_spec(spec)
        self.controller.source_in_force = self.source_bar.spec()  # as it was, not a change
        self.source_bar.queue.blockSignals(True)
        self.source_bar.queue.setValue(int(number(settings, "source/queue_size", 4)))
        self.source_bar.queue.blockSignals(False)
        self.controller.set_queue_size(self.source_bar.queue.value(), restoring=True)
        self.controller.set_golden_policy(GoldenPolicy(
            str(settings.value("golden/on_shift_start", "true")).lower() == "true",
            str(settings.value("golden/on_recipe_change", "true")).lower() == "true"))
        device = str(settings.value("device", "auto"))
        self.controller.device = device if device in device_choices() else "auto"
        for action in self.device_actions.actions():
            action.setChecked(action.text() == self.controller.device)
        failed_dir = str(settings.value("failed_dir", ""))
        if str(settings.value("save_failed", "false")).lower() == "true" and failed_dir:
            self.save_failed_action.blockSignals(True)
            self.save_failed_action.setChecked(True)
            self.save_failed_action.blockSignals(False)
            self.controller.set_failed_dir(failed_dir)
        recorder = self.controller.pipeline.recorder
        recorder.free_space_floor_mb = number(settings, "images/free_space_floor_mb",
                                              recorder.free_space_floor_mb)
        recipe = str(settings.value("recipe/path", ""))
        if recipe and Path(recipe).is_file():  # the line sees the number it was in force under
            kept = int(number(settings, "line/recipe_number", 0) or 0)
            self.controller.line.recipe_number = kept if 0 <= kept <= 65535 else 0
        try:
            line = LineConfig.from_text(str(settings.value("line/outputs", "") or ""))
        except ValueError as error:
            self.state.tell(f"Line outputs not started: {error}. Set them again (Station menu).",
                            "warning")
        else:
            if line:
                self.controller.configure_line(line, record=False)
        if recipe and Path(recipe).is_file():  # the recipe last in force (kept at each switch),
            self.controller.load_model(recipe, restoring=True)  # with its version in force
        if flag(settings, "line/remote_control", False):  # the PLC stays in charge
            spec = self.source_bar.spec()
            trigger = str(settings.value("line/remote_trigger", "") or "")
            if accepts_trigger(spec.source_class, trigger):
                spec = replace(spec, trigger=trigger)
            self.controller.restore_remote_control(spec)

    def ask_quit(self) -> QMessageBox:
        """Asked when the window is closed while inspection runs; it does not block, so
        nothing waits on it. Stop and quit stops the line first."""
        text = "Inspection is running. Quitting stops it: parts that arrive afterwards get no verdict."
        if self.state.remote_control:
            text += " The line's PLC stays in charge: at the next start it runs the station again."
        box = QMessageBox(QMessageBox.Icon.Warning, "Quit while inspecting?", text, parent=self)
        quit_button = box.addButton("Stop and quit", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep inspecting", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)

        def answered(button) -> None:
            if button is quit_button:  # also under remote control, where Stop is locked
                self.controller.stop_to_quit()
                self.close()
        box.buttonClicked.connect(answered)
        box.open()
        self.quit_question = box
        return box

    def save_settings(self) -> None:
        settings = self.settings
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/splitter", self.splitter.saveState())
        save_source_settings(settings, self.source_bar.spec(), self.source_bar.all_settings())
        settings.setValue("source/queue_size", self.source_bar.queue.value())
        if self.state.model_path:
            settings.setValue("recipe/path", self.state.model_path)
        settings.sync()

    def closeEvent(self, event) -> None:  # noqa: N802
        if (self.state.run_state in (RUNNING, PAUSED)
                and flag(self.settings, "window/ask_before_quit", True)):
            event.ignore()  # the line is running: quit only when the operator says so
            self.ask_quit()
            return
        dialog = self.training_dialog
        if dialog is not None and dialog.worker is not None:
            dialog.worker.cancel()
            dialog.worker.wait()
        self.save_settings()
        self.controller.shutdown()
        super().closeEvent(event)


def shortcut_help() -> str:
    return "\n".join(f"{SHORTCUTS[key]}\t{text}" for key, text in SHORTCUT_HELP)


def _dropped_path(mime) -> Path | None:
    """The first local folder or model file among dropped URLs."""
    for url in mime.urls() if mime.hasUrls() else []:
        path = Path(url.toLocalFile()) if url.isLocalFile() else None
        if path and (path.is_dir() or path.suffix == RECIPE_SUFFIX):
            return path
    return None


def _open_folder(folder: Path) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
