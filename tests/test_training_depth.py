"""The training dialog asks how many bits of a 16-bit folder's files are significant, sends
the answer with the training request, and shows the refusal of files deeper than declared."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import TINY_MODEL, synthetic_part

pytestmark = pytest.mark.usefixtures("adgui_home")


def write_mono(folder: Path, count: int, depth: int) -> Path:
    """Grey synthetic parts as PNG files: 8-bit, or `depth`-bit values in 16-bit files (a
    12-bit camera's frames stop at 4095)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        gray = cv2.cvtColor(synthetic_part(rng), cv2.COLOR_RGB2GRAY)
        if depth > 8:
            gray = gray.astype(np.uint16) << (depth - 8)
        assert cv2.imwrite(str(folder / f"part_{index:02d}.png"), gray)
    return folder


def _dialog(qtbot, folder: Path):
    from adgui.gui.training_dialog import TrainingDialog

    dialog = TrainingDialog(str(folder), overrides=TINY_MODEL)
    qtbot.addWidget(dialog)
    dialog.preset.setCurrentText("fast")
    return dialog


def test_significant_bits_are_asked_for_16_bit_folders_only(qtbot, tmp_path, monkeypatch):
    import adgui.gui.training_dialog as training_dialog

    reads = []
    real_layout = training_dialog.first_image_layout

    def counted(folder):
        reads.append(Path(folder))
        return real_layout(folder)

    monkeypatch.setattr(training_dialog, "first_image_layout", counted)
    eight = write_mono(tmp_path / "eight", 1, 8)
    deep = write_mono(tmp_path / "deep", 1, 12)
    dialog = _dialog(qtbot, eight)
    assert not dialog.bit_depth.isVisibleTo(dialog) and dialog.significant_bits() is None
    dialog.folder.setText(str(deep))
    assert dialog.bit_depth.isVisibleTo(dialog), "a 16-bit folder asks for its depth"
    assert (dialog.bit_depth.minimum(), dialog.bit_depth.maximum()) == (9, 16)
    assert dialog.significant_bits() == 16, "all 16 bits unless told otherwise"
    peak = int(cv2.imread(str(deep / "part_00.png"), cv2.IMREAD_UNCHANGED).max())
    assert 2048 <= peak < 4096, "the test's 12-bit file needs its 12th bit"
    assert f"largest value is {peak} of 65535 at 16 bits" in dialog.depth_text.text()
    dialog.bit_depth.setValue(12)
    assert dialog.significant_bits() == 12
    assert dialog.depth_text.text().endswith(f"is {peak} of 4095 at 12 bits."), "no warning"
    dialog.bit_depth.setValue(11)
    assert "More than these bits hold" in dialog.depth_text.text()
    assert "Images of 80 x 72 px" in dialog.geometry_text.text(), "the same reading proposes"
    dialog.folder.setText(str(eight))
    assert not dialog.bit_depth.isVisibleTo(dialog) and dialog.significant_bits() is None
    assert not dialog.depth_text.isVisibleTo(dialog)
    assert reads == [eight, deep], "each folder's first image is read once"


def test_a_12_bit_folder_trained_from_the_dialog_records_12_bits(qtbot, tmp_path):
    from algorithms import load_detector

    dialog = _dialog(qtbot, write_mono(tmp_path / "cam12" / "good", 8, 12))
    dialog.bit_depth.setValue(12)
    with qtbot.waitSignal(dialog.recipe_trained, timeout=120_000) as trained:
        assert dialog.start()
    assert load_detector(trained.args[0], "cpu").meta["bit_depth"] == 12
    assert "16-bit files read as 12 significant bits." in dialog.status.text()
    qtbot.waitUntil(lambda: dialog.worker is None)
    assert dialog.bit_depth.isEnabled()


def test_a_first_image_deeper_than_declared_is_refused_before_training(qtbot, tmp_path):
    dialog = _dialog(qtbot, write_mono(tmp_path / "cam16", 1, 16))
    dialog.bit_depth.setValue(12)
    assert "More than these bits hold" in dialog.depth_text.text()
    assert not dialog.start() and dialog.worker is None
    assert dialog.status.property("error")
    assert "more than 12 significant bits allow" in dialog.status.text()
    dialog.bit_depth.setValue(16)
    assert "More than" not in dialog.depth_text.text()


def test_later_files_deeper_than_declared_are_skipped_with_the_reason(qtbot, tmp_path):
    from algorithms import load_detector

    folder = write_mono(tmp_path / "mixed" / "good", 8, 12)
    deep = cv2.imread(str(folder / "part_00.png"), cv2.IMREAD_UNCHANGED) << 4  # all 16 bits
    assert cv2.imwrite(str(folder / "part_99.png"), deep)
    dialog = _dialog(qtbot, folder)
    dialog.bit_depth.setValue(12)
    with qtbot.waitSignal(dialog.recipe_trained, timeout=120_000) as trained:
        assert dialog.start()
    status = dialog.status.text()
    assert "; 1 image skipped (part_99.png: holds values up to" in status
    assert "more than 12 bits allow" in status
    assert "Significant bits at 16" in status and "--bit-depth" not in status
    assert load_detector(trained.args[0], "cpu").meta["bit_depth"] == 12
    qtbot.waitUntil(lambda: dialog.worker is None)
