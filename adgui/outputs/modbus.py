"""Modbus TCP: the station is the server a PLC polls, with a handshake of holding registers.

Register map (holding registers, 0-based addresses; PLC tools often show them as 40001 + n):

  station -> PLC (read only; a write is refused with exception 02, illegal data address)
    0  HEARTBEAT      +1 every 100 ms, wraps 65535 -> 0 (the PLC's watchdog)
    1  READY          1: a trigger now is accepted and will be judged
    2  BUSY           1: parts triggered and not yet recorded
    3  RESULT_VALID   1: registers 4-6, 9, 10 hold a result; it stays until the PLC's Ack
    4  PASS           1: the presented part passed
    5  FAIL           1: the presented part failed
    6  NOT_JUDGED     1: the presented part has no verdict (NOT_JUDGED or ERROR): reject it
    7  ERROR_CODE     0 none, 1 Ack timeout, 2 results queue full, 3 trigger refused,
                      4 unknown recipe, 5 recipe load failed, 6 source failed, 7 bad request
    8  PART_COUNTER   parts recorded since the station started, mod 65536
    9  RESULT_PART    the presented part's trigger number in its run, mod 65536
    10 SCORE          the presented part's score x 1000 (threshold 0.5 = 500), 65535 = none
    11 RECIPE_ACTIVE  the recipe number in use (0: the model given at start)
    12 WAITING        results queued behind the presented one
    13 STATE          0 Idle, 1 Ready, 2 Running, 3 Error
  PLC -> station (read / write)
    16 TRIGGER        0 -> 1 starts one part (one part per rising edge); 0 or 1 only
    17 ACK            0 -> 1 acknowledges the presented result; 0 or 1 only
    18 RECIPE_SELECT  a number from the station's recipe table: switches recipes (0: none)

Handshake (four phases, so the PLC never mistakes one result for the next): the station sets
the result registers, then RESULT_VALID = 1; the PLC reads them and sets ACK = 1; the station
clears RESULT_VALID and the verdict bits; the PLC sets ACK = 0; only then is the next result
presented. A result left unacknowledged for `ack_timeout_ms` sets ERROR_CODE 1 (cleared by the
Ack); results behind it wait in the output's queue, none overwritten. Any other address, a
value other than 0 / 1 on TRIGGER or ACK, and coils or input registers are refused with a
Modbus exception; inspection goes on.
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Sequence

from ..records.part import ERROR as ERROR_VERDICT, FAIL as FAIL_VERDICT, NOT_JUDGED as NJ_VERDICT
from ..records.part import PASS as PASS_VERDICT, PartRecord
from ..sources.base import Option
from .base import ACK_TIMEOUT, ERROR, IDLE, READY, RUNNING, Output, OutputError, StationState

(HEARTBEAT, READY_REG, BUSY, RESULT_VALID, PASS, FAIL, NOT_JUDGED, ERROR_CODE, PART_COUNTER,
 RESULT_PART, SCORE, RECIPE_ACTIVE, WAITING, STATE) = range(14)
TRIGGER, ACK, RECIPE_SELECT = 16, 17, 18
REGISTER_COUNT = 19
WRITABLE = (TRIGGER, ACK, RECIPE_SELECT)
STATE_CODES = {IDLE: 0, READY: 1, RUNNING: 2, ERROR: 3}
NO_SCORE = 65535
SCORE_SCALE = 1000
HOLDING_FUNCTIONS = (3, 6, 16, 23)
HEARTBEAT_S = 0.1
TICK_S = 0.005  # how often the server checks the Ack timeout and the link
LINK_IDLE_S = 2.0  # no request for this long: the PLC's link is shown as down


def scaled_score(score: float | None) -> int:
    if score is None:
        return NO_SCORE
    return max(0, min(NO_SCORE - 1, round(score * SCORE_SCALE)))


class HandshakeRegisters:
    """The register image and the handshake rules; every access holds one lock, so a PLC's
    block read always sees one consistent result."""

    def __init__(self, output: "ModbusOutput"):
        self.output = output
        self.values = [0] * REGISTER_COUNT
        self.lock = threading.Lock()
        self.presented_at: float | None = None
        self.ack_late = False
        self.last_request = 0.0
        self.popped = False  # a result left the queue (the station may accept triggers again)

    # -- the PLC's side (the server's loop) ------------------------------------------------
    def read(self, address: int, count: int) -> list[int] | None:
        if address < 0 or count < 1 or address + count > REGISTER_COUNT:
            return None
        with self.lock:
            self.last_request = time.monotonic()
            return self.values[address:address + count]

    def write(self, address: int, values: Sequence[int]) -> str | None:
        """Apply a PLC's write; None, or "address" / "value" for the exception to answer."""
        span = range(address, address + len(values))
        if not values or any(register not in WRITABLE for register in span):
            return "address"
        for register, value in zip(span, values):
            if register in (TRIGGER, ACK) and value not in (0, 1):
                return "value"
        actions = []
        with self.lock:
            self.popped = False
            self.last_request = time.monotonic()
            for register, value in zip(span, values):
                previous, self.values[register] = self.values[register], int(value)
                if register == TRIGGER and value == 1 and previous == 0:
                    actions.append(("trigger", 0))
                elif register == ACK and value == 1 and previous == 0:
                    if self._acknowledge():
                        actions.append(("ack_late", 0))
                elif register == ACK and value == 0:
                    self._present_next()
                elif register == RECIPE_SELECT and value != previous and value != 0:
                    actions.append(("recipe", int(value)))
            if self.popped:
                actions.append(("room", 0))
        control = self.output.control
        for action, number in actions:  # outside the lock: the station takes its own locks
            if control is None:
                continue
            if action == "trigger":
                control.plc_trigger()
            elif action == "ack_late":
                control.clear_error(ACK_TIMEOUT)
            elif action == "room":
                control.room_changed()
            else:
                control.select_recipe(number)
        return None

    # -- the station's side ----------------------------------------------------------------
    def result_queued(self) -> None:
        with self.lock:
            self._present_next()

    def set_state(self, state: StationState) -> None:
        with self.lock:
            values = self.values
            values[READY_REG], values[BUSY] = int(state.ready), int(state.busy)
            values[ERROR_CODE] = state.error_code
            values[PART_COUNTER] = state.parts % 65536
            values[RECIPE_ACTIVE] = state.recipe_number % 65536
            values[STATE] = STATE_CODES.get(state.state, 0)

    def tick(self, now: float) -> tuple[bool, bool]:
        """Present a waiting result if the handshake allows; (the Ack has just timed out,
        a result left the queue)."""
        with self.lock:
            self.popped = False
            self._present_next()
            timeout = self.output.ack_timeout_s
            if (self.presented_at is not None and not self.ack_late
                    and now - self.presented_at > timeout):
                self.ack_late = True
                return True, self.popped
            return False, self.popped

    def beat(self) -> None:
        with self.lock:
            self.values[HEARTBEAT] = (self.values[HEARTBEAT] + 1) % 65536

    # -- under the lock --------------------------------------------------------------------
    def _acknowledge(self) -> bool:
        """Take the presented result off; True if its Ack had timed out (error to clear)."""
        if not self.values[RESULT_VALID]:
            return False  # an Ack with nothing presented changes nothing
        values = self.values
        values[RESULT_VALID] = values[PASS] = values[FAIL] = values[NOT_JUDGED] = 0
        self.presented_at = None
        late, self.ack_late = self.ack_late, False
        return late

    def _present_next(self) -> None:
        values = self.values
        if values[RESULT_VALID] or values[ACK]:
            values[WAITING] = len(self.output.queue)
            return
        record: PartRecord | None = self.output.queue.pop()
        if record is not None:
            values[PASS] = int(record.verdict == PASS_VERDICT)
            values[FAIL] = int(record.verdict == FAIL_VERDICT)
            values[NOT_JUDGED] = int(record.verdict in (NJ_VERDICT, ERROR_VERDICT))
            values[RESULT_PART] = record.sequence % 65536
            values[SCORE] = scaled_score(record.score)
            values[RESULT_VALID] = 1  # last: the result registers are complete before it
            self.presented_at = time.monotonic()
            self.output._stamp(record, "written")
            self.output.presented += 1
            self.popped = True
        values[WAITING] = len(self.output.queue)


