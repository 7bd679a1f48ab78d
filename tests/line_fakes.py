"""What the line tests share: a fast fake model, a memory camera a PLC triggers, a free port,
and a station with its database on a temporary SQLite file."""
from __future__ import annotations

import socket
import threading
import time

import numpy as np

from adgui.pipeline.database_link import DatabaseLink
from adgui.pipeline.inspection import InspectionResult
from adgui.pipeline.live import LivePipeline
from adgui.records.database import open_database
from adgui.sources import Frame, Source, SourceSpec
from adgui.station import RecipeTable, Station


class FakeModel:
    """Score = first sample / 100 + offset (a recipe changes the offset)."""

    def __init__(self, offset: float = 0.0, delay_s: float = 0.0):
        self.offset, self.delay_s = offset, delay_s
        self.calls = 0

    def inspect(self, image: np.ndarray) -> InspectionResult:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        score = float(image.flat[0]) / 100.0 + self.offset
        return InspectionResult(score, np.full(image.shape[:2], score, np.float32), 0.1)


class PlcCamera(Source):
    """A software-triggered camera: the n-th trigger gives a frame of value 7 * n % 100, and
    every `drop_every`-th trigger gives no frame (a NOT_JUDGED part)."""

    kind, label, address, triggers = "memory", "Memory camera", "", ("software",)

    def __init__(self, drop_every: int = 0, rate: float = 0.0):
        super().__init__({}, "software")
        self.settings = {"rate": rate, "timeout_ms": 30}
        self.drop_every = drop_every
        self.triggered = 0
        self._waiting = threading.Semaphore(0)

    def open(self):
        pass

    def trigger(self):
        self.triggered += 1
        if not (self.drop_every and self.triggered % self.drop_every == 0):
            self._waiting.release()

    def read(self, timeout_s):
        if not self._waiting.acquire(timeout=timeout_s):
            return None
        value = 7 * self.triggered % 100
        return Frame(np.full((8, 8, 3), value, np.uint8), "", "memory")


class Quiet:
    def part_judged(self, part):
        pass

    def source_event(self, run_id, kind, text, level):
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_station(tmp_path, outputs, camera: PlcCamera | None = None, model=None,
                 recipes: dict | None = None, name: str = "line-test", limit=None,
                 trigger: str = "plc"):
    """A PLC-triggered station on a memory camera, recording to a SQLite file; returns
    (station, database URL)."""
    url = f"sqlite:///{tmp_path / 'parts.db'}"
    camera = camera or PlcCamera()
    pipeline = LivePipeline(Quiet(), queue_size=4, station=name,
                            open_source_fn=lambda spec: camera)
    pipeline.set_inspector(model or FakeModel(), recipe="start")
    database = DatabaseLink(url, name).attach(pipeline)
    table = RecipeTable({number: tmp_path / f"recipe{number}.adgui" for number in (recipes or {})})
    loader = (lambda path: recipes[int(path.stem.removeprefix("recipe"))]) if recipes else None
    station = Station(pipeline, SourceSpec("folder", {}, trigger), outputs, table,
                      load_inspector=loader, database=database, limit=limit)
    return station, url


def recorded_parts(url: str, station: str = "line-test"):
    database = open_database(url, station)
    try:
        return database.parts()
    finally:
        database.close()
