"""The acquisition thread's work: open the source, start each part, hand frames on.

Part mode: every trigger is counted where it starts (a software trigger issued, a PLC
request received, a hardware edge numbered by the camera) and becomes exactly one item in
the part queue: a frame, or a NOT JUDGED / ERROR marker saying why there is none. Preview:
the newest frame goes to a single-slot mailbox and nothing is counted as a part.

A camera that is lost is closed and reopened with backoff; while it is away the line's
triggers (a software trigger clock, PLC requests) go on and are recorded as lost parts.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from ..records.part import ERROR
from ..sources.base import (FREE, HARDWARE, PLC, SOFTWARE, Frame, ImageError, Source,
                            SourceEnded, SourceError, SourceLost)
from .errors import describe_error, report_error
from .parts import CountKeeper, FrameMailbox, PartQueue, Unjudged

RECONNECT_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # waits between attempts to reopen a lost camera
READ_SLICE_S = 0.1  # longest single wait, so that a stop is seen quickly
DEFAULT_TIMEOUT_S = 1.0  # a trigger whose frame takes longer is a part without an image
PREVIEW_FOLDER_RATE = 5.0  # a folder or video previewed with no rate set plays at this pace
FINITE_READ_AHEAD = 1  # a folder is read one part ahead of the model: overlap, little to drop

# kind ("source_failed", "source_ended", "camera_lost", "camera_back", "skipped"), text, level
EventSink = Callable[[str, str, str], None]


@dataclass
class PlcTrigger:
    number: int
    time: float


class Acquisition:
    """Runs one start of one source; `run` is the body of the acquisition thread."""

    def __init__(self, source: Source, mode: str, run_id: int, counts: CountKeeper,
                 events: EventSink, queue: PartQueue | None = None,
                 mailbox: FrameMailbox | None = None, limit: int | None = None):
        self.source = source
        self.limit = limit  # stop issuing triggers after this many (the run then finishes)
        self.mode = mode  # the station's trigger mode (PLC: the camera runs on software triggers)
        self.run_id = run_id
        self.counts = counts
        self.events = events
        self.queue = queue
        self.mailbox = mailbox
        self.stop = threading.Event()
        self.running = threading.Event()  # cleared while paused
        self.running.set()
        self.finished = threading.Event()  # set when the thread's work is over
        self.triggers = 0  # issued in this run
        self._plc: deque[PlcTrigger] = deque()
        self._plc_lock = threading.Lock()
        self._hardware_base = 0  # trigger numbers already used before the camera was reopened

    # -- called from other threads -------------------------------------------------------
    def request_trigger(self) -> int:
        """A PLC's trigger: counted now, served by a software trigger when the loop gets to it."""
        with self._plc_lock:
            number = self._next_trigger()
            self._plc.append(PlcTrigger(number, time.time()))
            return number

    # -- the thread's body ---------------------------------------------------------------
    def run(self) -> None:
        try:
            try:
                self.source.open()
            except SourceError as error:
                self.events("source_failed", report_error(error), "error")
                return
            if self.mode == FREE:
                self._preview()
            elif self.mode == HARDWARE:
                self._hardware_parts()
            elif self.source.finite and self.mode == SOFTWARE:
                self._finite_parts()
            else:
                self._triggered_parts()
        except SourceEnded:
            self.events("source_ended", f"End of {self.source.name}.", "info")
        except SourceError as error:
            if not self.stop.is_set():
                self.events("source_failed", report_error(error), "error")
        except BaseException as error:  # noqa: BLE001 - a thread reports, never raises
            self.events("source_failed", report_error(error), "error")
        finally:
            try:
                self.source.close()
            finally:
                self.finished.set()

    def _finite_parts(self) -> None:
        """A folder or video file: the next part is read only when the model has room for it."""
        period = _period(self.source.settings.get("rate", 0.0))
        due = time.monotonic()
        while self._wait_running():
            if not self.queue.wait_for_room(self.stop, FINITE_READ_AHEAD):
                return
            if period and not self._sleep_until(due):
                return
            due = max(due + period, time.monotonic())
            trigger_time = time.time()
            try:
                frame = self.source.read(DEFAULT_TIMEOUT_S)
            except ImageError as error:
                self._unreadable(self._next_trigger(), trigger_time, error)
                continue
            if frame is None:
                continue
            self._post(frame, self._next_trigger(), trigger_time)

    def _triggered_parts(self) -> None:
        """A camera on software triggers at the rate option (the line's clock; 0 = as fast as
        parts are judged), or any source on PLC requests."""
        period = _period(self.source.settings.get("rate", 0.0)) if self.mode == SOFTWARE else 0.0
        due = time.monotonic()
        while self._wait_running():
            if self.mode == PLC:
                trigger = self._next_plc()
                if trigger is None:
                    continue
                number, trigger_time = trigger.number, trigger.time
            else:
                if period:
                    if not self._sleep_until(due):
                        return
                    due = max(due + period, time.monotonic())
                elif not self.queue.wait_for_room(self.stop):
                    return  # no line clock: trigger as fast as parts are judged
                number, trigger_time = self._next_trigger(), time.time()
            self._serve_trigger(number, trigger_time, period)

    def _serve_trigger(self, number: int, trigger_time: float, period: float) -> None:
        try:
            if not self.source.finite:
                self.source.trigger()
            frame = self._read_frame(_timeout(self.source))
        except ImageError as error:
            self._unreadable(number, trigger_time, error)
            return
        except SourceEnded:
            self._lost(number, trigger_time, "the source has no more images")
            raise
        except SourceLost as error:
            self._lost(number, trigger_time, f"camera lost: {describe_error(error)}")
            self._reconnect(error, period)
            return
        if frame is None:
            self._lost(number, trigger_time, "no image came within the timeout")
            return
        self._post(frame, number, trigger_time)

    def _hardware_parts(self) -> None:
        """Edges on the camera's input: the camera numbers its frames, gaps are lost parts."""
        while self._wait_running():
            try:
                frame = self._read_frame(READ_SLICE_S)
            except SourceLost as error:
                self._reconnect(error, 0.0)
                continue
            if frame is None:
                continue
            number = (self._hardware_base + frame.trigger_number if frame.trigger_number
                      else self.triggers + 1)
            while self.triggers + 1 < number:  # edges the camera numbered but never delivered
                self._lost(self._next_trigger(), None,
                           "the camera was triggered but delivered no image")
            self._post(frame, self._next_trigger(), frame.trigger_time or frame.acquired_time)

    def _preview(self) -> None:
        period = _period(self.source.settings.get("rate", 0.0))
        if self.source.finite and not period:
            period = 1.0 / PREVIEW_FOLDER_RATE
        due = time.monotonic()
        while self._wait_running():
            if period:
                if not self._sleep_until(due):
                    return
                due = max(due + period, time.monotonic())
            try:
                frame = self._read_frame(READ_SLICE_S)
            except ImageError as error:
                self.events("skipped", describe_error(error), "warning")
                continue
            except SourceLost as error:
                self._reconnect(error, 0.0)
                continue
            if frame is not None and not self.stop.is_set():
                frame.run_id = self.run_id
                self.mailbox.put(frame)
                self.counts.set_preview_dropped(self.mailbox.dropped)

    # -- helpers -------------------------------------------------------------------------
    def _next_trigger(self) -> int:
        self.triggers += 1
        self.counts.add_trigger()
        return self.triggers

    def _post(self, frame: Frame, number: int, trigger_time: float | None) -> None:
        frame.trigger_number, frame.trigger_time, frame.run_id = number, trigger_time, self.run_id
        if self.source.finite:
            frame.part_id = frame.part_id or f"{number:06d}"
        else:
            frame.part_id = f"{number:06d}"
        self.queue.offer(frame)

    def _unreadable(self, number: int, trigger_time: float, error: ImageError) -> None:
        """One bad image: that part's ERROR record, with the file's own name and reason."""
        part_id = getattr(error, "part_id", "") or f"{number:06d}"
        self.queue.mark(Unjudged(number, part_id, self.source.name, describe_error(error), ERROR,
                                 trigger_time, self.run_id))

    def _lost(self, number: int, trigger_time: float | None, reason: str) -> None:
        self.queue.mark(Unjudged(number, f"{number:06d}", self.source.name, reason,
                                 trigger_time=trigger_time, run_id=self.run_id))

    def _read_frame(self, timeout_s: float) -> Frame | None:
        """Wait for a frame in short slices so that a stop is seen; None after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            frame = self.source.read(max(0.0, min(READ_SLICE_S, remaining)))
            if frame is not None or remaining <= READ_SLICE_S:
                return frame
        return None

    def _reconnect(self, error: BaseException, period: float) -> None:
        """Close, then reopen with backoff; the line's triggers meanwhile are lost parts."""
        name = self.source.name
        self.events("camera_lost", f"{name} lost — reconnecting ({report_error(error)})", "error")
        self.source.close()
        self._hardware_base = self.triggers
        due = time.monotonic() + period
        for attempt in range(1_000_000):
            wait_until = time.monotonic() + RECONNECT_BACKOFF_S[min(attempt, len(RECONNECT_BACKOFF_S) - 1)]
            while time.monotonic() < wait_until:
                if self.stop.wait(min(READ_SLICE_S, max(0.0, wait_until - time.monotonic()))):
                    return
                due = self._count_lost_while_away(due, period)
            try:
                self.source.open()
            except SourceError:
                continue
            self.events("camera_back", f"{name} is back; inspection resumes.", "info")
            return

    def _count_lost_while_away(self, due: float, period: float) -> float:
        """Triggers the line issues while the camera is away become NOT JUDGED parts."""
        while period and time.monotonic() >= due:
            self._lost(self._next_trigger(), time.time(), "camera lost")
            due += period
        while (trigger := self._next_plc(wait=False)) is not None:
            self._lost(trigger.number, trigger.time, "camera lost")
        return due

    def _next_plc(self, wait: bool = True) -> PlcTrigger | None:
        deadline = time.monotonic() + (READ_SLICE_S if wait else 0.0)
        while True:
            with self._plc_lock:
                if self._plc:
                    return self._plc.popleft()
            if not wait or time.monotonic() >= deadline or self.stop.is_set():
                return None
            time.sleep(0.001)

    def _wait_running(self) -> bool:
        """False once stopped or once the trigger limit is reached; waits while paused."""
        if self.limit is not None and self.triggers >= self.limit:
            return False
        while not self.stop.is_set():
            if self.running.wait(READ_SLICE_S):
                return not self.stop.is_set()
        return False

    def _sleep_until(self, due: float) -> bool:
        delay = due - time.monotonic()
        return not (delay > 0 and self.stop.wait(delay))


def _period(rate) -> float:
    rate = float(rate or 0.0)
    return 1.0 / rate if rate > 0 else 0.0


def _timeout(source: Source) -> float:
    milliseconds = source.settings.get("timeout_ms")
    return float(milliseconds) / 1000.0 if milliseconds else DEFAULT_TIMEOUT_S


__all__ = ["Acquisition", "EventSink", "PlcTrigger"]
