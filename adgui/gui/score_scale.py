"""The score an operator sees: 0 to 100, with the threshold in force at 50.

Calibrated scores put the median of the held-out good images at 0.0 and the recipe's
calibrated threshold at 0.5, linearly in the detector's raw score. The operator's number is

    shown = 50 + 50 * (score - threshold) / max(threshold, MIN_SPAN), clamped to 0..100

with `threshold` the threshold the part was judged at. For any threshold above MIN_SPAN this is
50 * score / threshold: 0 is a typical good part, 50 the limit, 100 twice as far from typical
good as the limit. The number is rounded down, so it reads 50 or more exactly when the part
failed, whatever the threshold.
"""
from __future__ import annotations

import math

LIMIT = 50
MIN_SPAN = 0.05  # a threshold moved to (or below) zero still gives a usable scale


def operator_score(score: float | None, threshold: float) -> int | None:
    """0..100 with `threshold` at 50; None when the part has no score (NOT JUDGED, ERROR)."""
    if score is None or not math.isfinite(score):
        return None
    span = max(threshold, MIN_SPAN)
    shown = LIMIT + LIMIT * (score - threshold) / span
    value = int(math.floor(min(max(shown, 0.0), 100.0)))
    if score < threshold:  # a passing part never reads 50 through rounding
        value = min(value, LIMIT - 1)
    return value
