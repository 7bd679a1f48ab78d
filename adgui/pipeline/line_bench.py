"""Benchmark of the line links: trigger-to-result latency as a PLC sees it, over Modbus TCP
(the PLC polls every millisecond) and OPC UA (a subscription publishing every millisecond),
on the loopback, through the whole station (trigger, acquisition, model, record, output).

Per part it measures, on one clock (`time.time()`, same machine):
- trigger_to_result_ms: the client sends the trigger -> the client has the result;
- verdict_to_client_ms: the station records the verdict -> the client has the result (what
  the link itself adds), and its legs: verdict_to_handoff_ms (-> the station hands the record
  to the output), handoff_to_written_ms (-> the registers hold it / the OPC UA event is
  raised), written_to_client_ms (-> the client has it: the poll, or the publish and transfer).
`model_threads` is torch's thread count while the link is open (the station leaves the line a
core).
The client runs in a process of its own, as a PLC runs on its own machine (in this process
it would share the interpreter lock with the station and measure that instead).
"""
from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from algorithms.datasets import read_images, training_images
from algorithms.images import list_images

from ..sources.base import PLC, SourceError
from ..sources.registry import SourceSpec
from .inspection import Inspector
from .live import LivePipeline, warm_up
from .part_bench import ReplayCamera, _percentile

POLL_S = 0.001  # the Modbus client polls every millisecond
PUBLISH_MS = 1.0  # the OPC UA subscription's publishing interval
LINES = ("modbus", "opcua")


class _Records:
    """Every final record by trigger number, with the time it was recorded."""

    def __init__(self):
        self.by_sequence: dict[int, object] = {}

    def part_judged(self, part) -> None:
        self.by_sequence[part.record.sequence] = part.record

    def source_event(self, *args) -> None:
        pass


def run_line_bench(lines: list[str], model: str | Path | None, data: str | Path, parts: int = 200,
                   device: str = "cpu", progress=lambda fraction, message: None) -> dict:
    unknown = sorted(set(lines) - set(LINES))
    if unknown:
        raise ValueError(f"unknown line link {', '.join(unknown)}; choose from {', '.join(LINES)}")
    folder = Path(data)
    paths = list_images(folder) if folder.is_dir() and list_images(folder) else training_images(folder)
    images = [image for image in read_images(paths[:30]) if image is not None]
    if not images:
        raise SourceError(f"no readable images in {folder}")
    with tempfile.TemporaryDirectory() as scratch:
        if model is None:  # PaDiM at its default 256 px, trained on the data given
            from .training import train_model

            progress(0.0, "training PaDiM")
            model = train_model(folder, "padim", Path(scratch) / "padim.adgui", device=device).model_path
        inspector = Inspector.open(model, device)
    warm_up(inspector)
    info = inspector.info
    config = getattr(inspector.detector, "config", None)
    result = {"model": str(model), "detector": info.detector, "device": info.device,
              "image_size": int(getattr(config, "image_size", 0) or 0), "parts": parts}
    for number, line in enumerate(lines):
        progress((number + 0.5) / len(lines), f"{parts} parts over {line}")
        measure = _modbus_parts if line == "modbus" else _opcua_parts
        result[line] = _summary(*_with_station(line, inspector, images, parts, measure))
    progress(1.0, "done")
    return result


def _with_station(line, inspector, images, parts, measure):
    from ..outputs import open_output
    from ..station import Station

    port = _free_port()
    settings = ({"listen": f"127.0.0.1:{port}"} if line == "modbus" else
                {"endpoint": f"opc.tcp://127.0.0.1:{port}/adgui/", "username": "bench",
                 "password": "bench"})
    output = open_output(line, settings, "bench")
    output.timings = {}
    records = _Records()
    camera = ReplayCamera(images)
    pipeline = LivePipeline(records, queue_size=4, station="bench", open_source_fn=lambda spec: camera)
    pipeline.set_inspector(inspector, recipe=inspector.info.name)
    pipeline.threshold = inspector.info.threshold
    station = Station(pipeline, SourceSpec("folder", {}, PLC), [output])
    station.open()
    try:
        threads = _model_threads()  # while the link is open (it leaves the line a core)
        station.start_run()
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as client:
            seen = client.submit(measure, port, parts).result()
    finally:
        station.close()
    return seen, records.by_sequence, output.timings, threads


