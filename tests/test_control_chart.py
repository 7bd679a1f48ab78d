"""The EWMA control chart of part scores: limits, run lengths in and out of control, alarms."""
from __future__ import annotations

import math

import numpy as np
import pytest

from adgui.pipeline.control_chart import HIGH, LOW, EwmaChart, EwmaConfig
from adgui.records.part import ERROR, FAIL, NOT_JUDGED, PASS, PartRecord

CALIBRATION = np.random.default_rng(7).normal(0.25, 0.05, 60)


def run_length(chart: EwmaChart, rng: np.random.Generator, mean: float, sigma: float,
               limit: int) -> int:
    """Parts until the first alarm (limit if none)."""
    for index in range(1, limit + 1):
        chart.add(float(rng.normal(mean, sigma)))
        if chart.in_alarm:
            return index
    return limit


def test_ewma_and_limits_follow_the_textbook_formulas():
    chart = EwmaChart(CALIBRATION)
    mean, sigma = CALIBRATION.mean(), CALIBRATION.std(ddof=1)
    scores = [0.2, 0.3, 0.27, 0.22, 0.31]
    expected, z = [], mean
    for t, score in enumerate(scores, start=1):
        z = 0.2 * score + 0.8 * z
        half = 3 * sigma * math.sqrt(0.2 / 1.8 * (1 - 0.8 ** (2 * t)))
        expected.append((t, z, mean - half, mean + half))
        chart.add(score)
    np.testing.assert_allclose(chart.history(), expected, rtol=1e-12)
    low, high = chart.steady_limits
    assert high - mean == pytest.approx(3 * sigma * math.sqrt(0.2 / 1.8))
    assert chart.limit(10_000) == pytest.approx((low, high))


def test_in_control_run_length_matches_the_published_average():
    # Lambda 0.2, L 3: one false signal every ~500 good parts for normal scores (Lucas and
    # Saccucci 1990 give ~560 for the steady limits; the narrower early limits signal a little
    # sooner). A chart whose limits were too narrow or too wide would miss this range.
    chart = EwmaChart(CALIBRATION)
    rng = np.random.default_rng(2024)
    lengths = []
    for _ in range(200):
        chart.reset()
        lengths.append(run_length(chart, rng, chart.mean, chart.sigma, limit=10_000))
    assert 400 < np.mean(lengths) < 680, np.mean(lengths)


def test_wider_limits_stay_quiet_over_a_stable_stream():
    # L 4 (~20,000 parts between false signals for normal scores): 2,000 good parts in a row
    # pass without an alarm in nearly every run; the 3-sigma default does not (see above).
    rng = np.random.default_rng(11)
    quiet = 0
    for _ in range(20):
        chart = EwmaChart(CALIBRATION, EwmaConfig(width=4.0))
        quiet += run_length(chart, rng, chart.mean, chart.sigma, limit=2000) == 2000
    assert quiet >= 15


@pytest.mark.parametrize("shift_sigmas, side", [(1.0, HIGH), (3.0, HIGH), (-1.5, LOW)])
def test_a_shifted_mean_raises_the_alarm_within_a_few_parts(shift_sigmas, side):
    # Published out-of-control run lengths for lambda 0.2, L 3: ~10 parts at 1 sigma, ~3 at
    # 3 sigma. The chart first settles on parts at the good mean, then the process drifts.
    rng = np.random.default_rng(5)
    lengths = []
    for _ in range(100):
        chart = EwmaChart(CALIBRATION)
        for _ in range(100):
            chart.add(chart.mean)
        assert not chart.in_alarm
        mean = chart.mean + shift_sigmas * chart.sigma
        lengths.append(run_length(chart, rng, mean, chart.sigma, limit=1000))
        assert chart.alarm_since().side == side
        assert chart.alarm_since().index == 100 + lengths[-1]
    bound = 16 if abs(shift_sigmas) < 2 else 5
    assert np.median(lengths) <= bound and max(lengths) <= 8 * bound, lengths


def test_alarm_says_since_which_part_and_clears_after_parts_back_inside():
    chart = EwmaChart(CALIBRATION, EwmaConfig(clear_after=10))
    for number in range(1, 21):
        chart.add(chart.mean, f"good-{number}", number, 100.0 + number)
    for number in range(21, 24):
        chart.add(chart.mean + 8 * chart.sigma, f"bad-{number}", number, 100.0 + number)
    since = chart.alarm_since()
    assert (since.index, since.part_id, since.sequence, since.time, since.side) == \
        (21, "bad-21", 21, 121.0, HIGH)
    number = 23
    while chart.outside:  # back to good parts: the EWMA comes back inside
        number += 1
        chart.add(chart.mean, f"good-{number}", number)
    for _ in range(9):
        assert chart.in_alarm and chart.alarm_since().part_id == "bad-21"
        chart.add(chart.mean)
    chart.add(chart.mean)
    assert not chart.in_alarm and chart.alarm_since() is None


def test_parts_without_a_score_and_failed_parts_are_not_charted():
    chart = EwmaChart(CALIBRATION)
    assert chart.add_record(PartRecord("a", 1, PASS, 0.3, 0.5, verdict_time=1.0))
    before = (chart.count, chart.ewma, chart.history().copy())
    for record in (PartRecord("b", 2, NOT_JUDGED, None, 0.5, verdict_time=2.0),
                   PartRecord("c", 3, ERROR, None, 0.5, verdict_time=3.0),
                   PartRecord("d", 4, PASS, math.nan, 0.5, verdict_time=4.0),
                   # a defect is the fail rate's business: one would push the EWMA past a limit
                   PartRecord("e", 5, FAIL, 1.4, 0.5, verdict_time=5.0)):
        assert chart.add_record(record) is False
    assert (chart.count, chart.ewma) == before[:2] and chart.skipped == 4
    assert not chart.in_alarm
    np.testing.assert_array_equal(chart.history(), before[2])


def test_history_is_bounded_and_oldest_first():
    chart = EwmaChart(CALIBRATION, EwmaConfig(history=100))
    for index in range(1000):
        chart.add(0.25 + 0.001 * (index % 7))
    history = chart.history()
    assert history.shape == (100, 4)
    np.testing.assert_array_equal(history[:, 0], np.arange(901, 1001))
    assert chart.count == 1000 and history[-1, 1] == chart.ewma


@pytest.mark.parametrize("scores, message", [
    ([], "at least 2"), ([0.3], "at least 2"), ([0.3, math.nan, math.inf], "at least 2"),
    ([0.3, 0.3, 0.3], "all equal")])
def test_unusable_calibration_scores_are_refused_with_a_reason(scores, message):
    with pytest.raises(ValueError, match=message):
        EwmaChart(scores)


def test_bad_settings_are_refused():
    for settings in ({"smoothing": 0.0}, {"smoothing": 1.5}, {"width": 0.0}, {"history": 1},
                     {"clear_after": 0}):
        with pytest.raises(ValueError):
            EwmaConfig(**settings)
