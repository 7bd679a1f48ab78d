"""The inspection database: open it (creating or upgrading the schema), write records, query.

One schema for SQLite (the default: a file in the user data folder) and PostgreSQL (several
stations of a plant on one server, `postgresql+psycopg://user:password@host/dbname`).
Every method runs in its own short transaction, so a `Database` may be shared by threads;
`RecordWriter` keeps the writes off the caller's thread.
"""
from __future__ import annotations

import logging
import math
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, Iterator

from sqlalchemy import Engine, create_engine, event, exc, func, insert, make_url, select
from sqlalchemy.engine import URL

from ..pipeline.userdata import database_path
from . import migrations
from .event import Event, make_event
from .part import VERDICTS, PartRecord
from .schema import STATION_LENGTH, events as events_table, parts as parts_table
from .shifts import Shift, Totals

log = logging.getLogger(__name__)

ALL_STATIONS = "*"  # pass as `station` to a query to read every station's rows
SQLITE_HEADER = b"SQLite format 3\x00"
PART_FIELDS = [field.name for field in fields(PartRecord)]
EVENT_COLUMNS = {field.name: "user_name" if field.name == "user" else field.name
                 for field in fields(Event)}  # Event field -> column


class DatabaseError(RuntimeError):
    """The inspection database cannot be used; the message says why, for people."""


