"""The window with its line outputs: a Modbus output configured in the window (an engineer's
recorded change), a real pymodbus client as the PLC, remote control locking the operator's
Start / Stop / recipe, leaving it an engineer's recorded action, and a link that goes down
shown as down."""
from __future__ import annotations

import pytest

pytest.importorskip("pymodbus")
from adgui.gui.line_link import LineConfig  # noqa: E402
from adgui.outputs import modbus as reg  # noqa: E402
from adgui.outputs.base import wait_until  # noqa: E402

from line_fakes import free_port  # noqa: E402
from test_gui import FakeInspector, flat_images, folder, log_in_engineer, make_window  # noqa: E402
from test_outputs_modbus import Plc  # noqa: E402

pytestmark = pytest.mark.usefixtures("adgui_home")


def audit_kinds(window) -> list[str]:
    database = window.controller.database
    database.writer.flush()
    return [event.kind for event in database.database.events()]


@pytest.fixture
def modbus_window(qtbot, tmp_path):
    window = make_window(qtbot, FakeInspector(), engineer=False)  # an operator
    port = free_port()
    config = LineConfig({"modbus": {"listen": f"127.0.0.1:{port}", "ack_timeout_ms": 60_000}})
    yield window, config, port
    window.controller.line.close()


def test_an_operator_cannot_change_the_outputs(modbus_window):
    window, config, _ = modbus_window
    assert not window.controller.configure_line(config, "new PLC")
    assert "operator cannot" in window.state.last_message[1].lower()
    assert not window.controller.line.active
    assert "permission_denied" in audit_kinds(window)


def test_the_plc_runs_the_station_from_the_window_and_an_engineer_takes_it_back(
        modbus_window, qtbot, tmp_path):
    window, config, port = modbus_window
    controller, state = window.controller, window.state
    log_in_engineer(window)
    dialog = window.edit_line_outputs()
    assert dialog.groups["modbus"].isChecked() is False
    dialog.groups["modbus"].setChecked(True)
    dialog.editors["modbus"]["listen"].set_value(f"127.0.0.1:{port}")
    dialog.editors["modbus"]["ack_timeout_ms"].set_value(60_000)
    dialog._accept()  # no reason given: refused, the dialog stays open with what was typed
    assert dialog.isVisible() and not controller.line.active
    dialog.reason.setText("the new PLC")
    dialog._accept()
    assert not dialog.isVisible() and controller.line.active
    assert "output_changed" in audit_kinds(window)
    assert LineConfig.from_text(window.settings.value("line/outputs")).outputs["modbus"]["listen"] \
        == f"127.0.0.1:{port}"
    assert window.links_panel.isVisible()

    images = flat_images(tmp_path / "parts", [10, 90, 20, 80, 30])  # PASS FAIL PASS FAIL PASS
    assert controller.enter_remote_control(folder(images, trigger="plc"))
    assert state.remote_control and window.links_panel.remote.isVisible()
    bar = window.source_bar
    assert not (bar.start_button.isEnabled() or bar.stop_button.isEnabled()
                or window.recipe_bar.combo.isEnabled())
    # Calling the controller directly is refused too, with a message.
    controller.stop()
    assert "PLC is in charge" in state.last_message[1]
    assert controller.pipeline.running

    plc = Plc(port)
    try:
        plc.wait_for(reg.READY_REG, 1)
        verdicts = []
        for _ in range(5):
            plc.trigger()
            _, bits, _ = plc.take_result()
            verdicts.append(bits)
        assert verdicts == [(1, 0, 0), (0, 1, 0), (1, 0, 0), (0, 1, 0), (1, 0, 0)]
        qtbot.waitUntil(lambda: state.counters.judged == 5, timeout=10_000)
        assert "✔ modbus" in window.links_panel.links.text()
    finally:
        plc.close()

    # The PLC stops polling: the window shows the link down.
    qtbot.waitUntil(lambda: "DOWN" in window.links_panel.links.text(),
                    timeout=int(reg.LINK_IDLE_S * 1000) + 5_000)

    controller.log_out()
    assert not controller.leave_remote_control("maintenance")
    assert state.remote_control and "operator cannot" in state.last_message[1].lower()
    log_in_engineer(window)
    assert controller.leave_remote_control("maintenance")
    assert not state.remote_control and not window.links_panel.remote.isVisible()
    assert bar.stop_button.isEnabled() and window.recipe_bar.combo.isEnabled()
    assert "remote_control_left" in audit_kinds(window)
    controller.stop()
    assert wait_until(lambda: not controller.pipeline.running, 5)


