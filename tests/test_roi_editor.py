"""The ROI editor in the window, offscreen: shapes become the mask, Apply makes a recipe
version through the controller's guard, and an operator's Apply is refused with a message."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adgui.recipes.versions import list_versions

from conftest import synthetic_part

pytestmark = pytest.mark.usefixtures("adgui_home")
PASSWORD = "a long passphrase"


def open_window(qtbot, recipe: Path, engineer: bool):
    from adgui.gui.app import build_window

    window = build_window()
    qtbot.addWidget(window)
    window.show()
    window.controller.load_model(str(recipe), restoring=True)  # the recipe in force at start
    qtbot.waitUntil(lambda: window.state.model is not None, timeout=60_000)
    window.controller.guard.set_password("erin", PASSWORD, "engineer")
    if engineer:
        assert window.controller.log_in("erin", PASSWORD)
    return window


def test_drawn_shapes_are_the_mask_and_apply_makes_a_version(qtbot, recipe):
    window = open_window(qtbot, recipe, engineer=True)
    image = synthetic_part(np.random.default_rng(0))  # (72, 80, 3)
    editor = window.open_roi_editor(image)
    left = editor.add_shape("rectangle")
    left.setPos((0, 0))
    left.setSize((40, 72))
    editor.set_include(0, False)
    editor.add_shape("ellipse", points=[(40, 0), (80, 36)])
    editor.add_shape("polygon", points=[(40, 40), (80, 40), (80, 72)])
    roi = editor.roi()
    assert [(s.kind, s.include) for s in roi.shapes] == [
        ("rectangle", False), ("ellipse", True), ("polygon", True)]
    assert (roi.width, roi.height) == (80, 72)
    assert roi.shapes[0].points == ((0, 0), (40, 72))
    mask = roi.mask(72, 80)
    assert not mask[:, :40].any() and mask[18, 60] and mask[70, 79] and not mask[70, 45]
    assert ((editor.shade.image[..., 3] > 0) == ~mask).all(), "the shade is the mask"

    editor.reason.setText("glare on the left")
    with qtbot.waitSignal(window.controller.version_applied, timeout=60_000) as applied:
        editor.apply_button.click()
    version = applied.args[0]
    assert version.number == 2 and version.roi == roi
    assert [v.number for v in list_versions(recipe)] == [1, 2]
    assert window.state.model.roi == roi and window.state.model.version == 2
    assert "version 2" in editor.message.text()
    events = [(e.kind, e.user, e.reason) for e in window.controller.guard.trail.database.events()
              if e.kind == "roi_changed"]
    assert events == [("roi_changed", "erin", "glare on the left")]
    # The live inspector judges with it now: its map is floored outside the ROI.
    result = window.controller.inspector.inspect(image)
    assert (result.anomaly_map[~mask] == result.anomaly_map.min()).all()


def test_an_operators_apply_is_refused_with_a_message(qtbot, recipe):
    window = open_window(qtbot, recipe, engineer=False)
    editor = window.open_roi_editor(synthetic_part(np.random.default_rng(1)))
    editor.add_shape("rectangle", include=False)
    editor.reason.setText("glare")
    editor.apply_button.click()
    assert "An operator cannot change the region of interest" in editor.message.text()
    # Calling the controller directly is refused as well, and so is a threshold.
    assert not window.controller.apply_roi(editor.roi(), "glare")
    assert not window.controller.apply_threshold(0.7, "looser")
    assert "An operator cannot change the threshold" in window.state.last_message[1]
    assert [v.number for v in list_versions(recipe)] == [1]
    assert window.state.model.version == 1 and window.state.threshold == 0.5
