"""MQTT: one JSON message per part (QoS 1) and a retained station state, with an on-disk
buffer so that results published while the broker is away are sent when it is back.

Topics (STATION = the station's name):
  adgui/STATION/parts   one message per part, QoS 1, not retained:
      {"part_id", "sequence", "verdict" (PASS, FAIL, NOT_JUDGED, ERROR), "score" (null when
       not judged), "threshold", "recipe", "recipe_version", "station", "source", "run_id",
       "time" (the verdict's time, ISO 8601 UTC), "trigger_time", "latency_ms", "reason"}
  adgui/STATION/state   retained, QoS 1: {"state" (Idle, Ready, Running, Error, Offline),
       "error_code", "error_text", "recipe", "recipe_number", "ready", "remote_control",
       "time"}; the broker publishes "Offline" if the station vanishes (last will).

Every record is first written to the buffer folder (one small file, written atomically) and
deleted only when the broker has acknowledged it (PUBACK): a result is delivered at least
once, across a broker restart or a station restart. The folder holds at most `buffer_max`
results; beyond that results wait in the output's queue, and when that is full the station
refuses triggers.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

from ..records.part import PartRecord
from ..sources.base import Option
from .base import Output, OutputError, StationState
from .modbus import split_host_port

MAX_OUTSTANDING = 100  # messages handed to the client library and not yet acknowledged
WAKE_S = 0.05
FILE_PATTERN = re.compile(r"\d{12}\.json")


def part_message(record: PartRecord) -> dict:
    """The JSON message of one part (the schema the module docstring gives)."""
    return {"part_id": record.part_id, "sequence": record.sequence, "verdict": record.verdict,
            "score": record.score, "threshold": record.threshold, "recipe": record.recipe,
            "recipe_version": record.recipe_version, "station": record.station,
            "source": record.source, "run_id": record.run_id, "time": iso(record.verdict_time),
            "trigger_time": iso(record.trigger_time), "latency_ms": record.latency_ms,
            "reason": record.reason}


def state_message(state: StationState | None, offline: bool = False) -> dict:
    if offline or state is None:
        return {"state": "Offline", "time": iso(time.time())}
    return {"state": state.state, "error_code": state.error_code, "error_text": state.error_text,
            "recipe": state.recipe, "recipe_number": state.recipe_number, "ready": state.ready,
            "remote_control": state.remote_control, "time": iso(time.time())}


def iso(seconds: float | None) -> str | None:
    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


class MqttOutput(Output):
    """A paho-mqtt client with its own network thread, and a sender thread for the buffer."""

    kind, label, address = "mqtt", "MQTT", "broker"
    options = (
        Option("broker", "text", "localhost:1883", "Broker", help="HOST:PORT of the MQTT broker"),
        Option("username", "text", "", "User name"),
        Option("password", "text", "", "Password"),
        Option("tls", "bool", False, "TLS", help="connect with TLS (port 8883 as a rule)"),
        Option("ca_file", "file", "", "CA certificate", help="with TLS: the broker's CA (default: the system's)"),
        Option("client_cert", "file", "", "Client certificate", help="with TLS: log in by certificate"),
        Option("client_key", "file", "", "Client key"),
        Option("client_id", "text", "", "Client id", help="default: adgui-STATION"),
        Option("buffer_dir", "folder", "", "Buffer folder",
               help="where undelivered results wait (default: mqtt-STATION in the user data folder)"),
        Option("buffer_max", "int", 100_000, "Buffer size", minimum=1, maximum=10_000_000,
               help="results the buffer folder may hold"),
        Option("keepalive_s", "int", 10, "Keep-alive (s)", minimum=1, maximum=3600),
        Option("queue", "int", 1000, "Results queue", minimum=1, maximum=1_000_000,
               help="results waiting for the buffer; when full, triggers are refused"),
    )

    def __init__(self, settings=None, station: str = "station"):
        super().__init__(settings, station)
        self.host, self.port = split_host_port(self.settings["broker"], 1883)
        self.topic = f"adgui/{_topic_word(station)}"
        folder = self.settings["buffer_dir"]
        if not folder:
            from ..pipeline.userdata import app_home

            folder = app_home() / f"mqtt-{_topic_word(station)}"
        self.buffer = Path(folder)
        self.published = 0  # messages the broker acknowledged since start
        self._client = None
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsent: deque[Path] = deque()
        self._outstanding: dict[int, Path] = {}  # mid -> file, handed to the client library
        self._acked: deque[int] = deque()  # filled by the network thread (append is atomic)
        self._counter = 0
        self._on_disk = 0
        self._state: StationState | None = None
        self._state_sent: dict | None = None

    @property
    def pending(self) -> int:
        return len(self.queue) + self._on_disk

    def start(self) -> None:
        import paho.mqtt.client as mqtt

        try:
            self.buffer.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"the MQTT buffer folder {self.buffer} cannot be used: {error}") from None
        left = sorted(path for path in self.buffer.iterdir() if FILE_PATTERN.fullmatch(path.name))
        self._unsent.extend(left)  # results a previous run could not deliver go first
        self._on_disk = len(left)
        self._counter = int(left[-1].stem) if left else 0
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=self.settings["client_id"] or f"adgui-{_topic_word(self.station)}",
                             protocol=mqtt.MQTTv311, clean_session=True)
        client.max_inflight_messages_set(MAX_OUTSTANDING)
        client.reconnect_delay_set(0.1, 2)
        if self.settings["username"]:
            client.username_pw_set(self.settings["username"], self.settings["password"] or None)
        if self.settings["tls"]:
            try:
                client.tls_set(ca_certs=self.settings["ca_file"] or None,
                               certfile=self.settings["client_cert"] or None,
                               keyfile=self.settings["client_key"] or None)
            except (OSError, ValueError) as error:
                raise OutputError(f"MQTT TLS settings: {error}") from None
        client.will_set(f"{self.topic}/state", json.dumps(state_message(None, offline=True)),
                        qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        self._set_status(False, "connecting")
        client.connect_async(self.host, self.port, self.settings["keepalive_s"])
        client.loop_start()  # paho's network thread: connects, and reconnects on its own
        self._thread = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        client = self._client
        if client is not None:
            if self._connected.is_set():
                info = client.publish(f"{self.topic}/state",
                                      json.dumps(state_message(None, offline=True)), qos=1, retain=True)
                deadline = time.monotonic() + 2
                while not info.is_published() and time.monotonic() < deadline:
                    time.sleep(0.01)
            client.disconnect()
            client.loop_stop()
            self._client = None
        self._set_status(False, "stopped")

    def publish_state(self, state: StationState) -> None:
        self._state = state
        self._wake.set()

    def _queued(self) -> None:
        self._wake.set()

    # -- paho's network thread -------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._set_status(False, f"the broker refused the connection: {reason_code}")
            return
        self._connected.set()
        self._state_sent = None  # publish the state again on every connection
        self._set_status(True)
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            self._set_status(False, f"broker {self.host}:{self.port} away; "
                                    f"{self.pending} results buffered")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acked.append(mid)
        self._wake.set()

    # -- the sender thread -----------------------------------------------------------------
    def _send_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(WAKE_S)
            self._wake.clear()
            try:
                self._settle_acks()
                self._spool()
                if self._connected.is_set():
                    self._send_state()
                    self._send_parts()
            except OSError as error:  # a full or read-only disk: say so, keep trying
                self._set_status(False, f"MQTT buffer folder {self.buffer}: {error}")
                time.sleep(0.5)

    def _spool(self) -> None:
        """Move queued records to the buffer folder while it has room."""
        while self._on_disk < self.settings["buffer_max"]:
            record = self.queue.peek()
            if record is None:
                return
            self._counter += 1
            path = self.buffer / f"{self._counter:012d}.json"
            write_atomically(path, json.dumps(part_message(record)).encode())
            self.queue.pop()
            self._on_disk += 1
            self._unsent.append(path)
            if self.control is not None:
                self.control.room_changed()

    def _send_parts(self) -> None:
        client = self._client
        while self._unsent and len(self._outstanding) < MAX_OUTSTANDING:
            path = self._unsent[0]
            try:
                payload = path.read_bytes()
            except FileNotFoundError:
                self._unsent.popleft()
                continue
            info = client.publish(f"{self.topic}/parts", payload, qos=1)
            if info.rc != 0:
                return  # not connected after all: paho reconnects, we try again
            self._unsent.popleft()
            self._outstanding[info.mid] = path  # paho resends it until the broker acknowledges

    def _settle_acks(self) -> None:
        while self._acked:
            mid = self._acked.popleft()
            path = self._outstanding.pop(mid, None)
            if path is None:
                continue  # the state message
            path.unlink(missing_ok=True)
            self._on_disk -= 1
            self.published += 1

    def _send_state(self) -> None:
        message = state_message(self._state)
        comparable = {key: value for key, value in message.items() if key != "time"}
        if comparable == self._state_sent:
            return
        info = self._client.publish(f"{self.topic}/state", json.dumps(message), qos=1, retain=True)
        if info.rc == 0:
            self._state_sent = comparable


def write_atomically(path: Path, data: bytes) -> None:
    """Temporary file, flushed to disk, renamed into place: a crash leaves no half message.
    (As algorithms.files.atomic_write does; outputs keep off the detectors' package.)"""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def _topic_word(text: str) -> str:
    """A station name as one MQTT topic level: no '/', '+', '#'."""
    return re.sub(r"[/+#\s]+", "_", text.strip()) or "station"


__all__ = ["MqttOutput", "part_message", "state_message"]
