"""Users, roles and the logged-in session: who may change what, and for how long."""
from __future__ import annotations

import json
import os
import stat

import pytest

from adgui.access import (ADMIN, ENGINEER, OPERATOR, PermissionDenied, ScryptParams, Session,
                          UserError, UserStore, may)
from adgui.access.roles import ACTIONS, RIGHTS
from adgui.access.session import LOCKOUT_S, MAX_FAILED_LOGINS

FAST = ScryptParams(n=2 ** 10)  # the tests' hashes: same code, a thirty-second of the memory
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def users(tmp_path) -> UserStore:
    store = UserStore(tmp_path / "users.json", FAST)
    store.set_password("erin", PASSWORD, ENGINEER)
    store.set_password("ada", "admin password", ADMIN)
    return store


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_the_roles_table():
    assert RIGHTS[OPERATOR] == {"start", "pause", "stop", "review", "acknowledge"}
    assert RIGHTS[ENGINEER] - RIGHTS[OPERATOR] == {"train", "recipe", "threshold", "roi", "source",
                                                   "output", "shift", "leave_remote_control"}
    assert RIGHTS[ADMIN] - RIGHTS[ENGINEER] == {"users"}
    assert not may("visitor", "start")
    with pytest.raises(ValueError, match="Unknown action 'thresold'"):
        may(ENGINEER, "thresold")


def test_passwords_are_stored_hashed_with_their_salt_and_parameters(users, tmp_path):
    text = (tmp_path / "users.json").read_text()
    assert PASSWORD not in text and "admin password" not in text
    stored = {entry["name"]: entry for entry in json.loads(text)["users"]}
    assert stored["erin"]["scrypt"] == {"n": 2 ** 10, "r": 8, "p": 1, "length": 32}
    assert stored["erin"]["salt"] != stored["ada"]["salt"]
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600
    # Read back by a new store with other parameters for new hashes: the stored ones still check.
    again = UserStore(tmp_path / "users.json")
    assert again.authenticate("erin", PASSWORD).role == ENGINEER
    assert again.authenticate("erin", PASSWORD + "!") is None
    assert again.authenticate("nobody", PASSWORD) is None


def test_the_same_password_twice_gives_two_different_hashes(tmp_path):
    store = UserStore(tmp_path / "users.json", FAST)
    first = store.set_password("erin", PASSWORD, ENGINEER)
    second = store.set_password("erin", PASSWORD)  # the role is kept
    assert first.hash != second.hash and first.salt != second.salt
    assert second.role == ENGINEER


def test_the_default_parameters_are_memory_hard_and_work(tmp_path):
    store = UserStore(tmp_path / "users.json")
    user = store.set_password("erin", PASSWORD, ENGINEER)
    assert 128 * user.scrypt.r * user.scrypt.n >= 32 * 2 ** 20  # bytes scrypt must hold
    assert store.authenticate("erin", PASSWORD) == user


@pytest.mark.parametrize("name, password, role, message", [
    ("erin", "short", ENGINEER, "at least 8 characters"),
    ("", PASSWORD, ENGINEER, "A user name has"),
    ("../etc", PASSWORD, ENGINEER, "A user name has"),
    ("newbie", PASSWORD, None, "Give the new user 'newbie' a role"),
    ("newbie", PASSWORD, "boss", "Unknown role 'boss'"),
])
def test_bad_users_are_refused_with_a_message(users, name, password, role, message):
    with pytest.raises(UserError, match=message):
        users.set_password(name, password, role)


def test_a_damaged_users_file_is_refused_not_replaced(tmp_path):
    path = tmp_path / "users.json"
    path.write_text('{"format": 1, "users": [{"name": "erin"')
    with pytest.raises(UserError, match="cannot be read"):
        UserStore(path)
    assert path.read_text().startswith('{"format": 1')


def test_an_operator_is_refused_every_engineering_action(users, clock):
    session = Session(users, clock=clock)
    assert (session.user, session.role) == ("operator", OPERATOR)
    session.require("start")
    for action in sorted(RIGHTS[ENGINEER] - RIGHTS[OPERATOR]):
        with pytest.raises(PermissionDenied, match="An operator cannot .*log in as an engineer"):
            session.require(action)
    with pytest.raises(PermissionDenied) as refused:
        session.require("threshold")
    assert str(refused.value) == ("An operator cannot change the threshold: log in as an "
                                  "engineer first")
    assert (refused.value.action, refused.value.role) == ("threshold", OPERATOR)


def test_an_engineer_may_change_but_not_manage_users(users, clock):
    session = Session(users, clock=clock)
    change = session.login("erin", PASSWORD)
    assert (change.user_before, change.role_before, change.user, change.role) == (
        "operator", OPERATOR, "erin", ENGINEER)
    session.require("threshold")
    with pytest.raises(PermissionDenied, match="An engineer cannot manage users: log in as an "
                                               "admin first"):
        session.require("users")
    session.logout()
    assert session.role == OPERATOR
    with pytest.raises(PermissionDenied):
        session.require("threshold")


