"""Parts between the camera and the model: the bounded part queue and the station's counts.

In part mode every trigger becomes exactly one record, in trigger order. Frames wait in a
queue of fixed size; a part whose frame finds the queue full, or whose frame never came
(camera lost), waits as a small `Unjudged` marker in the same order and is recorded as
NOT JUDGED (or ERROR) when its turn comes. Nothing is dropped without a record.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field, replace

from ..records.part import ERROR, FAIL, NOT_JUDGED, PASS
from ..sources.base import Frame

MAX_MARKERS = 100_000  # bounds memory if the model stops while triggers go on for hours


@dataclass
class Unjudged:
    """A triggered part that will get no model verdict, and why."""

    trigger_number: int
    part_id: str
    source: str
    reason: str
    verdict: str = NOT_JUDGED  # ERROR for an unreadable file
    trigger_time: float | None = None
    run_id: int = 0


Item = Frame | Unjudged


class PartQueue:
    """Frames (at most `size`) and markers, in trigger order."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError("the part queue needs room for at least one part")
        self.size = size
        self._items: deque[Item] = deque()
        self._frames = 0
        self._condition = threading.Condition()

    def offer(self, frame: Frame) -> bool:
        """Queue a frame; if the queue is full, queue it as NOT JUDGED instead. False then."""
        with self._condition:
            if self._frames >= self.size:
                self._append(Unjudged(frame.trigger_number, frame.part_id, frame.source,
                                      f"queue full ({self.size} parts waiting)",
                                      trigger_time=frame.trigger_time, run_id=frame.run_id))
                return False
            self._append(frame)
            return True

    def mark(self, marker: Unjudged) -> None:
        with self._condition:
            self._append(marker)

    def wait_for_room(self, stop: threading.Event, frames: int | None = None) -> bool:
        """Block until fewer than `frames` (default: size) frames wait; False if stopped."""
        limit = self.size if frames is None else frames
        with self._condition:
            while self._frames >= limit and not stop.is_set():
                self._condition.wait(0.05)
            return not stop.is_set()

    def take(self, timeout: float) -> Item | None:
        with self._condition:
            if not self._items:
                self._condition.wait(timeout)
            if not self._items:
                return None
            item = self._items.popleft()
            if isinstance(item, Frame):
                self._frames -= 1
            self._condition.notify_all()
            return item

    def drain(self) -> list[Item]:
        with self._condition:
            items, self._items, self._frames = list(self._items), deque(), 0
            self._condition.notify_all()
            return items

    def __len__(self) -> int:
        return len(self._items)

    def _append(self, item: Item) -> None:
        if isinstance(item, Frame):
            self._frames += 1
        elif len(self._items) >= MAX_MARKERS:
            return  # the counts still hold the part; only its in-order marker is shed
        self._items.append(item)
        self._condition.notify_all()


class FrameMailbox:
    """Preview: a single slot where a new frame replaces an unread one (counted as dropped),
    so the model always works on the newest frame and memory never grows."""

    def __init__(self):
        self._condition = threading.Condition()
        self._frame: Frame | None = None
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._condition:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._condition.notify()

    def take(self, timeout: float) -> Frame | None:
        with self._condition:
            if self._frame is None:
                self._condition.wait(timeout)
            frame, self._frame = self._frame, None
            return frame


@dataclass(frozen=True)
class Counts:
    """The station's counts since the last new shift / reset. In part mode, once nothing is in
    flight, triggers = passed + failed + not_judged + errors."""

    triggers: int = 0
    passed: int = 0
    failed: int = 0
    not_judged: int = 0
    errors: int = 0
    preview_dropped: int = 0  # preview frames replaced before the model saw them (no parts)

    @property
    def judged(self) -> int:
        return self.passed + self.failed + self.not_judged + self.errors

    @property
    def in_flight(self) -> int:
        return self.triggers - self.judged

    @property
    def rejected(self) -> int:
        return self.failed + self.not_judged + self.errors

    @property
    def yield_percent(self) -> float | None:
        return 100.0 * self.passed / self.judged if self.judged else None


@dataclass
class CountKeeper:
    """Thread-safe running counts: triggers where they start, verdicts where they are final."""

    _counts: Counts = field(default_factory=Counts)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_trigger(self) -> None:
        self._bump(triggers=1)

    def add_verdict(self, verdict: str) -> None:
        key = {PASS: "passed", FAIL: "failed", NOT_JUDGED: "not_judged", ERROR: "errors"}[verdict]
        self._bump(**{key: 1})

    def set_preview_dropped(self, dropped: int) -> None:
        with self._lock:
            self._counts = replace(self._counts, preview_dropped=dropped)

    def snapshot(self) -> Counts:
        with self._lock:
            return self._counts

    def reset(self, counts: Counts | None = None) -> None:
        with self._lock:
            self._counts = counts or Counts()

    def _bump(self, **deltas: int) -> None:
        with self._lock:
            values = {name: getattr(self._counts, name) + delta for name, delta in deltas.items()}
            self._counts = replace(self._counts, **values)
