"""What the station keeps of its decisions: part records, the inspection database, shifts.

    database = open_database(url_or_None, station="line-1")   # DatabaseError if unusable
    writer = RecordWriter(database, on_error=report)          # writes on its own thread
    writer.add_part(record); writer.add_event(THRESHOLD_CHANGED, old_value=0.5, new_value=0.6)
    shift = current_shift(database, ShiftPlan())
    database.shift_totals(shift); database.hourly_yield(shift); export_csv(database, path, shift)
"""
from .database import ALL_STATIONS, Database, DatabaseError, open_database
from .event import (CAMERA_LOST, OUTPUT_DOWN, RECIPE_LOADED, SHIFT_STARTED, THRESHOLD_CHANGED,
                    Event, make_event)
from .export import export_csv
from .part import ERROR, FAIL, NOT_JUDGED, PASS, REJECTS, VERDICTS, PartRecord, decide
from .shifts import Shift, ShiftPlan, Totals, current_shift, start_new_shift
from .writer import RecordWriter

__all__ = [
    "ALL_STATIONS", "CAMERA_LOST", "Database", "DatabaseError", "ERROR", "Event", "FAIL",
    "NOT_JUDGED", "OUTPUT_DOWN", "PASS", "PartRecord", "RECIPE_LOADED", "REJECTS",
    "RecordWriter", "SHIFT_STARTED", "Shift", "ShiftPlan", "THRESHOLD_CHANGED", "Totals",
    "VERDICTS", "current_shift", "decide", "export_csv", "make_event", "open_database",
    "start_new_shift",
]