def test_engineer_mode_times_out_back_to_operator(users, clock):
    changes = []
    session = Session(users, idle_minutes=10, clock=clock, on_role_change=changes.append)
    session.login("erin", PASSWORD)
    clock.advance(9 * 60)
    session.require("threshold")  # an action is activity: ten more minutes from here
    clock.advance(9 * 60)
    session.touch()
    clock.advance(9 * 60 + 59)
    assert session.elevated and session.remaining_s == pytest.approx(1.0)
    clock.advance(1)
    with pytest.raises(PermissionDenied, match="An operator cannot change the threshold"):
        session.require("threshold")
    assert (session.user, session.role) == ("operator", OPERATOR)
    assert [(change.role, change.reason) for change in changes] == [
        (ENGINEER, "logged in"), (OPERATOR, "idle for 10 minutes")]
    assert session.remaining_s is None
    session.touch()  # activity after the time-out does not log anybody back in
    assert session.role == OPERATOR


def test_wrong_passwords_are_refused_and_then_locked_out(users, clock):
    session = Session(users, clock=clock)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(PermissionDenied, match="Wrong user name or password"):
            session.login("erin", "wrong password")
    with pytest.raises(PermissionDenied, match="Too many wrong passwords"):
        session.login("erin", PASSWORD)  # even the right one, for a while
    assert session.role == OPERATOR
    clock.advance(LOCKOUT_S)
    session.login("erin", PASSWORD)
    assert session.role == ENGINEER


def test_a_login_that_cannot_be_recorded_does_not_stand(users, clock):
    def broken(change):
        raise RuntimeError("database down")

    session = Session(users, clock=clock, on_role_change=broken)
    with pytest.raises(RuntimeError, match="database down"):
        session.login("erin", PASSWORD)
    assert (session.user, session.role) == ("operator", OPERATOR)


def test_every_action_has_a_description_for_its_refusal():
    from adgui.access.roles import DESCRIPTIONS

    assert set(DESCRIPTIONS) == set(ACTIONS)


# --- the guard: the role checked where the change is made, and the change recorded -------------

@pytest.fixture
def station(users, clock, tmp_path):
    """A guard on a SQLite database with its audit trail, the operator at the station."""
    from adgui.access.guard import Guard
    from adgui.records import open_database
    from adgui.records.audit import AuditTrail

    database = open_database(f"sqlite:///{tmp_path / 'inspections.sqlite3'}", "line-1")
    trail = AuditTrail.open(database, tmp_path / "audit.key", tmp_path / "line-1.head")
    yield Guard(Session(users, idle_minutes=10, clock=clock), trail)
    database.close()


def recorded(guard) -> list[tuple]:
    return [(event.kind, event.user, event.old_value, event.new_value, event.reason)
            for event in guard.trail.database.events()]


def chain_is_whole(guard) -> bool:
    from adgui.records.audit import Head, verify

    return verify(guard.trail.database, "line-1", guard.trail.key,
                  Head.read(guard.trail.head_file)) is None


def test_the_guard_refuses_an_operator_and_records_the_refusal(station):
    with pytest.raises(PermissionDenied, match="An operator cannot change the threshold"):
        station.change("threshold", 0.5, 0.9, reason="more parts pass")
    with pytest.raises(PermissionDenied, match="An operator cannot change the region of interest"):
        station.change("roi", "none", "rim", reason="glare")
    assert recorded(station) == [
        ("permission_denied", "operator", None, "threshold",
         "An operator cannot change the threshold: log in as an engineer first"),
        ("permission_denied", "operator", None, "roi",
         "An operator cannot change the region of interest: log in as an engineer first")]
    station.require("start")  # the operator's own actions pass, and are not recorded
    assert len(recorded(station)) == 2 and chain_is_whole(station)


def test_an_engineers_change_is_recorded_with_old_and_new_value_and_reason(station):
    station.login("erin", PASSWORD)
    event = station.change("threshold", 0.5, 0.55, reason="  fewer false rejects ",
                           detail={"recipe": "bottle"})
    assert (event.user, event.old_value, event.new_value, event.reason) == (
        "erin", "0.5", "0.55", "fewer false rejects")
    assert event.detail == {"role": ENGINEER, "recipe": "bottle"}
    assert recorded(station) == [
        ("role_changed", "erin", "operator (operator)", "erin (engineer)", "logged in"),
        ("threshold_changed", "erin", "0.5", "0.55", "fewer false rejects")]
    assert chain_is_whole(station)


