"""Schema migrations, written with Alembic's operations and run when a database is opened.

Each revision is a module of this package with `revision`, `down_revision` and `upgrade()`
(using `alembic.op`), imported below and listed in order in REVISIONS. They are imported as
modules rather than read from a script folder, so a PyInstaller build, which bundles imported
modules but no loose source files, has them too. The version lives in a table of Alembic's
own shape, named for adgui so that another Alembic-managed program's table is never taken
for ours.

To change the schema: change `schema.py`, add `v0002_what.py` (revision "0002", down_revision
"0001"; `op.batch_alter_table` for changes SQLite cannot ALTER) and append it to REVISIONS.
The tests check, on SQLite and PostgreSQL, that the migrated database equals `schema.py`.
"""
from __future__ import annotations

from types import ModuleType

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, MetaData, String, Table, inspect, text

from . import v0001_initial

REVISIONS: tuple[ModuleType, ...] = (v0001_initial,)  # oldest first; append new revisions here
VERSION_TABLE = "adgui_schema_version"

_version = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32), primary_key=True))
_POSTGRES_LOCK = 0x616467756901  # any constant: serialises the first open of several stations


class ForeignSchemaError(RuntimeError):
    """The database holds tables of another program, or of a newer version of this one."""


def revisions() -> list[ModuleType]:
    modules = list(REVISIONS)
    for previous, module in zip([None, *modules], modules):
        expected = previous.revision if previous else None
        if module.down_revision != expected:
            raise RuntimeError(f"Migration {module.__name__} does not follow revision {expected}")
    return modules


def head() -> str:
    return revisions()[-1].revision


def upgrade(connection: Connection) -> list[str]:
    """Bring the schema up to the newest revision inside the caller's transaction.

    Returns the revisions applied (none when the schema is current). Raises
    ForeignSchemaError for a database this program did not create.
    """
    if connection.dialect.name == "postgresql":
        # Two stations opening a new database at once: the second waits, then finds it done.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_LOCK})
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    current = context.get_current_revision()
    modules = revisions()
    known = [module.revision for module in modules]
    if current is None:
        tables = set(inspect(connection).get_table_names()) - {VERSION_TABLE}
        if tables:
            raise ForeignSchemaError("it holds tables of another program ("
                                     + ", ".join(sorted(tables)[:5]) + ")")
        pending = modules
    elif current in known:
        pending = modules[known.index(current) + 1:]
    else:
        raise ForeignSchemaError(f"its schema version {current!r} is unknown to this version of "
                                 "adgui (a newer adgui or another program wrote it)")
    for module in pending:
        with Operations.context(context):  # `alembic.op` in upgrade() now works on `connection`
            module.upgrade()
    if pending:
        _version.create(connection, checkfirst=True)
        connection.execute(_version.delete())
        connection.execute(_version.insert().values(version_num=pending[-1].revision))
    return [module.revision for module in pending]
