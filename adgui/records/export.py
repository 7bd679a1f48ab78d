"""The parts of a shift (or all of them) as CSV, for spreadsheets and quality reports."""
from __future__ import annotations

import csv
import os
import tempfile
from datetime import datetime
from pathlib import Path

from .database import Database
from .part import PartRecord
from .shifts import Shift

COLUMNS = ("time", "station", "run_id", "sequence", "part_id", "source", "recipe",
           "recipe_version", "verdict", "score", "threshold", "latency_ms",
           "trigger_to_verdict_ms", "reason", "image_path", "overlay_path")


def export_csv(database: Database, path: str | Path, shift: Shift | None = None,
               station: str | None = None) -> int:
    """Write the parts of `shift` (default: every part) of `station` (default: the database's
    own) to `path`, atomically: the file is the old one or the complete new one. Returns the
    number of parts written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    start, end = (shift.start_time, shift.end_time) if shift else (None, None)
    # The same steps as algorithms.files.atomic_write, which cannot be imported here without
    # loading torch.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(COLUMNS)
            count = 0
            for record in database.iter_parts(start, end, station=station):
                writer.writerow(_row(record))
                count += 1
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


def _row(record: PartRecord) -> list[str]:
    stamp = datetime.fromtimestamp(record.verdict_time).astimezone()
    return [stamp.isoformat(timespec="milliseconds"), record.station, str(record.run_id),
            str(record.sequence), record.part_id, record.source, record.recipe,
            record.recipe_version, record.verdict, _number(record.score),
            _number(record.threshold), _number(record.latency_ms, 2),
            _number(record.trigger_to_verdict_ms, 2), record.reason, record.image_path,
            record.overlay_path]


def _number(value: float | None, digits: int = 6) -> str:
    return "" if value is None else f"{value:.{digits}f}"