def test_a_change_needs_a_reason_and_a_recorded_action(station):
    station.login("erin", PASSWORD)
    with pytest.raises(ValueError, match="Say why"):
        station.change("threshold", 0.5, 0.55, reason="  ")
    with pytest.raises(ValueError, match="changes nothing that the audit trail records"):
        station.change("start", None, None, reason="go")
    assert [kind for kind, *_ in recorded(station)] == ["role_changed"]


def test_the_time_out_is_recorded_and_then_refuses(station, clock):
    station.login("erin", PASSWORD)
    clock.advance(10 * 60)
    with pytest.raises(PermissionDenied, match="An operator cannot train recipes"):
        station.change("train", None, "bottle-2", reason="new batch")
    assert recorded(station)[1:] == [
        ("role_changed", "erin", "erin (engineer)", "operator (operator)", "idle for 10 minutes"),
        ("permission_denied", "operator", None, "train",
         "An operator cannot train recipes: log in as an engineer first")]
    assert chain_is_whole(station)


def test_failed_logins_are_recorded_without_unknown_names(station):
    for name in ("erin", "correct horse battery"):  # the second: a password in the name field
        with pytest.raises(PermissionDenied, match="Wrong user name or password"):
            station.login(name, "wrong password")
    users = [user for kind, user, *_ in recorded(station)]
    assert users == ["erin", "unknown user"]
    assert all("correct horse" not in str(row) for row in recorded(station))


def test_a_new_shift_is_an_engineers_recorded_change(station, clock):
    from adgui.records.shifts import ShiftPlan, current_shift

    database = station.trail.database
    plan = ShiftPlan()
    with pytest.raises(PermissionDenied, match="An operator cannot start a new shift"):
        station.start_new_shift(database, plan, "line restarted")
    before = current_shift(database, plan)
    station.login("erin", PASSWORD)
    shift = station.start_new_shift(database, plan, "line restarted")
    assert shift.start > before.start and shift.reason == "line restarted"
    assert recorded(station)[-1][:3] == ("shift_started", "erin", before.label)
    assert chain_is_whole(station)


def test_without_a_database_changes_are_refused(users, clock):
    from adgui.access.guard import Guard
    from adgui.records.audit import AuditError

    guard = Guard(Session(users, clock=clock), None)
    guard.login("erin", PASSWORD)
    with pytest.raises(AuditError, match="cannot be recorded and is not made"):
        guard.change("threshold", 0.5, 0.55, reason="fewer false rejects")


def test_the_command_line_is_an_engineer_and_recorded_as_such(station):
    from adgui.access.guard import command_line_guard

    guard = command_line_guard(station.trail, who="erin")
    guard.change("threshold", 0.5, 0.6, reason="set with adgui inspect --threshold")
    assert recorded(station) == [("threshold_changed", "erin (command line)", "0.5", "0.6",
                                  "set with adgui inspect --threshold")]
    with pytest.raises(PermissionDenied, match="An engineer cannot manage users"):
        guard.require("users")


def test_no_login_before_a_user_is_set_up(tmp_path, clock):
    session = Session(UserStore(tmp_path / "users.json", FAST), clock=clock)
    with pytest.raises(PermissionDenied, match="No users are set up"):
        session.login("erin", PASSWORD)


def test_the_first_engineer_is_set_up_by_anyone_later_users_by_an_admin(tmp_path, clock):
    from adgui.access.guard import Guard
    from adgui.records import open_database
    from adgui.records.audit import AuditTrail

    store = UserStore(tmp_path / "users.json", FAST)
    with open_database(f"sqlite:///{tmp_path / 'inspections.sqlite3'}", "line-1") as database:
        guard = Guard(Session(store, clock=clock),
                      AuditTrail.open(database, tmp_path / "audit.key", tmp_path / "line-1.head"))
        with pytest.raises(ValueError, match="first user of a station is an engineer"):
            guard.set_password("otto", PASSWORD, OPERATOR)
        guard.set_password("erin", PASSWORD, ENGINEER)  # first use: the operator may
        with pytest.raises(PermissionDenied, match="An operator cannot manage users"):
            guard.set_password("mallory", PASSWORD, ADMIN)
        guard.login("erin", PASSWORD)
        with pytest.raises(PermissionDenied, match="An engineer cannot manage users"):
            guard.set_password("mallory", PASSWORD, ADMIN)
        assert "mallory" not in store
        changes = [(event.user, event.old_value, event.new_value, event.reason)
                   for event in database.events("user_changed")]
    assert changes == [("operator", None, "erin (engineer)", "first engineer set up at the "
                                                             "station")]
    assert PASSWORD not in (tmp_path / "users.json").read_text()


def test_a_password_changed_by_another_process_counts_at_once(users, tmp_path, clock):
    session = Session(users, clock=clock)
    UserStore(tmp_path / "users.json", FAST).set_password("erin", "a new password")
    with pytest.raises(PermissionDenied, match="Wrong user name or password"):
        session.login("erin", PASSWORD)
    session.login("erin", "a new password")
