"""`adgui station`: the window's pipeline headless, with its outputs; one line per part."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


from adgui.cli import main
from adgui.outputs import modbus as reg
from adgui.records.database import open_database

from conftest import write_parts
from line_fakes import free_port

REPO = Path(__file__).resolve().parents[1]


def parts_in(url: str, station: str):
    database = open_database(url, station)
    try:
        return database.parts()
    finally:
        database.close()


def test_a_folder_run_prints_one_line_per_part_and_records_them(tiny_model, tmp_path, capsys):
    write_parts(tmp_path / "parts", 5)
    url = f"sqlite:///{tmp_path / 'station.db'}"
    code = main(["station", "--model", str(tiny_model), "--source", f"folder:{tmp_path / 'parts'}",
                 "--name", "cli-test", "--db", url, "--count", "4", "--device", "cpu"])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = [line.split("\t") for line in out.out.splitlines()]
    assert [line[0] for line in lines] == [f"part_{index:02d}.png" for index in range(4)]
    assert all(line[1] in ("PASS", "FAIL") for line in lines)
    records = parts_in(url, "cli-test")
    assert [(r.part_id, r.verdict) for r in records] == [(line[0], line[1]) for line in lines]


def test_output_flags_are_checked(tiny_model, tmp_path, capsys):
    code = main(["station", "--model", str(tiny_model), "--source", f"folder:{tmp_path}",
                 "--modbus-ack-timeout-ms", "500", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert code == 1 and "--modbus-ack-timeout-ms needs --modbus" in capsys.readouterr().err
    code = main(["station", "--model", str(tiny_model), "--source", f"folder:{tmp_path}",
                 "--trigger", "plc", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert code == 1 and "needs a link the PLC triggers through" in capsys.readouterr().err


def test_a_plc_triggers_a_headless_station_over_modbus(tiny_model, tmp_path):
    from pymodbus.client import ModbusTcpClient

    write_parts(tmp_path / "parts", 12)
    port, url = free_port(), f"sqlite:///{tmp_path / 'station.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "adgui", "station", "--model", str(tiny_model),
         "--source", f"folder:{tmp_path / 'parts'}", "--trigger", "plc", "--name", "plc-test",
         "--db", url, "--count", "10", "--device", "cpu", "--modbus", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=2)
    try:
        deadline = time.monotonic() + 120
        while not client.connect():
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.2)

        def registers():
            answer = client.read_holding_registers(0, count=reg.REGISTER_COUNT)
            assert not answer.isError()
            return answer.registers

        def wait_for(register, value):
            deadline = time.monotonic() + 30
            while (values := registers())[register] != value:
                assert time.monotonic() < deadline, values
                time.sleep(0.001)
            return values

        read = []
        for _ in range(10):
            wait_for(reg.READY_REG, 1)
            client.write_register(reg.TRIGGER, 1)
            client.write_register(reg.TRIGGER, 0)
            values = wait_for(reg.RESULT_VALID, 1)
            read.append((values[reg.RESULT_PART], values[reg.PASS], values[reg.FAIL]))
            client.write_register(reg.ACK, 1)
            wait_for(reg.RESULT_VALID, 0)
            client.write_register(reg.ACK, 0)
        out, err = process.communicate(timeout=60)
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    lines = [line.split("\t") for line in out.splitlines()]
    assert len(lines) == 10
    records = parts_in(url, "plc-test")
    assert [(r.sequence, int(r.verdict == "PASS"), int(r.verdict == "FAIL")) for r in records] == read
    assert [line[0] for line in lines] == [r.part_id for r in records]
    database = open_database(url, "plc-test")
    try:  # started under the PLC's control: recorded, as the window records it
        handed = database.events("remote_control_on")
    finally:
        database.close()
    assert [(event.user, event.time <= records[0].trigger_time) for event in handed] == \
        [("system (start-up)", True)]


def test_bench_line_reports_latency_over_both_links(tiny_model, capsys):
    code = main(["bench", "--line", "modbus,opcua", "--model", str(tiny_model), "--device", "cpu",
                 "--parts-count", "5"])
    out = capsys.readouterr()
    assert code == 0, out.err
    import json

    result = json.loads(out.out)
    for line in ("modbus", "opcua"):
        figures = result[line]
        assert figures["parts"] == 5
        assert 0 < figures["verdict_to_client_ms_median"] <= figures["verdict_to_client_ms_p99"]
        assert figures["trigger_to_result_ms_median"] >= figures["station_trigger_to_verdict_ms_median"] - 1
        legs = [figures[f"{leg}_ms_median"] for leg in ("verdict_to_handoff", "handoff_to_written",
                                                         "written_to_client")]
        assert all(leg is not None and leg >= 0 for leg in legs)
        assert legs[0] < figures["verdict_to_client_ms_p99"]  # handed over before the client has it


def test_the_example_modbus_client_drives_a_station(tmp_path):
    from line_fakes import make_station
    from adgui.outputs import ModbusOutput

    port = free_port()
    station, url = make_station(tmp_path, [ModbusOutput({"listen": f"127.0.0.1:{port}"}, "line-test")])
    station.open()
    station.start_run()
    try:
        done = subprocess.run([sys.executable, str(REPO / "scripts" / "example_modbus_client.py"),
                               "--port", str(port), "--parts", "3"],
                              capture_output=True, text=True, timeout=60)
    finally:
        station.close()
    assert done.returncode == 0, done.stderr
    printed = [line.split("\t")[:2] for line in done.stdout.splitlines()]
    assert printed == [[f"part {r.sequence}", r.verdict] for r in parts_in(url, "line-test")]


def test_the_example_opcua_client_drives_a_station(tmp_path):
    from line_fakes import make_station
    from adgui.outputs import OpcUaOutput

    url = f"opc.tcp://127.0.0.1:{free_port()}/adgui/"
    output = OpcUaOutput({"endpoint": url, "username": "line", "password": "pw"}, "line-test")
    station, db_url = make_station(tmp_path, [output])
    station.open()
    station.start_run()
    try:
        done = subprocess.run([sys.executable, str(REPO / "scripts" / "example_opcua_client.py"),
                               "--url", url, "--user", "line", "--password", "pw",
                               "--station", "line-test", "--parts", "3"],
                              capture_output=True, text=True, timeout=60)
    finally:
        station.close()
    assert done.returncode == 0, done.stderr
    printed = [line.split("\t")[:2] for line in done.stdout.splitlines()]
    assert printed == [[r.part_id, r.verdict] for r in parts_in(db_url, "line-test")]
