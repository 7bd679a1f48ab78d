"""What keeps the time from a verdict to the line short: the outputs get the verdict before the
pictures, the log line and the saved images; an OPC UA event is published at once, not at the
subscription's next tick, and a client reading the result's variables on it reads that part;
the part's picture waits until the event has left; a PLC link leaves the line a core the model
does not use."""
from __future__ import annotations

import asyncio
import os
import time

import pytest

from adgui.inspection_log import read_log
from adgui.outputs import OpcUaOutput
from adgui.outputs.base import Output
from adgui.outputs.opcua import EVENT_TYPE, NAMESPACE

from line_fakes import FakeModel, free_port, make_station


class LogWatcher(Output):
    """A PLC output that notes, for each result handed to it, how many log lines and saved
    images existed at that moment."""

    kind, label, plc = "watch", "Log watcher", True

    def __init__(self, log_path, failed_dir):
        super().__init__({}, "line-test")
        self.log_path, self.failed_dir = log_path, failed_dir
        self.handed = []  # (record, log lines then, saved images then)

    def start(self) -> None:
        self._set_status(True)

    def stop(self) -> None:
        pass

    def deliver(self, record) -> bool:
        lines = len(read_log(self.log_path)) if self.log_path.exists() else 0
        images = len(list(self.failed_dir.glob("*.png"))) if self.failed_dir.exists() else 0
        self.handed.append((record, lines, images))
        return super().deliver(record)


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def judge_parts(station, count: int, after_each=lambda: None) -> list:
    """Open the station, trigger `count` parts one at a time, each recorded before the next;
    the final records, in order."""
    final = []
    station.pipeline.recorder.subscribers.append(lambda part: final.append(part.record))
    station.open()
    station.start_run()
    try:
        for number in range(1, count + 1):
            assert station.plc_trigger()
            assert wait_until(lambda: len(final) >= number)
            after_each()
    finally:
        station.close()
    return final


def test_the_line_has_each_verdict_before_its_log_line_and_images(tmp_path):
    output = LogWatcher(tmp_path / "log.csv", tmp_path / "failed")
    station, _ = make_station(tmp_path, [output])
    station.pipeline.recorder.log_path = output.log_path
    station.pipeline.recorder.failed_dir = output.failed_dir
    station.pipeline.recorder.free_space_floor_mb = 0
    final = judge_parts(station, 12, after_each=output.queue.pop)  # the line takes each result
    saved_before = 0
    for number, ((handed, lines, images), record) in enumerate(zip(output.handed, final)):
        assert lines == number  # this part's line was not written yet
        assert images == saved_before  # nor its images
        saved_before += 2 * bool(record.image_path)  # the image and its overlay
        assert (handed.sequence, handed.verdict, handed.score) == \
            (record.sequence, record.verdict, record.score)
    assert len(output.handed) == len(final) == 12
    assert {record.verdict for record in final} == {"PASS", "FAIL"}
    assert saved_before > 0


class ThreadCountingModel(FakeModel):
    """Notes the threads torch would use for each part, on the thread that judges it."""

    def __init__(self, torch):
        super().__init__()
        self.torch, self.threads = torch, []

    def inspect(self, image):
        self.threads.append(self.torch.get_num_threads())
        return super().inspect(image)


def test_a_plc_link_leaves_a_core_to_the_line_and_gives_it_back(tmp_path):
    torch = pytest.importorskip("torch")
    cores = len(os.sched_getaffinity(0))
    before = torch.get_num_threads()
    if cores < 2 or before < cores:
        pytest.skip("the model already leaves cores free here")
    model = ThreadCountingModel(torch)
    output = LogWatcher(tmp_path / "log.csv", tmp_path / "failed")
    station, _ = make_station(tmp_path, [output], model=model)
    station.open()
    station.start_run()
    try:
        for count in range(1, 3):
            assert station.plc_trigger()
            assert wait_until(lambda: len(output.handed) >= count)
    finally:
        station.close()
    assert model.threads == [cores - 1] * 2
    assert torch.get_num_threads() == before


