"""The user's data folder: saved recipes (trained models), inspection logs and settings.

`ADGUI_HOME` overrides the platform's folder, so tests and portable installs stay apart.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import platformdirs

HOME_VARIABLE = "ADGUI_HOME"
RECIPE_SUFFIX = ".adgui"


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    modified: datetime


def app_home() -> Path:
    override = os.environ.get(HOME_VARIABLE)
    home = Path(override) if override else Path(platformdirs.user_data_dir("adgui", appauthor=False))
    home.mkdir(parents=True, exist_ok=True)
    return home


def recipes_dir() -> Path:
    folder = app_home() / "recipes"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def logs_dir() -> Path:
    folder = app_home() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def settings_path() -> Path:
    return app_home() / "settings.ini"


def todays_log_path() -> Path:
    """One CSV per day keeps each file small enough to open in a spreadsheet."""
    return logs_dir() / f"inspections-{date.today().isoformat()}.csv"


def list_recipes() -> list[Recipe]:
    """Saved recipes, newest first: model files, and exported recipe folders (ONNX Runtime)."""
    from adgui.runtime import is_exported_recipe

    recipes = [Recipe(path.stem, path, datetime.fromtimestamp(path.stat().st_mtime))
               for path in recipes_dir().glob(f"*{RECIPE_SUFFIX}") if path.is_file()]
    recipes += [Recipe(f"{path.name} (exported)", path, datetime.fromtimestamp(path.stat().st_mtime))
                for path in recipes_dir().iterdir() if is_exported_recipe(path)]
    return sorted(recipes, key=lambda recipe: recipe.modified, reverse=True)


def safe_recipe_name(text: str) -> str:
    """A name that is also a valid file name on every system: letters, digits, - _ . and space."""
    cleaned = re.sub(r"[^\w\- .]+", "_", text.strip()).strip(" .")
    return cleaned[:80] or "recipe"


def recipe_path(name: str) -> Path:
    return recipes_dir() / f"{safe_recipe_name(name)}{RECIPE_SUFFIX}"


def unique_recipe_name(base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... so that a new training never replaces a saved recipe."""
    base = safe_recipe_name(base)
    name, counter = base, 2
    while recipe_path(name).exists():
        name, counter = f"{base}-{counter}", counter + 1
    return name


def database_path() -> Path:
    """The inspection database of this PC (SQLite), unless a database URL is set."""
    return app_home() / "inspections.sqlite3"
