"""Who may change what at a station: users and roles, the logged-in session, and the guard that
checks a change and records it in the audit trail.

    users = UserStore()                        # the users file in the user data folder
    session = Session(users, idle_minutes=10)  # the operator until an engineer logs in
    guard = Guard(session, AuditTrail.open(database))
    guard.change("threshold", 0.5, 0.55, reason="fewer false rejects")  # or PermissionDenied
"""
from .roles import ACTIONS, ADMIN, ENGINEER, OPERATOR, ROLES, may
from .session import PermissionDenied, RoleChange, Session
from .users import ScryptParams, User, UserError, UserStore

__all__ = ["ACTIONS", "ADMIN", "ENGINEER", "OPERATOR", "ROLES", "PermissionDenied", "RoleChange",
           "ScryptParams", "Session", "User", "UserError", "UserStore", "may"]
