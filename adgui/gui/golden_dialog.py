"""The recipe's golden samples: register known good and bad images, see the last check."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout,
                               QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget)

from ..golden import BAD, GOOD, GoldenSet
from .controller import InspectionController


class GoldenDialog(QDialog):
    def __init__(self, controller: InspectionController, model_path: str,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.controller, self.model_path = controller, model_path
        self.setWindowTitle(f"Golden samples of {Path(model_path).stem}")
        self.setMinimumWidth(560)
        self.samples = QListWidget()
        self.result = QLabel(objectName="hint", wordWrap=True)
        self.copy = QCheckBox("Keep a copy of the images beside the recipe", checked=True)
        add_good = QPushButton("Add good images…")
        add_bad = QPushButton("Add bad images…")
        check = QPushButton("Judge them now")
        add_good.clicked.connect(lambda: self._add(GOOD))
        add_bad.clicked.connect(lambda: self._add(BAD))
        check.clicked.connect(lambda: controller.check_golden("judged on request"))
        allowed = controller.allowed("recipe")
        for button in (add_good, add_bad):
            button.setEnabled(allowed)
        buttons = QHBoxLayout()
        for button in (add_good, add_bad, check):
            buttons.addWidget(button)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Inspection starts only when every sample is judged as "
                                "expected: at shift start and after a recipe change."))
        layout.addWidget(self.samples, 1)
        layout.addWidget(self.copy)
        layout.addLayout(buttons)
        layout.addWidget(self.result)
        layout.addWidget(close)
        controller.state.message.connect(lambda *_: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        self.samples.clear()
        try:
            golden = GoldenSet.load(self.model_path)
        except ValueError as error:
            self.result.setText(str(error))
            return
        for sample in golden.samples:
            self.samples.addItem(f"{sample.expected.upper():5}  {sample.path}")
        report = self.controller.golden_report
        block = self.controller.golden_block
        self.result.setText(f"Start is blocked: {block}" if block
                            else report.summary() if report is not None else "")

    def _add(self, expected: str) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, f"Known {expected} part images", "",
                                                "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff)")
        if paths:
            self.controller.add_golden(paths, expected, self.copy.isChecked())
            self.refresh()
