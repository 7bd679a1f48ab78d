"""The inspection database, declared once for SQLite and PostgreSQL (SQLAlchemy Core).

`parts` holds one row per judged part, `events` one row per thing that happened at a station
(a recipe loaded, the threshold moved, a shift started, a camera lost, an output down).
Times are seconds since the epoch (`time.time()`), as in `PartRecord`, so that both databases
compare them the same way; the CSV export and the window show them as local times.
"""
from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Column, Double, Index, Integer, MetaData, String, Table,
                        Text)

# Constraint names fixed here so that later migrations can refer to them on both databases.
metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
})

STATION_LENGTH = 64  # checked when a database is opened, so that no row is ever refused for it

# SQLite only makes an INTEGER PRIMARY KEY an alias of its row id (auto-increment).
ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

parts = Table(
    "parts", metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("station", String(STATION_LENGTH), nullable=False),
    Column("run_id", BigInteger, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("part_id", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("recipe", Text, nullable=False),
    Column("recipe_version", Text, nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("score", Double, nullable=True),  # None when the part was not judged
    Column("threshold", Double, nullable=False),
    Column("trigger_time", Double, nullable=True),
    Column("acquired_time", Double, nullable=True),
    Column("verdict_time", Double, nullable=False),
    Column("latency_ms", Double, nullable=True),
    Column("reason", Text, nullable=False),
    Column("image_path", Text, nullable=False),
    Column("overlay_path", Text, nullable=False),
)
# Shift totals and hourly yield count one station's verdicts over a time range: the index
# covers that query, so it never reads the rows themselves.
Index(None, parts.c.station, parts.c.verdict_time, parts.c.verdict)

events = Table(
    "events", metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("time", Double, nullable=False),
    Column("station", String(STATION_LENGTH), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("user_name", Text, nullable=False),  # "user" is reserved in PostgreSQL's SQL
    Column("old_value", Text, nullable=True),
    Column("new_value", Text, nullable=True),
    Column("reason", Text, nullable=False),
    Column("detail", JSON, nullable=True),
    # Room for the audit trail: an HMAC over this row and the previous row's link.
    Column("link", String(128), nullable=True),
)
Index(None, events.c.station, events.c.time)
# The latest "shift_started" of a station, without reading its other events.
Index(None, events.c.station, events.c.kind, events.c.time)
