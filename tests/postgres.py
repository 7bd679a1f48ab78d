"""A throw-away PostgreSQL 15 server for tests: its own data folder, 127.0.0.1 only, a free port.

`initdb` refuses to run as root, so when the tests run as root the server runs as the
`postgres` user. The server is stopped and its folder removed when the tests end.
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BINARIES = Path("/usr/lib/postgresql/15/bin")
SERVER_USER = "postgres"


def missing_reason() -> str:
    """Why no test server can be started here, or "" if one can."""
    if not (BINARIES / "initdb").is_file() or not (BINARIES / "pg_ctl").is_file():
        return f"PostgreSQL 15 is not installed ({BINARIES} has no initdb / pg_ctl)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL"
    return ""


class PostgresServer:
    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="adgui-postgres-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.started = False

    def start(self) -> "PostgresServer":
        if os.geteuid() == 0:  # the server's user must own its folder
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._run(BINARIES / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories="
                   f"{self.folder} -c fsync=off -c full_page_writes=off")
        self._run(BINARIES / "pg_ctl", "start", "-w", "-t", "60", "-D", self.data,
                  "-l", self.folder / "server.log", "-o", options)
        self.started = True
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if self.started:
                self._run(BINARIES / "pg_ctl", "stop", "-w", "-m", "fast", "-D", self.data)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, *command) -> None:
        command = [str(part) for part in command]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                cwd=self.folder)
        if result.returncode != 0:
            log = self.folder / "server.log"
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n"
                               f"{result.stdout}{result.stderr}"
                               f"{log.read_text() if log.exists() else ''}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