class ModbusOutput(Output):
    """A Modbus TCP server (pymodbus) on its own thread and asyncio loop."""

    kind, label, address, plc = "modbus", "Modbus TCP (PLC)", "listen", True
    options = (
        Option("listen", "text", "0.0.0.0:5020", "Listen on",
               help="HOST:PORT the PLC connects to (502 needs root; default 5020)"),
        Option("ack_timeout_ms", "int", 2000, "Ack timeout (ms)", minimum=10, maximum=600_000,
               help="a result not acknowledged within this time sets error code 1"),
        Option("queue", "int", 1000, "Results queue", minimum=1, maximum=1_000_000,
               help="results that may wait for the PLC; when full, triggers are refused"),
    )

    def __init__(self, settings=None, station: str = "station"):
        super().__init__(settings, station)
        self.host, self.port = split_host_port(self.settings["listen"], 5020)
        self.ack_timeout_s = self.settings["ack_timeout_ms"] / 1000.0
        self.registers = HandshakeRegisters(self)
        self.presented = 0  # results presented to the PLC since start
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    def start(self) -> None:
        started = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(started, failure),
                                        name="modbus-server", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            raise OutputError(f"the Modbus server cannot listen on {self.host}:{self.port}: "
                              f"{failure[0]}") from None
        self._set_status(False, "waiting for the PLC")

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._set_status(False, "stopped")

    @property
    def pending(self) -> int:
        return len(self.queue) + self.registers.values[RESULT_VALID]

    def _queued(self) -> None:
        self.registers.result_queued()

    def publish_state(self, state: StationState) -> None:
        self.registers.set_state(state)

    # -- the server's thread ---------------------------------------------------------------
    def _run(self, started: threading.Event, failure: list) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(started, failure))
        except BaseException as error:  # noqa: BLE001 - a thread reports, never raises
            failure.append(error)
        finally:
            started.set()
            loop.close()

    async def _serve(self, started: threading.Event, failure: list) -> None:
        from pymodbus.server import ModbusTcpServer

        self._stopping = asyncio.Event()
        server = ModbusTcpServer(_context(self.registers), address=(self.host, self.port))
        try:
            await server.serve_forever(background=True)
        except Exception as error:  # noqa: BLE001 - the port is taken or not ours
            failure.append(error)
            started.set()
            return
        started.set()
        next_beat = time.monotonic()
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if now >= next_beat:
                    self.registers.beat()
                    next_beat = now + HEARTBEAT_S
                timed_out, popped = self.registers.tick(now)
                if timed_out and self.control is not None:
                    self.control.report_error(
                        ACK_TIMEOUT, f"the PLC did not acknowledge a result within "
                                     f"{self.ack_timeout_s * 1000:.0f} ms")
                if popped and self.control is not None:
                    self.control.room_changed()
                self._update_link(now)
                await asyncio.sleep(TICK_S)  # cheaper than a wait_for task every tick
        finally:
            await server.shutdown()

    def _update_link(self, now: float) -> None:
        last = self.registers.last_request
        if last and now - last <= LINK_IDLE_S:
            self._set_status(True)
        elif last:
            self._set_status(False, f"no request from the PLC for {LINK_IDLE_S:g} s")


