"""Settings that persist between runs, in an ini file in the user's data folder."""
from __future__ import annotations


from PySide6.QtCore import QSettings

from ..pipeline.userdata import settings_path
from ..sources.registry import SOURCES, SourceSpec


def open_settings() -> QSettings:
    # An explicit ini file (not the registry) so ADGUI_HOME isolates tests and portable installs.
    return QSettings(str(settings_path()), QSettings.Format.IniFormat)


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
