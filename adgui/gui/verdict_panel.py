"""The large verdict an operator reads from across the room.

Each verdict has a word, a symbol and a box shape of its own, never colour alone: PASS a
tick in a rounded blue box; FAIL a cross in a square orange box with a thick black frame;
NOT JUDGED a question mark on grey stripes; ERROR an exclamation mark in a box with cut
corners. The symbols are drawn, not taken from a font, and the lettering grows with the box.
Below it, the score on the 0–100 scale with the limit at 50 (score_scale.py), which a
setting can hide.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..records.part import ERROR, FAIL, NOT_JUDGED, PASS
from .elided_label import ElidedLabel
from .palette import IDLE_KIND, PREVIEW_KIND, look
from .score_scale import LIMIT, operator_score
from .state import PAUSED, RUNNING, AppState

WORDS = {PASS: "✔ PASS", FAIL: "✖ FAIL", NOT_JUDGED: "? NOT JUDGED", ERROR: "! ERROR"}


def verdict_word(verdict: str) -> str:
    """The verdict with its symbol, for captions and lists."""
    return WORDS.get(verdict, verdict)


class VerdictDisplay(QWidget):
    """The verdict box, painted: its font follows the widget's size."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind, self.word = IDLE_KIND, "READY"
        self.setMinimumSize(200, 90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_verdict(self, kind: str, word: str) -> None:
        if (kind, word) != (self.kind, self.word):
            self.kind, self.word = kind, word
            self.update()

    def text(self) -> str:
        return self.word

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        style = look(self.kind)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        box = QRectF(self.rect()).adjusted(2, 2, -2, -2)
        side = min(box.width(), box.height())
        background = QColor(style.background)
        if style.shape == "square":
            frame = max(6.0, 0.07 * side)
            painter.fillRect(box, QColor(style.border))
            painter.fillRect(box.adjusted(frame, frame, -frame, -frame), background)
        elif style.shape == "notched":
            painter.fillPath(_notched(box, 0.18 * side), background)
        elif style.shape == "hatched":
            painter.fillRect(box, background)
            _hatch(painter, box, QColor(style.hatch), max(8.0, 0.08 * side))
        else:
            radius = 0.16 * side
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(background)
            painter.drawRoundedRect(box, radius, radius)
        if self.kind == PREVIEW_KIND:  # a dashed outline: this is not a part's verdict
            pen = QPen(QColor(style.text), 3, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(box.adjusted(2, 2, -2, -2), 12, 12)
        self._paint_content(painter, box, style)
        painter.end()

    def _paint_content(self, painter: QPainter, box: QRectF, style) -> None:
        margin = 0.12 * min(box.width(), box.height())  # clear of a square box's frame
        inner = box.adjusted(margin, margin, -margin, -margin)
        font = QFont(self.font())
        font.setWeight(QFont.Weight.Black)
        font.setPixelSize(100)
        metrics = QFontMetricsF(font)
        # One line, or two where the words are several and the box is tall: the larger letters win.
        wordings = [self.word] + ([self.word.replace(" ", "\n")] if " " in self.word else [])
        layouts = []
        for wording in wordings:
            lines = wording.split("\n")
            per_pixel = max(metrics.horizontalAdvance(line) for line in lines) / 100.0
            layouts.append((*_layout(inner, per_pixel, bool(style.symbol), len(lines)), wording))
        size, symbol, text, wording = max(layouts, key=lambda layout: layout[0])
        font.setPixelSize(max(8, int(size)))
        color = QColor(style.text)
        if style.symbol:
            _symbol(painter, style.symbol, symbol, color, font)
        painter.setFont(font)
        painter.setPen(color)
        painter.drawText(text, Qt.AlignmentFlag.AlignCenter, wording)


def _layout(inner: QRectF, per_pixel: float, with_symbol: bool,
            lines: int = 1) -> tuple[float, QRectF, QRectF]:
    """Font size, symbol cell and text box: the symbol beside the word or above it, whichever
    gives the larger letters. `per_pixel` is the widest line's width per pixel of font size."""
    def fit(width: float, height: float) -> float:
        return max(0.0, min(0.8 * height / lines, width / max(per_pixel, 1e-6)))

    if not with_symbol:
        return fit(inner.width(), inner.height()), QRectF(), inner
    # Beside: a square symbol as tall as the letters' box, at most 30 % of the width.
    side = min(0.75 * inner.height(), 0.3 * inner.width())
    beside = fit(inner.width() - 1.2 * side, inner.height())
    # Above: the symbol over the word.
    top_side = min(0.45 * inner.height(), 0.5 * inner.width())
    above = fit(inner.width(), inner.height() - 1.1 * top_side)
    if beside >= above:
        side = min(side, 1.1 * beside)  # the symbol no taller than the letters need
        width = 1.2 * side + beside * per_pixel
        left = inner.center().x() - width / 2
        symbol = QRectF(left, inner.center().y() - side / 2, side, side)
        text = QRectF(left + 1.2 * side, inner.top(), beside * per_pixel + 4, inner.height())
        return beside, symbol, text
    top_side = min(top_side, 1.1 * above)
    height = 1.1 * top_side + 1.2 * above * lines
    top = inner.center().y() - height / 2
    symbol = QRectF(inner.center().x() - top_side / 2, top, top_side, top_side)
    text = QRectF(inner.left(), top + 1.1 * top_side, inner.width(), 1.2 * above * lines)
    return above, symbol, text


def _notched(box: QRectF, cut: float) -> QPainterPath:
    path = QPainterPath()
    path.moveTo(box.left() + cut, box.top())
    for point in ((box.right() - cut, box.top()), (box.right(), box.top() + cut),
                  (box.right(), box.bottom() - cut), (box.right() - cut, box.bottom()),
                  (box.left() + cut, box.bottom()), (box.left(), box.bottom() - cut),
                  (box.left(), box.top() + cut)):
        path.lineTo(*point)
    path.closeSubpath()
    return path


def _hatch(painter: QPainter, box: QRectF, color: QColor, step: float) -> None:
    painter.save()
    painter.setClipRect(box)
    painter.setPen(QPen(color, step / 2))
    x = box.left() - box.height()
    while x < box.right():
        painter.drawLine(QPointF(x, box.bottom()), QPointF(x + box.height(), box.top()))
        x += step
    painter.restore()


def _symbol(painter: QPainter, symbol: str, cell: QRectF, color: QColor, font: QFont) -> None:
    """A tick, a cross, or a character in a ring, drawn to fill `cell`."""
    painter.save()
    side = cell.width()
    pen = QPen(color, max(3.0, side * 0.16), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
               Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    x, y = cell.left(), cell.top()
    if symbol == "check":
        path = QPainterPath(QPointF(x + 0.12 * side, y + 0.55 * side))
        path.lineTo(x + 0.40 * side, y + 0.82 * side)
        path.lineTo(x + 0.90 * side, y + 0.18 * side)
        painter.drawPath(path)
    elif symbol == "cross":
        painter.drawLine(QPointF(x + 0.15 * side, y + 0.15 * side), QPointF(x + 0.85 * side, y + 0.85 * side))
        painter.drawLine(QPointF(x + 0.85 * side, y + 0.15 * side), QPointF(x + 0.15 * side, y + 0.85 * side))
    else:
        pen.setWidthF(max(2.0, side * 0.08))
        painter.setPen(pen)
        painter.drawEllipse(cell.adjusted(0.06 * side, 0.06 * side, -0.06 * side, -0.06 * side))
        ring_font = QFont(font)
        ring_font.setPixelSize(int(side * 0.62))
        painter.setFont(ring_font)
        painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, "?" if symbol == "question" else "!")
    painter.restore()


class VerdictPanel(QWidget):
    """The live part's verdict, its score and part; a review never replaces it."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.show_score = True
        self.verdict = VerdictDisplay()
        self.verdict.setObjectName("verdict")
        self.score = QLabel(alignment=Qt.AlignmentFlag.AlignCenter, objectName="verdictScore")
        # One line, cut (whole in the tooltip): a wrapped second line would need more height
        # than the window's minimum counts, and squeeze the counters below.
        self.detail = ElidedLabel(mode=Qt.TextElideMode.ElideRight, objectName="verdictDetail",
                                  alignment=Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.verdict, 1)
        layout.addWidget(self.score)
        layout.addWidget(self.detail)
        for signal in (state.shown_changed, state.model_changed, state.line_changed,
                       state.run_state_changed):
            signal.connect(self._refresh)
        self._refresh()

    def set_show_score(self, shown: bool) -> None:
        self.show_score = bool(shown)
        self._refresh()

    def set_verdict_height(self, pixels: int) -> None:
        """The verdict box's height; the window sets it from its own height."""
        self.verdict.setMinimumHeight(pixels)

    def _refresh(self, *_args) -> None:
        part = self.state.shown
        score = None
        if part is None:
            kind = IDLE_KIND
            word, detail = before_first_part(self.state)
        else:
            record = part.record
            kind = PREVIEW_KIND if part.preview else record.verdict
            word = "PREVIEW" if part.preview else look(record.verdict).word
            score = operator_score(record.score, record.threshold)
            detail = record.part_id if record.score is not None else f"{record.part_id}: {record.reason}"
            if part.preview:
                detail = f"preview, not recorded · {detail}"
        self.verdict.set_verdict(kind, word)
        self.score.setVisible(self.show_score)
        self.score.setText("score —" if score is None else f"score {score} / 100 (limit {LIMIT})")
        self.detail.setText(detail)


def before_first_part(state: AppState) -> tuple[str, str]:
    """The big word and the line below it while no part is shown: what the station waits for.
    Under remote control Start is locked: the line's PLC starts runs and triggers parts."""
    if state.model is None:
        return "NO RECIPE", "an engineer loads a recipe first"
    running = state.run_state in (RUNNING, PAUSED)
    if state.remote_control:  # the remote control banner is shown: short, to fit one line
        return "WAITING", ("waiting for the PLC to trigger a part" if running
                           else "waiting for the PLC to start the run")
    if running:
        return "READY", "waiting for the first part"
    return "READY", "press Start to inspect"
