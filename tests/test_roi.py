"""Regions of interest: shapes rasterised at each image's size, the masked score, its
calibration, and on real bottle images a defect excluded (passes) or included (fails)."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from adgui.recipes.roi import Roi, RoiCalibration, RoiError, Shape, apply_roi, calibrate_roi

IDENTITY = RoiCalibration(threshold=0.5, scale=0.5, scores=())  # normalize(v) == v


def rect(x0, y0, x1, y1, include=True) -> Shape:
    return Shape("rectangle", ((x0, y0), (x1, y1)), include)


def test_a_rectangle_covers_the_pixels_whose_centres_it_holds_and_scales_with_the_image():
    roi = Roi((rect(20, 10, 60, 30),), width=100, height=50)
    mask = roi.mask(50, 100)
    assert mask.sum() == 40 * 20
    assert mask[10, 20] and mask[29, 59] and not mask[30, 59] and not mask[29, 60]
    double = roi.mask(100, 200)  # the same region on an image twice the size
    assert double.sum() == 4 * 40 * 20 and double[20:60, 40:120].all()
    squeezed = roi.mask(50, 50)  # another aspect ratio: x scaled by half
    assert squeezed.sum() == 20 * 20 and squeezed[10:30, 10:30].all()


def test_ellipse_and_polygon_areas():
    ellipse = Roi((Shape("ellipse", ((0, 0), (200, 100))),), 200, 100).mask(100, 200)
    assert ellipse.sum() == pytest.approx(math.pi * 100 * 50, rel=0.01)
    assert ellipse[50, 100] and not ellipse[2, 2]
    triangle = Roi((Shape("polygon", ((0, 0), (100, 0), (0, 100))),), 100, 100).mask(100, 100)
    assert triangle.sum() == pytest.approx(100 * 100 / 2, rel=0.02)
    assert triangle[5, 5] and not triangle[95, 95]


def test_excludes_cut_out_of_includes_and_no_include_means_the_whole_image():
    excluded = Roi((rect(0, 0, 10, 10, include=False),), 40, 20).mask(20, 40)
    assert excluded.sum() == 40 * 20 - 100 and not excluded[:10, :10].any()
    both = Roi((rect(0, 0, 20, 20), rect(5, 5, 10, 10, include=False)), 40, 20).mask(20, 40)
    assert both.sum() == 400 - 25 and not both[5:10, 5:10].any() and not both[:, 20:].any()
    assert Roi((), 40, 20).is_empty


def test_the_score_is_the_peak_inside_and_outside_is_the_floor():
    anomaly_map = np.full((20, 40), 0.1, np.float32)
    anomaly_map[2, 2] = 3.0  # heat on the background, outside the ROI
    anomaly_map[15, 30] = 0.4
    roi = Roi((rect(20, 10, 40, 20),), 40, 20)
    score, masked = apply_roi(anomaly_map, roi, IDENTITY)
    assert score == pytest.approx(0.4)
    assert masked.max() == pytest.approx(score)
    assert masked[2, 2] == 0.0 and (masked[~roi.mask(20, 40)] == 0.0).all()
    assert masked[15, 30] == pytest.approx(0.4)
    # Without the ROI the background heat decides.
    score, _ = apply_roi(anomaly_map, Roi((), 40, 20), IDENTITY)
    assert score == pytest.approx(3.0)


def test_an_roi_that_leaves_nothing_to_inspect_is_refused():
    roi = Roi((rect(0, 0, 40, 20, include=False),), 40, 20)
    with pytest.raises(RoiError, match="no pixel"):
        apply_roi(np.zeros((20, 40), np.float32), roi, IDENTITY)


def test_calibration_puts_the_good_images_upper_edge_at_one_half():
    rng = np.random.default_rng(0)
    # Each "image" is its own map here; a bright rim at the left edge is excluded.
    maps = [rng.normal(0.0, 0.05, (16, 16)).astype(np.float32) + 0.1 * i for i in range(6)]
    for anomaly_map in maps:
        anomaly_map[:, :3] += 5.0
    roi = Roi((rect(0, 0, 3, 16, include=False),), 16, 16)
    calibration = calibrate_roi(roi, maps, lambda image: image)
    scores = np.array([apply_roi(m, roi, calibration)[0] for m in maps])
    assert scores == pytest.approx(np.array(calibration.scores), abs=1e-5)
    assert scores.max() <= 0.5 + 1e-6 and np.median(scores) == pytest.approx(0.0, abs=1e-6)
    peaks = np.array([m[:, 3:].max() for m in maps])  # the rim never counts
    edge = max(peaks.max(), peaks.mean() + 3 * peaks.std(ddof=1))
    assert calibration.threshold == pytest.approx(edge, rel=1e-5)
    assert calibration.scale == pytest.approx(edge - np.median(peaks), rel=1e-5)
    with pytest.raises(RoiError, match="calibration images"):
        calibrate_roi(roi, [], lambda image: image)


def test_shapes_and_rois_round_trip_and_bad_ones_are_refused():
    roi = Roi((rect(1, 2, 3, 4), Shape("polygon", ((0, 0), (5, 0), (0, 5)), False),
               Shape("ellipse", ((1, 1), (9, 7)))), 10, 8)
    assert Roi.from_dict(roi.as_dict()) == roi
    with pytest.raises(RoiError, match="unknown ROI shape"):
        Shape("star", ((0, 0), (1, 1)))
    with pytest.raises(RoiError, match="at least 3"):
        Shape("polygon", ((0, 0), (1, 1)))
    with pytest.raises(RoiError, match="not a usable ROI"):
        Roi.from_dict({"shapes": []})
    with pytest.raises(RoiError, match="finite"):
        Shape("rectangle", ((0, float("nan")), (1, 1)))


# --- real bottle images: a defect excluded passes, the same defect inside the ROI fails --------

BOTTLE_TRAIN_IMAGES = 16  # a small PaDiM: enough to find a broken rim, cheap to train
DEFECT = ("broken_small", "001")


@pytest.mark.slow
def test_a_defect_inside_an_exclude_region_passes_and_inside_the_roi_fails(bottle, tmp_path):
    from adgui.access.guard import command_line_guard
    from adgui.pipeline.inspection import Inspector
    from adgui.pipeline.training import train_model
    from adgui.records import open_database
    from adgui.records.audit import AuditTrail
    from adgui.recipes.changes import change_roi

    good = tmp_path / "good"
    good.mkdir()
    for path in sorted((bottle / "train" / "good").glob("*.png"))[:BOTTLE_TRAIN_IMAGES]:
        (good / path.name).symlink_to(path)
    model = train_model(good, "padim", tmp_path / "bottle.adgui", device="cpu").model_path
    kind, number = DEFECT
    image = cv2.cvtColor(cv2.imread(str(bottle / "test" / kind / f"{number}.png")),
                         cv2.COLOR_BGR2RGB)
    truth = cv2.imread(str(bottle / "ground_truth" / kind / f"{number}_mask.png"),
                       cv2.IMREAD_GRAYSCALE) > 0
    height, width = truth.shape
    ys, xs = np.nonzero(truth)
    margin = 0.08 * width  # the blurred heat spreads a little beyond the defect itself
    box = ((max(0.0, xs.min() - margin), max(0.0, ys.min() - margin)),
           (min(width, xs.max() + 1 + margin), min(height, ys.max() + 1 + margin)))

    whole = Inspector.open(model, "cpu")
    assert whole.inspect(image).score >= whole.info.threshold, "the defect fails without an ROI"

    database = open_database(f"sqlite:///{tmp_path / 'inspections.sqlite3'}", "line-1")
    guard = command_line_guard(AuditTrail.open(database, tmp_path / "key", tmp_path / "head"))
    for include, verdict in ((False, "PASS"), (True, "FAIL")):
        roi = Roi((Shape("rectangle", box, include),), width, height)
        version = change_roi(model, guard, roi, f"{'in' if include else 'ex'}clude the rim",
                             whole.calibrated_map)
        inspector = Inspector(whole.detector, version)  # as Inspector.open gives it, unloaded
        assert inspector.info.roi == roi
        result = inspector.inspect(image)
        assert result.verdict(inspector.info.threshold) == verdict, (include, result.score)
        assert (result.anomaly_map[truth] <= 0.0).all() != include  # no heat where excluded
    database.close()
