"""The interface every line output shares: a PLC link or a message channel that hands each
final part record to the line.

An output kind is one small class: it declares its options as data (from which the window's
settings and the command line are built), starts its own thread or asyncio loop, and is fed
every final record through `deliver`, which never blocks. What it still has to deliver waits
in a bounded `DeliveryQueue` of its own; the station reads `room` before it accepts a trigger,
so that a link that is down fills its queue, never overwrites it. Plain Python: no Qt.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Generic, Protocol, TypeVar

from ..records.part import PartRecord
from ..sources.base import Option, resolve_settings

# The station's state as the line sees it (the OPC 40100 idea of a vision system's state).
IDLE, READY, RUNNING, ERROR = "Idle", "Ready", "Running", "Error"
STATES = (IDLE, READY, RUNNING, ERROR)

T = TypeVar("T")

# Error codes the station shows the line (Modbus register, OPC UA variable, MQTT state).
NO_ERROR = 0
ACK_TIMEOUT = 1  # a presented result was not acknowledged in time (cleared by the Ack)
QUEUE_FULL = 2  # an output's results queue is full: triggers are refused until it drains
TRIGGER_REFUSED = 3  # a trigger came while the station was not running or refusing triggers
UNKNOWN_RECIPE = 4  # a recipe number that is not in the station's table
RECIPE_FAILED = 5  # the recipe's model could not be loaded (the old one stays)
SOURCE_FAILED = 6  # the camera or folder failed or was lost
BAD_REQUEST = 7  # a start / stop / recipe request the station could not follow
ERROR_CODES = {
    NO_ERROR: "no error",
    ACK_TIMEOUT: "the line did not acknowledge a result in time",
    QUEUE_FULL: "results queue full: triggers are refused until the line takes its results",
    TRIGGER_REFUSED: "a trigger was refused: the station was not ready",
    UNKNOWN_RECIPE: "unknown recipe number",
    RECIPE_FAILED: "the recipe could not be loaded",
    SOURCE_FAILED: "the image source failed",
    BAD_REQUEST: "the request could not be followed",
}


class OutputError(RuntimeError):
    """An output cannot start (a port in use, a bad certificate); the message says why."""


@dataclass(frozen=True)
class LinkStatus:
    """Whether one output's link is up, for the window's status and the records."""

    output: str  # the output's name, e.g. "modbus 0.0.0.0:5020"
    up: bool
    text: str = ""  # what is wrong, for people, when down
    pending: int = 0  # results waiting to be delivered


@dataclass(frozen=True)
class StationState:
    """What outputs publish besides parts: the station's state and counters."""

    state: str = IDLE  # one of STATES
    error_code: int = 0  # see adgui.station.ERROR_CODES; 0 = none
    error_text: str = ""
    recipe: str = ""
    recipe_number: int = 0
    ready: bool = False  # a trigger now is accepted and will be judged
    busy: bool = False  # parts triggered and not yet recorded
    parts: int = 0  # parts recorded since the station started
    passed: int = 0
    failed: int = 0
    not_judged: int = 0  # NOT_JUDGED and ERROR parts
    remote_control: bool = False


class StationControl(Protocol):
    """What an output may ask of the station (called from the output's own thread)."""

    def plc_trigger(self) -> bool:
        """One part, now; False if the station refused it (not running, error state)."""

    def select_recipe(self, number: int) -> int:
        """Switch to recipe `number` of the station's table; 0 or an error code."""

    def start_run(self) -> int: ...

    def stop_run(self) -> int: ...

    def report_error(self, code: int, text: str) -> None:
        """An output's own fault (a PLC that does not acknowledge) for the station's state."""

    def clear_error(self, code: int) -> None: ...

    def room_changed(self) -> None:
        """A result left the output's queue: the station may accept triggers again."""


