"""The window fits an operator's 1280 x 800 screen whatever the texts: a deep image folder,
a long recipe name and a long message are elided or wrapped, never widening the window; and in
every state (either role, the PLC in charge or not, a review open or not), where a switch of
role must not grow it either. The engineer's path field keeps room to show a path."""
from __future__ import annotations

import dataclasses

import pytest

from test_gui import FakeInspector, folder, log_in_engineer, make_window

pytestmark = pytest.mark.usefixtures("adgui_home")

SCREEN = (1280, 800)
MESSAGE_END = "and what to do."
PATH_FIELD_WIDTH = 240  # pixels: the end of a path is readable in the engineer's source bar
TWO_LINES = "The line's link: " + "a shorter explanation of what went wrong " * 3 + MESSAGE_END


@pytest.fixture
def styled(qapp):
    """The station's style sheet, as it runs: its larger fonts are what must fit."""
    from adgui.gui.app import apply_style

    apply_style(qapp)
    yield
    qapp.setStyleSheet("")


def long_texts_window(qtbot, tmp_path):
    inspector = FakeInspector()
    inspector.info = dataclasses.replace(inspector.info, name="recipe-" + "R" * 113)  # 120
    window = make_window(qtbot, inspector)
    deep = str(tmp_path / ("deep_image_folder_" * 17))[:300]
    assert len(deep) == 300
    window.source_bar.set_spec(folder(deep))
    window.state.set_source(folder(deep).describe())
    window.state.tell("The camera answered: " + "a long explanation of what went wrong " * 12
                      + MESSAGE_END, "warning")
    window.showNormal()
    return window, deep


def test_long_paths_names_and_messages_fit_a_1280_by_800_screen(qtbot, tmp_path, styled):
    window, deep = long_texts_window(qtbot, tmp_path)
    qtbot.wait(50)  # the layout settled with the long texts
    window.resize(*SCREEN)
    for role in ("operator", "engineer"):  # the engineer's bars replace the operator's run bar
        if role == "operator":
            window.controller.log_out()
        else:
            log_in_engineer(window)
        assert window.state.role == role
        hint = window.minimumSizeHint()
        assert hint.width() <= SCREEN[0] and hint.height() <= SCREEN[1], (role, hint)
        qtbot.wait(50)  # not resized again: a role change must not grow the window either
        assert (window.width(), window.height()) == SCREEN, role
        # What is cut on screen is whole in the tooltip.
        for label in (window.run_bar.source, window.status_panel.source):
            if label.isVisible():
                assert deep in label.text() and deep in label.toolTip()
        assert "R" * 113 in window.status_panel.model.toolTip()
        if role == "engineer":
            assert deep in window.source_bar.form.editors["path"].field.toolTip()
            assert address_widths(qtbot, window) >= PATH_FIELD_WIDTH
        assert window.notice.text.toolTip().endswith(MESSAGE_END)
        lines = window.notice.text.height() / window.notice.text.fontMetrics().lineSpacing()
        assert lines < 2.5, lines


def address_widths(qtbot, window) -> int:
    """The narrowest path field of the engineer's source bar, over the kinds a path addresses
    (the kind in force is chosen again afterwards)."""
    bar = window.source_bar
    chosen, widths = bar.kind.currentIndex(), []
    for index, form in enumerate(bar.forms):
        if any(option.name == form.kind.address and option.kind in ("folder", "file")
               for option in form.kind.options):
            bar.kind.setCurrentIndex(index)
            qtbot.wait(20)  # laid out
            widths.append(form.editors[form.kind.address].field.width())
    bar.kind.setCurrentIndex(chosen)
    assert len(widths) >= 2, "a folder and a video file"
    return min(widths)


def test_an_elided_label_shows_its_whole_text_when_there_is_room(qtbot):
    from PySide6.QtCore import Qt

    from adgui.gui.elided_label import ElidedLabel

    label = ElidedLabel("/a/" + "b" * 200 + "/end", mode=Qt.TextElideMode.ElideMiddle)
    qtbot.addWidget(label)
    label.resize(200, 30)
    shown = super(ElidedLabel, label).text()  # what is painted
    assert "…" in shown and shown.startswith("/a/") and shown.endswith("/end")
    assert label.toolTip() == label.text()
    label.setText("short")
    assert super(ElidedLabel, label).text() == "short" and label.toolTip() == ""


def squeezed(window) -> list[str]:
    """The visible widgets given less height than their minimum."""
    from PySide6.QtWidgets import QWidget

    return [f"{widget.objectName() or type(widget).__name__} {widget.height()}"
            for widget in window.centralWidget().findChildren(QWidget) if widget.isVisible()
            and widget.height() < max(widget.minimumSizeHint().height(), widget.minimumHeight())]


def test_every_view_fits_under_remote_control_with_a_review_open(qtbot, tmp_path, styled):
    """Role switches in every state: the operator's run screen and the engineer's, with the
    PLC in charge or not, a reject under review or not, the line banner and a two-line notice.
    A switch must not grow the window: a window never shrinks back by itself."""
    pytest.importorskip("pymodbus")
    from adgui.gui.line_link import LineConfig
    from adgui.records.part import FAIL
    from line_fakes import free_port
    from test_gui import flat_images
    from test_operator_view import part

    window, _ = long_texts_window(qtbot, tmp_path)
    qtbot.wait(50)
    window.resize(*SCREEN)
    controller, state = window.controller, window.state
    port = free_port()
    assert controller.configure_line(
        LineConfig({"modbus": {"listen": f"127.0.0.1:{port}", "ack_timeout_ms": 60_000}}), "PLC")
    parts = folder(flat_images(tmp_path / "parts", [10]), trigger="plc")
    try:
        for remote in (False, True):
            if remote:
                assert controller.enter_remote_control(parts)
            for review in (False, True):
                state.review(part(FAIL, 0.9, "bad_1.png")) if review else state.back_to_live()
                state.tell(TWO_LINES, "warning")  # after the link's own news
                qtbot.wait(50)
                for role in ("operator", "engineer"):  # each reached by a switch
                    if role == "operator":
                        controller.log_out()
                    else:
                        log_in_engineer(window)
                    qtbot.wait(50)  # the layout settled
                    case = (role, "remote" if remote else "local", review)
                    assert state.role == role and state.remote_control is remote, case
                    assert window.review_pane.isVisible() is review, case
                    assert window.links_panel.isVisible(), case
                    assert window.links_panel.remote.isVisible() is remote, case
                    if remote:
                        assert window.verdict_panel.verdict.text() == "WAITING", case
                    lines = (window.notice.text.height()
                             / window.notice.text.fontMetrics().lineSpacing())
                    assert 1.5 < lines < 2.5, (case, lines)
                    assert not (short := squeezed(window)), (case, short)
                    hint = window.minimumSizeHint()
                    assert hint.width() <= SCREEN[0] and hint.height() <= SCREEN[1], (case, hint)
                    assert (window.width(), window.height()) == SCREEN, case
                    if role == "engineer":
                        field = window.source_bar.form.editors["path"].field
                        assert field.width() >= PATH_FIELD_WIDTH, (case, field.width())
            if remote:
                assert controller.leave_remote_control("the test is over")
    finally:
        controller.line.close()
