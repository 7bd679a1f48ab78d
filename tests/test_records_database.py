"""The inspection database on SQLite and on a real PostgreSQL server: same tests, same schema."""
from __future__ import annotations

import math
import threading
from dataclasses import replace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from adgui.records import (ALL_STATIONS, FAIL, NOT_JUDGED, PASS, THRESHOLD_CHANGED, DatabaseError,
                           PartRecord, RecordWriter, open_database)
from adgui.records.migrations import VERSION_TABLE, head
from adgui.records.schema import metadata

T0 = 1_790_000_000.0  # a fixed moment, so that the queries' time ranges are known


def part(sequence: int, verdict: str = PASS, when: float | None = None, **fields) -> PartRecord:
    score = {PASS: 0.2, FAIL: 0.8}.get(verdict)
    return PartRecord(part_id=f"part-{sequence:05d}", sequence=sequence, verdict=verdict,
                      score=score, threshold=0.5,
                      verdict_time=T0 + sequence if when is None else when, **fields)


def test_parts_and_events_round_trip(database_url):
    record = PartRecord(part_id="img_0042.png", sequence=42, verdict=FAIL, score=0.8125,
                        threshold=0.55, source="folder:/line/images", recipe="bottle",
                        recipe_version="3", trigger_time=T0, acquired_time=T0 + 0.004,
                        verdict_time=T0 + 0.031, latency_ms=22.5, reason="",
                        image_path="failed/img_0042.png", overlay_path="failed/img_0042_map.png",
                        run_id=7)
    not_judged = PartRecord(part_id="trigger-43", sequence=43, verdict=NOT_JUDGED, score=None,
                            threshold=0.55, verdict_time=T0 + 1, latency_ms=math.nan,
                            reason="inspection took longer than the cycle")
    with open_database(database_url, "line-1") as database:
        database.add_part(record)
        database.add_part(not_judged)
        database.add_event(THRESHOLD_CHANGED, user="engineer", old_value=0.5, new_value=0.55,
                           reason="fewer false rejects",
                           detail={"recipe": "bottle", "parts": [1, 2]},
                           when=T0 + 2)
    with open_database(database_url, "line-1") as database:  # read back after a reopen
        stored, judged_late = database.parts()
        (event,) = database.events()
    assert stored == PartRecord(**{**record.as_dict(), "station": "line-1"})
    assert judged_late.score is None and judged_late.latency_ms is None  # NaN is kept as unknown
    assert judged_late.reason == not_judged.reason
    assert (event.kind, event.station, event.user, event.time) == (THRESHOLD_CHANGED, "line-1",
                                                                   "engineer", T0 + 2)
    assert (event.old_value, event.new_value) == ("0.5", "0.55")
    assert event.detail == {"recipe": "bottle", "parts": [1, 2]}


def test_migrations_build_exactly_the_declared_schema(database_url):
    open_database(database_url, "line-1").close()
    engine = create_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        assert context.get_current_revision() == head()
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []


def test_queries_filter_by_station_time_and_verdict(database_url):
    with (open_database(database_url, "line-1") as line1,
          open_database(database_url, "line-2") as line2):
        line1.write([part(1), part(2, FAIL), part(3)], [])
        line2.write([part(1, FAIL)], [])
        assert [p.sequence for p in line1.parts()] == [1, 2, 3]
        assert [p.sequence for p in line1.parts(T0 + 2, T0 + 3)] == [2]  # start in, end out
        assert [p.sequence for p in line1.parts(verdict=FAIL)] == [2]
        assert [p.sequence for p in line1.parts(newest_first=True, limit=2)] == [3, 2]
        assert [p.station for p in line2.parts()] == ["line-2"]
        assert len(line1.parts(station=ALL_STATIONS)) == 4
        totals = line1.totals(T0, T0 + 10)
        assert (totals.inspected, totals.passed, totals.failed) == (3, 2, 1)
        assert totals.yield_ == pytest.approx(2 / 3)


def test_totals_after_reopening_equal_those_before(database_url):
    verdicts = [PASS, PASS, FAIL, NOT_JUDGED, PASS, FAIL, PASS]
    with open_database(database_url, "line-1") as database:
        writer = RecordWriter(database)
        for sequence, verdict in enumerate(verdicts, 1):
            writer.add_part(part(sequence, verdict))
        assert writer.close()
        before = database.totals(T0, T0 + 100)
    with open_database(database_url, "line-1") as database:
        after = database.totals(T0, T0 + 100)
    assert after == before
    assert (after.passed, after.failed, after.not_judged) == (4, 2, 1)