class DeliveryQueue(Generic[T]):
    """A bounded first-in first-out queue of results still to deliver; thread-safe.

    `put` never blocks and never overwrites: when full it refuses (and counts) the item. The
    station keeps it from filling by refusing triggers while it has no room (`room`)."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"a delivery queue needs room for at least one result, not {capacity}")
        self.capacity = capacity
        self.refused = 0  # results that found the queue full (each also reported as an error)
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)

    def put(self, item: T) -> bool:
        with self._lock:
            if len(self._items) >= self.capacity:
                self.refused += 1
                return False
            self._items.append(item)
            self._not_empty.notify()
            return True

    def peek(self, timeout: float = 0.0) -> T | None:
        """The oldest item, left in the queue (it goes only once delivered), or None."""
        with self._not_empty:
            if not self._items and timeout > 0:
                self._not_empty.wait(timeout)
            return self._items[0] if self._items else None

    def pop(self) -> T | None:
        with self._lock:
            return self._items.popleft() if self._items else None

    def wake(self) -> None:
        with self._not_empty:
            self._not_empty.notify_all()

    @property
    def room(self) -> int:
        with self._lock:
            return self.capacity - len(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class Output(ABC):
    """Base of every output kind. Subclasses declare `kind`, `label`, `options`, and whether
    the line's controller can run the station through them (`plc`)."""

    kind: ClassVar[str]
    label: ClassVar[str]
    options: ClassVar[tuple[Option, ...]] = ()
    address: ClassVar[str] = ""  # the option `--KIND HOST:PORT` (or URL) sets
    plc: ClassVar[bool] = False  # triggers, starts and recipe changes may come through it

    def __init__(self, settings: dict[str, Any] | None = None, station: str = "station"):
        self.settings = resolve_settings(type(self), settings or {})
        self.station = station
        self.queue: DeliveryQueue[PartRecord] = DeliveryQueue(int(self.settings.get("queue", 1000)))
        self.control: StationControl | None = None
        self.status_listeners: list[Callable[[LinkStatus], None]] = []
        self._status = LinkStatus(self.name, False, "not started")
        # The bench's per-part times (`time.time()`) by trigger number: "handed" (the station
        # gave it to the output), "written" (registers or nodes hold it, event raised). None:
        # nothing is stamped.
        self.timings: dict[int, dict[str, float]] | None = None

    @property
    def name(self) -> str:
        return f"{self.kind} {self.settings.get(self.address, '')}".strip()

    @property
    def status(self) -> LinkStatus:
        return self._status

    @property
    def pending(self) -> int:
        """Results not yet delivered (queued, or presented and not yet acknowledged)."""
        return len(self.queue)

    def attach(self, control: StationControl) -> "Output":
        self.control = control
        return self

    @abstractmethod
    def start(self) -> None:
        """Open the server or connection on the output's own thread; OutputError if it cannot
        start at all (a port in use). A peer that is away is not an error: it reconnects."""

    @abstractmethod
    def stop(self) -> None:
        """Close everything it opened; safe to call twice."""

    def deliver(self, record: PartRecord) -> bool:
        """Queue one part's record for the line (as soon as its verdict is decided, before
        its log line and images: see Recorder.hand_off); never blocks. False if the queue
        was full."""
        self._stamp(record, "handed")
        accepted = self.queue.put(record)
        self._queued()
        return accepted

    def wait_sent(self, timeout: float) -> bool:
        """Block until every result handed so far has left for the line, or `timeout` seconds
        pass; True if they left. For outputs whose sending thread needs the interpreter
        right after a verdict (see Station._part_final); the others return at once."""
        return True

    def publish_state(self, state: StationState) -> None:
        """The station's state changed (called often: keep it cheap, never block)."""

    def _queued(self) -> None:
        """A record was queued: wake the delivering side."""

    def _stamp(self, record: PartRecord, moment: str) -> None:
        if self.timings is not None:
            self.timings.setdefault(record.sequence, {}).setdefault(moment, time.time())

    def _set_status(self, up: bool, text: str = "") -> None:
        status = LinkStatus(self.name, up, text, len(self.queue))
        changed = (status.up, status.text) != (self._status.up, self._status.text)
        self._status = status
        if changed:
            for listener in list(self.status_listeners):
                try:
                    listener(status)
                except Exception:  # noqa: BLE001 - a listener never stops a link
                    pass


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    """Poll `condition` until true or `timeout` seconds pass (links starting, tests)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
    return True


__all__ = ["ACK_TIMEOUT", "BAD_REQUEST", "ERROR_CODES", "NO_ERROR", "QUEUE_FULL", "RECIPE_FAILED",
           "SOURCE_FAILED", "TRIGGER_REFUSED", "UNKNOWN_RECIPE", "ERROR", "IDLE", "READY", "RUNNING", "STATES", "DeliveryQueue", "LinkStatus", "Output",
           "OutputError", "StationControl", "StationState", "wait_until"]
