"""The training dialog's smallest defect to catch: the proposal shown live and sent with the
training request."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from algorithms.geometry_advice import propose_geometry
from conftest import TINY_MODEL, write_parts

pytestmark = pytest.mark.usefixtures("adgui_home")

HEIGHT, WIDTH = 600, 1200  # a wide crop: the aspect ratio must be kept


@pytest.fixture
def dialog(qtbot, tmp_path):
    from adgui.gui.training_dialog import TrainingDialog

    folder = tmp_path / "crops" / "good"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "a.png"), np.full((HEIGHT, WIDTH), 128, np.uint8))
    dialog = TrainingDialog(str(folder), overrides={"weights": "none"})
    qtbot.addWidget(dialog)
    return dialog


def _type(qtbot, field, text: str) -> None:
    field.setFocus()
    field.lineEdit().selectAll()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Tab)


def test_typing_a_defect_size_changes_the_proposal(qtbot, dialog):
    assert dialog.geometry_settings() == {}, "nothing declared: the detector's own defaults"
    before = dialog.geometry_text.text()
    assert f"Images of {WIDTH} x {HEIGHT} px" in before and "The whole image at 256 px" in before
    _type(qtbot, dialog.defect, "5")
    expected = propose_geometry(HEIGHT, WIDTH, 5.0)
    assert expected.working_side > 256, "a 5 px defect needs tiles on a 1200 px image"
    assert dialog.proposal == expected
    assert dialog.geometry_settings() == expected.config_overrides()
    assert dialog.geometry_text.text().endswith(expected.explanation)
    assert dialog.working_side.text() == f"as proposed: {expected.working_side} px"


def test_millimetres_use_the_scale(qtbot, dialog):
    assert not dialog.mm_per_px.isVisibleTo(dialog), "no scale to ask for while sizes are in px"
    dialog.defect_unit.setCurrentText("mm")
    assert dialog.mm_per_px.isVisibleTo(dialog)
    _type(qtbot, dialog.mm_per_px, "0.02")
    _type(qtbot, dialog.defect, "0.1")
    assert dialog.proposal.smallest_defect_px == pytest.approx(5.0)
    assert "0.1 mm at 0.02 mm/px is 5 px" in dialog.geometry_text.text()


def test_the_engineer_may_override_the_working_resolution(qtbot, dialog):
    _type(qtbot, dialog.defect, "10")
    proposed = dialog.proposal.working_side
    _type(qtbot, dialog.working_side, "400")
    assert dialog.geometry_settings()["working_side"] == 400
    assert f"working at {proposed} px would give it that" in dialog.geometry_text.text()


def test_the_training_request_carries_the_geometry(qtbot, dialog, monkeypatch):
    import adgui.pipeline.training as training

    requested = {}

    def train_model(data, detector, out, **kwargs):
        requested.update(kwargs)
        raise ValueError("stopped here: the test needs only the request")

    monkeypatch.setattr(training, "train_model", train_model)
    _type(qtbot, dialog.defect, "5")
    with qtbot.waitSignal(dialog.running_changed, timeout=30_000,
                          check_params_cb=lambda running: not running):
        assert dialog.start()
    proposal = propose_geometry(HEIGHT, WIDTH, 5.0)
    for key, value in proposal.config_overrides().items():
        assert requested[key] == value, key
    assert requested["weights"] == "none"
    assert "Stopped here" in dialog.status.text()


def test_a_declared_defect_without_a_readable_image_is_refused(qtbot, dialog, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    dialog.folder.setText(str(empty))
    _type(qtbot, dialog.defect, "5")
    assert dialog.proposal is None and "cannot be proposed" in dialog.geometry_text.text()
    assert not dialog.start() and "input geometry cannot be chosen" in dialog.status.text()


def test_the_trained_recipe_keeps_the_declared_geometry(qtbot, tmp_path):
    pytest.importorskip("algorithms.geometry")  # the detectors' geometry settings
    from adgui.gui.training_dialog import TrainingDialog
    from algorithms import load_detector

    write_parts(tmp_path / "parts" / "good", 8)
    dialog = TrainingDialog(str(tmp_path / "parts" / "good"), overrides=TINY_MODEL)
    qtbot.addWidget(dialog)
    dialog.preset.setCurrentText("fast")
    _type(qtbot, dialog.defect, "2")
    proposal = dialog.proposal
    assert proposal.working_side > TINY_MODEL["image_size"]
    with qtbot.waitSignal(dialog.recipe_trained, timeout=120_000) as trained:
        assert dialog.start()
    config = load_detector(trained.args[0], "cpu").config
    assert (config.working_side, config.fit_mode, config.smallest_defect_px) == \
        (proposal.working_side, "pad", 2.0)
    assert f"working at {proposal.working_side} px" in dialog.status.text()
    qtbot.waitUntil(lambda: dialog.worker is None)
