"""The operator's run screen: a verdict readable from 3 m and safe for colour-blind eyes, the
0-100 score, a review beside the live view, zoom and overlay, shortcuts, quitting, and what
only an engineer sees. Parts are synthetic JudgedParts or flat images through a fake model."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from adgui.gui.palette import (LOOKS, contrast_ratio, delta_e76, relative_luminance,
                               simulate_deuteranopia, text_contrast)
from adgui.gui.score_scale import operator_score
from adgui.pipeline.inspection import InspectionResult, ModelInfo
from adgui.pipeline.live import JudgedPart
from adgui.records.part import ERROR, FAIL, NOT_JUDGED, PASS, PartRecord
from adgui.sources import SourceSpec

pytestmark = pytest.mark.usefixtures("adgui_home")

SCREENS = [(1280, 800), (1920, 1080)]


class FakeInspector:
    """Score = first pixel / 100, optionally slow."""

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.info = ModelInfo("fake", "fake", "none", "CPU (test)", 0.5,
                              np.array([0.05, 0.1, 0.2], dtype=np.float32), {})

    def inspect(self, image: np.ndarray) -> InspectionResult:
        time.sleep(self.delay_s)
        score = float(image.flat[0]) / 100.0
        return InspectionResult(score, np.full(image.shape[:2], score, np.float32), 1.0)


def make_window(qtbot, inspector=None, full_screen: bool = False, source=None):
    """`source`: the source an engineer set up before (the settings in force at start)."""
    from adgui.gui.app import apply_style, build_window
    from adgui.gui.settings import open_settings, save_source_settings

    settings, _ = open_settings()
    settings.setValue("window/full_screen", full_screen)
    if source is not None:
        save_source_settings(settings, source, {source.kind: source.settings})
    settings.sync()
    del settings
    apply_style(QApplication.instance())
    inspector = inspector or FakeInspector()
    window = build_window(open_inspector=lambda path, device: inspector)
    qtbot.addWidget(window)
    window.show()
    window.controller.load_model("fake.adgui", restoring=True)  # the recipe in force at start
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=10_000)
    return window


def part(verdict: str, score: float | None, name: str, threshold: float = 0.5,
         value: int = 120) -> JudgedPart:
    record = PartRecord(name, 1, verdict, score, threshold, source="test",
                        verdict_time=time.time(), reason="" if score is not None else "queue full")
    if score is None:
        return JudgedPart(record)
    image = np.full((60, 80, 3), value, np.uint8)
    picture = image.copy()
    picture[20:40, 30:50] = (250, 40, 40)  # the "heatmap"
    return JudgedPart(record, image, np.zeros((60, 80), np.float32), picture, picture[::4, ::4])


def flat_images(folder, values):
    folder.mkdir(parents=True, exist_ok=True)
    for index, value in enumerate(values):
        cv2.imwrite(str(folder / f"img_{index:02d}.png"), np.full((48, 64, 3), value, np.uint8))
    return folder


def folder_spec(path, rate=0.0, loop=False) -> SourceSpec:
    return SourceSpec("folder", {"path": str(path), "rate": rate, "loop": loop}, "")


def sized(qtbot, window, width: int, height: int) -> None:
    window.showNormal()
    window.resize(width, height)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == (width, height), timeout=5000)
    qtbot.wait(50)  # layouts settle


def letter_rows(pixels: np.ndarray, colour: tuple[int, int, int]) -> int:
    """How many rows of the painted verdict hold the text colour (letters and symbol)."""
    close = np.abs(pixels.astype(int) - np.array(colour)).sum(axis=2) < 60
    rows = np.flatnonzero(close.any(axis=1))
    return int(rows[-1] - rows[0] + 1) if len(rows) else 0


def grab_rgb(widget) -> np.ndarray:
    from PySide6.QtGui import QImage

    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return data[:, :3 * image.width()].reshape(image.height(), image.width(), 3).copy()


# -- palette, contrast, colour blindness -------------------------------------------------

def test_contrast_ratio_matches_the_wcag_definition():
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast_ratio("#0072B2", "#0072B2") == pytest.approx(1.0)
    assert relative_luminance("#FFFFFF") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#FFFFFF") == pytest.approx(4.54, abs=0.01)  # WCAG's AA grey
    assert contrast_ratio("#2EA043", "#DA3633") == pytest.approx(1.37, abs=0.01)  # the old pair
    with pytest.raises(ValueError, match="rrggbb"):
        contrast_ratio("green", "#FFFFFF")


@pytest.mark.parametrize("verdict", [PASS, FAIL, NOT_JUDGED, ERROR, "none", "preview"])
def test_every_verdict_text_has_at_least_4_5_contrast(verdict):
    assert text_contrast(verdict) >= 4.5


def test_verdicts_differ_by_word_symbol_and_shape():
    looks = [LOOKS[verdict] for verdict in (PASS, FAIL, NOT_JUDGED, ERROR)]
    for field in ("word", "symbol", "shape", "background"):
        assert len({getattr(look, field) for look in looks}) == 4, field


def test_pass_and_fail_stay_apart_under_deuteranopia():
    """Luminance contrast >= 1.5 and CIE76 dE >= 30 between the simulated backgrounds: the
    retired green / red pair (reported as the same khaki) measures 1.1 and 12."""
    def apart(first: str, second: str) -> bool:
        seen = simulate_deuteranopia(first), simulate_deuteranopia(second)
        return contrast_ratio(*seen) >= 1.5 and delta_e76(*seen) >= 30.0

    assert apart(LOOKS[PASS].background, LOOKS[FAIL].background)
    assert not apart("#2EA043", "#DA3633")
    assert simulate_deuteranopia("#808080") == "#808080", "greys are unchanged"


# -- the 0-100 score -----------------------------------------------------------------------

@pytest.mark.parametrize("score, threshold, shown", [
    (0.5, 0.5, 50), (0.0, 0.5, 0), (1.0, 0.5, 100), (0.25, 0.5, 25),
    (0.3, 0.3, 50), (0.15, 0.3, 25), (0.6, 0.3, 100),
    (-0.098, 0.5, 0), (7.0, 0.5, 100),  # clamped
    (0.4999999, 0.5, 49), (0.5000001, 0.5, 50),  # the number agrees with the verdict
    (0.0, 0.0, 50), (-0.05, 0.0, 0), (0.025, 0.0, 75),  # a threshold at zero: MIN_SPAN
    (None, 0.5, None), (float("nan"), 0.5, None),
])
def test_operator_score_puts_the_threshold_at_50(score, threshold, shown):
    assert operator_score(score, threshold) == shown


# -- the verdict on screen -----------------------------------------------------------------

@pytest.mark.parametrize("width, height", SCREENS)
def test_the_verdict_fills_15_percent_of_the_screen_and_its_letters_grow(qtbot, width, height):
    window = make_window(qtbot)
    sized(qtbot, window, width, height)
    window.state.add_part(part(PASS, 0.2, "good.png"))
    qtbot.wait(50)
    verdict = window.verdict_panel.verdict
    assert verdict.text() == "PASS"
    assert verdict.height() >= 0.15 * height, (verdict.height(), height)
    letters = letter_rows(grab_rgb(verdict), (255, 255, 255))
    assert letters >= 0.08 * height, f"{letters} px of lettering at {width}x{height}"
    assert window.verdict_panel.score.text() == "score 20 / 100 (limit 50)"
    window.state.add_part(part(NOT_JUDGED, None, "trigger 7"))
    assert verdict.text() == "NOT JUDGED" and window.verdict_panel.score.text() == "score —"


def test_the_score_can_be_hidden_and_that_is_kept(qtbot):
    window = make_window(qtbot)
    window.state.add_part(part(FAIL, 0.8, "bad.png"))
    assert window.verdict_panel.score.isVisible()
    window.show_score_action.setChecked(False)
    assert not window.verdict_panel.score.isVisible()
    window.close()
    again = make_window(qtbot)
    again.state.add_part(part(FAIL, 0.8, "bad.png"))
    assert not again.verdict_panel.score.isVisible()


# -- review beside the live view -----------------------------------------------------------

def test_a_review_opens_beside_the_live_view_which_keeps_updating(qtbot):
    window = make_window(qtbot)
    sized(qtbot, window, 1280, 800)
    state = window.state
    first, second = part(FAIL, 0.9, "bad_1.png"), part(FAIL, 0.7, "bad_2.png")
    state.add_part(first)
    state.add_part(second)
    window.failure_strip.list.itemClicked.emit(window.failure_strip.list.item(1))  # the older
    assert state.reviewed is first and window.review_pane.isVisible()
    state.add_part(part(PASS, 0.1, "good_3.png"))  # the line goes on
    qtbot.wait(20)
    assert window.verdict_panel.verdict.text() == "PASS", "the live verdict is never replaced"
    assert window.image_panel.part().record.part_id == "good_3.png"
    assert window.review_pane.image.part() is first
    live, review = window.image_panel, window.review_pane
    assert live.isVisible() and review.isVisible()
    live_box = live.geometry().translated(live.parentWidget().mapTo(window, live.pos()) - live.pos())
    review_box = review.geometry().translated(
        review.parentWidget().mapTo(window, review.pos()) - review.pos())
    assert not live_box.intersects(review_box) and live_box.right() < review_box.left()

    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert state.reviewed is second, "next = the newer reject"
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert state.reviewed is first
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert state.reviewed is None and not window.review_pane.isVisible()
    assert window.verdict_panel.verdict.text() == "PASS"


# -- image view: zoom and overlay ----------------------------------------------------------

def _view_width(panel) -> float:
    (left, right), _ = panel.box.viewRange()
    return right - left


def test_every_new_part_is_shown_whole_and_home_resets_the_view(qtbot):
    window = make_window(qtbot)
    window.state.add_part(part(PASS, 0.1, "a.png"))
    panel = window.image_panel
    whole = _view_width(panel)
    panel.box.scaleBy((0.2, 0.2))  # six wheel clicks' worth of zoom
    assert _view_width(panel) < 0.5 * whole
    window.state.add_part(part(FAIL, 0.9, "b.png"))
    assert _view_width(panel) == pytest.approx(whole, rel=0.05), "a new part is shown whole"
    panel.box.scaleBy((0.2, 0.2))
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert _view_width(panel) == pytest.approx(whole, rel=0.05)


def test_the_overlay_switch_shows_the_plain_image(qtbot):
    window = make_window(qtbot)
    judged = part(FAIL, 0.9, "b.png")
    window.state.add_part(judged)
    shown = lambda: window.image_panel._image.image  # noqa: E731
    assert np.array_equal(shown(), judged.picture)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert not window.state.overlay and np.array_equal(shown(), judged.image)
    assert not window.image_panel.overlay_button.isChecked()
    window.image_panel.overlay_button.click()
    assert window.state.overlay and np.array_equal(shown(), judged.picture)


# -- run control: shortcuts and quitting ---------------------------------------------------

def test_shortcuts_start_pause_and_stop(qtbot, tmp_path):
    window = make_window(qtbot, FakeInspector(delay_s=0.05), source=folder_spec(
        flat_images(tmp_path / "flat", [20, 80]), rate=5.0, loop=True))
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    state = window.state
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert state.run_state == "running"
    qtbot.keyClick(window, Qt.Key.Key_F6)
    assert state.run_state == "paused"
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert state.run_state == "running"
    qtbot.keyClick(window, Qt.Key.Key_F7)
    assert state.run_state == "idle"
    from adgui.gui.main_window import shortcut_help

    text = shortcut_help()
    for key in ("F5", "F6", "F7", "PgUp", "PgDown", "Home", "O", "F11"):
        assert f"{key}\t" in text


def test_quitting_while_running_asks_first(qtbot, tmp_path):
    spec = folder_spec(flat_images(tmp_path / "flat", [20, 80]), rate=5.0, loop=True)
    window = make_window(qtbot, FakeInspector(delay_s=0.05), source=spec)
    window.controller.start(window.source_bar.spec())  # as the engineer set it up
    assert window.state.run_state == "running"
    window.close()
    question = window.quit_question
    assert window.isVisible() and question.isVisible()
    keep = next(b for b in question.buttons()
                if question.buttonRole(b) == QMessageBox.ButtonRole.RejectRole)
    keep.click()
    assert window.isVisible() and window.state.run_state == "running"
    window.close()
    question = window.quit_question
    quit_button = next(b for b in question.buttons()
                       if question.buttonRole(b) == QMessageBox.ButtonRole.DestructiveRole)
    quit_button.click()
    assert not window.isVisible() and window.state.run_state == "idle"


def test_the_quit_question_can_be_switched_off(qtbot, tmp_path):
    window = make_window(qtbot, FakeInspector(delay_s=0.05))
    window.settings.setValue("window/ask_before_quit", False)
    window.controller.start(folder_spec(flat_images(tmp_path / "flat", [20]), rate=5.0, loop=True))
    window.close()
    assert not window.isVisible()


# -- the operator's screen and the engineer's ----------------------------------------------

def test_engineering_controls_appear_only_for_an_engineer(qtbot):
    window = make_window(qtbot)
    engineering = window.engineering_widgets()
    tabs = window.views

    def engineer_view() -> list[bool]:
        return ([widget.isVisible() for widget in engineering]
                + [tabs.isTabVisible(tabs.indexOf(window.threshold_panel)),
                   tabs.isTabVisible(tabs.indexOf(window.charts_panel))]
                + [action.isVisible() for action in window.engineer_actions])

    assert window.state.role == "operator"
    assert not any(engineer_view()) and window.run_bar.isVisible()
    assert window.counters_panel.new_shift_button in engineering
    assert window.recipe_bar.train_button.isHidden() or not window.recipe_bar.isVisible()
    window.controller.guard.set_password("erika", "a long passphrase", "engineer")
    assert window.controller.log_in("erika", "a long passphrase")
    assert all(engineer_view()) and not window.run_bar.isVisible()
    window.controller.log_out()
    assert not any(engineer_view()) and window.run_bar.isVisible()


def test_the_operators_station_opens_full_screen(qtbot):
    window = make_window(qtbot, full_screen=True)
    assert window.isFullScreen() and window.full_screen_action.isChecked()
    window.toggle_full_screen()
    assert not window.isFullScreen()
    assert str(window.settings.value("window/full_screen")).lower() == "false"


def test_typing_in_a_field_is_not_taken_by_the_one_letter_shortcut(qtbot):
    window = make_window(qtbot)
    window.controller.guard.set_password("erika", "a long passphrase", "engineer")
    assert window.controller.log_in("erika", "a long passphrase")  # the folder field is theirs
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    field = window.source_bar.form.editors["path"].field
    field.setFocus()
    qtbot.waitUntil(field.hasFocus, timeout=2000)
    qtbot.keyClicks(field, "boo")
    assert field.text() == "boo" and window.state.overlay