@pytest.fixture
def slow_ticking_station(tmp_path):
    pytest.importorskip("asyncua")
    url = f"opc.tcp://127.0.0.1:{free_port()}/adgui/"
    output = OpcUaOutput({"endpoint": url, "username": "line", "password": "pw"}, "line-test")
    station, _ = make_station(tmp_path, [output])
    station.open()
    station.start_run()
    yield url
    station.close()


def test_an_opc_ua_event_leaves_at_once_with_its_variables_written(slow_ticking_station):
    from asyncua import Client

    publishing_ms = 10_000  # the subscription's own tick would come after 10 s

    async def plc():
        client = Client(slow_ticking_station, timeout=10)
        client.set_user("line")
        client.set_password("pw")
        await client.connect()
        try:
            index = await client.get_namespace_index(NAMESPACE)
            node = await client.nodes.objects.get_child(f"{index}:line-test")
            event_type = await client.nodes.base_event_type.get_child(f"{index}:{EVENT_TYPE}")
            arrived: list[tuple[int, float]] = []

            class Handler:
                def event_notification(self, event):
                    arrived.append((int(event.Sequence), time.monotonic()))

            subscription = await client.create_subscription(publishing_ms, Handler())
            await subscription.subscribe_events(node, event_type, queuesize=10)
            await asyncio.sleep(0.5)  # past the subscription's first publish
            sequence = await node.get_child([f"{index}:LastResult", f"{index}:Sequence"])
            results = []
            for _ in range(3):
                sent = time.monotonic()
                assert await node.call_method(f"{index}:Trigger") is True
                while len(arrived) < len(results) + 1:
                    assert time.monotonic() - sent < 5.0, "the event waited for the publishing tick"
                    await asyncio.sleep(0.002)
                number, when = arrived[-1]
                results.append((number, when - sent, await sequence.read_value()))
            return results
        finally:
            await client.disconnect()

    results = asyncio.run(plc())
    assert [number for number, _, _ in results] == [1, 2, 3]
    for number, waited, variable in results:
        assert waited < 5.0
        assert variable == number  # LastResult held the part when its event arrived


def test_a_picture_that_cannot_be_drawn_leaves_the_part_its_one_verdict(tmp_path, monkeypatch):
    import adgui.pipeline.live as live

    def broken_overlay(*args, **kwargs):
        raise MemoryError("no room for the picture")

    monkeypatch.setattr(live, "overlay", broken_overlay)
    output = LogWatcher(tmp_path / "log.csv", tmp_path / "failed")
    station, _ = make_station(tmp_path, [output])
    problems = []
    station.pipeline.recorder.problems = problems.append
    final = judge_parts(station, 8)
    handed = [(record.sequence, record.verdict) for record, _, _ in output.handed]
    assert handed == [(record.sequence, record.verdict) for record in final]
    assert [sequence for sequence, _ in handed] == list(range(1, 9))
    assert {verdict for _, verdict in handed} == {"PASS", "FAIL"}
    assert len(problems) == 8 and "could not be drawn" in problems[0]


def test_a_part_s_picture_waits_until_its_opc_ua_event_has_left(tmp_path, monkeypatch):
    """The judging thread would take the interpreter from the server's loop while it draws:
    it holds back until the event is sent (the server sends with or without a subscriber)."""
    pytest.importorskip("asyncua")
    import adgui.pipeline.live as live

    url = f"opc.tcp://127.0.0.1:{free_port()}/adgui/"
    output = OpcUaOutput({"endpoint": url, "username": "line", "password": "pw"}, "line-test")
    sent_when_drawn = []

    def overlay_noting_the_line(*args, **kwargs):
        sent_when_drawn.append(output.published)
        return draw(*args, **kwargs)

    draw = live.overlay
    monkeypatch.setattr(live, "overlay", overlay_noting_the_line)
    station, _ = make_station(tmp_path, [output])
    assert len(judge_parts(station, 10)) == 10
    assert sent_when_drawn == list(range(1, 11))