def test_an_output_that_cannot_start_says_why_and_nothing_runs(modbus_window):
    window, config, port = modbus_window
    log_in_engineer(window)
    assert window.controller.configure_line(config, "first")
    clash = LineConfig({"modbus": {"listen": f"127.0.0.1:{port}"},
                        "opcua": {"endpoint": f"opc.tcp://127.0.0.1:{port}/adgui/",
                                  "allow_anonymous": True}})
    window.controller.line.close()  # frees the port; the next config takes it twice
    assert not window.controller.configure_line(clash, "both on one port")
    assert "could not start" in window.state.last_message[1]
    assert not window.controller.line.active


def test_the_plc_chooses_a_recipe_from_the_table_and_the_window_follows(modbus_window, qtbot,
                                                                        tmp_path):
    import dataclasses
    import json

    window, config, port = modbus_window
    controller, state = window.controller, window.state
    second = FakeInspector()
    second.info = dataclasses.replace(second.info, name="second", threshold=0.8)
    controller.line.open_inspector = lambda path: second
    table = tmp_path / "recipes.json"
    table.write_text(json.dumps({"2": "second.adgui"}))
    log_in_engineer(window)
    assert controller.configure_line(LineConfig(config.outputs, str(table)), "recipes by number")
    images = flat_images(tmp_path / "parts", [10, 60])  # PASS, then 0.6: FAIL at 0.5, PASS at 0.8
    assert controller.enter_remote_control(folder(images, trigger="plc"))
    controller.log_out()  # the operator is at the station; the PLC chooses
    plc = Plc(port)
    try:
        plc.wait_for(reg.READY_REG, 1)
        plc.write(reg.RECIPE_SELECT, 2)
        plc.wait_for(reg.RECIPE_ACTIVE, 2)
        plc.wait_for(reg.READY_REG, 1)
        verdicts = []
        for _ in range(2):
            plc.trigger()
            verdicts.append(plc.take_result()[1])
    finally:
        plc.close()
    assert verdicts == [(1, 0, 0), (1, 0, 0)]  # judged by the second recipe, at its 0.8
    qtbot.waitUntil(lambda: state.model is not None and state.model.name == "second", timeout=5_000)
    assert state.threshold == 0.8
    database = controller.database
    database.writer.flush()
    changes = [event for event in database.database.events("recipe_changed")]
    assert changes and changes[-1].new_value == "second" and "line" in changes[-1].user


def test_an_engineer_s_recipe_switch_reaches_the_plc_at_once(modbus_window, qtbot, tmp_path):
    """The line's recipe number follows a recipe an engineer loads while the outputs run: the
    table's number for it, or 0 for a recipe the table does not hold."""
    import json

    window, config, port = modbus_window
    controller = window.controller
    first, second = tmp_path / "first.adgui", tmp_path / "second.adgui"
    for model in (first, second):
        model.write_bytes(b"a recipe file; the fake inspector is what loads")
    table = tmp_path / "recipes.json"
    table.write_text(json.dumps({"2": "second.adgui"}))
    log_in_engineer(window)
    assert controller.configure_line(LineConfig(config.outputs, str(table)), "recipes by number")
    plc = Plc(port)
    try:
        assert plc.registers()[reg.RECIPE_ACTIVE] == 0
        for model, number in ((second, 2), (first, 0)):
            assert controller.load_model(model)
            qtbot.waitUntil(lambda: window.state.model_path == str(model), timeout=5_000)
            plc.wait_for(reg.RECIPE_ACTIVE, number)
    finally:
        plc.close()


