"""The audit trail: an HMAC chain per station whose key and end lie outside the database, so an
event edited, inserted or deleted with plain SQL (as an attacker would) is found by `verify`."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from adgui.records import CAMERA_LOST, SHIFT_STARTED, THRESHOLD_CHANGED, open_database
from adgui.records import audit
from adgui.records.audit import (ROLE_CHANGED, ROI_CHANGED, AuditError, AuditTrail, Head, check,
                                 load_key, verify)

T0 = 1_790_000_000.0


@pytest.fixture
def database(database_url):
    with open_database(database_url, "line-1") as database:
        yield database


@pytest.fixture
def trail(database, tmp_path) -> AuditTrail:
    return AuditTrail.open(database, tmp_path / "audit.key", tmp_path / "line-1.head")


def fill(trail: AuditTrail) -> list[int]:
    """Five audited changes with an ordinary event among them; their row ids, in order."""
    trail.record(ROLE_CHANGED, user="erin", old_value="operator", new_value="engineer",
                 reason="logged in", when=T0)
    trail.record(THRESHOLD_CHANGED, user="erin", old_value=0.5, new_value=0.55,
                 reason="fewer false rejects on dark bottles", detail={"recipe": "bottle",
                                                                      "version": 3}, when=T0 + 1)
    trail.database.add_event(CAMERA_LOST, detail={"text": "cable"}, when=T0 + 2)
    trail.record(ROI_CHANGED, user="erin", old_value="none", new_value="rim excluded",
                 reason="glare on the rim", when=T0 + 3)
    trail.record(SHIFT_STARTED, user="erin", old_value="early", reason="line restarted",
                 when=T0 + 4)
    trail.record(ROLE_CHANGED, user="operator", old_value="engineer", new_value="operator",
                 reason="idle for 10 minutes", when=T0 + 5)
    return ids(trail.database, audited_only=True)


def ids(database, audited_only: bool = False) -> list[int]:
    where = " AND link IS NOT NULL" if audited_only else ""
    return column(database, f"SELECT id FROM events WHERE station = 'line-1'{where} ORDER BY id")


def sql(database, statement: str, **values) -> list:
    """Plain SQL on the database, from outside adgui, as an attacker would run it."""
    engine = create_engine(database.engine.url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), values)
            return result.fetchall() if result.returns_rows else []
    finally:
        engine.dispose()


def column(database, statement: str, **values) -> list:
    return [row[0] for row in sql(database, statement, **values)]


def broken(trail: AuditTrail):
    return verify(trail.database, "line-1", trail.key, Head.read(trail.head_file))


def test_an_untouched_chain_is_whole(trail):
    fill(trail)
    report = check(trail.database, "line-1", trail.key, Head.read(trail.head_file))
    assert report.whole and report.events == 5
    assert broken(trail) is None
    links = column(trail.database, "SELECT link FROM events WHERE kind = 'camera_lost'")
    assert links == [None]  # ordinary events stay outside the chain


@pytest.mark.parametrize("column, value", [
    ("new_value", "0.9"), ("old_value", "0.45"), ("reason", "nothing"), ("user_name", "ada"),
    ("time", T0 + 1.5), ("kind", "recipe_changed"),
])
def test_an_edited_event_is_found(trail, column, value):
    rows = fill(trail)
    sql(trail.database, f"UPDATE events SET {column} = :value WHERE id = :id",
        value=value, id=rows[1])
    found = broken(trail)
    assert (found.event_id, found.position) == (rows[1], 2)
    assert "edited or inserted" in found.problem


def test_an_edited_link_or_detail_is_found(trail):
    rows = fill(trail)
    sql(trail.database, "UPDATE events SET detail = :detail WHERE id = :id",
        detail='{"recipe": "bottle", "version": 4}', id=rows[1])
    assert broken(trail).event_id == rows[1]
    sql(trail.database, "UPDATE events SET link = :link WHERE id = :id", link="0" * 64, id=rows[3])
    assert broken(trail).event_id == rows[1]  # still the first break


@pytest.mark.parametrize("where", ["end", "middle"])
def test_an_inserted_event_is_found(trail, where):
    rows = fill(trail)
    row_id = None
    if where == "middle":  # in the place of the ordinary event between changes 2 and 3
        (row_id,) = column(trail.database, "SELECT id FROM events WHERE kind = 'camera_lost'")
        sql(trail.database, "DELETE FROM events WHERE id = :id", id=row_id)
    # An unlinked change, as the SQL of an attacker or a program other than the trail writes it.
    sql(trail.database, "INSERT INTO events (id, time, station, kind, user_name, old_value, "
                        "new_value, reason) VALUES (COALESCE(:id, (SELECT MAX(id) + 1 FROM "
                        "events)), :time, 'line-1', 'threshold_changed', 'erin', '0.55', "
                        "'0.99', 'forged')", id=row_id, time=T0 + 2.5)
    found = broken(trail)
    if where == "end":
        assert found.position == 6 and found.event_id > rows[-1]
    else:
        assert found.position == 3 and found.event_id == row_id
    assert "no link" in found.problem


def test_an_inserted_event_with_a_copied_link_is_found(trail):
    rows = fill(trail)
    (link,) = column(trail.database, "SELECT link FROM events WHERE id = :id", id=rows[-1])
    sql(trail.database, "INSERT INTO events (time, station, kind, user_name, old_value, "
                        "new_value, reason, link) VALUES (:time, 'line-1', 'roi_changed', "
                        "'erin', 'rim excluded', 'none', 'forged', :link)",
        time=T0 + 6, link=link)
    found = broken(trail)
    assert found.position == 6 and found.event_id not in rows


@pytest.mark.parametrize("deleted", [1, 2])
def test_deleting_the_last_events_is_found(trail, deleted):
    rows = fill(trail)
    for row in rows[-deleted:]:
        sql(trail.database, "DELETE FROM events WHERE id = :id", id=row)
    found = broken(trail)
    assert found.event_id is None and found.position == 6 - deleted
    assert "deleted" in found.problem and "head file names 5 events" in found.problem


def test_deleting_an_event_in_the_middle_is_found(trail):
    rows = fill(trail)
    sql(trail.database, "DELETE FROM events WHERE id = :id", id=rows[2])
    found = broken(trail)
    assert found.event_id == rows[3] and "the one before it was deleted" in found.problem


def test_moving_an_event_to_another_station_is_found(trail):
    rows = fill(trail)
    sql(trail.database, "UPDATE events SET station = 'line-2' WHERE id = :id", id=rows[4])
    assert broken(trail).position == 5


def test_a_break_is_not_hidden_by_later_changes(trail):
    rows = fill(trail)
    sql(trail.database, "DELETE FROM events WHERE id = :id", id=rows[-1])
    trail.record(ROLE_CHANGED, user="erin", old_value="operator", new_value="engineer",
                 reason="logged in", when=T0 + 7)
    assert broken(trail).position == 5  # the new event follows the head, not the database


def test_the_wrong_key_fails_at_the_first_event(trail, tmp_path):
    rows = fill(trail)
    other = load_key(tmp_path / "other.key", create=True)
    found = verify(trail.database, "line-1", other, Head.read(trail.head_file))
    assert found.event_id == rows[0]


def test_a_crash_before_the_commit_leaves_a_chain_that_holds(trail, monkeypatch):
    fill(trail)
    monkeypatch.setattr(trail, "_commit", _killed)
    with pytest.raises(KeyboardInterrupt):  # stands for a kill: no except clause runs
        trail.record(ROI_CHANGED, user="erin", reason="lost", when=T0 + 8)
    monkeypatch.undo()
    report = check(trail.database, "line-1", trail.key, Head.read(trail.head_file))
    assert report.whole and report.events == 5 and "interrupted" in report.note
    trail.record(ROI_CHANGED, user="erin", reason="again", when=T0 + 9)
    assert broken(trail) is None
    assert Head.read(trail.head_file) == Head("line-1", 6, Head.read(trail.head_file).link)


def test_a_crash_after_the_commit_leaves_a_chain_that_holds(trail, monkeypatch):
    fill(trail)
    writes = []
    write = audit.write_private

    def write_then_die(path, data):
        writes.append(data)
        if len(writes) == 2:  # the final head, after the commit
            raise KeyboardInterrupt
        write(path, data)

    monkeypatch.setattr(audit, "write_private", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        trail.record(ROI_CHANGED, user="erin", reason="committed", when=T0 + 8)
    monkeypatch.undo()
    assert check(trail.database, "line-1", trail.key, Head.read(trail.head_file)).events == 6
    assert broken(trail) is None
    trail.record(ROI_CHANGED, user="erin", reason="again", when=T0 + 9)
    assert broken(trail) is None


def test_a_failed_commit_puts_the_head_back(trail, monkeypatch):
    fill(trail)
    head = Head.read(trail.head_file)
    monkeypatch.setattr(trail, "_commit", _database_down)
    with pytest.raises(ConnectionError):
        trail.record(ROI_CHANGED, user="erin", reason="down", when=T0 + 8)
    assert Head.read(trail.head_file) == head
    assert broken(trail) is None


def test_a_lost_head_file_is_reported_and_the_restart_shown(trail):
    rows = fill(trail)
    trail.head_file.unlink()
    assert "no audit head file" in broken(trail).problem
    trail.record(ROLE_CHANGED, user="erin", reason="logged in", when=T0 + 9)
    found = broken(trail)
    assert found.position == 6 and found.event_id > rows[-1]
    assert "starts again" in found.problem


def test_changes_written_before_the_trail_existed_are_taken_in(database, tmp_path):
    database.add_event(SHIFT_STARTED, user="", reason="old version", when=T0 - 10)
    trail = AuditTrail.open(database, tmp_path / "audit.key", tmp_path / "line-1.head")
    fill(trail)
    assert check(database, "line-1", trail.key, Head.read(trail.head_file)).events == 6
    assert broken(trail) is None
    # From then on, a change written outside the trail breaks it.
    database.add_event(SHIFT_STARTED, user="", reason="outside the trail", when=T0 + 20)
    assert "no link" in broken(trail).problem


def test_stations_have_chains_of_their_own(database_url, tmp_path):
    with (open_database(database_url, "line-1") as line1,
          open_database(database_url, "line-2") as line2):
        first = AuditTrail.open(line1, tmp_path / "audit.key", tmp_path / "line-1.head")
        second = AuditTrail.open(line2, tmp_path / "audit.key", tmp_path / "line-2.head")
        fill(first)
        second.record(ROLE_CHANGED, user="ada", reason="logged in", when=T0)
        assert verify(line2, "line-2", second.key, Head.read(second.head_file)) is None
        assert broken(first) is None
        with pytest.raises(AuditError, match="station 'line-2'"):
            verify(line1, "line-1", first.key, Head.read(second.head_file))


def test_the_key_is_private_and_kept(tmp_path):
    import os
    import stat

    path = tmp_path / "audit" / "audit.key"
    key = load_key(path, create=True)
    assert len(key) == 32 and load_key(path) == key
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(AuditError, match="No audit key"):
        load_key(tmp_path / "missing.key")
    path.write_text("abcd\n")
    with pytest.raises(AuditError, match="damaged"):
        load_key(path)


def test_only_audited_kinds_go_through_the_trail(trail):
    with pytest.raises(ValueError, match="not an audited kind"):
        trail.record(CAMERA_LOST, user="erin")


def _killed(*args):
    raise KeyboardInterrupt


def _database_down(*args):
    raise ConnectionError("database down")


# --- the commands ------------------------------------------------------------------------------

@pytest.fixture
def station_url(adgui_home, tmp_path) -> str:
    """A SQLite database whose trail uses the default key and head files (in ADGUI_HOME)."""
    url = f"sqlite:///{tmp_path / 'inspections.sqlite3'}"
    with open_database(url, "line-1") as database:
        fill(AuditTrail.open(database))
    return url


@pytest.mark.parametrize("attack", ["none", "edit", "insert", "delete the last"])
def test_audit_verify_exits_0_only_on_a_whole_chain(station_url, attack, capsys):
    from adgui.cli import main

    with open_database(station_url, "line-1") as database:
        rows = ids(database, audited_only=True)
        if attack == "edit":
            sql(database, "UPDATE events SET new_value = '0.9' WHERE id = :id", id=rows[1])
        elif attack == "insert":
            sql(database, "INSERT INTO events (time, station, kind, user_name, reason, link) "
                          "VALUES (:time, 'line-1', 'threshold_changed', 'erin', 'forged', "
                          ":link)", time=T0 + 9, link="ab" * 32)
        elif attack == "delete the last":
            sql(database, "DELETE FROM events WHERE id = :id", id=rows[-1])
    code = main(["audit", "verify", "--db", station_url, "--station", "line-1"])
    out, err = capsys.readouterr()
    if attack == "none":
        assert code == 0 and "is whole: 5 events" in out
        return
    assert code == 1 and "BROKEN" in err
    expected = {"edit": f"event #{rows[1]} (threshold_changed, position 2)",
                "insert": "position 6): its content or its place was changed",
                "delete the last": "event 5 of the chain: it is missing"}[attack]
    assert expected in err


def test_audit_verify_never_creates_a_database(adgui_home, tmp_path, capsys):
    from adgui.cli import main

    missing = tmp_path / "typo.sqlite3"
    assert main(["audit", "verify", "--db", f"sqlite:///{missing}"]) == 1
    assert "There is no inspection database" in capsys.readouterr().err
    assert not missing.exists()


def test_users_commands_read_the_password_from_stdin_and_record_the_change(
        adgui_home, tmp_path, monkeypatch, capsys):
    import io
    import getpass

    from adgui.access import UserStore
    from adgui.cli import main

    def no_prompt(*args):
        raise AssertionError("a headless command prompted")

    monkeypatch.setattr(getpass, "getpass", no_prompt)
    url = f"sqlite:///{tmp_path / 'inspections.sqlite3'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("engineer password\n"))
    assert main(["users", "set-password", "erin", "--role", "engineer", "--db", url,
                 "--station", "line-1"]) == 0
    assert UserStore().authenticate("erin", "engineer password").role == "engineer"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["users", "set-password", "erin", "--db", url, "--station", "line-1"]) == 1
    assert "No password on standard input" in capsys.readouterr().err
    assert main(["users", "list"]) == 0
    assert capsys.readouterr().out.startswith("erin\tengineer\tpassword set ")
    with open_database(url, "line-1") as database:
        (event,) = database.events()
    assert (event.kind, event.old_value, event.new_value) == ("user_changed", None,
                                                              "erin (engineer)")
    assert event.user.endswith("(command line)")
    assert main(["audit", "verify", "--db", url, "--station", "line-1"]) == 0


RECORDER = """
import sys
from adgui.records import open_database
from adgui.records.audit import ROI_CHANGED, AuditTrail

