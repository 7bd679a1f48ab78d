"""The shift report: a PDF (Qt's own writer, A4) and a CSV of the shift's parts beside it.

The PDF holds what a quality engineer signs off at the end of a shift: the shift and station,
the counts and yield read from the inspection database, a table and a chart per hour, the EWMA
control chart as the window showed it, and the failed parts with the highest scores with their
saved images. Both files are written atomically: a reader sees the old file or the new one.
"""
from __future__ import annotations

import heapq
import math
import os
import tempfile
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, Qt
from PySide6.QtGui import (QColor, QFont, QFontMetricsF, QImage, QPageLayout, QPageSize,
                           QPainter, QPdfWriter)
from PySide6.QtWidgets import QApplication

from ..records.export import export_csv
from ..records.part import FAIL, PartRecord
from ..records.shifts import Shift, Totals
from .charts_panel import PRINT, ChartsPanel

TOP_FAILURES = 6
RESOLUTION_DPI = 300
MARGIN_MM = 15.0
INK, MUTED, RULE = QColor("#1a1a1a"), QColor("#5a5a5a"), QColor("#b0b0b0")


def write_shift_report(path_pdf: str | Path, database, shift: Shift,
                       charts_panel: ChartsPanel | None = None, station: str = "",
                       with_csv: bool = True) -> Path:
    """Write the report of `shift` to `path_pdf` and its parts to the CSV beside it (same name,
    .csv). The figures are the database's own station's; `station` is the name printed
    (default: the database's). Runs on the GUI thread (the charts are widgets); the CSV of a
    long shift takes seconds (100,000 parts: several), so a window may pass `with_csv=False` and
    call `export_csv` in a worker instead."""
    if QApplication.instance() is None:
        raise RuntimeError("The shift report draws Qt charts: start a QApplication first")
    path = Path(path_pdf)
    if path.suffix.lower() != ".pdf":
        raise ValueError(f"The shift report is a PDF file: {path.name} does not end in .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    station = station or database.station
    totals = database.shift_totals(shift)
    hourly = database.hourly_yield(shift)
    failures = heapq.nlargest(TOP_FAILURES, database.iter_parts(shift.start_time, shift.end_time,
                                                                verdict=FAIL),
                              key=lambda record: -math.inf if record.score is None
                              else record.score)
    pictures = _chart_pictures(hourly, shift, charts_panel)

    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        _draw_pdf(temporary, station, shift, totals, hourly, failures, pictures, charts_panel)
        with open(temporary, "rb+") as stream:  # on disk before it takes the final name
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if with_csv:
        export_csv(database, path.with_suffix(".csv"), shift)
    return path


def _chart_pictures(hourly: list[Totals], shift: Shift,
                    panel: ChartsPanel | None) -> list[tuple[str, QImage]]:
    """Both charts drawn for paper: the hourly one afresh from the database for this shift, the
    control chart as the window's panel holds it now (it is not in the database)."""
    printed = ChartsPanel(None, theme=PRINT)
    try:
        printed.set_hourly(hourly, shift.start.tzinfo)
        if panel is None:
            return printed.chart_images()[:1]
        printed.copy_chart(panel)
        return printed.chart_images()
    finally:
        printed.deleteLater()


class _Pages:
    """A cursor down A4 pages: text lines, tables and pictures, with page breaks."""

    def __init__(self, writer: QPdfWriter, footer: str):
        self.writer, self.footer = writer, footer
        self.painter = QPainter()
        if not self.painter.begin(writer):
            raise OSError("The PDF file could not be opened for writing")
        self.width = float(writer.width())
        self.height = float(writer.height())
        self.footer_height = self.line_height(_font(8)) * 1.6
        self.y = 0.0
        self.page = 1

    def line_height(self, font: QFont) -> float:
        return QFontMetricsF(font, self.writer).height()

    def ensure(self, height: float) -> None:
        if self.y + height > self.height - self.footer_height and self.y > 0:
            self.new_page()

    def new_page(self) -> None:
        self._draw_footer()
        self.writer.newPage()
        self.page += 1
        self.y = 0.0

    def text(self, text: str, size: float = 10, bold: bool = False, color: QColor = INK,
             gap: float = 0.25, x: float = 0.0) -> None:
        font = _font(size, bold)
        rect = QRectF(x, 0, self.width - x, self.height)
        flags = int(Qt.TextFlag.TextWordWrap)
        bound = QFontMetricsF(font, self.writer).boundingRect(rect, flags, text)
        self.ensure(bound.height())
        self.painter.setFont(font)
        self.painter.setPen(color)
        self.painter.drawText(QRectF(x, self.y, self.width - x, bound.height()), flags, text)
        self.y += bound.height() + gap * self.line_height(font)

    def rule(self) -> None:
        self.painter.setPen(RULE)
        self.painter.drawLine(0, int(self.y), int(self.width), int(self.y))
        self.y += self.line_height(_font(10)) * 0.4

    def table(self, header: list[str], rows: list[list[str]], widths: list[float],
              size: float = 9.5) -> None:
        """Columns at fractions `widths` of the page width; numbers are right-aligned."""
        font, bold = _font(size), _font(size, True)
        height = self.line_height(font) * 1.35
        lefts = [sum(widths[:index]) * self.width for index in range(len(widths))]
        for number, row in enumerate([header] + rows):
            self.ensure(height)
            self.painter.setFont(bold if number == 0 else font)
            self.painter.setPen(INK)
            for column, cell in enumerate(row):
                box = QRectF(lefts[column], self.y, widths[column] * self.width * 0.94, height)
                align = Qt.AlignmentFlag.AlignLeft if column == 0 else Qt.AlignmentFlag.AlignRight
                self.painter.drawText(box, int(align | Qt.AlignmentFlag.AlignVCenter), cell)
            self.y += height
            if number == 0:
                self.painter.setPen(RULE)
                self.painter.drawLine(0, int(self.y), int(self.width), int(self.y))
        self.y += height * 0.5

    def picture(self, image: QImage, max_height_fraction: float = 0.32) -> None:
        width = self.width
        height = width * image.height() / max(image.width(), 1)
        limit = self.height * max_height_fraction
        if height > limit:
            width, height = width * limit / height, limit
        self.ensure(height)
        self.painter.drawImage(QRectF(0, self.y, width, height), image)
        self.y += height + self.line_height(_font(10)) * 0.5

    def finish(self) -> None:
        self._draw_footer()
        self.painter.end()

    def _draw_footer(self) -> None:
        font = _font(8)
        self.painter.setFont(font)
        self.painter.setPen(MUTED)
        box = QRectF(0, self.height - self.line_height(font), self.width, self.line_height(font))
        self.painter.drawText(box, int(Qt.AlignmentFlag.AlignLeft), self.footer)
        self.painter.drawText(box, int(Qt.AlignmentFlag.AlignRight), f"page {self.page}")


def _draw_pdf(file_name: str, station: str, shift: Shift, totals: Totals,
              hourly: list[Totals], failures: list[PartRecord],
              pictures: list[tuple[str, QImage]], panel: ChartsPanel | None) -> None:
    writer = QPdfWriter(file_name)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(MARGIN_MM, MARGIN_MM, MARGIN_MM, MARGIN_MM),
                          QPageLayout.Unit.Millimeter)
    writer.setResolution(RESOLUTION_DPI)
    writer.setTitle(f"Shift report {station} {shift.label}")
    writer.setCreator("adgui")
    now = datetime.now().astimezone()
    pages = _Pages(writer, f"adgui shift report · {station} · {shift.label} · "
                           f"written {now:%Y-%m-%d %H:%M}")

    pages.text("Shift report", 20, bold=True, gap=0.1)
    pages.text(f"Station {station}", 12, bold=True, gap=0.1)
    pages.text(f"Shift {shift.name}: {_when(shift.start)} – {_when(shift.end)}"
               + (f" (started by hand: {shift.reason})" if shift.reason else ""), 11)
    if now.timestamp() < shift.end_time:
        pages.text(f"The shift is still running: the figures are those up to {_when(now)}.", 9,
                   color=MUTED)
    pages.rule()

    pages.text("Counts", 13, bold=True, gap=0.2)
    pages.table(["", "parts", "share"], _count_rows(totals), [0.5, 0.25, 0.25], size=10.5)
    pages.text("Every trigger gets one record: pass + fail + not judged + errors = parts "
               "inspected. Yield = pass / parts inspected; not judged and error parts are "
               "rejects.", 8.5, color=MUTED)
    pages.rule()

    pages.text("Per hour", 13, bold=True, gap=0.2)
    pages.table(["hour", "parts", "pass", "fail", "not judged", "errors", "yield"],
                [_hour_row(hour, shift.start.tzinfo) for hour in hourly],
                [0.2, 0.14, 0.14, 0.13, 0.14, 0.11, 0.14])
    for _title, image in pictures:  # each picture carries its title
        pages.picture(image, max_height_fraction=0.42)
    if panel is None or panel.chart is None:
        pages.text("EWMA control chart: not included (" + ("it is drawn by the window's charts "
                   "panel" if panel is None else panel.chart_status()) + ").", 9, color=MUTED)
    else:
        pages.text(panel.chart_status(), 9, color=MUTED)
    pages.rule()

    pages.text(f"Failed parts with the highest scores (top {TOP_FAILURES})", 13, bold=True,
               gap=0.2)
    if not failures:
        pages.text("No part failed in this shift.", 10)
    for record in failures:
        _failure(pages, record, shift.start.tzinfo)
    pages.finish()


