"""The audit trail: every change at a station (threshold, recipe, ROI, source, output, role,
shift) as an event with user, time, old -> new value and reason, chained with an HMAC.

Each audited event's `link` is HMAC-SHA256(key, previous link + the event's canonical
content); the first event of a station follows a start value derived from the key and the
station's name. The key and the chain's latest link (the "head") are kept outside the
database, in files of the user data folder readable by their owner only, so that whoever can
run SQL on the database cannot make an edit, an insertion or a deletion (the last events
included) pass `verify`. Whoever holds the key file can; back the key and head files up with
the station's settings, and keep them from the database's administrators.

The head is written before the event is committed, with the link it follows: a crash between
the two leaves a head that `verify` and the next change both understand.
Changes are serialised per station by a lock file beside the head, so the window and a
command on the same PC may both record.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update

from ..pipeline.userdata import app_home
from .database import Database
from .event import SHIFT_STARTED, THRESHOLD_CHANGED, Event, make_event
from .private_file import is_private, locked, write_private
from .schema import events as events_table

log = logging.getLogger(__name__)

# The audited kinds: written only through the trail, so a row of these kinds without a link
# was added by something else.
RECIPE_CHANGED = "recipe_changed"
RECIPE_TRAINED = "recipe_trained"
ROI_CHANGED = "roi_changed"
SOURCE_CHANGED = "source_changed"
OUTPUT_CHANGED = "output_changed"
ROLE_CHANGED = "role_changed"
USER_CHANGED = "user_changed"
REMOTE_CONTROL_LEFT = "remote_control_left"
PERMISSION_DENIED = "permission_denied"
AUDITED_KINDS = frozenset({THRESHOLD_CHANGED, SHIFT_STARTED, RECIPE_CHANGED, RECIPE_TRAINED,
                           ROI_CHANGED, SOURCE_CHANGED, OUTPUT_CHANGED, ROLE_CHANGED, USER_CHANGED,
                           REMOTE_CONTROL_LEFT, PERMISSION_DENIED})

KEY_BYTES = 32
HEAD_FORMAT = 1
_GENESIS = b"adgui audit trail\0"


class AuditError(RuntimeError):
    """The audit trail cannot record or check; the message says why, for people."""


# --- the key and the head, outside the database ------------------------------------------------

def audit_dir() -> Path:
    return app_home() / "audit"


def key_path() -> Path:
    return audit_dir() / "audit.key"


def head_path(database: Database, station: str | None = None) -> Path:
    """The head file of `station` (default: the database's) in this database."""
    station = station or database.station
    digest = hashlib.sha256(f"{database.url}\0{station}".encode()).hexdigest()[:16]
    readable = re.sub(r"[^\w.-]+", "_", station)[:40]
    return audit_dir() / f"{readable}-{digest}.head"


def load_key(path: str | Path | None = None, create: bool = False) -> bytes:
    """The station's HMAC key; made (random, mode 0600) when `create` and there is none."""
    path = Path(path) if path is not None else key_path()
    if not path.exists():
        if not create:
            raise AuditError(f"No audit key at {path}: the audit trail cannot be checked "
                             "without the key it was written with")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two processes starting at once must not make two keys
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_key(path)
        with os.fdopen(handle, "w", encoding="ascii") as stream:
            stream.write(os.urandom(KEY_BYTES).hex() + "\n")
            stream.flush()
            os.fsync(stream.fileno())
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as error:
        raise AuditError(f"The audit key {path} cannot be read ({error})") from None
    if len(key) != KEY_BYTES:
        raise AuditError(f"The audit key {path} is damaged ({len(key)} bytes, expected "
                         f"{KEY_BYTES})")
    if not is_private(path):
        log.warning("The audit key %s may be read by other users: make it readable by its owner "
                    "only (chmod 600)", path)
    return key


@dataclass(frozen=True)
class Head:
    """The end of a station's chain: how many events it holds and the last one's link.

    While an event is being committed, `pending_from` holds the (count, link) it follows.
    """
    station: str
    count: int
    link: str
    pending_from: tuple[int, str] | None = None

    def to_json(self) -> bytes:
        return json.dumps({"format": HEAD_FORMAT, "station": self.station, "count": self.count,
                           "link": self.link, "pending_from": self.pending_from},
                          indent=2).encode() + b"\n"

    @classmethod
    def read(cls, path: str | Path) -> "Head | None":
        """The head in `path`, None if there is no such file; AuditError if it is damaged."""
        path = Path(path)
        if not path.exists():
            return None
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document["format"] != HEAD_FORMAT:
                raise ValueError(f"format {document['format']!r}")
            pending = document.get("pending_from")
            return cls(str(document["station"]), int(document["count"]), str(document["link"]),
                       (int(pending[0]), str(pending[1])) if pending else None)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
            raise AuditError(f"The audit head file {path} is damaged ({error})") from None


# --- links ---------------------------------------------------------------------------------

def genesis(key: bytes, station: str) -> str:
    """What the first event of a station's chain follows."""
    return hmac.new(key, _GENESIS + station.encode("utf-8"), hashlib.sha256).hexdigest()


def link_of(key: bytes, previous: str, event: Event) -> str:
    """HMAC-SHA256 over the previous link and everything the event says, in a fixed form."""
    content = json.dumps([previous, event.time, event.station, event.kind, event.user,
                          event.old_value, event.new_value, event.reason, event.detail],
                         sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hmac.new(key, content.encode("ascii"), hashlib.sha256).hexdigest()


# --- writing -------------------------------------------------------------------------------

class AuditTrail:
    """Records audited events of `database.station`, each linked to the one before."""

    def __init__(self, database: Database, key: bytes, head_file: str | Path):
        self.database = database
        self.station = database.station
        self.key = key
        self.head_file = Path(head_file)
        self._lock = threading.Lock()

    @classmethod
    def open(cls, database: Database, key_file: str | Path | None = None,
             head_file: str | Path | None = None) -> "AuditTrail":
        """The trail of the database's station, with this PC's key (made on first use)."""
        return cls(database, load_key(key_file, create=True),
                   head_file if head_file is not None else head_path(database))

    def record(self, kind: str, *, user: str, old_value: Any = None, new_value: Any = None,
               reason: str = "", detail: dict[str, Any] | None = None,
               when: float | None = None) -> Event:
        """Write one audited event, linked to the chain; returns it. Raises on failure."""
        if kind not in AUDITED_KINDS:
            raise ValueError(f"{kind!r} is not an audited kind of event")
        if detail is not None:  # as the database will give it back (JSON: string keys, lists)
            detail = json.loads(json.dumps(detail))
        event = make_event(kind, station=self.station, user=user, old_value=old_value,
                           new_value=new_value, reason=reason, detail=detail, when=when)
        with self._lock, locked(self.head_file.with_name(self.head_file.name + ".lock")):
            head = Head.read(self.head_file)
            before = self._chain_end(head)
            count, previous = before
            adopted = []
            # Audited events written before the trail started (by older versions) are taken
            # into the chain at its start, as they are then.
            for row_id, row_event, _ in (_chain_rows(self.database, self.station, True)
                                         if count == 0 else []):
                previous = link_of(self.key, previous, row_event)
                adopted.append((row_id, previous))
            link = link_of(self.key, previous, event)
            total = count + len(adopted) + 1
            write_private(self.head_file, Head(self.station, total, link, before).to_json())
            try:
                self._commit(event, link, adopted)
            except Exception:
                # Nothing was committed: the head goes back to where the chain ends.
                write_private(self.head_file, Head(self.station, *before).to_json())
                raise
            write_private(self.head_file, Head(self.station, total, link).to_json())
        return event

    def _chain_end(self, head: Head | None) -> tuple[int, str]:
        """(events in the chain, the link the next event follows), trusting the head file."""
        start = genesis(self.key, self.station)
        count, tail = self._database_tail()
        tail = tail or start
        if head is None:
            if count:
                # The head was lost: start again. `verify` shows the restart at this event.
                log.error("The audit head file %s is missing while the database holds %d "
                          "audited events of %s: the chain starts again", self.head_file, count,
                          self.station)
                return count, start
            return 0, start
        if tail == head.link:
            return head.count, head.link
        if head.pending_from is not None and tail == head.pending_from[1]:
            return head.pending_from  # the last change was never committed
        # The database's end differs from the head: go on from the head, so the break stays.
        log.error("The audit trail of %s does not end where its head file says: run "
                  "`adgui audit verify`", self.station)
        return head.count, head.link

    def _database_tail(self) -> tuple[int, str | None]:
        query = (select(func.count(), func.max(events_table.c.id))
                 .where(events_table.c.station == self.station, events_table.c.link.is_not(None)))
        with self.database.engine.connect() as connection:
            count, last_id = connection.execute(query).one()
            if not count:
                return 0, None
            link = connection.execute(select(events_table.c.link)
                                      .where(events_table.c.id == last_id)).scalar_one()
        return count, link

    def _commit(self, event: Event, link: str, adopted: list[tuple[int, str]]) -> None:
        row = self.database._event_row(event)
        row["link"] = link
        with self.database.engine.begin() as connection:
            for row_id, row_link in adopted:
                connection.execute(update(events_table).where(events_table.c.id == row_id)
                                   .values(link=row_link))
            connection.execute(insert(events_table), [row])


# --- checking ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Break:
    """Where a chain is broken: the first event that does not hold, and why."""
    position: int  # in the chain, from 1
    event_id: int | None  # the row's id; None when the events are missing at the end
    problem: str
    kind: str = ""
    time: float | None = None

    def __str__(self) -> str:
        if self.event_id is None:
            return f"event {self.position} of the chain: {self.problem}"
        return f"event #{self.event_id} ({self.kind}, position {self.position}): {self.problem}"


@dataclass(frozen=True)
class Report:
    station: str
    events: int  # audited events found in the database
    broken: Break | None
    note: str = ""

    @property
    def whole(self) -> bool:
        return self.broken is None


def check(database: Database, station: str, key: bytes, head: Head | None) -> Report:
    """Walk the chain of `station` in the order of writing and compare its end with `head`."""
    start = previous = genesis(key, station)
    position = 0
    for position, (row_id, event, link) in enumerate(_chain_rows(database, station), 1):
        found = dict(position=position, event_id=row_id, kind=event.kind, time=event.time)
        if link is None:
            return Report(station, position, Break(
                **found, problem="it carries no link: it was added outside the audit trail"))
        if not hmac.compare_digest(link, link_of(key, previous, event)):
            if hmac.compare_digest(link, link_of(key, start, event)):
                problem = ("the chain starts again here: the audit head file was missing when "
                           "this event was recorded")
            else:
                problem = ("its content or its place was changed: the event was edited or "
                           "inserted, or the one before it was deleted")
            return Report(station, position, Break(**found, problem=problem))
        previous = link
    count = position
    if head is None:
        if count:
            return Report(station, count, Break(count + 1, None, (
                "there is no audit head file, so deleted last events cannot be ruled out")))
        return Report(station, 0, None)
    if head.station != station:
        raise AuditError(f"The head file is station {head.station!r}'s, not {station!r}'s")
    if count == head.count and hmac.compare_digest(previous, head.link):
        return Report(station, count, None)
    if head.pending_from is not None and count == head.pending_from[0] and \
            hmac.compare_digest(previous, head.pending_from[1]):
        return Report(station, count, None, note="the last change was interrupted before it was "
                                                 "recorded; the chain ends before it")
    if count < head.count:
        missing = head.count - count
        return Report(station, count, Break(count + 1, None, (
            f"{'it is' if missing == 1 else f'it and the {missing - 1} after it are'} missing: "
            f"the head file names {head.count} events, the database holds {count}; the last "
            "events were deleted")))
    return Report(station, count, Break(head.count + 1, None, (
        f"the database holds {count} events but the head file names {head.count}: the head "
        "file is older than the database (restored from a backup?)")))


def verify(database: Database, station: str, key: bytes, head: Head | None) -> Break | None:
    """The first broken event of `station`'s chain, or None when the chain is whole."""
    return check(database, station, key, head).broken


def _chain_rows(database: Database, station: str,
                unlinked_only: bool = False) -> list[tuple[int, Event, str | None]]:
    """(id, event, link) of the station's linked and audited events in the order written (by
    row id); only the audited ones without a link when `unlinked_only`."""
    columns = events_table.c
    audited = columns.kind.in_(sorted(AUDITED_KINDS))
    condition = (and_(audited, columns.link.is_(None)) if unlinked_only
                 else or_(columns.link.is_not(None), audited))
    query = (select(columns.id, columns.time, columns.station, columns.kind, columns.user_name,
                    columns.old_value, columns.new_value, columns.reason, columns.detail,
                    columns.link)
             .where(columns.station == station, condition).order_by(columns.id))
    with database.engine.connect() as connection:
        rows = connection.execute(query).all()
    return [(row.id, Event(kind=row.kind, time=row.time, station=row.station,
                           user=row.user_name, old_value=row.old_value,
                           new_value=row.new_value, reason=row.reason, detail=row.detail),
             row.link) for row in rows]