url, key, head, who = sys.argv[1:]
with open_database(url, "line-1") as database:
    trail = AuditTrail.open(database, key, head)
    for number in range(15):
        trail.record(ROI_CHANGED, user=who, new_value=str(number), reason="concurrent")
"""


def test_two_processes_recording_at_once_keep_one_whole_chain(database, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    url = database.engine.url.render_as_string(hide_password=False)
    arguments = [url, str(tmp_path / "audit.key"), str(tmp_path / "line-1.head")]
    load_key(tmp_path / "audit.key", create=True)
    children = [subprocess.Popen([sys.executable, "-c", RECORDER, *arguments, who], cwd=root,
                                 env={**os.environ, "PYTHONPATH": str(root)})
                for who in ("window", "command")]
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    report = check(database, "line-1", load_key(tmp_path / "audit.key"),
                   Head.read(tmp_path / "line-1.head"))
    assert report.whole and report.events == 30


def test_inspect_records_its_threshold_as_an_engineers_change(adgui_home, tiny_model, tmp_path,
                                                              capsys):
    from conftest import write_parts

    from adgui.cli import main

    url = f"sqlite:///{tmp_path / 'inspections.sqlite3'}"
    write_parts(tmp_path / "parts", 2)
    assert main(["inspect", "--model", str(tiny_model), str(tmp_path / "parts"), "--db", url,
                 "--station", "line-1", "--threshold", "0.7", "--reason", "trial on batch 7"]) == 0
    with open_database(url, "line-1") as database:
        (event,) = database.events(THRESHOLD_CHANGED)
        assert len(database.parts()) == 2 and all(part.threshold == 0.7
                                                  for part in database.parts())
    assert (event.new_value, event.reason) == ("0.7", "trial on batch 7")
    assert event.user.endswith("(command line)") and event.detail["role"] == "engineer"
    assert main(["audit", "verify", "--db", url, "--station", "line-1"]) == 0
