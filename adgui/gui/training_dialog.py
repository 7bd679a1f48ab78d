"""Training a new recipe from a folder of good images, with progress and Cancel."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from ..geometry_options import (FirstImage, Proposal, defect_in_pixels, describe_geometry,
                                first_image_layout, model_input_size, propose_geometry)
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
        self.setMinimumWidth(640)
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
        form = self._form = QFormLayout()
        form.addRow("Good images", folder_row)
        form.addRow("Significant bits", self._depth_row())
        form.addRow("", self.depth_text)
        form.addRow("Recipe name", self.name)
        form.addRow("Detector", self.detector)
        form.addRow("Preset", self.preset)
        form.addRow("Backbone", self.backbone)
        form.addRow("Device", self.device)
        form.addRow("Smallest defect to catch", self._defect_row())
        form.addRow("Working resolution", self.working_side)
        form.addRow("", self.geometry_text)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

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
        for signal in (self.folder.textChanged, self.preset.currentTextChanged,
                       self.defect.valueChanged, self.defect_unit.currentTextChanged,
                       self.mm_per_px.valueChanged, self.working_side.valueChanged):
            signal.connect(self._update_proposal)
        self.bit_depth.valueChanged.connect(self._update_depth_text)
        self.train_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        if DEFAULT_DETECTOR in detector_names():
            self.detector.setCurrentText(DEFAULT_DETECTOR)
        self._on_detector(self.detector.currentText())
        self.folder.setText(folder)
        self._set_running(False)
        self._update_proposal()

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
        geometry = self.geometry_settings()
        if geometry is None:
            self._show_status(f"The input geometry cannot be chosen: {self.geometry_text.text()}",
                              error=True)
            return False
        too_deep = self._too_deep_text()
        if too_deep:
            self._show_status(too_deep, error=True)
            return False
        overrides = {"backbone": chosen, **self.overrides, **geometry}
        job = TrainJob(folder, self.detector.currentText(), str(recipe_path(name)),
                       self.preset.currentText(), self.device.currentText(), name, overrides,
                       bit_depth=self.significant_bits())
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
        self._show_status(f"Trained on {result.train_images} images in {result.fit_seconds:.1f} s "
                          f"({result.device}){_skipped_text(result.skipped)}. Saved as recipe "
                          f"'{Path(result.model_path).stem}'.{_caught_line(result.synthetic_defects)}"
                          f"{self._declared_line()}{self._depth_line()}")
        self.recipe_trained.emit(str(result.model_path))

    def _on_failed(self, text: str) -> None:
        self._show_status(f"Training failed: {_in_window_words(text)}", error=True)

    def _on_cancelled(self) -> None:
        self.progress.setValue(0)
        self._show_status("Training cancelled; nothing was saved.")

    def _on_thread_finished(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.deleteLater()
        self._set_running(False)

    # -- bit depth -----------------------------------------------------------------------
    def _depth_row(self) -> QWidget:
        # Asked for 16-bit folders only: their files do not say how many bits the camera filled.
        self.bit_depth = QSpinBox(minimum=9, maximum=16, value=16, suffix=" bits")
        self.bit_depth.setToolTip("How many of the 16 bits the camera fills; 16-bit files are "
                                  "divided by this depth's full scale, here and when inspecting")
        help_text = QLabel("a 12-bit camera saving 16-bit files: 12", objectName="hint")
        # The first image's largest value: the fact that tells a 12-bit camera's files apart.
        self.depth_text = QLabel(wordWrap=True, objectName="hint")
        self.depth_text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._depth_widget = QWidget()
        layout = QHBoxLayout(self._depth_widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bit_depth)
        layout.addWidget(help_text)
        layout.addStretch(1)
        return self._depth_widget

    def significant_bits(self) -> int | None:
        """The declared depth of the chosen folder's 16-bit files; None for 8-bit folders (or
        one whose first image cannot be read: training then says why)."""
        first = self._first_image(self.folder.text().strip())
        if isinstance(first, str) or first.bit_depth <= 8:
            return None
        return self.bit_depth.value()

    def _update_depth_text(self, *_) -> None:
        first = self._first_image(self.folder.text().strip())
        deep = not isinstance(first, str) and first.bit_depth > 8
        self._form.setRowVisible(self._depth_widget, deep)
        self._form.setRowVisible(self.depth_text, deep)
        if not deep:
            return
        bits = self.bit_depth.value()
        text = (f"The first image's largest value is {first.peak} of {(1 << bits) - 1} at "
                f"{bits} bits.")
        if first.peak >= 1 << bits:
            text += " More than these bits hold: declare more significant bits."
        self.depth_text.setText(text)
        self._grow_to_fit()

    def _too_deep_text(self) -> str:
        """Why the declared depth cannot be right for the folder ("" when it can be): training
        would refuse its first image, and the engineer can fix that before waiting for it."""
        bits = self.significant_bits()
        first = self._first_image(self.folder.text().strip())
        if bits is None or isinstance(first, str) or first.peak < 1 << bits:
            return ""
        return (f"The first image holds values up to {first.peak}, more than {bits} significant "
                f"bits allow: set Significant bits to 16 if the camera fills all 16 bits.")

    def _depth_line(self) -> str:
        bits = self.worker.job.bit_depth if self.worker is not None else None
        return f"\n16-bit files read as {bits} significant bits." if bits else ""

    # -- input geometry ------------------------------------------------------------------
    def _defect_row(self) -> QWidget:
        # 0 is "not declared": the whole image at the model's input size, as before.
        self.defect = QDoubleSpinBox(minimum=0.0, maximum=100_000.0, decimals=2, singleStep=0.5,
                                     specialValueText="not declared")
        self.defect.setToolTip("The width of the smallest defect the recipe must catch; it "
                               "chooses the working resolution and tiling")
        self.defect.setMinimumWidth(130)
        self.defect_unit = QComboBox()
        self.defect_unit.addItems(["px", "mm"])
        self.mm_per_px = QDoubleSpinBox(minimum=0.0001, maximum=100.0, decimals=4, value=0.05,
                                        singleStep=0.01, suffix=" mm/px")
        self.mm_per_px.setToolTip("Image scale: millimetres on the part per image pixel")
        self.mm_per_px_label = QLabel("scale")
        self.working_side = QSpinBox(minimum=0, maximum=20_000, singleStep=32, suffix=" px",
                                     specialValueText="as proposed")
        self.working_side.setToolTip("Long side the image is scaled to before it is cut into "
                                     "tiles; at most the model's input size means no tiles; "
                                     "0 goes back to the proposal")
        self.geometry_text = QLabel(wordWrap=True, objectName="hint")
        self.geometry_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Top-aligned: the form sizes a wrapped label for its narrowest width, and centred
        # text would float below the field it explains.
        self.geometry_text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._proposal: Proposal | None = None
        self._first_images: dict[str, FirstImage | str] = {}  # folder -> first image, or why not
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.defect, self.defect_unit, self.mm_per_px_label, self.mm_per_px):
            layout.addWidget(widget)
        layout.addStretch(1)
        return row

    @property
    def proposal(self) -> Proposal | None:
        """The geometry shown, proposed or as the engineer overrode it (None: cannot tell)."""
        return self._proposal

    def geometry_settings(self) -> dict | None:
        """Detector settings for the training request: none when nothing was declared or
        overridden (the detector's defaults), None when the geometry cannot be worked out."""
        if self.defect.value() == 0 and self.working_side.value() == 0:
            return {}
        if self._proposal is None:
            return None
        return self._proposal.config_overrides()

    def _update_proposal(self, *_) -> None:
        in_mm = self.defect_unit.currentText() == "mm"
        self.mm_per_px.setVisible(in_mm)
        self.mm_per_px_label.setVisible(in_mm)
        self._proposal = None
        self._update_depth_text()
        first = self._first_image(self.folder.text().strip())
        if isinstance(first, str):
            self.geometry_text.setText(first)
            return
        try:
            size = model_input_size(self.detector.currentText(), self.preset.currentText(),
                                    self.overrides)
            defect = defect_in_pixels(self.defect.value(), self.defect_unit.currentText(),
                                      self.mm_per_px.value())
            height, width = first.height, first.width
            if self.working_side.value():
                self._proposal = describe_geometry(height, width, defect,
                                                   self.working_side.value(), image_size=size)
            else:
                self._proposal = propose_geometry(height, width, defect, image_size=size)
        except (ValueError, KeyError, ImportError) as exc:  # a preset the detector lacks; no torch
            self.geometry_text.setText(str(exc))
            return
        if not self.working_side.value():  # the spin box shows the proposal until overridden
            proposed = self._proposal.working_side
            self.working_side.setSpecialValueText(
                f"as proposed: {proposed} px" if proposed else "as proposed: the whole image")
        scale = (f"; {self.defect.value():g} mm at {self.mm_per_px.value():g} mm/px is "
                 f"{defect:.3g} px" if in_mm and defect else "")
        self.geometry_text.setText(f"Images of {width} x {height} px{scale}. "
                                   f"{self._proposal.explanation}")

    def _first_image(self, folder: str) -> FirstImage | str:
        """The folder's first good image (size, file depth, largest value), or why it cannot
        be read: one reading serves the geometry proposal and the depth question."""
        if not folder or not Path(folder).is_dir():
            return "Choose a folder of good images to see the working resolution it needs."
        if folder not in self._first_images:  # once per folder: the text changes per keystroke
            try:
                self._first_images[folder] = first_image_layout(Path(folder))
            except ValueError as exc:  # no images, or an unreadable first image
                self._first_images[folder] = f"The working resolution cannot be proposed: {exc}"
        return self._first_images[folder]

    def _declared_line(self) -> str:
        proposal = self._proposal
        if proposal is None or not (proposal.smallest_defect_px or proposal.working_side):
            return ""
        declared = (f"smallest defect {proposal.smallest_defect_px:g} px"
                    if proposal.smallest_defect_px else "no smallest defect declared")
        where = (f"working at {proposal.working_side} px in {proposal.tiles} tiles of "
                 f"{proposal.image_size} px" if proposal.working_side else
                 f"the whole image at {proposal.image_size} px")
        return f"\nGeometry: {declared}; {where}."

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
                       self.bit_depth, self.defect, self.defect_unit, self.mm_per_px,
                       self.working_side, self.train_button):
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
        self._grow_to_fit()

    def _grow_to_fit(self) -> None:
        # Wrapped labels (status, hints) ask for height at the dialog's width; a window only
        # keeps its minimum, so without this a two-line message clips the hints above it.
        if not self.isVisible():
            return
        self.layout().activate()  # the new text's height, now rather than at the next event
        needed = self.layout().totalHeightForWidth(self.width())
        if needed > self.height():
            self.resize(self.width(), needed)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.worker is not None:
            event.ignore()  # a training in progress must be cancelled first
            self._show_status("Training is running: cancel it before closing.", error=True)
            return
        super().closeEvent(event)


def _skipped_text(skipped: list[str]) -> str:
    """The images training left out, with the first one's reason: "unreadable" would hide a
    file deeper than the declared significant bits."""
    if not skipped:
        return ""
    count = f"{len(skipped)} images" if len(skipped) > 1 else "1 image"
    more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
    return f"; {count} skipped ({_in_window_words(skipped[0])}{more})"


def _in_window_words(text: str) -> str:
    """A training message as the dialog's fields name things (the command line's flag is
    this dialog's Significant bits)."""
    return text.replace("--bit-depth ", "Significant bits at ")


def _caught_line(synthetic: dict | None) -> str:
    """What the new recipe catches, as a line of its own, when training measured it."""
    text = (synthetic or {}).get("summary")
    if not text:
        return ""
    if text.startswith("detects"):
        text = f"On good images held out of training, with synthetic defects pasted in, it {text}"
    return f"\n{text}."
