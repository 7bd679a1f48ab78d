"""Joins the live pipeline to the inspection database: every final part record and the
source events worth keeping (camera lost, camera back, source failed) become rows, written
by the database's own thread so that inspection never waits on a disk or a network."""
from __future__ import annotations

import socket

from ..records.event import CAMERA_LOST, RECIPE_LOADED

EVENT_KINDS = {"camera_lost": CAMERA_LOST, "camera_back": "camera_back",
               "source_failed": "source_failed"}


def default_station() -> str:
    return socket.gethostname() or "station"


class DatabaseLink:
    """A pipeline subscriber: `part_judged` and `source_event` queue rows for the writer."""

    def __init__(self, url: str | None, station: str, on_error=None):
        from ..records.database import open_database
        from ..records.writer import RecordWriter

        self.database = open_database(url, station)  # DatabaseError: the station must not start
        self.recovery = self.database.recovery  # a damaged SQLite file was moved aside: say so
        self.writer = RecordWriter(self.database, on_error=on_error)
        self.closed = False

    def attach(self, pipeline) -> "DatabaseLink":
        pipeline.recorder.subscribers.append(self.part_judged)
        pipeline.event_subscribers.append(self.source_event)
        return self

    def part_judged(self, part) -> None:
        if not part.preview and not self.closed:
            self.writer.add_part(part.record)

    def source_event(self, run_id: int, kind: str, text: str, level: str) -> None:
        if kind in EVENT_KINDS and not self.closed:
            self.writer.add_event(EVENT_KINDS[kind], detail={"text": text, "run_id": run_id})

    def recipe_loaded(self, name: str, version: str = "") -> None:
        if not self.closed:
            self.writer.add_event(RECIPE_LOADED, new_value=name, detail={"version": version})

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then close; later calls (a run stopping late) are ignored."""
        if self.closed:
            return
        self.closed = True
        self.writer.close(timeout)
        self.database.close()
