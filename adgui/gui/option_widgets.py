"""Widgets built from a source kind's declared options: one editor per `Option`.

The window never knows which kinds exist or what they need: a new kind's options get
their editors from here, by the option's type.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout,
                               QLineEdit, QPushButton, QSpinBox, QWidget)

from ..sources.base import Option

INT_LIMIT = 2_147_483_647


class OptionEditor(QWidget):
    """Edits one option's value; `changed` fires on every edit."""

    changed = Signal()

    def __init__(self, option: Option, parent: QWidget | None = None):
        super().__init__(parent)
        self.option = option
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.field = self._make_field(option)
        self.field.setToolTip(option.help)
        layout.addWidget(self.field, 1)
        if option.kind in ("folder", "file"):
            # A long path does not fit the bar: the whole of it is the field's tooltip.
            self.field.textChanged.connect(self._show_path)
            browse = QPushButton("Browse…")
            browse.clicked.connect(self._browse)
            layout.addWidget(browse)
        self.set_value(option.default)

    def value(self) -> Any:
        field, kind = self.field, self.option.kind
        if kind == "bool":
            return field.isChecked()
        if kind in ("int", "float"):
            return field.value()
        if kind == "choice":
            return field.currentText()
        return field.text().strip()

    def set_value(self, value: Any) -> None:
        field, kind = self.field, self.option.kind
        value = self.option.default if value is None else value
        if kind == "bool":
            field.setChecked(bool(value))
        elif kind == "int":
            field.setValue(int(value))
        elif kind == "float":
            field.setValue(float(value))
        elif kind == "choice":
            index = field.findText(str(value))
            field.setCurrentIndex(max(0, index))
        else:
            field.setText(str(value))

    def _make_field(self, option: Option) -> QWidget:
        if option.kind == "bool":
            field = QCheckBox(option.label)
            field.toggled.connect(self.changed)
        elif option.kind in ("int", "float"):
            low = option.minimum if option.minimum is not None else -INT_LIMIT
            high = option.maximum if option.maximum is not None else INT_LIMIT
            if option.kind == "int":
                field = QSpinBox(minimum=int(low), maximum=int(high))
            else:
                field = QDoubleSpinBox(minimum=low, maximum=high, decimals=2)
            if option.zero_label and option.minimum == 0:
                field.setSpecialValueText(option.zero_label)  # shown at the minimum, 0
            field.valueChanged.connect(self.changed)
        elif option.kind == "choice":
            field = QComboBox()
            field.addItems(list(option.choices))
            field.currentIndexChanged.connect(self.changed)
        else:
            field = QLineEdit(placeholderText=option.help)
            field.textChanged.connect(self.changed)
        return field

    def _show_path(self, text: str) -> None:
        self.field.setToolTip("\n".join(part for part in (text, self.option.help) if part))

    def _browse(self) -> None:
        current = self.field.text()
        if self.option.kind == "folder":
            chosen = QFileDialog.getExistingDirectory(self, self.option.help or self.option.label,
                                                      current)
        else:
            chosen = QFileDialog.getOpenFileName(self, self.option.help or self.option.label,
                                                 current, self.option.file_filter or "All files (*)")[0]
        if chosen:
            self.field.setText(chosen)