def test_writer_batches_a_backlog_and_writes_every_row(database_url):
    with open_database(database_url, "line-1") as database:
        transactions = []
        write = database.write
        release = threading.Event()

        def slow_write(parts, events):  # the first commit waits, so a backlog builds up
            release.wait(5)
            transactions.append(len(parts) + len(events))
            write(parts, events)

        database.write = slow_write
        writer = RecordWriter(database, max_batch=100)
        for sequence in range(1, 301):
            writer.add_part(part(sequence))
        writer.add_event(THRESHOLD_CHANGED, old_value=0.5, new_value=0.6)
        release.set()
        assert writer.close(timeout=30)
        assert sorted(p.sequence for p in database.parts()) == list(range(1, 301))
        assert len(database.events()) == 1
    assert sum(transactions) == 301 and max(transactions) == 100
    assert len(transactions) <= 6  # the first part alone, then batches of up to 100


def test_writer_retries_a_failing_database_and_reports_it_once(database_url):
    from sqlalchemy.exc import OperationalError

    with open_database(database_url, "line-1") as database:
        failures = iter([True, True, True])
        write = database.write

        def flaky_write(parts, events):
            if next(failures, False):
                raise OperationalError("INSERT", {}, Exception("server closed the connection"))
            write(parts, events)

        database.write = flaky_write
        errors = []
        writer = RecordWriter(database, on_error=errors.append)
        for sequence in range(1, 6):
            writer.add_part(part(sequence))
        assert writer.close(timeout=30)
        assert [p.sequence for p in database.parts()] == [1, 2, 3, 4, 5]
    assert len(errors) == 1 and "server closed the connection" in str(errors[0])
    assert (writer.written, writer.lost, writer.failing) == (5, 0, False)


def test_writer_keeps_good_rows_when_one_is_refused(database_url):
    from sqlalchemy.exc import IntegrityError

    errors = []
    with open_database(database_url, "line-1") as database:
        release = threading.Event()
        write = database.write

        def refuses_part_2(parts, events):  # as a database constraint would
            release.wait(5)
            if any(record.sequence == 2 for record in parts):
                raise IntegrityError("INSERT", {}, Exception("constraint failed"))
            write(parts, events)

        database.write = refuses_part_2
        writer = RecordWriter(database, on_error=errors.append)
        for sequence in (1, 2, 3, 4):
            writer.add_part(part(sequence))
        release.set()
        assert writer.close(timeout=30)
        assert [p.sequence for p in database.parts()] == [1, 3, 4]
    assert writer.lost == 1 and len(errors) == 1 and "part-00002" in str(errors[0])


def test_records_the_database_would_refuse_are_refused_to_the_caller(tmp_path):
    with open_database(f"sqlite:///{tmp_path / 'a.sqlite3'}", "line-1") as database:
        writer = RecordWriter(database)
        for bad in [replace(part(1), verdict="MAYBE"), replace(part(1), verdict_time=None),
                    replace(part(1), verdict_time=math.nan), replace(part(1), station="x" * 65)]:
            with pytest.raises(ValueError, match="part-00001"):
                writer.add_part(bad)
            with pytest.raises(ValueError, match="part-00001"):
                database.add_part(bad)
        assert writer.close() and writer.lost == 0
        assert database.parts(station=ALL_STATIONS) == []


def test_writer_that_cannot_write_reports_what_is_lost_when_closed(tmp_path):
    from sqlalchemy.exc import OperationalError

    database = open_database(f"sqlite:///{tmp_path / 'a.sqlite3'}", "line-1")

    def broken(parts, events):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    database.write = broken
    errors = []
    writer = RecordWriter(database, on_error=errors.append)
    for sequence in range(1, 4):
        writer.add_part(part(sequence))
    assert not writer.close(timeout=0.5)
    assert writer.lost == 3
    assert "disk I/O error" in str(errors[0])
    assert "3 records could not be written" in str(errors[-1])
    database.close()


def test_a_full_queue_refuses_a_part_and_says_so(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'a.sqlite3'}", "line-1")
    release = threading.Event()
    write = database.write
    database.write = lambda parts, events: (release.wait(5), write(parts, events))
    errors = []
    writer = RecordWriter(database, capacity=2, max_batch=1, put_timeout=0.05,
                          on_error=errors.append)
    accepted = [writer.add_part(part(sequence)) for sequence in range(1, 6)]
    release.set()
    assert writer.close(timeout=10)
    assert accepted.count(False) == writer.lost >= 1
    assert len(database.parts()) == accepted.count(True)
    assert "was not recorded" in str(errors[0])
    database.close()


