"""Writing records from a thread of its own, so the inspection never waits on a disk or network.

Records go through a bounded queue. When the database keeps up, each part is committed on its
own (a crash loses at most the part in flight); when a backlog builds up, the queued rows are
written together, up to `max_batch` per transaction. A database that fails is retried with a
growing pause while the queue holds the records; failures are reported through `on_error`.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from sqlalchemy import exc

from .database import Database, DatabaseError, check_part
from .event import Event, make_event
from .part import PartRecord

log = logging.getLogger(__name__)

ErrorCallback = Callable[[Exception], None]
CommittedCallback = Callable[[list[PartRecord]], None]


class RecordWriter:
    def __init__(self, database: Database, *, capacity: int = 10_000, max_batch: int = 500,
                 put_timeout: float = 0.2, on_error: ErrorCallback | None = None,
                 on_committed: CommittedCallback | None = None):
        self.database = database
        self.max_batch = max_batch
        self.put_timeout = put_timeout
        self.on_error = on_error  # called on the writer's thread
        self.on_committed = on_committed  # called on the writer's thread after each commit
        self.written = 0  # records committed
        self.lost = 0  # records refused by a full queue, rejected by the database or abandoned
        self.failing = False  # the last write failed and is being retried
        self._queue: queue.Queue[PartRecord | Event] = queue.Queue(capacity)
        self._done = threading.Condition()
        self._accepted = self._handled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._thread.start()

    # --- the caller's side ----------------------------------------------------------------

    def add_part(self, record: PartRecord) -> bool:
        """Queue a part; False (and reported) if the queue stayed full for `put_timeout`.

        A record the database would refuse (unknown verdict, no time) raises ValueError here.
        """
        check_part(record)
        return self._put(record)

    def add_event(self, kind: str, **fields) -> Event:
        """Queue an event (fields as in `event.make_event`; bad ones raise here)."""
        event = make_event(kind, station=self.database.station, **fields)
        self._put(event)
        return event

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written (or lost); False on timeout."""
        with self._done:
            target = self._accepted
            return self._done.wait_for(lambda: self._handled >= target, timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued, then stop; records still unwritten after `timeout` are lost."""
        flushed = self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout)
        return flushed

    def _put(self, item: PartRecord | Event) -> bool:
        if self._stop.is_set():
            raise RuntimeError("The record writer is closed")
        with self._done:
            self._accepted += 1
        try:
            self._queue.put(item, timeout=self.put_timeout)
            return True
        except queue.Full:
            self._finish(lost=1, error=DatabaseError(
                f"The database is not keeping up: {self._describe(item)} was not recorded"))
            return False

    # --- the writer's thread --------------------------------------------------------------

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                batch = [self._queue.get(timeout=0.2)]
            except queue.Empty:
                continue
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[PartRecord | Event]) -> None:
        """Commit the batch, retrying while the database fails, until the writer is stopped."""
        pause = 0.2
        while True:
            try:
                self._commit(batch)
                if self.failing:
                    log.info("Writing to the inspection database again")
                self.failing = False
                return
            except (exc.IntegrityError, exc.DataError) as error:
                if len(batch) == 1:
                    self._finish(lost=1, error=DatabaseError(
                        f"The database refused {self._describe(batch[0])}: {error.orig}"))
                    return
                # Bad rows, not a bad database: write them one by one to keep the good ones.
                for item in batch:
                    self._write([item])
                return
            except Exception as error:  # noqa: BLE001 - reported, and retried
                if not self.failing:
                    self.failing = True
                    self._report(error)
                if self._stop.wait(pause):
                    self._abandon(batch, error)
                    return
                pause = min(pause * 2, 5.0)

    def _commit(self, items: list[PartRecord | Event]) -> None:
        parts = [item for item in items if isinstance(item, PartRecord)]
        self.database.write(parts, [item for item in items if isinstance(item, Event)])
        self.written += len(items)
        self._finish(handled=len(items))
        if self.on_committed is not None and parts:
            try:
                self.on_committed(parts)
            except Exception:  # noqa: BLE001 - the rows are committed: never write them again
                log.exception("The record writer's commit callback failed")

    def _abandon(self, batch: list, error: Exception) -> None:
        """Stopped while the database fails: count what was never written, and say so."""
        left = len(batch)
        while True:
            try:
                self._queue.get_nowait()
                left += 1
            except queue.Empty:
                break
        self._finish(lost=left, error=DatabaseError(
            f"{left} records could not be written to the inspection database: {error}"))

    def _finish(self, handled: int = 0, lost: int = 0, error: Exception | None = None) -> None:
        with self._done:
            self.lost += lost
            self._handled += handled + lost
            self._done.notify_all()
        if error is not None:
            self._report(error)

    def _report(self, error: Exception) -> None:
        log.error("Inspection database: %s", error, exc_info=error)
        if self.on_error is not None:
            try:
                self.on_error(error)
            except Exception:  # noqa: BLE001 - a broken callback must not stop the writer
                log.exception("The record writer's error callback failed")

    @staticmethod
    def _describe(item: PartRecord | Event) -> str:
        if isinstance(item, PartRecord):
            return f"part {item.part_id!r} (#{item.sequence})"
        return f"event {item.kind!r}"
