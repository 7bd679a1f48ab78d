"""Shifts: configurable start times, which shift a moment belongs to, and its totals.

A shift runs from one scheduled start to the next (06:00, 14:00, 22:00 by default; the night
shift crosses midnight). "Start a new shift" records a `shift_started` event with a reason;
the current shift then runs from that event to the next scheduled start, so the totals restart
from it while every earlier part stays in the database. Totals are always counted from the
database, so they are the same after a restart.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .event import SHIFT_STARTED
from .part import ERROR, FAIL, NOT_JUDGED, PASS

if TYPE_CHECKING:
    from .database import Database


@dataclass(frozen=True)
class Shift:
    name: str
    start: datetime  # time-zone aware
    end: datetime
    reason: str = ""  # why it was started by hand; empty for a scheduled start

    @property
    def start_time(self) -> float:
        return self.start.timestamp()

    @property
    def end_time(self) -> float:
        return self.end.timestamp()

    @property
    def label(self) -> str:
        return f"{self.name} {self.start:%Y-%m-%d %H:%M}"

    def contains(self, when: float) -> bool:
        return self.start_time <= when < self.end_time


@dataclass(frozen=True)
class Totals:
    """Counts of one station's verdicts from `start` (inclusive) to `end` (exclusive)."""
    start: float
    end: float
    passed: int = 0
    failed: int = 0
    not_judged: int = 0
    errors: int = 0

    @property
    def inspected(self) -> int:
        return self.passed + self.failed + self.not_judged + self.errors

    @property
    def rejected(self) -> int:
        return self.inspected - self.passed

    @property
    def yield_(self) -> float | None:
        """Share of parts that passed; None before the first part."""
        return self.passed / self.inspected if self.inspected else None

    @classmethod
    def from_counts(cls, start: float, end: float, counts: dict[str, int]) -> "Totals":
        unknown = set(counts) - {PASS, FAIL, NOT_JUDGED, ERROR}
        if unknown:
            raise ValueError(f"Unknown verdicts in the database: {sorted(unknown)}")
        return cls(start, end, counts.get(PASS, 0), counts.get(FAIL, 0),
                   counts.get(NOT_JUDGED, 0), counts.get(ERROR, 0))


@dataclass(frozen=True)
class ShiftPlan:
    """When shifts start each day, local wall-clock times "HH:MM", and their names."""
    starts: tuple[str, ...] = ("06:00", "14:00", "22:00")
    names: tuple[str, ...] = ("early", "late", "night")  # empty: shifts are named by start time
    zone: str = ""  # IANA time zone such as "Europe/Berlin"; empty: this PC's own

    def __post_init__(self):
        if not self.starts:
            raise ValueError("A shift plan needs at least one start time")
        minutes = [_minutes(text) for text in self.starts]
        if minutes != sorted(set(minutes)):
            raise ValueError(f"Shift start times must be in order and distinct: {self.starts}")
        if self.names and len(self.names) != len(self.starts):
            raise ValueError(f"{len(self.starts)} shift start times but {len(self.names)} names")
        self.timezone()  # an unknown zone is reported now, not at the first part

    def timezone(self) -> tzinfo | None:
        if not self.zone:
            return None
        try:
            return ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"Unknown time zone {self.zone!r} in the shift plan") from None

    def scheduled(self, when: float | None = None) -> Shift:
        """The scheduled shift that `when` (default: now) falls in."""
        when = time.time() if when is None else when
        zone = self.timezone()
        day = datetime.fromtimestamp(when, zone).date()
        boundaries = []  # (start, index of the shift) over three days, around `when`
        for offset in (-1, 0, 1):
            for index, text in enumerate(self.starts):
                minutes = _minutes(text)
                local = datetime.combine(day + timedelta(days=offset), datetime.min.time())
                local += timedelta(minutes=minutes)
                boundaries.append((local.replace(tzinfo=zone) if zone else local.astimezone(),
                                   index))
        boundaries.sort(key=lambda item: item[0].timestamp())
        for (start, index), (end, _) in zip(boundaries, boundaries[1:]):
            if start.timestamp() <= when < end.timestamp():
                name = self.names[index] if self.names else self.starts[index]
                return Shift(name, start, end)
        raise AssertionError("three days of boundaries always surround a moment")


def current_shift(database: "Database", plan: ShiftPlan, now: float | None = None) -> Shift:
    """The shift at `now`: the scheduled one, from its last hand-started restart if any."""
    now = time.time() if now is None else now
    shift = plan.scheduled(now)
    restart = database.latest_event(SHIFT_STARTED, start=shift.start_time, end=now)
    if restart is None:
        return shift
    return Shift(shift.name, datetime.fromtimestamp(restart.time, shift.start.tzinfo), shift.end,
                 restart.reason)


def start_new_shift(database: "Database", plan: ShiftPlan, reason: str, user: str = "",
                    now: float | None = None) -> Shift:
    """Record a `shift_started` event; the current shift and its totals restart from it."""
    if not reason.strip():
        raise ValueError("Say why a new shift is started (the reason is kept in the records)")
    now = time.time() if now is None else now
    previous = current_shift(database, plan, now)
    database.add_event(SHIFT_STARTED, user=user, reason=reason.strip(), old_value=previous.label,
                       when=now)
    return current_shift(database, plan, now)


def _minutes(text: str) -> int:
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except ValueError:
        raise ValueError(f"Shift start {text!r} is not a time like 06:00") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"Shift start {text!r} is not a time like 06:00")
    return hours * 60 + minutes