def _count_rows(totals: Totals) -> list[list[str]]:
    inspected = totals.inspected

    def share(count: int) -> str:
        return f"{100.0 * count / inspected:.2f} %" if inspected else "—"

    return [["Parts inspected (triggers)", f"{inspected:,}", ""],
            ["Pass", f"{totals.passed:,}", share(totals.passed)],
            ["Fail", f"{totals.failed:,}", share(totals.failed)],
            ["Not judged", f"{totals.not_judged:,}", share(totals.not_judged)],
            ["Errors", f"{totals.errors:,}", share(totals.errors)],
            ["Yield", "", share(totals.passed)]]


def _hour_row(hour: Totals, zone) -> list[str]:
    start = datetime.fromtimestamp(hour.start, zone)
    end = datetime.fromtimestamp(hour.end, zone)
    yield_ = "—" if hour.yield_ is None else f"{100.0 * hour.yield_:.1f} %"
    return [f"{start:%H:%M}–{end:%H:%M}", f"{hour.inspected:,}", f"{hour.passed:,}",
            f"{hour.failed:,}", f"{hour.not_judged:,}", f"{hour.errors:,}", yield_]


def _failure(pages: _Pages, record: PartRecord, zone) -> None:
    """One failed part: its saved overlay (else image) beside its details, or a note why not."""
    candidates = [path for path in (record.overlay_path, record.image_path) if path]
    image, note = QImage(), "no image was saved for this part"
    for candidate in candidates:
        if not Path(candidate).is_file():
            note = f"image file missing: {candidate}"
            continue
        image = QImage(candidate)
        if image.isNull():
            note = f"image file unreadable: {candidate}"
            continue
        note = f"image: {candidate}"
        break
    side = pages.width * 0.22
    font = _font(9.5)
    lines = [f"Part {record.part_id}   (run {record.run_id}, trigger {record.sequence})",
             f"score {record.score:.3f}   threshold {record.threshold:.3f}"
             if record.score is not None else "no score",
             f"judged {datetime.fromtimestamp(record.verdict_time, zone):%Y-%m-%d %H:%M:%S}",
             note]
    height = side * 0.75
    pages.ensure(height)
    top = pages.y
    box = QRectF(0, top, side, height)
    if image.isNull():  # an empty frame keeps the column of details in line
        pages.painter.setPen(RULE)
        pages.painter.drawRect(box)
        pages.painter.setFont(font)
        pages.painter.setPen(MUTED)
        pages.painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), "no image")
    else:
        ratio = min(side / image.width(), height / image.height())
        pages.painter.drawImage(QRectF(0, top, image.width() * ratio, image.height() * ratio),
                                image)
    x = side * 1.08
    pages.y = top
    for number, line in enumerate(lines):
        pages.text(line, 9.5, bold=number == 0, color=INK if number < 3 else MUTED, gap=0.1, x=x)
    pages.y = max(pages.y, top + height) + pages.line_height(font) * 0.6


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def _font(size: float, bold: bool = False) -> QFont:
    font = QFont()
    font.setPointSizeF(size)
    font.setBold(bold)
    return font
