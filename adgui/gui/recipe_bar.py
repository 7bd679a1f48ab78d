"""Choosing the recipe (a trained model per product) and starting a new training."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from ..pipeline.userdata import list_recipes
from .state import AppState

PLACEHOLDER = "— choose a saved recipe —"


class RecipeBar(QWidget):
    recipe_chosen = Signal(str)  # path of the model file
    train_requested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.combo = QComboBox(minimumContentsLength=22)
        self.combo.setToolTip("Saved recipes in the user's data folder")
        # A long recipe name is cut in the box (whole in the list), never widening the window.
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.train_button = QPushButton("Train new recipe…", objectName="trainButton")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Recipe", objectName="sectionTitle"))
        layout.addWidget(self.combo)
        layout.addWidget(self.train_button)
        layout.addWidget(QLabel("or drop a folder of good images on the window", objectName="hint"))
        layout.addStretch(1)
        self.combo.activated.connect(self._on_activated)
        self.train_button.clicked.connect(self.train_requested)
        state.model_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Re-list saved recipes, selecting the loaded one."""
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem(PLACEHOLDER, "")
        for recipe in list_recipes():
            self.combo.addItem(recipe.name, str(recipe.path))
            self.combo.setItemData(self.combo.count() - 1,
                                   f"{recipe.path}\nsaved {recipe.modified:%Y-%m-%d %H:%M}",
                                   role=3)  # Qt.ToolTipRole
        current = self.state.model_path
        if current and self.combo.findData(current) < 0:
            self.combo.addItem(f"{self.state.model.name} (file)" if self.state.model else current,
                               current)
        self.combo.setCurrentIndex(max(self.combo.findData(current), 0) if current else 0)
        self.combo.blockSignals(False)

    def _on_activated(self, index: int) -> None:
        path = self.combo.itemData(index)
        if path and path != self.state.model_path:
            self.recipe_chosen.emit(path)
