"""Station ▸ Line outputs…: which outputs run and their settings, built from each output
kind's declared options; the PLC's recipe table; the reason kept with the change."""
from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QGroupBox, QLabel,
                               QLineEdit, QScrollArea, QVBoxLayout, QWidget)

from ..outputs.registry import output_kinds
from ..sources.base import Option
from .line_link import LineConfig
from .option_widgets import OptionEditor

RECIPE_TABLE = Option("recipe_table", "file", "", "Recipe table (JSON)",
                      help='The numbers the PLC selects recipes by: {"1": "bottle.adgui", ...}')


class OutputsDialog(QDialog):
    """`apply(config, reason)` makes the change and says whether it was made; the dialog
    stays open (nothing typed is lost) when it was not."""

    def __init__(self, config: LineConfig, apply: Callable[[LineConfig, str], bool],
                 parent: QWidget | None = None):
        super().__init__(parent, windowTitle="Line outputs")
        self.apply = apply
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Results go to the line through the outputs ticked here. "
                                "Modbus and OPC UA also let the PLC run the station "
                                "(Station ▸ Hand control to the line)."))
        kinds = QWidget()
        kinds_layout = QVBoxLayout(kinds)
        scroll = QScrollArea(widgetResizable=True)  # fits a 1280 x 800 screen
        scroll.setWidget(kinds)
        layout.addWidget(scroll, 1)
        self.groups: dict[str, QGroupBox] = {}
        self.editors: dict[str, dict[str, OptionEditor]] = {}
        for kind in output_kinds():
            group = QGroupBox(kind.label, checkable=True, objectName=f"output_{kind.kind}")
            group.setChecked(kind.kind in config.outputs)
            form = QFormLayout(group)
            editors = {}
            saved = config.outputs.get(kind.kind, {})
            for option in kind.options:
                editor = OptionEditor(option, group)
                editor.set_value(saved.get(option.name))
                if "password" in option.name:
                    editor.field.setEchoMode(QLineEdit.EchoMode.Password)
                form.addRow(option.label if option.kind != "bool" else "", editor)
                editors[option.name] = editor
            self.groups[kind.kind], self.editors[kind.kind] = group, editors
            kinds_layout.addWidget(group)
        table_form = QFormLayout()
        self.recipe_table = OptionEditor(RECIPE_TABLE, self)
        self.recipe_table.set_value(config.recipe_table)
        table_form.addRow(RECIPE_TABLE.label, self.recipe_table)
        self.reason = QLineEdit(placeholderText="why the outputs change (kept in the audit trail)")
        table_form.addRow("Reason", self.reason)
        layout.addLayout(table_form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(880, 640)

    def config(self) -> LineConfig:
        outputs = {kind: {name: editor.value() for name, editor in self.editors[kind].items()}
                   for kind, group in self.groups.items() if group.isChecked()}
        return LineConfig(outputs, str(self.recipe_table.value()))

    def _accept(self) -> None:
        if self.apply(self.config(), self.reason.text()):
            self.accept()
