"""The bench's alternation of calls (no detector needed)."""
from __future__ import annotations

import time

from adgui.pipeline.benchmark import SETTLE_S, alternating_medians


def test_the_machine_settles_before_the_named_calls_untimed():
    ended: list[float] = []
    begun: list[float] = []
    calls = {"torch": lambda: ended.append(time.perf_counter()),
             "onnx": lambda: begun.append(time.perf_counter())}
    medians = alternating_medians(calls, repeats=3, warm_up=0, settle_before=frozenset({"onnx"}))
    gaps = [start - end for end, start in zip(ended, begun)]
    assert len(gaps) == 3 and min(gaps) >= SETTLE_S  # idle between the runtimes...
    assert medians["onnx"] < SETTLE_S * 1000 / 10  # ...and not counted in the call's time


def test_calls_not_named_follow_at_once():
    ended: list[float] = []
    begun: list[float] = []
    calls = {"torch": lambda: ended.append(time.perf_counter()),
             "onnx": lambda: begun.append(time.perf_counter())}
    alternating_medians(calls, repeats=3, warm_up=0)
    assert max(start - end for end, start in zip(ended, begun)) < SETTLE_S
