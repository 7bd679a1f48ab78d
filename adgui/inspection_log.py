"""The CSV export of part records: one line per part, flushed to disk as it is written.

Appending whole lines and syncing each one means a crash loses at most the line being
written, never the lines before it.
"""
from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from pathlib import Path

from .records.part import PartRecord

COLUMNS = ("time", "source", "part_id", "sequence", "verdict", "score", "threshold", "model",
           "trigger_to_verdict_ms", "latency_ms", "reason")


def log_row(record: PartRecord) -> list[str]:
    stamp = datetime.fromtimestamp(record.verdict_time).astimezone() if record.verdict_time \
        else datetime.now().astimezone()
    return [stamp.isoformat(timespec="milliseconds"), record.source, record.part_id,
            str(record.sequence), record.verdict, _number(record.score, 6),
            _number(record.threshold, 6), record.recipe, _number(record.trigger_to_verdict_ms, 1),
            _number(record.latency_ms, 1), record.reason]


class InspectionLog:
    """Append-only CSV; the header is written once, when the file is new or empty."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        if self._file.tell() == 0:
            self._write([list(COLUMNS)])

    def append(self, *records: PartRecord) -> None:
        self._write([log_row(record) for record in records])

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def _write(self, rows: list[list[str]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        self._file.write(buffer.getvalue())
        self._file.flush()
        os.fsync(self._file.fileno())

    def __enter__(self) -> "InspectionLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_log(path: str | Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def _number(value: float | None, decimals: int) -> str:
    return "" if value is None else f"{value:.{decimals}f}"
