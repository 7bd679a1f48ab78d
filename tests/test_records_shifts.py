"""Shifts: which shift a moment belongs to, totals read back from the database, new shifts."""
from __future__ import annotations

import csv
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from adgui.records import (FAIL, NOT_JUDGED, PASS, SHIFT_STARTED, PartRecord, ShiftPlan,
                           current_shift, export_csv, open_database, start_new_shift)

BERLIN = ZoneInfo("Europe/Berlin")
PLAN = ShiftPlan(zone="Europe/Berlin")  # 06:00 early, 14:00 late, 22:00 night


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


def part(sequence: int, when: str, verdict: str = PASS) -> PartRecord:
    return PartRecord(f"part-{sequence}", sequence, verdict, 0.1 if verdict == PASS else 0.9, 0.5,
                      verdict_time=at(when))


@pytest.mark.parametrize("when, name, start, end", [
    ("2026-06-10 06:00", "early", "2026-06-10 06:00", "2026-06-10 14:00"),
    ("2026-06-10 13:59:59", "early", "2026-06-10 06:00", "2026-06-10 14:00"),
    ("2026-06-10 23:30", "night", "2026-06-10 22:00", "2026-06-11 06:00"),
    ("2026-06-11 05:59", "night", "2026-06-10 22:00", "2026-06-11 06:00"),
])
def test_scheduled_shift_of_a_moment(when, name, start, end):
    shift = PLAN.scheduled(at(when))
    assert (shift.name, shift.start_time, shift.end_time) == (name, at(start), at(end))


def test_the_night_the_clocks_go_forward_is_an_hour_shorter():
    night = PLAN.scheduled(at("2026-03-29 01:00"))
    assert night.end_time - night.start_time == 7 * 3600


def test_bad_plans_are_refused():
    for starts in [("14:00", "06:00"), ("06:00", "06:00"), ("6 am",), ("25:00",), ()]:
        with pytest.raises(ValueError):
            ShiftPlan(starts=starts, names=())
    with pytest.raises(ValueError, match="names"):
        ShiftPlan(starts=("06:00", "18:00"))
    with pytest.raises(ValueError, match="time zone"):
        ShiftPlan(zone="Mars/Olympus")
    assert ShiftPlan(starts=("07:30",), names=()).scheduled(at("2026-06-10 08:00")).name == "07:30"


def test_shift_totals_hourly_yield_and_a_new_shift(database_url):
    parts = [part(1, "2026-06-10 05:59:59", FAIL),  # the night before: not counted
             part(2, "2026-06-10 06:00"), part(3, "2026-06-10 06:30", FAIL),
             part(4, "2026-06-10 07:15"), part(5, "2026-06-10 07:45", NOT_JUDGED),
             part(6, "2026-06-10 09:10"), part(7, "2026-06-10 14:00", FAIL)]  # the next shift
    with open_database(database_url, "line-1") as database:
        database.write(parts, [])
        shift = current_shift(database, PLAN, now=at("2026-06-10 09:30"))
        totals = database.shift_totals(shift)
        assert (shift.name, totals.inspected, totals.passed, totals.failed,
                totals.not_judged) == ("early", 5, 3, 1, 1)
        hours = database.hourly_yield(shift)
        assert len(hours) == 8 and hours[0].start == at("2026-06-10 06:00")
        assert [hour.inspected for hour in hours] == [2, 2, 0, 1, 0, 0, 0, 0]
        assert [hour.yield_ for hour in hours[:4]] == [0.5, 0.5, None, 1.0]

        new = start_new_shift(database, PLAN, "  new batch of bottles ", user="anna",
                              now=at("2026-06-10 07:30"))
        assert (new.name, new.start_time, new.end_time, new.reason) == (
            "early", at("2026-06-10 07:30"), at("2026-06-10 14:00"), "new batch of bottles")
        (event,) = database.events(SHIFT_STARTED)
        assert (event.user, event.reason, event.old_value) == ("anna", "new batch of bottles",
                                                               "early 2026-06-10 06:00")
        with pytest.raises(ValueError, match="why"):
            start_new_shift(database, PLAN, "   ")
    with open_database(database_url, "line-1") as database:  # after a restart
        shift = current_shift(database, PLAN, now=at("2026-06-10 09:30"))
        assert shift.start_time == at("2026-06-10 07:30")
        totals = database.shift_totals(shift)
        assert (totals.inspected, totals.passed, totals.not_judged) == (2, 1, 1)
        hours = database.hourly_yield(shift)  # 07:30-08:00, 08:00-09:00, ... 13:00-14:00
        assert [hour.inspected for hour in hours] == [1, 0, 1, 0, 0, 0, 0]
        assert len(database.parts()) == len(parts)  # nothing was deleted
        # the restart belongs to its own shift only: the late shift starts on schedule
        late = current_shift(database, PLAN, now=at("2026-06-10 15:00"))
        assert (late.name, late.start_time) == ("late", at("2026-06-10 14:00"))
        assert database.shift_totals(late).failed == 1


def test_csv_export_of_a_shift(tmp_path):
    path = tmp_path / "exports" / "early.csv"
    with open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}", "line-1") as database:
        database.write([part(1, "2026-06-10 05:00"), part(2, "2026-06-10 06:10", FAIL),
                        part(3, "2026-06-10 13:00")], [])
        shift = PLAN.scheduled(at("2026-06-10 08:00"))
        assert export_csv(database, path, shift) == 2
        with open(path, encoding="utf-8", newline="") as stream:
            rows = list(csv.DictReader(stream))
        assert [(row["part_id"], row["verdict"], row["score"]) for row in rows] == [
            ("part-2", FAIL, "0.900000"), ("part-3", PASS, "0.100000")]
        assert datetime.fromisoformat(rows[0]["time"]).timestamp() == at("2026-06-10 06:10")
        assert export_csv(database, path) == 3  # every part; the old file replaced whole

        def broken(*args, **kwargs):
            yield part(9, "2026-06-10 06:10")
            raise OSError("disk full")

        database.iter_parts = broken
        with pytest.raises(OSError, match="disk full"):
            export_csv(database, path)
    with open(path, encoding="utf-8", newline="") as stream:
        assert len(list(csv.DictReader(stream))) == 3  # the complete earlier export is kept
    assert [file.name for file in path.parent.iterdir()] == ["early.csv"]  # no temporary left
