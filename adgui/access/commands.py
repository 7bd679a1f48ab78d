"""The `adgui audit` and `adgui users` commands (the parsers live in adgui.cli).

    adgui audit verify [--db URL] [--station NAME]      exit 0 when the chain is whole
    adgui users set-password NAME --role engineer       the password from stdin, or a prompt
    adgui users list | adgui users remove NAME

Headless runs never prompt: the password is read from standard input unless it is a terminal.
Whoever runs these on the station's PC can edit its files anyway, so they ask no password;
a change of users is recorded in the audit trail under the login that ran it.
"""
from __future__ import annotations

import getpass
import sys
from datetime import datetime
from pathlib import Path

EXIT_OK, EXIT_FAILED = 0, 1


def audit_verify(args) -> int:
    from ..records.audit import AuditError, Head, check, head_path, load_key

    database = _open_existing(args.db, args.station)
    with database:
        station = database.station
        head = Head.read(args.head or head_path(database))
        try:
            key = load_key(args.key)
        except AuditError:
            if head is None and not _audited_count(database):
                print(f"No audit trail yet for station {station} in {database.url}")
                return EXIT_OK
            raise
        report = check(database, station, key, head)
    where = f"The audit trail of station {station} in {database.url}"
    if report.whole:
        events = f"{report.events} event{'' if report.events == 1 else 's'}"
        print(f"{where} is whole: {events}"
              + (f" ({report.note})" if report.note else ""))
        return EXIT_OK
    print(f"{where} is BROKEN at {report.broken}", file=sys.stderr)
    return EXIT_FAILED


def users_set_password(args) -> int:
    from .users import UserStore, check_password

    store = UserStore()
    before = store.get(args.name)
    password = _read_password(args.name)
    check_password(password)
    user = store.set_password(args.name, password, args.role)
    action = "changed" if before else "added"
    print(f"User {user.name} ({user.role}) {action} in {store.path}")
    _record_user_change(args, before and f"{before.name} ({before.role})",
                        f"{user.name} ({user.role})", f"password set, user {action}")
    return EXIT_OK


def users_list(args) -> int:
    from .users import UserStore

    store = UserStore()
    if not len(store):
        print(f"No users yet ({store.path}); add one with: adgui users set-password NAME "
              "--role engineer")
        return EXIT_OK
    for user in store.users():
        changed = datetime.fromtimestamp(user.changed).isoformat(sep=" ", timespec="seconds")
        print(f"{user.name}\t{user.role}\tpassword set {changed}")
    return EXIT_OK


def users_remove(args) -> int:
    from .users import UserStore

    store = UserStore()
    before = store.get(args.name)
    store.remove(args.name)
    print(f"User {args.name} removed from {store.path}")
    _record_user_change(args, f"{before.name} ({before.role})", None, "user removed")
    return EXIT_OK


# -- helpers ----------------------------------------------------------------------------------

def _read_password(name: str) -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass(f"New password for {name}: ")
        if getpass.getpass("The same again: ") != first:
            raise ValueError("The two passwords differ; nothing was changed")
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    password = line.rstrip("\r\n")
    if not password:
        raise ValueError("No password on standard input (give it as one line; nothing was "
                         "changed)")
    return password


def _record_user_change(args, old: str | None, new: str | None, reason: str) -> None:
    """Into the audit trail of the station's database; a database that cannot be used is
    reported but does not undo the change (the users file is the station's own)."""
    from ..records.audit import USER_CHANGED, AuditTrail
    from ..records.database import open_database
    from .guard import login_name

    try:
        with open_database(args.db, args.station or _default_station()) as database:
            AuditTrail.open(database).record(USER_CHANGED, user=f"{login_name()} (command line)",
                                             old_value=old, new_value=new, reason=reason)
    except Exception as error:  # noqa: BLE001 - reported: the change is made, not recorded
        print(f"warning: the change is not recorded in the audit trail: {error}", file=sys.stderr)


def _open_existing(url: str | None, station: str | None):
    """The database to check; never creates one (a mistyped path must not pass as 'whole')."""
    from sqlalchemy import make_url

    from ..pipeline.userdata import database_path
    from ..records.database import open_database

    if url is None:
        path = database_path()
    else:
        parsed = make_url(url)
        path = Path(parsed.database or "") if parsed.get_backend_name() == "sqlite" else None
    if path is not None and not path.expanduser().is_file():
        raise ValueError(f"There is no inspection database at {path}")
    return open_database(url, station or _default_station())


def _audited_count(database) -> int:
    from sqlalchemy import func, or_, select

    from ..records.audit import AUDITED_KINDS
    from ..records.schema import events

    query = select(func.count()).where(events.c.station == database.station, or_(
        events.c.link.is_not(None), events.c.kind.in_(sorted(AUDITED_KINDS))))
    with database.engine.connect() as connection:
        return connection.execute(query).scalar_one()


def _default_station() -> str:
    from ..pipeline.database_link import default_station

    return default_station()