def test_station_name_and_url_are_checked(tmp_path):
    with pytest.raises(DatabaseError, match="station name"):
        open_database(f"sqlite:///{tmp_path / 'a.sqlite3'}", "")
    with pytest.raises(DatabaseError, match="Not a database URL"):
        open_database("not a url", "line-1")
    with pytest.raises(DatabaseError, match="Unsupported database"):
        open_database("mysql://localhost/x", "line-1")
    with pytest.raises(ValueError, match="snake_case"):
        open_database(f"sqlite:///{tmp_path / 'a.sqlite3'}", "line-1").add_event("Camera lost!")


def test_default_database_is_a_wal_file_in_the_user_data_folder(adgui_home):
    with open_database(None, "line-1") as database:
        database.add_part(part(1))
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    assert (adgui_home / "inspections.sqlite3").is_file()


# --- PostgreSQL: a plant of several stations on one server ---------------------------------

def test_two_stations_writing_to_one_postgresql_lose_no_row(postgres_server):
    url = postgres_server.create_database("two_stations")
    count, barrier, errors = 400, threading.Barrier(2), []

    def station(name: str) -> None:
        barrier.wait()  # both open a new database at once: the schema is created once
        with open_database(url, name) as database:
            writer = RecordWriter(database, max_batch=50, on_error=errors.append)
            for sequence in range(1, count + 1):
                writer.add_part(part(sequence, station=name))
                if sequence % 100 == 0:
                    database.add_event(THRESHOLD_CHANGED, new_value=sequence)  # directly
            assert writer.close(timeout=60)

    threads = [threading.Thread(target=station, args=(name,)) for name in ("line-1", "line-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    with open_database(url, "line-1") as database:
        for name in ("line-1", "line-2"):
            assert [p.sequence for p in database.parts(station=name)] == list(range(1, count + 1))
            assert len(database.events(station=name)) == count // 100
        assert len(database.parts(station=ALL_STATIONS)) == 2 * count


def test_unreachable_postgresql_is_a_clear_error(postgres_server):
    from postgres import _free_port

    url = f"postgresql://someone:secret@127.0.0.1:{_free_port()}/adgui"
    with pytest.raises(DatabaseError, match="Cannot reach the inspection database") as raised:
        open_database(url, "line-1")
    assert "secret" not in str(raised.value)  # the password is never shown


def test_foreign_postgresql_database_is_refused_and_left_alone(postgres_server):
    url = postgres_server.create_database("someone_elses")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE customers (id integer, name text)"))
        connection.execute(text("INSERT INTO customers VALUES (1, 'ACME')"))
    with pytest.raises(DatabaseError, match="not an adgui inspection database.*customers"):
        open_database(url, "line-1")
    with engine.connect() as connection:
        tables = set(connection.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
        assert tables == {"customers"}
    engine.dispose()


def test_newer_schema_version_is_refused(postgres_server):
    url = postgres_server.create_database("from_the_future")
    open_database(url, "line-1").close()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(DatabaseError, match="'9999' is unknown"):
        open_database(url, "line-1")


def test_events_written_directly_while_the_writer_writes_parts(database_url):
    """The window records an event itself while the writer's thread commits parts."""
    with open_database(database_url, "line-1") as database:
        errors = []
        writer = RecordWriter(database, max_batch=20, on_error=errors.append)
        for sequence in range(1, 401):
            writer.add_part(part(sequence))
            if sequence % 20 == 0:
                database.add_event(THRESHOLD_CHANGED, new_value=sequence, when=T0 + sequence)
        assert writer.close(timeout=60)
        assert errors == []
        assert [p.sequence for p in database.parts()] == list(range(1, 401))
        assert [e.new_value for e in database.events()] == [str(n) for n in range(20, 401, 20)]


def test_an_older_database_is_upgraded_in_place_keeping_its_rows(database_url, monkeypatch):
    import types

    import sqlalchemy as sa
    from alembic import op

    from adgui.records import migrations

    with open_database(database_url, "line-1") as database:
        database.add_part(part(1))
    second = types.ModuleType("v0002_note")
    second.revision, second.down_revision = "0002", "0001"
    second.upgrade = lambda: op.add_column("events", sa.Column("note", sa.Text, nullable=True))
    monkeypatch.setattr(migrations, "REVISIONS", (*migrations.REVISIONS, second))

    with open_database(database_url, "line-1") as database:
        assert [p.sequence for p in database.parts()] == [1]
        with database.engine.connect() as connection:
            assert "note" in {column["name"] for column in
                              sa.inspect(connection).get_columns("events")}
            context = MigrationContext.configure(connection,
                                                 opts={"version_table": VERSION_TABLE})
            assert context.get_current_revision() == "0002"
    engine = create_engine(database_url)
    with engine.begin() as connection:  # opening again applies nothing
        assert migrations.upgrade(connection) == []
    engine.dispose()
