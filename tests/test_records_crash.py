"""A station killed with `kill -9` while it writes parts keeps every part it had committed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import make_url

from adgui.records import open_database

ROOT = Path(__file__).resolve().parents[1]

# A station at a line-like pace: it says which parts are committed, as the writer reports them.
STATION = """
import sys, time
from adgui.records import PASS, PartRecord, RecordWriter, open_database

database = open_database(sys.argv[1], "line-1")
writer = RecordWriter(database,
                      on_committed=lambda parts: print(*(p.sequence for p in parts), flush=True),
                      on_error=lambda error: print("ERROR", error, flush=True))
sequence = 0
while True:
    sequence += 1
    writer.add_part(PartRecord(f"part-{sequence}", sequence, PASS, 0.1, 0.5,
                               verdict_time=time.time()))
    time.sleep(0.001)
"""


def test_kill_9_keeps_every_committed_part(database_url):
    child = subprocess.Popen([sys.executable, "-c", STATION, database_url], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    committed: list[int] = []
    deadline = time.monotonic() + 120
    try:
        while len(committed) < 300 and time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line, "the station stopped before it was killed"
            assert not line.startswith("ERROR"), line
            committed += [int(word) for word in line.split()]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL and len(committed) >= 300
    committed += [int(word) for word in child.stdout.read().split()]  # said before it died

    if database_url.startswith("sqlite"):  # the parts lie in the write-ahead log, not yet merged
        wal = Path(make_url(database_url).database + "-wal")
        assert wal.is_file() and wal.stat().st_size > 0
    with open_database(database_url, "line-1") as database:
        assert database.recovery == ""  # readable: nothing was moved aside
        stored = [part.sequence for part in database.parts()]
    assert set(committed) <= set(stored)
    assert stored == list(range(1, len(stored) + 1))  # in order, no gaps, no duplicates
