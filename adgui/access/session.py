"""Who is at the station now: the operator by default, an engineer (or admin) after a login.

Engineer mode ends by itself after `idle_minutes` without activity (the window calls
`touch()` on input; every allowed action counts too), back to the operator, so a station
left logged in does not stay open to changes. The clock is injectable for tests.
Every change of role is passed to `on_role_change` (the audit trail records it).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from .roles import DESCRIPTIONS, OPERATOR, ROLES, least_role, may
from .users import UserStore

log = logging.getLogger(__name__)

DEFAULT_IDLE_MINUTES = 10.0
MAX_FAILED_LOGINS = 5  # in a row; then logins wait LOCKOUT_S
LOCKOUT_S = 60.0
OPERATOR_NAME = "operator"  # who is recorded while nobody is logged in


class PermissionDenied(RuntimeError):
    """An action the current role may not take; the message says what and who may."""

    def __init__(self, message: str, action: str = "", role: str = ""):
        super().__init__(message)
        self.action, self.role = action, role


@dataclass(frozen=True)
class RoleChange:
    user_before: str
    role_before: str
    user: str
    role: str
    reason: str  # "logged in", "logged out", "idle for 10 minutes"


class Session:
    def __init__(self, users: UserStore | None, idle_minutes: float = DEFAULT_IDLE_MINUTES,
                 clock: Callable[[], float] = time.monotonic,
                 on_role_change: Callable[[RoleChange], None] | None = None):
        if idle_minutes <= 0:
            raise ValueError(f"The engineer time-out must be positive, not {idle_minutes} minutes")
        self.users = users
        self.idle_s = idle_minutes * 60.0
        self.clock = clock
        self.on_role_change = on_role_change
        self.user = OPERATOR_NAME
        self.role = OPERATOR
        self._last_activity = clock()
        self._failed_logins = 0
        self._locked_until = 0.0

    # -- who ------------------------------------------------------------------------------
    @property
    def elevated(self) -> bool:
        """Logged in above operator (the time-out applies)."""
        self.expire_if_idle()
        return self.role != OPERATOR

    @property
    def remaining_s(self) -> float | None:
        """Seconds until engineer mode ends without activity; None for the operator."""
        if not self.elevated:
            return None
        return max(0.0, self.idle_s - (self.clock() - self._last_activity))

    def login(self, name: str, password: str) -> RoleChange:
        """Become `name` with their role; PermissionDenied for a wrong name or password.

        If recording the change fails, the login is undone and the error raised.
        """
        now = self.clock()
        if now < self._locked_until:
            raise PermissionDenied(f"Too many wrong passwords: try again in "
                                   f"{self._locked_until - now:.0f} s")
        if self.users is None or not len(self.users):
            raise PermissionDenied("No users are set up at this station yet: set an engineer's "
                                   "password first (adgui users set-password NAME --role "
                                   "engineer)")
        user = self.users.authenticate(name, password)
        if user is None:
            self._failed_logins += 1
            if self._failed_logins >= MAX_FAILED_LOGINS:
                self._failed_logins = 0
                self._locked_until = now + LOCKOUT_S
            raise PermissionDenied("Wrong user name or password")
        self._failed_logins = 0
        before = (self.user, self.role)
        change = self._become(user.name, user.role, "logged in")
        try:
            self._announce(change)
        except Exception:
            self.user, self.role = before  # an elevation nobody recorded must not stand
            raise
        return change

    def logout(self, reason: str = "logged out") -> RoleChange | None:
        """Back to the operator; None if nobody was logged in."""
        if self.role == OPERATOR and self.user == OPERATOR_NAME:
            return None
        change = self._become(OPERATOR_NAME, OPERATOR, reason)
        self._announce_safely(change)
        return change

    def touch(self) -> None:
        """Activity at the station: engineer mode lasts another `idle_minutes`."""
        if not self.expire_if_idle():
            self._last_activity = self.clock()

    def expire_if_idle(self) -> bool:
        """End engineer mode if it has been idle too long; True if it just ended."""
        if self.role == OPERATOR or self.clock() - self._last_activity < self.idle_s:
            return False
        minutes = self.idle_s / 60.0
        self.logout(f"idle for {minutes:g} minutes")
        return True

    # -- what -----------------------------------------------------------------------------
    def allowed(self, action: str) -> bool:
        self.expire_if_idle()
        return may(self.role, action)

    def require(self, action: str) -> None:
        """Return if the current role may take `action`, else raise PermissionDenied."""
        if not self.allowed(action):
            needed = least_role(action)
            raise PermissionDenied(
                f"{_article(self.role).capitalize()} {self.role} cannot "
                f"{DESCRIPTIONS[action]}: log in as {_article(needed)} {needed} first",
                action, self.role)
        if self.role != OPERATOR:
            self._last_activity = self.clock()

    # -- internals ------------------------------------------------------------------------
    def _become(self, user: str, role: str, reason: str) -> RoleChange:
        if role not in ROLES:
            raise ValueError(f"Unknown role {role!r}")
        change = RoleChange(self.user, self.role, user, role, reason)
        self.user, self.role = user, role
        self._last_activity = self.clock()
        return change

    def _announce(self, change: RoleChange) -> None:
        if self.on_role_change is not None:
            self.on_role_change(change)

    def _announce_safely(self, change: RoleChange) -> None:
        # Going back to operator must happen even when it cannot be recorded.
        try:
            self._announce(change)
        except Exception:  # noqa: BLE001 - logged; the lesser role stands
            log.exception("A change of role could not be recorded: %s", change)


def _article(role: str) -> str:
    return "an" if role[0] in "aeiou" else "a"

