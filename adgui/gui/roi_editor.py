"""The ROI editor: include and exclude regions drawn on a reference image.

pyqtgraph's own ROI items (RectROI, EllipseROI, PolyLineROI) sit on the image in its pixel
coordinates; each is an include or an exclude region. The shaded overlay is the mask the
recipe will apply, rasterised by the same code as inspection. Apply, with a reason, asks the
controller for a new recipe version (an engineer's change, recorded in the audit trail); the
dialog itself changes nothing.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QPushButton, QVBoxLayout, QWidget)

from ..recipes.roi import Roi, RoiError, Shape

INCLUDE_COLOR = "#4da3ff"  # blue and orange: apart for every common colour-vision type
EXCLUDE_COLOR = "#ff9f1c"
SHADE = (10, 10, 10, 185)  # over the pixels that do not count: clearly darker, still visible
LIST_STYLE = ("QListWidget { background: #2b2c2f; color: #e6e6e6; border: 1px solid #55565b; }"
              "QListWidget::item:selected { background: #3d5a80; color: #ffffff; }")


class RoiEditor(QDialog):
    apply_requested = Signal(object, str)  # Roi (None: the whole image), reason

    def __init__(self, image: np.ndarray, roi: Roi | None = None, version_text: str = "",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Region of interest")
        self.image = image
        self.height_px, self.width_px = image.shape[:2]
        self.items: list[pg.ROI] = []

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("#1e1e1e")
        self.box = self.view.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.box.addItem(pg.ImageItem(image, axisOrder="row-major", levels=(0, 255)))
        self.shade = pg.ImageItem(axisOrder="row-major")
        self.shade.setZValue(5)
        self.box.addItem(self.shade)

        self.shape_list = QListWidget()
        self.shape_list.setStyleSheet(LIST_STYLE)
        self.shape_list.currentRowChanged.connect(self._on_select)
        self.exclude_box = QCheckBox("Exclude (defects here do not count)")
        self.exclude_box.toggled.connect(self._set_exclude)
        add = QHBoxLayout()
        for kind, label in (("rectangle", "Rectangle"), ("ellipse", "Ellipse"),
                            ("polygon", "Polygon")):
            button = QPushButton(f"+ {label}")
            button.clicked.connect(lambda _=False, k=kind: self.add_shape(k))
            add.addWidget(button)
        remove = QPushButton("Remove shape")
        remove.clicked.connect(self.remove_selected)
        self.reason = QLineEdit(placeholderText="Why (kept in the audit trail with the change)")
        self.apply_button = QPushButton("Apply as new version", objectName="primary")
        self.apply_button.clicked.connect(self.apply)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        self.message = QLabel(objectName="hint")
        self.message.setWordWrap(True)
        self.version_label = QLabel(version_text, objectName="hint")
        self.version_label.setWordWrap(True)
        self.coverage = QLabel(objectName="hint")

        side = QVBoxLayout()
        side.addWidget(QLabel("Region of interest", objectName="sectionTitle"))
        side.addWidget(self.version_label)
        side.addWidget(QLabel("Add a region, drag its handles on the image. Without any "
                              "include region the whole image counts; exclude regions are "
                              "cut out (shaded).", objectName="hint", wordWrap=True))
        side.addLayout(add)
        side.addWidget(self.shape_list, 1)
        side.addWidget(self.exclude_box)
        side.addWidget(remove)
        side.addWidget(self.coverage)
        side.addWidget(self.reason)
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_button)
        buttons.addWidget(close)
        side.addLayout(buttons)
        side.addWidget(self.message)
        panel = QWidget()
        panel.setLayout(side)
        panel.setFixedWidth(340)
        layout = QHBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(panel)

        for shape in (roi.shapes if roi is not None else ()):
            sx, sy = self.width_px / roi.width, self.height_px / roi.height
            self.add_shape(shape.kind, shape.include, [(x * sx, y * sy) for x, y in shape.points])
        self.box.autoRange(padding=0.01)
        self.refresh_mask()

    # -- shapes ---------------------------------------------------------------------------
    def add_shape(self, kind: str, include: bool = True,
                  points: list[tuple[float, float]] | None = None) -> pg.ROI:
        """A new region; by default a third of the image, in its middle."""
        w, h = self.width_px, self.height_px
        if points is None:
            points = ([(w / 3, h / 3), (2 * w / 3, 2 * h / 3)] if kind != "polygon" else
                      [(w / 2, h / 4), (3 * w / 4, 2 * h / 3), (w / 4, 2 * h / 3)])
        if kind == "polygon":
            item = pg.PolyLineROI(points, closed=True)
        else:
            (x0, y0), (x1, y1) = np.min(points, axis=0), np.max(points, axis=0)
            make = pg.RectROI if kind == "rectangle" else pg.EllipseROI
            item = make((x0, y0), (max(x1 - x0, 1.0), max(y1 - y0, 1.0)))
            for handle in list(item.getHandles()):
                if handle.typ == "r":  # the stored shapes are upright
                    item.removeHandle(handle)
        item.kind, item.include = kind, include
        item.setZValue(10)
        item.sigRegionChangeFinished.connect(lambda _item: self.refresh_mask())
        item.sigClicked.connect(lambda clicked, _event: self._select(clicked))
        item.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.box.addItem(item)
        self.items.append(item)
        self._style(item)
        self.shape_list.addItem("")
        self._relabel()
        self.shape_list.setCurrentRow(len(self.items) - 1)
        self.refresh_mask()
        return item

    def remove_selected(self) -> None:
        row = self.shape_list.currentRow()
        if 0 <= row < len(self.items):
            self.box.removeItem(self.items.pop(row))
            self.shape_list.takeItem(row)
            self._relabel()
            self.refresh_mask()

    def set_include(self, row: int, include: bool) -> None:
        item = self.items[row]
        item.include = include
        self._style(item)
        self._relabel()
        self.refresh_mask()

    def shapes(self) -> tuple[Shape, ...]:
        """The regions in the reference image's pixel coordinates."""
        shapes = []
        for item in self.items:
            if item.kind == "polygon":
                points = [item.mapToParent(pos) for _, pos in item.getLocalHandlePositions()]
                points = [(p.x(), p.y()) for p in points]
            else:
                pos, size = item.pos(), item.size()
                points = [(pos.x(), pos.y()), (pos.x() + size.x(), pos.y() + size.y())]
            shapes.append(Shape(item.kind, tuple(points), item.include))
        return tuple(shapes)

    def roi(self) -> Roi:
        return Roi(self.shapes(), self.width_px, self.height_px)

    def refresh_mask(self) -> None:
        """Shade what the recipe will ignore: the same mask inspection applies."""
        try:
            mask = self.roi().mask(self.height_px, self.width_px)
        except RoiError as error:
            self.coverage.setText(str(error))
            return
        shade = np.zeros((*mask.shape, 4), np.uint8)
        shade[~mask] = SHADE
        self.shade.setImage(shade, autoLevels=False, levels=(0, 255))
        share = mask.mean() * 100
        self.coverage.setText(f"Inspected: {share:.0f} % of the image" +
                              (" — nothing would be inspected" if share == 0 else ""))

    # -- apply ----------------------------------------------------------------------------
    def apply(self) -> None:
        """Ask for a new version; the controller answers through show_message."""
        roi = self.roi()
        if not roi.is_empty and not roi.mask(self.height_px, self.width_px).any():
            self.show_message("This ROI leaves nothing to inspect.", "warning")
            return
        self.show_message("Recalibrating on the recipe's good images …", "info")
        self.apply_requested.emit(None if roi.is_empty else roi, self.reason.text())

    def show_message(self, text: str, level: str = "info") -> None:
        colour = {"error": "#ff6b6b", "warning": "#ffcc00"}.get(level, "#cfcfcf")
        self.message.setStyleSheet(f"color: {colour}")
        self.message.setText(text)

    def on_refused(self, text: str) -> None:
        self.show_message(text, "error")

    def on_version(self, version) -> None:
        self.version_label.setText(f"Version in force: {version.describe()}.")
        self.show_message(f"Applied: version {version.number} judges from the next part.")

    # -- helpers --------------------------------------------------------------------------
    def _style(self, item: pg.ROI) -> None:
        colour = INCLUDE_COLOR if item.include else EXCLUDE_COLOR
        style = Qt.PenStyle.SolidLine if item.include else Qt.PenStyle.DashLine
        item.setPen(pg.mkPen(colour, width=3, style=style))

    def _relabel(self) -> None:
        for row, item in enumerate(self.items):
            word = "include" if item.include else "EXCLUDE"
            self.shape_list.item(row).setText(f"{row + 1}. {word} {item.kind}")

    def _select(self, item: pg.ROI) -> None:
        if item in self.items:
            self.shape_list.setCurrentRow(self.items.index(item))

    def _on_select(self, row: int) -> None:
        valid = 0 <= row < len(self.items)
        self.exclude_box.setEnabled(valid)
        self.exclude_box.blockSignals(True)
        self.exclude_box.setChecked(valid and not self.items[row].include)
        self.exclude_box.blockSignals(False)

    def _set_exclude(self, exclude: bool) -> None:
        row = self.shape_list.currentRow()
        if 0 <= row < len(self.items):
            self.set_include(row, not exclude)
