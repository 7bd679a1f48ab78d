"""What the station keeps of its decisions: part records, the inspection database, shifts.

    database = open_database(url_or_None, station="line-1")   # DatabaseError if unusable
    writer = RecordWriter(database, on_error=report)          # writes on its own thread
    writer.add_part(record); writer.add_event(THRESHOLD_CHANGED, old_value=0.5, new_value=0.6)
    shift = current_shift(database, ShiftPlan())
    database.shift_totals(shift); database.hourly_yield(shift); export_csv(database, path, shift)
"""
from importlib import import_module

# Loaded on first use: the window and the pipeline import `records.part` for the verdicts and
# should not pay for SQLAlchemy and Alembic until a database is opened.
_SOURCES = {
    ".database": ("ALL_STATIONS", "Database", "DatabaseError", "open_database"),
    ".event": ("CAMERA_LOST", "OUTPUT_DOWN", "RECIPE_LOADED", "SHIFT_STARTED",
               "THRESHOLD_CHANGED", "Event", "make_event"),
    ".export": ("export_csv",),
    ".part": ("ERROR", "FAIL", "NOT_JUDGED", "PASS", "REJECTS", "VERDICTS", "PartRecord", "decide"),
    ".shifts": ("Shift", "ShiftPlan", "Totals", "current_shift", "start_new_shift"),
    ".writer": ("RecordWriter",),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_MODULE_OF[name], __name__), name)
