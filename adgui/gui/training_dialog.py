"""Training a new recipe from a folder of good images, with progress and Cancel."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from ..pipeline.catalog import (DETECTOR_DEFAULT, backbone_names, default_preset, detector_names,
                                device_choices, preset_names)
from ..pipeline.userdata import recipe_path, safe_recipe_name, unique_recipe_name
from .workers import TrainJob, TrainWorker

DEFAULT_DETECTOR = "padim"  # the quickest to train well on a CPU


class TrainingDialog(QDialog):
    recipe_trained = Signal(str)  # path of the saved model
    running_changed = Signal(bool)
    progress_text = Signal(str)  # a one-line summary for the main window's status bar; "" when idle

    def __init__(self, folder: str = "", overrides: dict | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.may_start: Callable[[], bool] | None = None  # the station's rights check
        self.setWindowTitle("Train a new recipe")
        self.setMinimumWidth(560)
        self.overrides = dict(overrides or {})  # extra detector settings (tests use tiny models)
        self.worker: TrainWorker | None = None
        self.result = None

        self.folder = QLineEdit(placeholderText="folder of good part images")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.name = QLineEdit(placeholderText="product name, e.g. bottle-A")
        self.detector = QComboBox()
        self.detector.addItems(detector_names())
        self.preset = QComboBox()
        self.backbone = QComboBox(editable=True)
        self.backbone.addItems(backbone_names())
        self.backbone.setToolTip("Backbones listed first load their ImageNet weights offline")
        self.device = QComboBox()
        self.device.addItems(device_choices())
        form = QFormLayout()
        form.addRow("Good images", folder_row)
        form.addRow("Recipe name", self.name)
        form.addRow("Detector", self.detector)
        form.addRow("Preset", self.preset)
        form.addRow("Backbone", self.backbone)
        form.addRow("Device", self.device)

        self.progress = QProgressBar(minimum=0, maximum=1000, textVisible=True)
        self.progress.setFormat("%p %")
        self.status = QLabel("Choose a folder of good images, then press Train.", wordWrap=True,
                             objectName="trainingStatus")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.train_button = QPushButton("Train", objectName="startButton", default=True)
        self.cancel_button = QPushButton("Cancel training", objectName="stopButton")
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.train_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        self.detector.currentTextChanged.connect(self._on_detector)
        self.folder.textChanged.connect(self._suggest_name)
        self.train_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        if DEFAULT_DETECTOR in detector_names():
            self.detector.setCurrentText(DEFAULT_DETECTOR)
        self._on_detector(self.detector.currentText())
        self.folder.setText(folder)
        self._set_running(False)

    # -- actions -------------------------------------------------------------------------
    def start(self) -> bool:
        if self.may_start is not None and not self.may_start():
            self._show_status("Training is an engineer's: log in as an engineer first.",
                              error=True)
            return False
        folder = self.folder.text().strip()
        if not folder or not Path(folder).is_dir():
            self._show_status("Choose an existing folder of good images first.", error=True)
            return False
        name = safe_recipe_name(self.name.text() or Path(folder).name)
        if recipe_path(name).exists():
            self._show_status(f"A recipe named '{name}' exists already; choose another name "
                              f"(suggested: {unique_recipe_name(name)}).", error=True)
            return False
        backbone = self.backbone.currentText().strip()
        chosen = None if backbone in ("", DETECTOR_DEFAULT) else backbone
        overrides = {"backbone": chosen, **self.overrides}
        job = TrainJob(folder, self.detector.currentText(), str(recipe_path(name)),
                       self.preset.currentText(), self.device.currentText(), name, overrides)
        self.worker = TrainWorker(job, parent=self)
        self.worker.progress.connect(self._on_progress)
        self.worker.trained.connect(self._on_trained)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.finished.connect(self._on_thread_finished)
        self.progress.setValue(0)
        self._show_status(f"Training '{name}' ({job.detector}, {job.preset}) …")
        self._set_running(True)
        self.worker.start()
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self._show_status("Cancelling … (stops at the next batch)")

    # -- worker reports ------------------------------------------------------------------
    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        self._show_status(message[:1].upper() + message[1:])
        self.progress_text.emit(f"Training: {fraction:.0%}")

    def _on_trained(self, result) -> None:
        self.result = result
        self.progress.setValue(1000)
        skipped = f"; {len(result.skipped)} unreadable images skipped" if result.skipped else ""
        self._show_status(f"Trained on {result.train_images} images in {result.fit_seconds:.1f} s "
                          f"({result.device}){skipped}. Saved as recipe "
                          f"'{Path(result.model_path).stem}'.{_caught_line(result.synthetic_defects)}")
        self.recipe_trained.emit(str(result.model_path))

    def _on_failed(self, text: str) -> None:
        self._show_status(f"Training failed: {text}", error=True)

    def _on_cancelled(self) -> None:
        self.progress.setValue(0)
        self._show_status("Training cancelled; nothing was saved.")

    def _on_thread_finished(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.deleteLater()
        self._set_running(False)

    # -- internals -------------------------------------------------------------------------
    def _on_detector(self, detector: str) -> None:
        self.preset.clear()
        if detector:
            self.preset.addItems(preset_names(detector))
            self.preset.setCurrentText(default_preset(detector))

    def _suggest_name(self, folder: str) -> None:
        if self.name.isModified():
            return
        path = Path(folder.strip())
        while path.name in ("good", "train") and path.parent != path:
            path = path.parent  # .../bottle/train/good names the product "bottle"
        self.name.setText(unique_recipe_name(path.name) if path.name else "")

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder of good images", self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def _set_running(self, running: bool) -> None:
        for widget in (self.folder, self.name, self.detector, self.preset, self.backbone, self.device,
                       self.train_button):
            widget.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.cancel_button.setVisible(running)
        self.close_button.setEnabled(not running)
        self.running_changed.emit(running)
        self.progress_text.emit("Training: starting" if running else "")

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setProperty("error", error)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.worker is not None:
            event.ignore()  # a training in progress must be cancelled first
            self._show_status("Training is running: cancel it before closing.", error=True)
            return
        super().closeEvent(event)


def _caught_line(synthetic: dict | None) -> str:
    """What the new recipe catches, as a line of its own, when training measured it."""
    text = (synthetic or {}).get("summary")
    if not text:
        return ""
    if text.startswith("detects"):
        text = f"On good images held out of training, with synthetic defects pasted in, it {text}"
    return f"\n{text}."
