"""The station without a network: the delivery queue never overwrites, a full output pauses
a source the station triggers itself, remote control can be taken back (and is recorded),
recipe tables are checked."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from adgui.outputs.base import (QUEUE_FULL, TRIGGER_REFUSED, DeliveryQueue, Output, StationState,
                                wait_until)
from adgui.records.database import open_database
from adgui.station import REMOTE_OFF, RecipeTable

from line_fakes import PlcCamera, make_station, recorded_parts


class SlowLine(Output):
    """An output whose line takes results only when the test says so."""

    kind, label, address, plc = "slow", "Slow line", "", True

    def __init__(self, capacity: int):
        super().__init__({}, "line-test")
        self.queue = DeliveryQueue(capacity)
        self.states: list[StationState] = []

    def start(self):
        self._set_status(True)

    def stop(self):
        pass

    def publish_state(self, state):
        self.states.append(state)

    def take(self, count: int) -> list:
        taken = [self.queue.pop() for _ in range(count)]
        self.control.room_changed()
        return taken


def test_the_delivery_queue_refuses_rather_than_overwrites():
    queue = DeliveryQueue(2)
    assert queue.put("a") and queue.put("b")
    assert not queue.put("c")
    assert queue.refused == 1 and [queue.pop(), queue.pop(), queue.pop()] == ["a", "b", None]
    with pytest.raises(ValueError):
        DeliveryQueue(0)


def test_a_full_output_pauses_a_self_triggered_source_and_loses_nothing(tmp_path):
    line = SlowLine(capacity=5)
    station, url = make_station(tmp_path, [line], camera=PlcCamera(rate=200.0), limit=30,
                                trigger="software")
    station.open()
    station.start_run()
    try:
        assert wait_until(lambda: QUEUE_FULL in station.errors, 10)
        assert line.states[-1].error_code == QUEUE_FULL and line.states[-1].state == "Error"
        taken = []
        while len(taken) < 30:
            assert wait_until(lambda: len(line.queue) > 0, 10), f"stalled after {len(taken)}"
            taken += line.take(len(line.queue))
        assert station.pipeline.wait_finished(10)
        assert QUEUE_FULL not in station.errors
    finally:
        station.close()
    records = recorded_parts(url)
    assert line.queue.refused == 0
    assert [record.part_id for record in taken] == [record.part_id for record in records]
    assert len(records) == 30 and all(record.verdict != "NOT_JUDGED" for record in records)


def test_taking_back_remote_control_refuses_the_plc_and_is_recorded(tmp_path):
    line = SlowLine(capacity=10)
    station, url = make_station(tmp_path, [line])
    station.open()
    station.start_run()
    assert station.remote_control and station.plc_trigger()
    station.set_remote_control(False, user="engineer", reason="set-up")
    assert not station.plc_trigger()
    assert TRIGGER_REFUSED in station.errors and line.states[-1].remote_control is False
    station.close()
    database = open_database(url, "line-test")
    try:
        events = database.events(REMOTE_OFF)
    finally:
        database.close()
    assert [(event.user, event.reason) for event in events] == [("engineer", "set-up")]
    assert len(recorded_parts(url)) == 1


def test_recipe_tables_are_read_and_checked(tmp_path):
    table = tmp_path / "recipes.json"
    table.write_text(json.dumps({"1": "a.adgui", "7": "b.adgui"}))
    assert RecipeTable.parse([str(table), "9=c.adgui"]).models == {
        1: tmp_path / "a.adgui", 7: tmp_path / "b.adgui", 9: Path("c.adgui")}  # JSON: beside it
    for bad, message in (("x=a", "not a whole number"), ("0=a", "between 1 and 65535"),
                         ("a.adgui", "NUMBER=MODEL_FILE")):
        with pytest.raises(ValueError, match=message):
            RecipeTable.parse([bad])
