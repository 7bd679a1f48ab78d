"""The one door for changes: check the role, then record the change in the audit trail.

The controller and the pipeline call the guard where a change is made, so a refusal holds even
when a widget that should have been disabled is not:

    guard.change("threshold", 0.5, 0.55, reason="fewer false rejects")  # the Event, or raises
    guard.require("start")  # an action that changes nothing recorded

The event `change` returns is also the approval the pipeline asks for when a threshold or a
recipe is set on it (`redeem`): a change that was not checked and recorded does not enter it.

Refusals raise PermissionDenied (with a message for people) and are recorded too; every change
of role (login, logout, time-out) is recorded. Without a database a change cannot be recorded,
so it is refused (AuditError).
"""
from __future__ import annotations

import getpass
import logging
import math
from typing import TYPE_CHECKING, Any

from .roles import ADMIN, ENGINEER, OPERATOR, check_action
from .session import PermissionDenied, RoleChange, Session

if TYPE_CHECKING:  # the records load SQLAlchemy: only when a guard is made
    from ..records.audit import AuditTrail
    from ..records.event import Event
    from ..records.shifts import Shift, ShiftPlan

log = logging.getLogger(__name__)
LINE_USER = "line PLC (remote control)"  # the author of changes the PLC makes
STARTUP_USER = "system (start-up)"  # the author of what the station restores when it starts


def action_kinds() -> dict[str, str]:
    """The event kind each recorded action writes."""
    from ..records import audit
    from ..records.event import SHIFT_STARTED, THRESHOLD_CHANGED

    return {"threshold": THRESHOLD_CHANGED, "recipe": audit.RECIPE_CHANGED,
            "train": audit.RECIPE_TRAINED, "roi": audit.ROI_CHANGED,
            "source": audit.SOURCE_CHANGED, "output": audit.OUTPUT_CHANGED,
            "shift": SHIFT_STARTED, "leave_remote_control": audit.REMOTE_CONTROL_LEFT,
            "users": audit.USER_CHANGED}


