"""What happened at a station, besides parts: one row of the `events` table."""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any

RECIPE_LOADED = "recipe_loaded"
THRESHOLD_CHANGED = "threshold_changed"
SHIFT_STARTED = "shift_started"
CAMERA_LOST = "camera_lost"
OUTPUT_DOWN = "output_down"
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")  # fits the `kind` column


@dataclass(frozen=True)
class Event:
    kind: str  # one of the constants above, or another short snake_case word
    time: float  # time.time() when it happened
    station: str = ""
    user: str = ""
    old_value: str | None = None
    new_value: str | None = None
    reason: str = ""
    detail: dict[str, Any] | None = None  # anything else, stored as JSON

    def as_dict(self) -> dict:
        return asdict(self)


def make_event(kind: str, *, station: str = "", user: str = "", old_value: Any = None,
               new_value: Any = None, reason: str = "", detail: dict[str, Any] | None = None,
               when: float | None = None) -> Event:
    """An Event checked here, in the caller's thread, so a writer thread never meets bad input."""
    if not KIND_PATTERN.fullmatch(kind):
        raise ValueError(f"Event kind {kind!r} must be a short snake_case word (at most 32 "
                         "characters)")
    if detail is not None:
        json.dumps(detail)  # raises TypeError now rather than when the row is written
    return Event(kind=kind, time=time.time() if when is None else when, station=station,
                 user=user, old_value=_text(old_value), new_value=_text(new_value),
                 reason=reason, detail=detail)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
