"""Rights in the window: an operator's attempt to change how parts are judged is refused where
the change is made (the controller, the pipeline), whatever widget or caller asks, with a
message in the notice bar and a recorded refusal; an engineer's change is recorded with user,
old and new value and reason; engineer mode times out."""
from __future__ import annotations

import pytest

from adgui.access import PermissionDenied
from adgui.records.database import ALL_STATIONS, open_database

from line_fakes import make_station
from test_gui import FakeInspector, flat_images, folder, make_window, wait_until_drained
from test_station_control import SlowLine

pytestmark = pytest.mark.usefixtures("adgui_home")


def events(kind: str):
    with open_database(None, "any") as database:
        return database.events(kind, station=ALL_STATIONS)


def refused(window, text: str) -> bool:
    level, message = window.state.last_message
    return level == "warning" and text in message and window.notice.text.text() == message


def placeholder_model(tmp_path) -> str:
    """A model file for recipe versions to sit beside (the fake inspector never reads it)."""
    model = tmp_path / "fake.adgui"
    model.write_bytes(b"placeholder")
    return str(model)


def test_an_operator_cannot_move_the_threshold_by_widget_or_call(qtbot, tmp_path):
    window = make_window(qtbot, FakeInspector(), model_path=placeholder_model(tmp_path),
                         engineer=False)
    panel, controller = window.threshold_panel, window.controller
    assert not panel.slider.isEnabled() and not panel.line.movable, "disabled for an operator"

    panel.slider.setValue(0.3)  # a disabled widget can still be driven: it only previews
    assert window.state.threshold == 0.5 and controller.pipeline.threshold == 0.5

    assert not controller.apply_threshold(0.2, "direct call")
    assert refused(window, "An operator cannot change the threshold: log in as an engineer")
    with pytest.raises(PermissionDenied, match="not approved"):
        controller.pipeline.threshold = 0.2  # the pipeline itself asks for the approval
    assert controller.pipeline.threshold == 0.5
    assert [event.new_value for event in events("permission_denied")] == ["threshold"] * 2
    assert events("threshold_changed") == []


def test_an_engineers_threshold_is_recorded_and_its_approval_used_once(qtbot, tmp_path):
    window = make_window(qtbot, FakeInspector(), model_path=placeholder_model(tmp_path))
    controller = window.controller
    assert window.threshold_panel.slider.isEnabled()
    assert controller.apply_threshold(0.3, "fewer false rejects")
    assert controller.pipeline.threshold == 0.3 and window.state.threshold == 0.3
    (event,) = events("threshold_changed")
    assert (event.user, event.old_value, event.new_value, event.reason) == (
        "erika", "0.5", "0.3", "fewer false rejects")
    assert event.detail["role"] == "engineer"
    approval = controller.guard.change("threshold", 0.3, 0.35, "replayed approval")
    controller.pipeline.set_threshold(0.35, approval)
    with pytest.raises(PermissionDenied):  # the same approval again, even for its own value
        controller.pipeline.set_threshold(0.3, approval)
    images = flat_images(tmp_path / "flat", [32, 40])  # 0.32 passes at 0.35, 0.40 fails
    assert controller.start(folder(images))
    wait_until_drained(qtbot, window)
    assert (window.state.counters.passed, window.state.counters.failed) == (1, 1)


def test_an_operator_cannot_train_by_menu_dialog_or_call(qtbot, tmp_path):
    from adgui.gui.training_dialog import TrainingDialog

    window = make_window(qtbot, FakeInspector(), engineer=False)
    assert not window.recipe_bar.train_button.isEnabled()
    assert window.open_training(str(tmp_path)) is None and window.training_dialog is None
    assert refused(window, "An operator cannot train recipes")
    dialog = TrainingDialog(str(tmp_path))  # even a dialog made by other code
    qtbot.addWidget(dialog)
    dialog.may_start = window.controller.may_train
    assert not dialog.start() and dialog.worker is None
    assert "log in as an engineer" in dialog.status.text()
    assert not window.controller.recipe_trained(str(tmp_path / "new.adgui"))
    assert events("recipe_trained") == []
    assert {event.new_value for event in events("permission_denied")} == {"train"}