def open_database(url: str | URL | None, station: str) -> "Database":
    """Open (and create or upgrade) the inspection database of `station`.

    `url` None means the SQLite file in the user data folder. A corrupt or foreign SQLite file
    is moved aside (renamed with a time stamp, never deleted) and a fresh database is started;
    `Database.recovery` then holds the message to show. A PostgreSQL server that cannot be
    reached, or a database of another program, raises DatabaseError and nothing is changed.
    """
    station = station.strip()
    if not station or len(station) > STATION_LENGTH:
        raise DatabaseError(f"A station name must have 1 to {STATION_LENGTH} characters: "
                            f"{station!r}")
    try:
        url = (URL.create("sqlite", database=str(database_path())) if url is None
               else make_url(url))
    except exc.ArgumentError as error:
        raise DatabaseError(f"Not a database URL ({error}): use sqlite:///PATH or "
                            "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _open_sqlite(url, station)
    if backend == "postgresql":
        if url.drivername == "postgresql":  # the driver installed with adgui
            url = url.set(drivername="postgresql+psycopg")
        return _open_postgresql(url, station)
    raise DatabaseError(f"Unsupported database {backend!r}: use a SQLite file or PostgreSQL")


class Database:
    def __init__(self, engine: Engine, station: str, recovery: str = ""):
        self.engine = engine
        self.station = station
        self.recovery = recovery  # what was done to start afresh, for the operator; or ""

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    # --- writing --------------------------------------------------------------------------

    def add_part(self, record: PartRecord) -> None:
        self.write([record], [])

    def add_event(self, kind: str, **fields) -> Event:
        """Record an event now (see `event.make_event` for the fields); returns it."""
        event = make_event(kind, station=self.station, **fields)
        self.write([], [event])
        return event

    def write(self, parts: Iterable[PartRecord], events: Iterable[Event]) -> None:
        """Write parts and events in one transaction: all of them or none."""
        part_rows = [self._part_row(record) for record in parts]
        event_rows = [self._event_row(event) for event in events]
        with self.engine.begin() as connection:
            if part_rows:
                connection.execute(insert(parts_table), part_rows)
            if event_rows:
                connection.execute(insert(events_table), event_rows)

    def _part_row(self, record: PartRecord) -> dict:
        check_part(record)
        row = record.as_dict()
        row["station"] = record.station or self.station
        for name in ("score", "trigger_time", "acquired_time", "latency_ms"):
            if row[name] is not None and not math.isfinite(row[name]):
                row[name] = None  # SQLite cannot keep NaN; both databases then read None
        return row

    def _event_row(self, event: Event) -> dict:
        row = {EVENT_COLUMNS[name]: value for name, value in event.as_dict().items()}
        row["station"] = event.station or self.station
        return row

    # --- reading --------------------------------------------------------------------------

    def parts(self, start: float | None = None, end: float | None = None, *,
              verdict: str | None = None, station: str | None = None,
              limit: int | None = None, newest_first: bool = False) -> list[PartRecord]:
        """Parts judged from `start` (inclusive) to `end` (exclusive), oldest first."""
        return list(self.iter_parts(start, end, verdict=verdict, station=station, limit=limit,
                                    newest_first=newest_first))

    def iter_parts(self, start: float | None = None, end: float | None = None, *,
                   verdict: str | None = None, station: str | None = None,
                   limit: int | None = None, newest_first: bool = False) -> Iterator[PartRecord]:
        """Like `parts`, streamed in chunks: for exports of many parts."""
        column = parts_table.c.verdict_time
        query = select(*(parts_table.c[name] for name in PART_FIELDS))
        query = self._filter(query, parts_table, column, start, end, station)
        if verdict is not None:
            query = query.where(parts_table.c.verdict == verdict)
        query = query.order_by(*_order(parts_table, column, newest_first)).limit(limit)
        with self.engine.connect() as connection:
            for row in connection.execution_options(yield_per=2000).execute(query):
                yield PartRecord(**row._mapping)

    def events(self, kind: str | None = None, start: float | None = None,
               end: float | None = None, *, station: str | None = None,
               limit: int | None = None, newest_first: bool = False) -> list[Event]:
        """Events from `start` to `end` (both inclusive), oldest first."""
        column = events_table.c.time
        query = select(*(events_table.c[column].label(name)
                         for name, column in EVENT_COLUMNS.items()))
        query = self._filter(query, events_table, column, start, None, station)
        if end is not None:
            query = query.where(column <= end)
        if kind is not None:
            query = query.where(events_table.c.kind == kind)
        query = query.order_by(*_order(events_table, column, newest_first)).limit(limit)
        with self.engine.connect() as connection:
            return [Event(**row._mapping) for row in connection.execute(query)]

    def latest_event(self, kind: str, start: float | None = None,
                     end: float | None = None) -> Event | None:
        found = self.events(kind, start, end, limit=1, newest_first=True)
        return found[0] if found else None

    def totals(self, start: float, end: float, station: str | None = None) -> Totals:
        """Verdict counts of the parts judged from `start` (inclusive) to `end` (exclusive)."""
        query = select(parts_table.c.verdict, func.count()).group_by(parts_table.c.verdict)
        query = self._filter(query, parts_table, parts_table.c.verdict_time, start, end, station)
        with self.engine.connect() as connection:
            counts = {verdict: count for verdict, count in connection.execute(query)}
        return Totals.from_counts(start, end, counts)

    def shift_totals(self, shift: Shift) -> Totals:
        return self.totals(shift.start_time, shift.end_time)

    def hourly_yield(self, shift: Shift) -> list[Totals]:
        """Totals per clock hour of the shift (the first and last hours may be partial)."""
        hour = shift.start.replace(minute=0, second=0, microsecond=0)
        boundaries = [shift.start_time]
        while (hour := hour + timedelta(hours=1)) < shift.end:
            boundaries.append(hour.timestamp())
        boundaries.append(shift.end_time)
        return [self.totals(start, end) for start, end in zip(boundaries, boundaries[1:])]

    def _filter(self, query, table, column, start, end, station):
        station = self.station if station is None else station
        if station != ALL_STATIONS:
            query = query.where(table.c.station == station)
        if start is not None:
            query = query.where(column >= start)
        if end is not None:
            query = query.where(column < end)
        return query

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _order(table, column, newest_first: bool) -> tuple:
    """By time, then by row id (the order of writing) for rows of the same time."""
    if newest_first:
        return column.desc(), table.c.id.desc()
    return column, table.c.id


def check_part(record: PartRecord) -> None:
    """Refuse, in the caller's thread, a record the database would refuse or misread later."""
    if record.verdict not in VERDICTS:
        raise ValueError(f"Part {record.part_id!r}: unknown verdict {record.verdict!r}")
    if not isinstance(record.verdict_time, (int, float)) or not math.isfinite(record.verdict_time):
        raise ValueError(f"Part {record.part_id!r}: no verdict time")
    if len(record.station) > STATION_LENGTH:
        raise ValueError(f"Part {record.part_id!r}: station name longer than {STATION_LENGTH} "
                         "characters")


# --- opening -------------------------------------------------------------------------------

class _Unusable(Exception):
    """A SQLite file that is corrupt or foreign: it is moved aside."""


def _open_sqlite(url: URL, station: str) -> Database:
    if not url.database or url.database == ":memory:":
        raise DatabaseError("The inspection database must be a file (sqlite:///PATH)")
    path = Path(url.database).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    url = url.set(database=str(path))
    try:
        return Database(_sqlite_engine_checked(url), station)
    except _Unusable as problem:
        aside = _move_aside(path)
        message = (f"The inspection database {path} could not be used ({problem}); it was "
                   f"moved aside to {aside.name} and a new database was started.")
        log.warning(message)
    try:
        return Database(_sqlite_engine_checked(url), station, recovery=message)
    except _Unusable as problem:
        raise DatabaseError(f"A new inspection database at {path} could not be started: "
                            f"{problem}") from None


def _sqlite_engine_checked(url: URL) -> Engine:
    """An engine on a SQLite file whose schema is current; _Unusable if the file is not ours."""
    path = Path(url.database)
    try:
        if path.exists() and path.stat().st_size > 0:
            with open(path, "rb") as stream:
                if stream.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                    raise _Unusable("the file is not a SQLite database")
    except OSError as error:  # a folder, no permission: nothing to move aside
        raise DatabaseError(f"The inspection database {path} cannot be opened: {error}") from None
    engine = create_engine(url)
    event.listen(engine, "connect", _sqlite_connect)
    # SQLAlchemy begins every transaction itself, DDL included (pysqlite would leave it out).
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    try:
        with engine.begin() as connection:
            check = connection.exec_driver_sql("PRAGMA quick_check").scalar()
            if check != "ok":
                raise _Unusable(f"the integrity check failed: {check}")
            applied = migrations.upgrade(connection)
    except (_Unusable, migrations.ForeignSchemaError) as error:
        engine.dispose()
        raise _Unusable(str(error)) from None
    except exc.DBAPIError as error:
        engine.dispose()
        reason = str(error.orig)
        if any(word in reason for word in ("not a database", "malformed", "corrupt")):
            raise _Unusable(reason) from None
        raise DatabaseError(f"The inspection database {path} cannot be opened: {reason}") from None
    if applied:
        log.info("Inspection database %s: schema revisions %s applied", path, applied)
    return engine


def _sqlite_connect(connection, _record) -> None:
    connection.isolation_level = None  # transactions are begun by the "begin" listener
    cursor = connection.cursor()
    # WAL with synchronous=FULL: every commit is on disk before it returns, so a kill -9 or a
    # power cut loses at most the part not yet committed; readers never block the writer.
    mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        log.warning("The inspection database runs in %s journal mode, not WAL", mode)
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")  # another process writing: wait, don't fail
    cursor.close()


def _move_aside(path: Path) -> Path:
    """Rename the file (and its WAL and shared-memory files) with a time stamp; never delete."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.unusable-{stamp}")
    counter = 2
    while aside.exists():
        aside, counter = path.with_name(f"{path.name}.unusable-{stamp}-{counter}"), counter + 1
    try:
        # The WAL first: a stale WAL beside a new database would be replayed into it.
        for suffix in ("-wal", "-shm", "-journal"):
            companion = path.with_name(path.name + suffix)
            if companion.exists():
                companion.rename(aside.with_name(aside.name + suffix))
        path.rename(aside)
    except OSError as error:
        raise DatabaseError(f"The unusable inspection database {path} could not be moved "
                            f"aside: {error}") from None
    return aside


def _open_postgresql(url: URL, station: str) -> Database:
    shown = url.render_as_string(hide_password=True)
    engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    try:
        with engine.begin() as connection:
            applied = migrations.upgrade(connection)
    except migrations.ForeignSchemaError as error:
        engine.dispose()
        raise DatabaseError(f"The database {shown} is not an adgui inspection database: "
                            f"{error}. Nothing was changed; give the station a database of "
                            "its own or an empty one.") from None
    except (exc.OperationalError, exc.InterfaceError) as error:
        engine.dispose()
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise DatabaseError(f"Cannot reach the inspection database {shown}: {reason}") from None
    except exc.DBAPIError as error:
        engine.dispose()
        raise DatabaseError(f"The inspection database {shown} cannot be used: "
                            f"{str(error.orig).strip()}") from None
    if applied:
        log.info("Inspection database %s: schema revisions %s applied", shown, applied)
    return Database(engine, station)
