"""`adgui train --smallest-defect / --mm-per-px / --working-side / --fit`: parsed, proposed and
passed to the training as detector settings."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from adgui.cli import _parser, main
from adgui.geometry_options import geometry_overrides

pytestmark = pytest.mark.usefixtures("adgui_home")  # main() logs to the user data folder


def _train_args(*extra: str):
    return _parser().parse_args(["train", "--detector", "padim", "--data", "d", "--out", "m.adgui",
                                 *extra])


def _overrides(*extra: str, shape=(900, 900)):
    return geometry_overrides(_train_args(*extra), lambda: 256, lambda: shape)


def test_sizes_parse_in_pixels_or_millimetres():
    assert _train_args("--smallest-defect", "3").smallest_defect == (3.0, "px")
    assert _train_args("--smallest-defect", "4.5px").smallest_defect == (4.5, "px")
    args = _train_args("--smallest-defect", "0.2mm", "--mm-per-px", "0.05")
    assert args.smallest_defect == (0.2, "mm") and args.mm_per_px == 0.05
    args = _train_args("--working-side", "900", "--fit", "squeeze")
    assert (args.working_side, args.fit) == (900, "squeeze")
    assert _train_args().smallest_defect is None and _train_args().working_side is None


@pytest.mark.parametrize("extra, message", [
    (["--smallest-defect", "3in"], "in millimetres"),
    (["--smallest-defect", "-2"], "a size in pixels"),
    (["--mm-per-px", "0"], "above 0"),
    (["--working-side", "-5"], "whole number of pixels"),
    (["--fit", "stretch"], "invalid choice"),
])
def test_bad_values_are_refused_with_a_message(extra, message, capsys):
    with pytest.raises(SystemExit) as exited:
        _train_args(*extra)
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_the_proposal_becomes_detector_settings():
    settings, sentence = _overrides("--smallest-defect", "12")
    assert settings == {"image_size": 256, "fit_mode": "pad", "working_side": 600,
                        "tile_overlap": 0.25, "smallest_defect_px": 12.0}
    assert "images of 900 x 900 px" in sentence and "600 px in 9 tiles of 256 px" in sentence


def test_millimetres_are_converted_with_the_scale():
    settings, sentence = _overrides("--smallest-defect", "0.6mm", "--mm-per-px", "0.05")
    assert settings["smallest_defect_px"] == pytest.approx(12.0) and settings["working_side"] == 600
    assert "0.6 mm at 0.05 mm/px = 12 px" in sentence
    with pytest.raises(ValueError, match="mm per pixel"):
        _overrides("--smallest-defect", "0.6mm")
    with pytest.raises(ValueError, match="given in mm"):
        _overrides("--smallest-defect", "6", "--mm-per-px", "0.05")


def test_the_engineer_overrides_the_proposal():
    settings, sentence = _overrides("--smallest-defect", "12", "--working-side", "450")
    assert settings["working_side"] == 450 and settings["smallest_defect_px"] == 12.0
    assert "working at 600 px would give it that" in sentence
    settings, _ = _overrides("--smallest-defect", "12", "--fit", "squeeze")
    assert settings["fit_mode"] == "squeeze" and settings["working_side"] == 600
    # Without a declared defect only what was asked for is set, and nothing is read.
    settings, sentence = geometry_overrides(_train_args("--working-side", "512"), _unused, _unused)
    assert settings == {"working_side": 512} and sentence == ""
    assert geometry_overrides(_train_args(), _unused, _unused) == ({}, "")


def _unused():
    raise AssertionError("nothing needs reading without --smallest-defect")


def test_train_passes_the_geometry_read_from_the_first_image(tmp_path, monkeypatch, capsys):
    import adgui.pipeline.training as training

    folder = tmp_path / "good"
    folder.mkdir()
    for name in ("a.png", "b.png"):  # 300 high, 1280 wide, as a line-scan crop
        cv2.imwrite(str(folder / name), np.full((300, 1280), 128, np.uint8))
    given = {}

    def train_model(data, detector, out, **kwargs):
        given.update(kwargs)
        raise ValueError("stopped before training")  # the test needs only what was asked for

    monkeypatch.setattr(training, "train_model", train_model)
    code = main(["train", "--detector", "padim", "--data", str(folder), "--out",
                 str(tmp_path / "m.adgui"), "--smallest-defect", "16", "--device", "cpu",
                 "--preset", "fast"])
    assert code != 0 and "topped before training" in capsys.readouterr().err
    assert (given["working_side"], given["fit_mode"], given["smallest_defect_px"]) == (640, "pad", 16.0)
    from algorithms import make_config

    # The tiles are of the preset's own input size.
    assert given["image_size"] == make_config("padim", "fast").image_size and given["backbone"] is None


def test_eval_of_a_saved_model_refuses_geometry_options(tmp_path, capsys):
    code = main(["eval", "--model", str(tmp_path / "m.adgui"), "--data", str(tmp_path),
                 "--smallest-defect", "3"])
    assert code != 0 and "use them with --detector" in capsys.readouterr().err
