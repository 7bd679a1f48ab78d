"""MQTT with a real broker (Debian's mosquitto, with persistence) run by the test on the
loopback: a persistent-session subscriber gets every part at least once across a broker
restart in the middle of a run; the station's state is retained; the disk buffer outlives
the station."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from adgui.outputs import MqttOutput
from adgui.outputs.base import wait_until

from line_fakes import PlcCamera, free_port, make_station, recorded_parts

mqtt = pytest.importorskip("paho.mqtt.client")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(),
                                reason="mosquitto (Debian package mosquitto) is not installed")


class Broker:
    """A mosquitto of the test's own: loopback only, persistence in the test's folder."""

    def __init__(self, folder: Path):
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nmax_queued_messages 100000\nuser root\n"
            f"log_dest file {folder}/mosquitto.log\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> "Broker":
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(self._listening, 10), "mosquitto did not start"
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # mosquitto saves its persistence file on SIGTERM
            self.process.wait(10)
        self.process = None

    def _listening(self) -> bool:
        import socket

        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False


class Subscriber:
    """A persistent session (clean_session off, fixed client id), QoS 1."""

    def __init__(self, port: int, topic: str, client_id: str = "line-subscriber",
                 login: tuple[str, str] | None = None, ca_file: Path | None = None):
        self.messages: list[dict] = []
        self.topic = topic
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311, clean_session=False)
        if login:
            self.client.username_pw_set(*login)
        if ca_file:
            self.client.tls_set(ca_certs=str(ca_file))
        self.client.reconnect_delay_set(0.1, 1)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda client, data, message: self.messages.append(
            json.loads(message.payload))
        self.client.connect("127.0.0.1", port, 5)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    yield broker
    broker.stop()


def test_every_part_arrives_across_a_broker_restart(broker, tmp_path):
    subscriber = Subscriber(broker.port, "adgui/line-test/parts")
    output = MqttOutput({"broker": f"127.0.0.1:{broker.port}", "buffer_dir": str(tmp_path / "buffer")},
                        "line-test")
    station, url = make_station(tmp_path, [output], camera=PlcCamera(rate=100.0), limit=300,
                                trigger="software")
    try:
        station.open()
        assert wait_until(lambda: output.status.up, 10)
        station.start_run()
        assert wait_until(lambda: station.state.parts >= 80, 30)
        subscriber.client.loop_stop()  # the subscriber is away too, from now until the end
        broker.stop()
        assert wait_until(lambda: not output.status.up, 10)
        time.sleep(0.5)  # parts go on while the broker is away: buffered on disk
        assert output.pending > 0
        broker.start()
        assert station.pipeline.wait_finished(60)
        assert wait_until(lambda: output.pending == 0, 30), f"{output.pending} still buffered"
        before = len(subscriber.messages)
        subscriber.client.loop_start()  # its session, restored by the broker, held the rest
        assert wait_until(lambda: len({m["part_id"] for m in subscriber.messages}) >= 300, 30)
        assert before < 300
    finally:
        subscriber.close()
        station.close()
    records = recorded_parts(url)
    assert len(records) == 300
    assert {record.part_id for record in records} == {m["part_id"] for m in subscriber.messages}
    by_id = {m["part_id"]: m for m in subscriber.messages}
    for record in records:
        message = by_id[record.part_id]
        assert (message["verdict"], message["score"], message["recipe"], message["sequence"]) == \
            (record.verdict, record.score, record.recipe, record.sequence)
        assert message["time"].endswith("+00:00")
    assert list((tmp_path / "buffer").glob("*.json")) == []


def test_the_state_is_retained_and_the_buffer_outlives_the_station(broker, tmp_path):
    buffer = tmp_path / "buffer"
    # The broker is away while a station records five parts: they wait on disk.
    broker.stop()
    output = MqttOutput({"broker": f"127.0.0.1:{broker.port}", "buffer_dir": str(buffer)}, "line-test")
    station, url = make_station(tmp_path, [output], camera=PlcCamera(rate=50.0), limit=5,
                                trigger="software")
    station.open()
    station.start_run()
    assert station.pipeline.wait_finished(30)
    assert wait_until(lambda: len(list(buffer.glob("*.json"))) == 5, 10)
    station.close()
    # The broker is back, a new station starts with the same buffer: the five go first.
    broker.start()
    subscriber = Subscriber(broker.port, "adgui/line-test/#", client_id="late-subscriber")
    output = MqttOutput({"broker": f"127.0.0.1:{broker.port}", "buffer_dir": str(buffer)}, "line-test")
    (tmp_path / "second").mkdir()
    station, _ = make_station(tmp_path / "second", [output])
    try:
        station.open()
        assert wait_until(lambda: output.pending == 0 and output.published == 5, 20)
        assert wait_until(lambda: any("state" in m for m in subscriber.messages), 10)
    finally:
        station.close()
        subscriber.close()
    parts = [m["part_id"] for m in subscriber.messages if "part_id" in m]
    assert sorted(parts) == sorted(record.part_id for record in recorded_parts(url))
    # A client that connects later still finds the station's last state (retained).
    late = Subscriber(broker.port, "adgui/line-test/state", client_id="state-reader")
    try:
        assert wait_until(lambda: late.messages, 10)
        assert late.messages[-1]["state"] in ("Idle", "Offline")
    finally:
        late.close()