def test_before_the_first_part_the_verdict_panel_says_the_plc_starts_the_run(modbus_window,
                                                                            qtbot, tmp_path):
    window, config, _ = modbus_window
    controller, panel = window.controller, window.verdict_panel
    assert "press Start" in panel.detail.text()  # local control: the operator starts
    assert "Start" in window.image_panel._hint.text()
    log_in_engineer(window)
    assert controller.configure_line(config, "the new PLC")
    images = flat_images(tmp_path / "parts", [10])
    assert controller.enter_remote_control(folder(images, trigger="plc"))
    # Start is locked under remote control: the panel says who starts and what it waits for.
    assert panel.verdict.text() == "WAITING"
    assert "PLC to trigger" in panel.detail.text() and "Start" not in panel.detail.text()
    hint = window.image_panel._hint.text()  # the empty live view says the same
    assert "PLC to trigger" in hint and "Start" not in hint
    controller.line.station.stop_run()  # as the PLC's Stop does
    qtbot.waitUntil(lambda: "PLC to start the run" in panel.detail.text(), timeout=5_000)
    assert panel.verdict.text() == "WAITING"


def _remote_events(window) -> list:
    database = window.controller.database
    database.writer.flush()
    return database.database.events("remote_control_on")


def test_remote_control_comes_back_after_a_restart_and_the_restore_is_recorded(qtbot, tmp_path):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from adgui.access.guard import STARTUP_USER
    from adgui.pipeline.userdata import settings_path

    recipe = tmp_path / "fake.adgui"
    recipe.write_bytes(b"a recipe file; the fake inspector is what loads")
    window = make_window(qtbot, FakeInspector(), model_path=str(recipe))
    port = free_port()
    config = LineConfig({"modbus": {"listen": f"127.0.0.1:{port}", "ack_timeout_ms": 60_000}})
    assert window._apply_line_outputs(config, "the new PLC")
    images = flat_images(tmp_path / "parts", [10, 90])
    assert window.controller.enter_remote_control(folder(images, trigger="plc"))
    # Kept at once, as after a power cut: the settings file already says so.
    assert QSettings(str(settings_path()), QSettings.Format.IniFormat).value(
        "line/remote_control") in (True, "true")
    window.close()  # under remote control Stop is locked, yet the operator can quit
    quit_button = next(b for b in window.quit_question.buttons() if window.quit_question
                       .buttonRole(b) == QMessageBox.ButtonRole.DestructiveRole)
    quit_button.click()
    assert not window.isVisible()

    again = make_window(qtbot, FakeInspector(), model_path="", engineer=False)  # an operator
    try:
        qtbot.waitUntil(lambda: again.state.remote_control, timeout=10_000)
        assert again.links_panel.remote.isVisible()
        assert not again.source_bar.start_button.isEnabled()
        assert again.verdict_panel.verdict.text() == "WAITING"
        (entered, restored) = _remote_events(again)
        assert entered.user == "erika" and restored.user == STARTUP_USER
        assert "restored at start-up" in restored.reason
        plc = Plc(port)
        try:  # the PLC runs the station again, with the source it was handed
            plc.wait_for(reg.READY_REG, 1)
            plc.trigger()
            assert plc.take_result()[1] == (1, 0, 0)
        finally:
            plc.close()
        log_in_engineer(again)
        assert again.controller.leave_remote_control("maintenance")
        assert QSettings(str(settings_path()), QSettings.Format.IniFormat).value(
            "line/remote_control") in (False, "false")
    finally:
        again.controller.line.close()


