"""The station's users: a name, a role and a password hashed with scrypt, kept in a JSON file.

Passwords are never stored: each user has a random salt and the scrypt hash of the password
(memory-hard, so guessing on a graphics card costs memory as well as time), with the scrypt
parameters stored beside it, so that stronger parameters later leave older hashes readable.
The file lives in the user data folder, is written atomically and readable by its owner only.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..pipeline.userdata import app_home
from ..records.private_file import write_private
from .roles import ROLES

USERS_FILE = "users.json"
FORMAT = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # scrypt takes any length; a megabyte "password" is a mistake


class UserError(ValueError):
    """A user name, role, password or users file that cannot be used; the message says why."""


@dataclass(frozen=True)
class ScryptParams:
    # n = 2**15, r = 8: 32 MiB and about 0.1 s per check on a desktop CPU, above the scrypt
    # paper's interactive-login setting (2**14); p = 1 as there.
    n: int = 2 ** 15
    r: int = 8
    p: int = 1
    length: int = 32  # bytes of derived key

    def derive(self, password: str, salt: bytes) -> bytes:
        # Twice the memory scrypt needs (128 * r * n bytes), so it never refuses our own hash.
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=self.n, r=self.r, p=self.p,
                              maxmem=256 * self.r * self.n + 2 ** 20, dklen=self.length)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    salt: str  # base64
    hash: str  # base64 of scrypt(password, salt)
    scrypt: ScryptParams = field(default_factory=ScryptParams)
    changed: float = 0.0  # time.time() of the last password change

    def check(self, password: str) -> bool:
        derived = self.scrypt.derive(password, base64.b64decode(self.salt))
        return hmac.compare_digest(derived, base64.b64decode(self.hash))


def users_path() -> Path:
    return app_home() / USERS_FILE


class UserStore:
    """The users file: read on creation, rewritten whole (atomically) on every change."""

    def __init__(self, path: str | Path | None = None, params: ScryptParams | None = None):
        self.path = Path(path) if path is not None else users_path()
        self.params = params or ScryptParams()  # for new hashes; stored ones keep their own
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, User] = self._read()

    def __contains__(self, name: str) -> bool:
        return name in self._users

    def __len__(self) -> int:
        return len(self._users)

    def users(self) -> list[User]:
        return sorted(self._users.values(), key=lambda user: user.name)

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    def has_role(self, role: str) -> bool:
        """Whether any user has `role` (the window asks for a first engineer when none has)."""
        return any(user.role == role for user in self._users.values())

    def set_password(self, name: str, password: str, role: str | None = None) -> User:
        """Create the user or change their password (and role, when given)."""
        self.reload_if_changed()
        check_name(name)
        check_password(password)
        existing = self._users.get(name)
        role = role or (existing.role if existing else None)
        if role is None:
            raise UserError(f"Give the new user {name!r} a role: one of {', '.join(ROLES)}")
        if role not in ROLES:
            raise UserError(f"Unknown role {role!r}: one of {', '.join(ROLES)}")
        salt = os.urandom(16)
        user = User(name, role, base64.b64encode(salt).decode(),
                    base64.b64encode(self.params.derive(password, salt)).decode(), self.params,
                    time.time())
        self._save({**self._users, name: user})
        return user

    def set_role(self, name: str, role: str) -> User:
        self.reload_if_changed()
        user = self._known(name)
        if role not in ROLES:
            raise UserError(f"Unknown role {role!r}: one of {', '.join(ROLES)}")
        changed = User(**{**asdict(user), "role": role, "scrypt": user.scrypt})
        self._save({**self._users, name: changed})
        return changed

    def remove(self, name: str) -> None:
        self.reload_if_changed()
        self._known(name)
        self._save({key: user for key, user in self._users.items() if key != name})

    def reload_if_changed(self) -> None:
        """Read the file again if another process (`adgui users`) changed it."""
        if self._file_stamp() != self._stamp:
            self._users = self._read()

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password is theirs, else None (also for an unknown name)."""
        self.reload_if_changed()  # a password just changed on the command line counts at once
        user = self._users.get(name)
        if user is None:
            # Spend the same time as for a known name, so a wrong name cannot be told apart.
            self.params.derive(password, b"\0" * 16)
            return None
        return user if user.check(password) else None

    # -- the file --------------------------------------------------------------------------
    def _known(self, name: str) -> User:
        user = self._users.get(name)
        if user is None:
            raise UserError(f"No user named {name!r}")
        return user

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return None
        return status.st_ino, status.st_mtime_ns, status.st_size  # a new file on every save

    def _read(self) -> dict[str, User]:
        self._stamp = self._file_stamp()
        if self._stamp is None:
            return {}
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            if document.get("format") != FORMAT:
                raise ValueError(f"format {document.get('format')!r}, expected {FORMAT}")
            users = {}
            for entry in document["users"]:
                params = ScryptParams(**entry.pop("scrypt"))
                user = User(**entry, scrypt=params)
                if user.role not in ROLES:
                    raise ValueError(f"user {user.name!r} has an unknown role {user.role!r}")
                users[user.name] = user
            return users
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            # Never started afresh silently: an empty file would let anyone be the first engineer.
            raise UserError(f"The users file {self.path} cannot be read ({error}). Restore it "
                            "from a backup, or remove it to set the users up again.") from None

    def _save(self, users: dict[str, User]) -> None:
        document = {"format": FORMAT, "users": [asdict(user) for user in
                                                sorted(users.values(), key=lambda u: u.name)]}
        write_private(self.path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
        self._users = users
        self._stamp = self._file_stamp()


def check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name or ""):
        raise UserError(f"A user name has 1 to 32 letters, digits, '.', '_' or '-' and starts "
                        f"with a letter or digit: {name!r}")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"A password has at most {MAX_PASSWORD_LENGTH} characters")