class Guard:
    def __init__(self, session: Session, trail: "AuditTrail | None"):
        self.session = session
        self.trail = trail
        self.kinds = action_kinds()
        self._approvals: dict[str, "Event"] = {}  # the latest recorded change of each action
        session.on_role_change = self._record_role

    @property
    def user(self) -> str:
        return self.session.user

    @property
    def role(self) -> str:
        return self.session.role

    def allowed(self, action: str) -> bool:
        """For enabling widgets; the change itself still goes through `change` or `require`."""
        return self.session.allowed(action)

    def require(self, action: str) -> None:
        """Return if the current user may `action`; else record the refusal and raise."""
        try:
            self.session.require(action)
        except PermissionDenied as refusal:
            self._record_refusal(action, str(refusal))
            raise

    def change(self, action: str, old: Any, new: Any, reason: str,
               detail: dict[str, Any] | None = None) -> "Event":
        """Check that the current user may `action`, then record old -> new with the reason.

        Returns the recorded event; the caller applies the change after this returns (a
        change that could not be recorded is not made). Raises PermissionDenied, ValueError
        (no reason) or AuditError / a database error (it could not be recorded).
        """
        from ..records.audit import AuditError

        check_action(action)
        if action not in self.kinds:
            raise ValueError(f"{action!r} changes nothing that the audit trail records")
        self.require(action)
        if not reason.strip():
            raise ValueError("Say why (the reason is kept in the audit trail with the change)")
        if self.trail is None:
            raise AuditError("There is no inspection database, so the change cannot be recorded "
                             "and is not made")
        event = self.trail.record(self.kinds[action], user=self.user, old_value=old,
                                  new_value=new, reason=reason.strip(),
                                  detail={"role": self.role, **(detail or {})})
        self._approvals[action] = event
        return event

    def approval(self, action: str) -> "Event | None":
        """The change of `action` recorded last and not yet taken by the pipeline."""
        return self._approvals.get(action)

    def change_by_line(self, action: str, old: Any, new: Any, reason: str) -> "Event":
        """A change the line's PLC makes under remote control (a recipe from the table an
        engineer set up): no role is asked, the event names the line as its author; the
        approval the pipeline redeems. Raises AuditError if it cannot be recorded."""
        from ..records.audit import AuditError

        if self.trail is None:
            raise AuditError("There is no inspection database, so the change cannot be recorded "
                             "and is not made")
        event = self.trail.record(self.kinds[action], user=LINE_USER, old_value=old,
                                  new_value=new, reason=reason, detail={"role": "line"})
        self._approvals[action] = event
        return event

    def redeem(self, approval: "Event | None", action: str, new: Any) -> None:
        """Where a change enters (the pipeline): return if `approval` is the event this guard
        recorded last for `action`, with `new` as its new value; it then cannot be used again.
        Else record the refusal and raise PermissionDenied."""
        latest = self._approvals.get(action)
        if approval is None or approval is not latest or approval.new_value != str(new):
            message = (f"A change of {action} to {new} was not approved and recorded, so it is "
                       f"not made")
            self._record_refusal(action, message)
            raise PermissionDenied(message, action, self.role)
        del self._approvals[action]

    def login(self, name: str, password: str) -> RoleChange:
        """Log in (recorded); a wrong password is refused, and recorded, with PermissionDenied."""
        try:
            return self.session.login(name, password)
        except PermissionDenied as refusal:
            known = self.session.users is not None and name in self.session.users
            # A name that is no user may be a password typed in the wrong field: not kept.
            self._record_refusal("login", str(refusal), user=name if known else "unknown user")
            raise

    def logout(self) -> RoleChange | None:
        return self.session.logout()

    def set_password(self, name: str, password: str, role: str | None = None,
                     reason: str = "password set") -> None:
        """An admin adds a user or sets their password (and role); recorded, never the password.

        On first use, when the station has no engineer or admin yet, anyone may set up the
        first one: somebody has to, and until then nobody can change anything.
        """
        users = self.session.users
        if users is None:
            raise ValueError("This session has no users file")
        users.reload_if_changed()
        first = not (users.has_role(ENGINEER) or users.has_role(ADMIN))
        if first and role not in (ENGINEER, ADMIN):
            raise ValueError("The first user of a station is an engineer or an admin")
        if not first:
            self.require("users")
        before = users.get(name)
        user = users.set_password(name, password, role)
        self._record_users(f"{before.name} ({before.role})" if before else None,
                           f"{user.name} ({user.role})",
                           f"first {user.role} set up at the station" if first else reason)

    def _record_users(self, old: str | None, new: str | None, reason: str) -> None:
        from ..records.audit import USER_CHANGED

        if self.trail is None:
            log.warning("Change of users not recorded (no inspection database): %s -> %s",
                        old, new)
            return
        self.trail.record(USER_CHANGED, user=self.user, old_value=old, new_value=new,
                          reason=reason, detail={"role": self.role})

    def start_new_shift(self, database, plan: "ShiftPlan", reason: str) -> "Shift":
        """A new shift from now (an engineer's change, recorded); its counters start at zero."""
        from ..records.shifts import current_shift

        previous = current_shift(database, plan)
        self.change("shift", previous.label, None, reason)
        return current_shift(database, plan)

    # -- recording ------------------------------------------------------------------------
    def _record_role(self, change: RoleChange) -> None:
        """Called by the session on every change of role; raising undoes a login."""
        from ..records.audit import ROLE_CHANGED

        if self.trail is None:
            log.warning("Role change not recorded (no inspection database): %s", change)
            return
        acting = change.user if change.role != OPERATOR else change.user_before
        self.trail.record(ROLE_CHANGED, user=acting,
                          old_value=f"{change.user_before} ({change.role_before})",
                          new_value=f"{change.user} ({change.role})", reason=change.reason)

    def _record_refusal(self, action: str, message: str, user: str | None = None) -> None:
        from ..records.audit import PERMISSION_DENIED

        if self.trail is None:
            return
        try:
            self.trail.record(PERMISSION_DENIED, user=user or self.user, new_value=action,
                              reason=message, detail={"role": self.role})
        except Exception:  # noqa: BLE001 - the refusal stands; only its record is missing
            log.exception("A refusal could not be recorded: %s", message)


def command_line_guard(trail: "AuditTrail | None", who: str | None = None) -> Guard:
    """The guard of a command run on the station's PC: its options that change how parts are
    judged (recipe, threshold) are an engineer's, recorded under the login that ran it.

    Whoever can run commands there can also edit the station's files, so the command line
    asks no password (headless runs never prompt); what it changes is still recorded.
    """
    session = Session(None)
    session.user = f"{who or login_name()} (command line)"
    session.role = ENGINEER
    session.idle_s = math.inf  # a command ends by itself
    return Guard(session, trail)


def login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "unknown"
