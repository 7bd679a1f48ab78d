"""Who may do what at a station: three roles, each with every right of the one before.

An operator runs the line; an engineer changes how it judges (recipes, threshold, ROI,
sources, outputs, shifts); an admin also manages the users. Actions are plain words, so the
window, the controller and the pipeline ask for the same ones.
"""
from __future__ import annotations

OPERATOR, ENGINEER, ADMIN = "operator", "engineer", "admin"
ROLES = (OPERATOR, ENGINEER, ADMIN)  # least to most rights

OPERATOR_ACTIONS = frozenset({"start", "pause", "stop", "review", "acknowledge"})
ENGINEER_ACTIONS = OPERATOR_ACTIONS | {"train", "recipe", "threshold", "roi", "source", "output",
                                       "shift", "leave_remote_control"}
ADMIN_ACTIONS = ENGINEER_ACTIONS | {"users"}
RIGHTS: dict[str, frozenset[str]] = {OPERATOR: OPERATOR_ACTIONS, ENGINEER: ENGINEER_ACTIONS,
                                     ADMIN: ADMIN_ACTIONS}
ACTIONS = ADMIN_ACTIONS

# What each action is called in a refusal ("An operator cannot change the threshold").
DESCRIPTIONS = {
    "start": "start inspection", "pause": "pause inspection", "stop": "stop inspection",
    "review": "review parts", "acknowledge": "acknowledge messages", "train": "train recipes",
    "recipe": "change the recipe", "threshold": "change the threshold",
    "roi": "change the region of interest", "source": "change the image source",
    "output": "change the line outputs", "shift": "start a new shift",
    "leave_remote_control": "take the station out of remote control", "users": "manage users",
}


def check_action(action: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}: one of {', '.join(sorted(ACTIONS))}")


def may(role: str, action: str) -> bool:
    check_action(action)
    return action in RIGHTS.get(role, frozenset())


def least_role(action: str) -> str:
    """The first role that may do `action`."""
    check_action(action)
    return next(role for role in ROLES if action in RIGHTS[role])