def test_a_restore_that_cannot_be_made_says_why_and_leaves_local_control(qtbot):
    from adgui.gui.settings import open_settings

    settings, _ = open_settings()
    settings.setValue("line/remote_control", True)  # but no PLC output is configured
    settings.sync()
    window = make_window(qtbot, FakeInspector(), model_path="", engineer=False)
    assert not window.state.remote_control
    assert "Remote control not restored" in window.state.last_message[1]
    assert window.settings.value("line/remote_control") in (False, "false")


@pytest.mark.parametrize("bad_value, restored", [(80, True), (30, False)])
def test_a_restore_waits_for_the_golden_samples_and_needs_them_right(qtbot, tmp_path, bad_value,
                                                                    restored):
    from adgui.gui.settings import open_settings
    from test_golden import golden_set

    model = tmp_path / "recipes" / "fake.adgui"
    golden_set(tmp_path, model, good=(20,), bad=(bad_value,))  # 0.3 would pass: judged wrongly
    model.write_bytes(b"placeholder: the fake inspector does not read it")
    port = free_port()
    settings, _ = open_settings()  # as the window left them under remote control
    settings.setValue("line/outputs", LineConfig({"modbus": {"listen": f"127.0.0.1:{port}"}})
                      .to_text())
    settings.setValue("line/remote_control", True)
    settings.setValue("line/remote_trigger", "plc")
    settings.setValue("source/kind", "folder")
    settings.setValue("source/folder/path", str(flat_images(tmp_path / "parts", [10])))
    settings.setValue("recipe/path", str(model))
    settings.sync()
    window = make_window(qtbot, FakeInspector(), model_path="", engineer=False)
    try:
        controller = window.controller
        qtbot.waitUntil(lambda: controller.golden_report is not None, timeout=10_000)
        assert controller.golden_report.passed is restored
        if restored:  # not refused while the samples were being judged
            qtbot.waitUntil(lambda: window.state.remote_control, timeout=5_000)
            assert controller.line.station.spec.trigger_mode == "plc"
        else:
            assert not window.state.remote_control
            level, text = window.state.last_message
            assert level == "error" and text.startswith("Remote control not restored: the "
                                                        "station is not ready: golden samples")
            assert window.settings.value("line/remote_control") in (False, "false")
    finally:
        window.controller.line.close()


def test_the_plcs_recipe_choice_survives_a_power_cut(qtbot, tmp_path):
    """The switch is kept at once: a window built again from the same settings, with no clean
    close, comes back on the line's recipe and tells the PLC its number."""
    import json

    from PySide6.QtCore import QSettings

    from adgui.pipeline.userdata import settings_path

    first, second = tmp_path / "first.adgui", tmp_path / "second.adgui"
    for model in (first, second):
        model.write_bytes(b"a recipe file; the fake inspector is what loads")
    table = tmp_path / "recipes.json"
    table.write_text(json.dumps({"2": "second.adgui"}))
    window = make_window(qtbot, FakeInspector(), model_path=str(first))
    port = free_port()
    config = LineConfig({"modbus": {"listen": f"127.0.0.1:{port}", "ack_timeout_ms": 60_000}},
                        str(table))
    assert window._apply_line_outputs(config, "recipes by number")
    assert window.controller.enter_remote_control(
        folder(flat_images(tmp_path / "parts", [10]), trigger="plc"))
    assert window.controller.line.station.select_recipe(2) == 0  # as the PLC's register does
    saved = lambda: QSettings(str(settings_path()), QSettings.Format.IniFormat)  # noqa: E731
    qtbot.waitUntil(lambda: saved().value("recipe/path") == str(second), timeout=10_000)
    assert int(saved().value("line/recipe_number")) == 2
    window.controller.line.close()  # the power cut: no clean close, nothing saved at closing

    again = make_window(qtbot, FakeInspector(), model_path="", engineer=False)
    try:
        qtbot.waitUntil(lambda: again.state.remote_control, timeout=10_000)
        assert again.state.model_path == str(second)
        plc = Plc(port)
        try:
            plc.wait_for(reg.RECIPE_ACTIVE, 2)
        finally:
            plc.close()
    finally:
        again.controller.line.close()
