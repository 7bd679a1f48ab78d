"""An EWMA control chart of part scores: does the process drift away from the recipe's good parts?

Roberts (1959); limits as in Montgomery, "Introduction to Statistical Quality Control", 9.2:

    z_t = lambda * x_t + (1 - lambda) * z_(t-1),   z_0 = mu0
    limits_t = mu0 +- L * sigma0 * sqrt(lambda / (2 - lambda) * (1 - (1 - lambda)^(2t)))

mu0 and sigma0 are the mean and standard deviation of the recipe's calibration scores (held-out
good images, on the calibrated scale where the threshold sits at 0.5). The chart signals while
z_t is outside its limits, and for `clear_after` parts after it came back (a process hovering at
a limit gives one alarm, not a flicker). Every part costs O(1): a few running numbers and a
bounded ring buffer of recent points for drawing.

Only parts judged PASS are charted: the chart watches the good parts' scores creep (light, dust,
focus) before parts start to fail. A single defective part (a score of 1.0 moves the EWMA a
fifth of the way there, past the limits) would otherwise read as a drift; defects are what the
fail rate counts. Parts with no score (NOT JUDGED, ERROR) have nothing to chart.

How often it cries wolf: for normally distributed scores, lambda 0.2 and L 3 give one false
signal every ~500 good parts on average (in-control average run length, Lucas & Saccucci 1990);
right-skewed anomaly scores, and limits estimated from a few dozen calibration images, give
more. At line rates that is minutes: raise L (3.5: ~2,800 parts, 4: ~20,000 for normal scores)
where operators act on the alarm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..records.part import PASS

HIGH, LOW = "high", "low"


@dataclass(frozen=True)
class EwmaConfig:
    smoothing: float = 0.2  # lambda: weight of the newest score (textbook range 0.05-0.25)
    width: float = 3.0  # L: the limits sit L standard deviations of the EWMA from the centre
    history: int = 2000  # points kept for drawing; older ones are forgotten
    clear_after: int = 50  # the alarm ends after this many parts back inside the limits

    def __post_init__(self):
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"EWMA smoothing (lambda) must be in (0, 1]: {self.smoothing}")
        if not self.width > 0.0:
            raise ValueError(f"EWMA limit width (L) must be positive: {self.width}")
        if self.clear_after < 1:
            raise ValueError(f"The alarm must clear after at least 1 part: {self.clear_after}")
        if self.history < 2:
            raise ValueError(f"The EWMA history must keep at least 2 points: {self.history}")


@dataclass(frozen=True)
class AlarmStart:
    """The part at which the EWMA left its limits."""
    index: int  # judged part number on the chart, 1, 2, 3, ...
    part_id: str
    sequence: int
    time: float  # the part's verdict time (time.time())
    side: str  # HIGH: scores drift up (towards FAIL); LOW: down


class EwmaChart:
    """Feed it scores in inspection order; ask whether the process is in control."""

    def __init__(self, calibration_scores, config: EwmaConfig = EwmaConfig()):
        scores = np.asarray(calibration_scores, dtype=np.float64).ravel()
        scores = scores[np.isfinite(scores)]
        if len(scores) < 2:
            raise ValueError(f"The control chart needs at least 2 calibration scores; the "
                             f"recipe has {len(scores)}")
        sigma = float(scores.std(ddof=1))
        if not sigma > 0.0:
            raise ValueError("The recipe's calibration scores are all equal: the control chart "
                             "has no spread to set its limits from")
        self.config = config
        self.mean = float(scores.mean())
        self.sigma = sigma
        self.calibration_count = len(scores)
        # The steady-state half-width of the limits; early limits are narrower (see `limit`).
        self._steady = config.width * sigma * math.sqrt(config.smoothing / (2 - config.smoothing))
        self._retain = 1.0 - config.smoothing
        self.reset()

    def reset(self) -> None:
        """Start the chart afresh (a new shift or a process adjustment)."""
        self.count = 0  # judged parts on the chart
        self.skipped = 0  # parts not charted: not PASS, or no score
        self.ewma = self.mean
        self._decay = 1.0  # (1 - lambda)^(2t), kept as a running product: O(1) per part
        self._alarm: AlarmStart | None = None
        self._inside = 0  # parts back inside the limits since the last excursion
        self._points = np.zeros((self.config.history, 4))  # index, ewma, lower, upper
        self._next = 0  # where the next point goes in the ring

    # -- feeding ---------------------------------------------------------------------------
    def add(self, score: float | None, part_id: str = "", sequence: int = 0,
            when: float = 0.0) -> bool:
        """Add one part's score; a missing or non-finite score is skipped. True if added."""
        if score is None or not math.isfinite(score):
            self.skipped += 1
            return False
        self.count += 1
        self.ewma = self.config.smoothing * score + self._retain * self.ewma
        self._decay *= self._retain * self._retain
        half = self._steady * math.sqrt(1.0 - self._decay)
        lower, upper = self.mean - half, self.mean + half
        self._points[self._next % self.config.history] = (self.count, self.ewma, lower, upper)
        self._next += 1
        if self.ewma > upper or self.ewma < lower:
            self._inside = 0
            if self._alarm is None:
                self._alarm = AlarmStart(self.count, part_id, sequence, when,
                                         HIGH if self.ewma > upper else LOW)
        elif self._alarm is not None:
            self._inside += 1
            if self._inside >= self.config.clear_after:
                self._alarm = None
        return True

    def add_record(self, record) -> bool:
        """Add a `PartRecord` judged PASS (its score, id, sequence and verdict time); other
        verdicts are skipped (see the module's note). True if added."""
        if record.verdict != PASS:
            self.skipped += 1
            return False
        return self.add(record.score, record.part_id, record.sequence, record.verdict_time)

    # -- reading ---------------------------------------------------------------------------
    @property
    def in_alarm(self) -> bool:
        return self._alarm is not None

    @property
    def outside(self) -> bool:
        """Whether the newest EWMA point lies outside its limits."""
        return self.in_alarm and self._inside == 0

    def alarm_since(self) -> AlarmStart | None:
        """The part at which the EWMA first left its limits in the alarm going on; else None."""
        return self._alarm

    def limit(self, index: int) -> tuple[float, float]:
        """(lower, upper) limits at judged part number `index` (1, 2, ...)."""
        half = self._steady * math.sqrt(1.0 - self._retain ** (2 * max(index, 0)))
        return self.mean - half, self.mean + half

    @property
    def steady_limits(self) -> tuple[float, float]:
        return self.mean - self._steady, self.mean + self._steady

    def history(self) -> np.ndarray:
        """The recent points, oldest first: (N, 4) columns index, ewma, lower, upper."""
        size = self.config.history
        if self._next <= size:
            return self._points[:self._next].copy()
        split = self._next % size
        return np.concatenate((self._points[split:], self._points[:split]))
