"""Settings that persist between runs, in an ini file in the user's data folder."""
from __future__ import annotations


import os
import time

from PySide6.QtCore import QSettings

from ..pipeline.userdata import settings_path
from ..records.shifts import ShiftPlan
from ..sources.registry import SOURCES, SourceSpec


def open_settings() -> tuple[QSettings, str]:
    """The settings, and a message if the file was unreadable: then it is moved aside (never
    deleted) and the window starts with defaults."""
    # An explicit ini file (not the registry) so ADGUI_HOME isolates tests and portable installs.
    path = settings_path()
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    if settings.status() == QSettings.Status.NoError and _plain_text(path):
        return settings, ""
    del settings
    kept = path.with_name(f"{path.name}.unusable-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, kept)
    return (QSettings(str(path), QSettings.Format.IniFormat),
            f"The settings file could not be read; it was kept as {kept.name} and the window "
            f"starts with default settings.")


def shift_plan(settings: QSettings) -> tuple[ShiftPlan, str]:
    """The shift times set in the settings (`shifts/starts = 06:00, 14:00, 22:00`, optional
    `shifts/names`), or the default plan and a message if they are not usable."""
    starts, names = _texts(settings.value("shifts/starts")), _texts(settings.value("shifts/names"))
    if not starts:
        return ShiftPlan(), ""
    try:
        return ShiftPlan(starts, names), ""
    except ValueError as error:
        return ShiftPlan(), f"The shift times in the settings are not usable ({error}); the default shifts apply."


def _texts(value) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value or "").split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _plain_text(path) -> bool:
    """Our settings are a UTF-8 text file; binary bytes mean another program's file or damage
    (Qt's own reader accepts almost anything and would hand back junk keys)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


def number(settings: QSettings, key: str, default: float | None) -> float | None:
    """A number from the settings, or `default` if it is missing or not a number."""
    try:
        value = settings.value(key)
        return default if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return default


def load_source_settings(settings: QSettings) -> tuple[SourceSpec, dict[str, dict]]:
    """The chosen source and every kind's last settings; unknown or damaged entries are
    dropped so a settings file from another version never stops the window."""
    kind = str(settings.value("source/kind", "folder"))
    if kind not in SOURCES:
        kind = "folder"
    per_kind = {}
    for name, kind_class in SOURCES.items():
        known = {option.name: option for option in kind_class.options}
        values = {}
        for option_name, option in known.items():
            raw = settings.value(f"source/{name}/{option_name}")
            if raw is None:
                continue
            try:
                values[option_name] = option.parse(raw)
            except (TypeError, ValueError):
                continue
        per_kind[name] = values
    trigger = str(settings.value("source/trigger", ""))
    if trigger not in SOURCES[kind].triggers:
        trigger = ""
    return SourceSpec(kind, per_kind.get(kind, {}), trigger), per_kind


def save_source_settings(settings: QSettings, spec: SourceSpec, per_kind: dict[str, dict]) -> None:
    settings.setValue("source/kind", spec.kind)
    settings.setValue("source/trigger", spec.trigger)
    for kind, values in {**per_kind, spec.kind: spec.settings}.items():
        for name, value in values.items():
            settings.setValue(f"source/{kind}/{name}", value)


def flag(settings: QSettings, key: str, default: bool) -> bool:
    """A yes / no setting ("true" / "false" in the file), or `default` if missing or unclear."""
    value = settings.value(key)
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text, default)