def test_an_operator_cannot_start_a_new_shift_or_change_the_roi(qtbot):
    window = make_window(qtbot, FakeInspector(), engineer=False)
    controller = window.controller
    assert not window.counters_panel.new_shift_button.isEnabled()
    shift = controller.shift.label
    assert not controller.start_new_shift("changeover")
    assert refused(window, "An operator cannot start a new shift")
    assert controller.shift.label == shift and events("shift_started") == []
    assert controller.change("roi", "none", "rectangle 10,10,50,50", "rim glare") is None
    assert refused(window, "An operator cannot change the region of interest")
    assert events("roi_changed") == []
    assert [event.new_value for event in events("permission_denied")] == ["shift", "roi"]


def test_an_operator_cannot_switch_recipe_source_queue_or_device(qtbot, tmp_path):
    window = make_window(qtbot, FakeInspector(), engineer=False)
    controller = window.controller
    assert not window.recipe_bar.combo.isEnabled() and not window.source_bar.kind.isEnabled()
    assert not window.device_menu.isEnabled()
    assert not window.load_recipe(str(tmp_path / "other.adgui"))
    assert refused(window, "An operator cannot change the recipe")
    assert window.state.run_state == "idle" and controller.pipeline.recipe == "fake"

    images = flat_images(tmp_path / "flat", [20])
    assert not controller.start(folder(images)), "other source settings than in force"
    assert refused(window, "An operator cannot change the image source")
    assert not controller.set_queue_size(9) and controller.queue_size == 4
    assert not controller.set_device("cpu") and controller.device != "cpu"
    assert events("source_changed") == []
    # With the settings in force (an engineer's earlier run), Start is the operator's.
    controller.source_in_force = folder(images)
    assert controller.start(folder(images))
    wait_until_drained(qtbot, window)
    assert window.state.counters.judged == 1


def test_an_engineers_changes_are_recorded_and_the_chain_verifies(qtbot, tmp_path):
    from adgui.cli import main

    window = make_window(qtbot, FakeInspector())
    controller = window.controller
    images = flat_images(tmp_path / "flat", [20, 80])
    before = controller.source_in_force.describe()
    assert controller.start(folder(images))
    wait_until_drained(qtbot, window)
    assert controller.set_queue_size(6, "slower camera")
    assert controller.start_new_shift("changeover")
    (source, queue) = events("source_changed")
    assert (source.old_value, source.new_value) == (before, folder(images).describe())
    assert (queue.old_value, queue.new_value, queue.reason) == (
        "queue of 4 parts", "queue of 6 parts", "slower camera")
    assert [event.user for event in events("shift_started")] == ["erika"]
    assert main(["audit", "verify"]) == 0


def test_engineer_mode_times_out_in_the_window(qtbot):
    window = make_window(qtbot, FakeInspector())
    controller = window.controller
    now = [0.0]
    session = controller.guard.session
    session.clock = lambda: now[0]
    session.touch()
    assert window.status_panel.role.text() == "Role: engineer (erika)"
    now[0] += session.idle_s - 1
    controller._refresh()  # the window's poll timer
    assert window.state.role == "engineer"
    now[0] += 2
    controller._refresh()
    assert window.state.role == "operator" and "Role: operator" in window.status_panel.role.text()
    assert window.state.last_message[1] == "Engineer mode timed out; back to operator."
    assert not window.threshold_panel.slider.isEnabled()
    assert not controller.apply_threshold(0.3, "after the time-out")
    reasons = [event.reason for event in events("role_changed")]
    assert reasons == ["logged in", f"idle for {session.idle_s / 60:g} minutes"]


def test_leaving_remote_control_is_an_engineers_recorded_change(tmp_path):
    from adgui.access import Session, UserStore
    from adgui.access.guard import Guard
    from adgui.records.audit import AuditTrail

    station, url = make_station(tmp_path, [SlowLine(capacity=4)])
    assert station.remote_control
    users = UserStore(tmp_path / "users.json")
    users.set_password("erika", "a long passphrase", "engineer")
    with open_database(url, "line-test") as database:
        guard = Guard(Session(users), AuditTrail.open(database))
        with pytest.raises(PermissionDenied, match="take the station out of remote control"):
            station.set_remote_control(False, reason="set-up", guard=guard)
        assert station.remote_control
        guard.login("erika", "a long passphrase")
        station.set_remote_control(False, reason="set-up", guard=guard)
        assert not station.remote_control
        (event,) = database.events("remote_control_left")
    station.close()
    assert (event.user, event.old_value, event.new_value, event.reason) == (
        "erika", "remote control", "local control", "set-up")
