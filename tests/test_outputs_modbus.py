"""The Modbus TCP handshake with a real pymodbus client acting as the PLC, on the loopback:
every result read by the PLC matches the station's record, one for one; a late Ack queues
results (none overwritten); a missing Ack gives an error code while parts are still recorded;
garbage and bad writes are refused and inspection goes on."""
from __future__ import annotations

import socket
import time

import pytest

from adgui.outputs import ModbusOutput
from adgui.outputs import modbus as reg
from adgui.outputs.base import ACK_TIMEOUT, QUEUE_FULL, TRIGGER_REFUSED, UNKNOWN_RECIPE
from adgui.records.part import FAIL, NOT_JUDGED, PASS

from line_fakes import FakeModel, PlcCamera, free_port, make_station, recorded_parts

pymodbus = pytest.importorskip("pymodbus")
from pymodbus.client import ModbusTcpClient  # noqa: E402
from pymodbus.pdu import ExceptionResponse  # noqa: E402

VERDICT_BITS = {PASS: (1, 0, 0), FAIL: (0, 1, 0), NOT_JUDGED: (0, 0, 1)}


class Plc:
    """The line's controller: polls the station's registers every millisecond."""

    def __init__(self, port: int):
        self.client = ModbusTcpClient("127.0.0.1", port=port, timeout=2)
        assert self.client.connect(), "the PLC could not connect"

    def registers(self) -> list[int]:
        answer = self.client.read_holding_registers(0, count=reg.REGISTER_COUNT)
        assert not answer.isError(), answer
        return answer.registers

    def write(self, address: int, value: int):
        return self.client.write_register(address, value)

    def wait_for(self, register: int, value: int, timeout: float = 5.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            values = self.registers()
            if values[register] == value:
                return values
            assert time.monotonic() < deadline, f"register {register} never became {value}: {values}"
            time.sleep(0.001)

    def trigger(self) -> None:
        assert not self.write(reg.TRIGGER, 1).isError()
        assert not self.write(reg.TRIGGER, 0).isError()

    def take_result(self) -> tuple:
        """Wait for a result, read it, acknowledge it (all four phases)."""
        values = self.wait_for(reg.RESULT_VALID, 1)
        result = (values[reg.RESULT_PART], tuple(values[reg.PASS:reg.NOT_JUDGED + 1]),
                  values[reg.SCORE])
        self.write(reg.ACK, 1)
        self.wait_for(reg.RESULT_VALID, 0)
        self.write(reg.ACK, 0)
        return result

    def close(self):
        self.client.close()


def expected(record) -> tuple:
    bits = VERDICT_BITS[NOT_JUDGED if record.verdict not in (PASS, FAIL) else record.verdict]
    return record.sequence % 65536, bits, reg.scaled_score(record.score)


@pytest.fixture
def line(tmp_path):
    """Yields a function that builds a station with one Modbus output and a connected PLC;
    everything is stopped afterwards."""
    made = []

    def build(camera=None, recipes=None, **settings):
        port = free_port()
        output = ModbusOutput({"listen": f"127.0.0.1:{port}", **settings}, "line-test")
        station, url = make_station(tmp_path, [output], camera=camera, recipes=recipes)
        station.open()
        made.append(station)
        station.start_run()
        plc = Plc(port)
        made.append(plc)
        return station, output, plc, url

    yield build
    for thing in reversed(made):
        thing.close()


def test_500_parts_through_the_full_handshake_match_the_records(line):
    station, output, plc, url = line(camera=PlcCamera(drop_every=50))
    first = plc.registers()[reg.HEARTBEAT]
    read = []
    for _ in range(500):
        plc.wait_for(reg.READY_REG, 1)
        plc.trigger()
        read.append(plc.take_result())
    values = plc.registers()
    assert values[reg.PART_COUNTER] == 500
    assert values[reg.ERROR_CODE] == 0
    assert values[reg.HEARTBEAT] != first, "the heartbeat never moved"
    station.close()
    records = recorded_parts(url)
    assert len(records) == 500
    assert [expected(record) for record in records] == read
    verdicts = {record.verdict for record in records}
    assert {PASS, FAIL, NOT_JUDGED} <= verdicts  # every verdict bit was exercised
    assert [record.sequence for record in records] == list(range(1, 501))


def test_a_late_ack_queues_results_and_none_is_overwritten(line):
    station, output, plc, url = line(queue=6, ack_timeout_ms=60_000)
    triggered, read = 0, []
    saw_full = False
    while len(read) < 40:
        values = plc.registers()
        if values[reg.READY_REG] and triggered < 40:
            plc.trigger()
            triggered += 1
            continue
        saw_full |= values[reg.ERROR_CODE] == QUEUE_FULL and values[reg.WAITING] > 0
        if values[reg.RESULT_VALID] and (triggered == 40 or not values[reg.READY_REG]):
            time.sleep(0.02)  # the PLC is slow to acknowledge
            read.append(plc.take_result())
    assert saw_full, "the station never reported its full queue while the PLC was late"
    assert plc.registers()[reg.ERROR_CODE] == 0, "the error outlived the full queue"
    station.close()
    records = recorded_parts(url)
    assert [expected(record) for record in records] == read
    assert len(read) == 40 and output.queue.refused == 0


def test_a_missing_ack_times_out_into_an_error_code_and_parts_are_still_logged(line):
    station, output, plc, url = line(queue=5, ack_timeout_ms=100)
    accepted = 0
    while plc.registers()[reg.READY_REG]:
        plc.trigger()
        accepted += 1
        time.sleep(0.01)
    assert accepted == 6  # one presented + five queued: then the station refuses triggers
    time.sleep(0.15)
    values = plc.registers()
    assert values[reg.ERROR_CODE] in (ACK_TIMEOUT, QUEUE_FULL)  # the one raised last
    assert {ACK_TIMEOUT, QUEUE_FULL} <= set(station.errors)
    assert values[reg.STATE] == reg.STATE_CODES["Error"] and values[reg.RESULT_VALID] == 1
    plc.trigger()  # a PLC that ignores Ready is refused, and told so
    values = plc.wait_for(reg.ERROR_CODE, TRIGGER_REFUSED)
    assert values[reg.WAITING] == 5
    station.close()
    assert len(recorded_parts(url)) == accepted  # every accepted part judged and logged
    assert output.queue.refused == 0


def test_garbage_and_bad_writes_are_refused_and_inspection_goes_on(line):
    station, output, plc, url = line()
    with socket.create_connection(("127.0.0.1", output.port)) as intruder:
        intruder.sendall(bytes(range(256)) * 4)  # not Modbus at all
        intruder.sendall(b"\x00\x01\x00\x00\x00\x06\x01\x2b\x0e\x01\x00")  # a truncated frame
        time.sleep(0.1)
    refusals = [
        plc.write(reg.READY_REG, 1),  # a station register: read only
        plc.write(reg.TRIGGER, 7),  # out of range
        plc.write(reg.ACK, 65535),
        plc.write(40, 1),  # outside the map
        plc.client.read_holding_registers(15, count=10),
        plc.client.write_coil(0, True),  # coils are not part of the map
        plc.client.read_input_registers(0, count=2),
    ]
    for answer in refusals:
        assert isinstance(answer, ExceptionResponse) or answer.isError(), answer
    assert plc.registers()[reg.TRIGGER] == 0
    plc.write(reg.RECIPE_SELECT, 9)
    assert plc.wait_for(reg.ERROR_CODE, UNKNOWN_RECIPE)[reg.RECIPE_ACTIVE] == 0
    read = []
    for _ in range(10):
        plc.wait_for(reg.READY_REG, 1)
        plc.trigger()
        read.append(plc.take_result())
    assert plc.registers()[reg.ERROR_CODE] == 0  # a good trigger clears the latched error
    station.close()
    assert [expected(record) for record in recorded_parts(url)] == read


def test_one_part_per_rising_edge_only(line):
    station, output, plc, url = line()
    for value in (1, 1, 1, 0, 0):  # held high: one edge
        assert not plc.write(reg.TRIGGER, value).isError()
    plc.take_result()
    time.sleep(0.1)
    values = plc.registers()
    assert values[reg.PART_COUNTER] == 1 and values[reg.RESULT_VALID] == 0 and values[reg.BUSY] == 0


def test_the_plc_switches_recipes_by_number(line):
    recipes = {2: FakeModel(offset=10.0)}
    station, output, plc, url = line(recipes=recipes)
    plc.trigger()
    before = plc.take_result()
    plc.write(reg.RECIPE_SELECT, 2)
    plc.wait_for(reg.RECIPE_ACTIVE, 2)
    plc.wait_for(reg.READY_REG, 1)
    plc.trigger()
    after = plc.take_result()
    assert before[1] in ((1, 0, 0), (0, 1, 0)) and after[1] == (0, 1, 0)  # offset 10: a FAIL
    station.close()
    records = recorded_parts(url)
    assert [record.recipe for record in records] == ["start", "recipe2"]
    assert recipes[2].calls == 1


def test_the_options_are_declared_and_checked():
    with pytest.raises(ValueError, match="below the minimum"):
        ModbusOutput({"ack_timeout_ms": 0})
    with pytest.raises(ValueError, match="HOST:PORT"):
        ModbusOutput({"listen": "localhost:http"})


def test_the_link_shows_down_when_the_plc_stops_polling(line, monkeypatch):
    monkeypatch.setattr(reg, "LINK_IDLE_S", 0.3)
    station, output, plc, url = line()
    changes = []
    station.link_listeners.append(changes.append)
    plc.registers()
    deadline = time.monotonic() + 5
    while not output.status.up:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.6)  # the PLC is silent
    assert not output.status.up and "no request from the PLC" in output.status.text
    plc.registers()
    time.sleep(0.05)
    assert output.status.up
    assert [change.up for change in changes][-3:] == [True, False, True]