def _context(registers: HandshakeRegisters):
    """What pymodbus asks for values: the handshake registers, holding registers only.
    (pymodbus's own data blocks are plain stores: a handshake needs to act on each write.)"""
    from pymodbus.constants import ExcCodes
    from pymodbus.datastore import ModbusServerContext

    class Context(ModbusServerContext):
        def __init__(self):  # noqa: D107 - the base's store is not used
            self.old_simulator = True  # pymodbus then calls the two methods below
            self.simdevices = []

        def device_ids(self) -> list[int]:
            return [0]

        async def async_getValues(self, device_id, func_code, address, count=1):
            if func_code not in HOLDING_FUNCTIONS:
                return ExcCodes.ILLEGAL_ADDRESS
            values = registers.read(address, count)
            return ExcCodes.ILLEGAL_ADDRESS if values is None else values

        async def async_setValues(self, device_id, func_code, address, values):
            if func_code not in HOLDING_FUNCTIONS:
                return ExcCodes.ILLEGAL_ADDRESS
            problem = registers.write(address, [int(value) for value in values])
            if problem == "address":
                return ExcCodes.ILLEGAL_ADDRESS
            if problem == "value":
                return ExcCodes.ILLEGAL_VALUE
            return None

    return Context()


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    """'HOST:PORT', ':PORT' or 'HOST' as (host, port); a clear message for anything else."""
    host, sep, port = str(text).strip().rpartition(":")
    if not sep:
        host, port = port, str(default_port)
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"{text!r} is not HOST:PORT") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"port {number} is not between 0 and 65535")
    return host or "0.0.0.0", number


__all__ = ["ACK", "BUSY", "ERROR_CODE", "FAIL", "HEARTBEAT", "NOT_JUDGED", "NO_SCORE", "PART_COUNTER",
           "PASS", "READY_REG", "RECIPE_ACTIVE", "RECIPE_SELECT", "REGISTER_COUNT", "RESULT_PART",
           "RESULT_VALID", "SCORE", "SCORE_SCALE", "STATE", "TRIGGER", "WAITING", "ModbusOutput",
           "scaled_score", "split_host_port"]