def _modbus_parts(port: int, parts: int) -> list[tuple[int, float, float]]:
    """(trigger number, trigger sent, result seen) per part, through the full handshake."""
    from pymodbus.client import ModbusTcpClient

    from ..outputs import modbus as reg

    client = ModbusTcpClient("127.0.0.1", port=port, timeout=5)
    if not client.connect():
        raise RuntimeError("the Modbus client could not connect")

    def wait_for(register: int, value: int) -> tuple[list[int], float]:
        """Poll on a fixed 1 ms cycle, as a PLC's task does (a read that takes longer is
        followed by the next one at once)."""
        deadline = time.monotonic() + 30
        next_poll = time.monotonic()
        while True:
            values = client.read_holding_registers(0, count=reg.REGISTER_COUNT).registers
            seen = time.time()
            if values[register] == value:
                return values, seen
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"Modbus register {register} never became {value}")
            next_poll = max(next_poll + POLL_S, now)
            time.sleep(max(0.0, next_poll - now))

    out = []
    try:
        for _ in range(parts):
            wait_for(reg.READY_REG, 1)
            sent = time.time()
            client.write_register(reg.TRIGGER, 1)
            client.write_register(reg.TRIGGER, 0)
            values, seen = wait_for(reg.RESULT_VALID, 1)
            out.append((values[reg.RESULT_PART], sent, seen))
            client.write_register(reg.ACK, 1)
            wait_for(reg.RESULT_VALID, 0)
            client.write_register(reg.ACK, 0)
    finally:
        client.close()
    return out


def _opcua_parts(port: int, parts: int) -> list[tuple[int, float, float]]:
    return asyncio.run(_opcua_client(port, parts))


async def _opcua_client(port: int, parts: int) -> list[tuple[int, float, float]]:
    from asyncua import Client

    from ..outputs.opcua import EVENT_TYPE, NAMESPACE

    import logging

    logging.getLogger("asyncua").setLevel(logging.ERROR)  # it warns of its own defaults
    seen: dict[int, float] = {}
    arrived = asyncio.Event()

    class Handler:
        def event_notification(self, event):
            seen[int(event.Sequence)] = time.time()
            arrived.set()

    client = Client(f"opc.tcp://127.0.0.1:{port}/adgui/", timeout=10)
    client.set_user("bench")
    client.set_password("bench")
    await client.connect()
    out = []
    try:
        index = await client.get_namespace_index(NAMESPACE)
        node = await client.nodes.objects.get_child(f"{index}:bench")
        event_type = await client.nodes.base_event_type.get_child(f"{index}:{EVENT_TYPE}")
        subscription = await client.create_subscription(PUBLISH_MS, Handler())
        await subscription.subscribe_events(node, event_type, queuesize=1000)
        for number in range(1, parts + 1):
            sent = time.time()
            if not await node.call_method(f"{index}:Trigger"):
                raise RuntimeError("the station refused a trigger")
            deadline = time.monotonic() + 30
            while number not in seen:  # waits, not polls: the station shares these cores
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), max(0.0, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    raise RuntimeError(f"no event for part {number}") from None
            out.append((number, sent, seen[number]))
        await subscription.delete()
    finally:
        await client.disconnect()
    return out


def _model_threads() -> int | None:
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def _summary(seen, records, timings: dict[int, dict[str, float]], threads: int | None) -> dict:
    """Medians and 99th percentiles; verdict_to_client split into its legs: verdict ->
    handed to the output -> written (registers set / event raised) -> the client has it."""
    figures: dict[str, list[float]] = {name: [] for name in (
        "trigger_to_result_ms", "verdict_to_client_ms", "station_trigger_to_verdict_ms",
        "verdict_to_handoff_ms", "handoff_to_written_ms", "written_to_client_ms")}
    for sequence, sent, arrived in seen:
        record = records.get(sequence)
        if record is None:
            continue
        figures["trigger_to_result_ms"].append((arrived - sent) * 1000.0)
        figures["verdict_to_client_ms"].append((arrived - record.verdict_time) * 1000.0)
        if record.trigger_to_verdict_ms is not None:
            figures["station_trigger_to_verdict_ms"].append(record.trigger_to_verdict_ms)
        stamps = timings.get(sequence, {})
        if "handed" in stamps and "written" in stamps:
            figures["verdict_to_handoff_ms"].append((stamps["handed"] - record.verdict_time) * 1000.0)
            figures["handoff_to_written_ms"].append((stamps["written"] - stamps["handed"]) * 1000.0)
            figures["written_to_client_ms"].append((arrived - stamps["written"]) * 1000.0)
    result: dict = {"parts": len(figures["trigger_to_result_ms"]), "model_threads": threads}
    for name, values in figures.items():
        result.update(_stats(name, values))
    return result


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stats(name: str, values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {f"{name}_median": None, f"{name}_p99": None}
    return {f"{name}_median": round(statistics.median(values), 3),
            f"{name}_p99": round(_percentile(values, 99), 3)}


__all__ = ["LINES", "run_line_bench"]
