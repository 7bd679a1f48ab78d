"""A corrupt or foreign SQLite database is moved aside, never deleted, and a fresh one starts."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adgui.records import PASS, DatabaseError, PartRecord, open_database


def record(sequence: int) -> PartRecord:
    return PartRecord(f"part-{sequence}", sequence, PASS, 0.1, 0.5, verdict_time=1e9 + sequence)


def aside_files(path: Path) -> list[Path]:
    """The databases moved aside (their WAL files beside them are not counted)."""
    return sorted(file for file in path.parent.glob(f"{path.name}.unusable-*")
                  if not file.name.endswith(("-wal", "-shm")))


def assert_fresh_and_working(database, path: Path) -> None:
    assert database.parts() == []
    database.add_part(record(1))
    assert [part.sequence for part in database.parts()] == [1]
    assert path.is_file()


def test_garbage_file_is_moved_aside_with_its_wal(tmp_path):
    path = tmp_path / "inspections.sqlite3"
    garbage = b"this is not a database\n" * 500
    path.write_bytes(garbage)
    Path(f"{path}-wal").write_bytes(b"stale log" * 100)
    with open_database(f"sqlite:///{path}", "line-1") as database:
        [aside] = aside_files(path)
        assert str(path) in database.recovery and aside.name in database.recovery
        assert "not a SQLite database" in database.recovery
        assert aside.read_bytes() == garbage  # kept as it was
        assert Path(f"{aside}-wal").read_bytes() == b"stale log" * 100
        assert_fresh_and_working(database, path)


def test_damaged_pages_are_found_and_the_file_moved_aside(tmp_path):
    path = tmp_path / "inspections.sqlite3"
    with open_database(f"sqlite:///{path}", "line-1") as database:
        database.write([record(sequence) for sequence in range(1, 3001)], [])
    with open(path, "r+b") as stream:  # keep the header, wreck the table and index pages
        stream.seek(8192)
        stream.write(bytes(range(256)) * 64)
    with open_database(f"sqlite:///{path}", "line-1") as database:
        assert "could not be used" in database.recovery, database.recovery
        assert len(aside_files(path)) == 1
        assert_fresh_and_working(database, path)


def test_foreign_sqlite_database_is_moved_aside_untouched(tmp_path):
    path = tmp_path / "inspections.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
        connection.execute("INSERT INTO customers VALUES (1, 'ACME')")
    connection.close()
    with open_database(f"sqlite:///{path}", "line-1") as database:
        assert "another program (customers)" in database.recovery
        assert_fresh_and_working(database, path)
    with sqlite3.connect(aside_files(path)[0]) as connection:
        assert connection.execute("SELECT name FROM customers").fetchall() == [("ACME",)]
    connection.close()


def test_a_healthy_database_is_kept(tmp_path):
    path = tmp_path / "inspections.sqlite3"
    with open_database(f"sqlite:///{path}", "line-1") as database:
        database.add_part(record(1))
    with open_database(f"sqlite:///{path}", "line-1") as database:
        assert database.recovery == "" and len(database.parts()) == 1
    assert aside_files(path) == []


def test_a_folder_in_the_way_is_a_clear_error(tmp_path):
    path = tmp_path / "inspections.sqlite3"
    path.mkdir()
    with pytest.raises(DatabaseError, match="cannot be opened"):
        open_database(f"sqlite:///{path}", "line-1")
    assert path.is_dir() and aside_files(path) == []
