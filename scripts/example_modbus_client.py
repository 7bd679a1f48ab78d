"""A minimal PLC over Modbus TCP: triggers parts and reads their results through the
station's handshake (register map: README, "On the line: PLC and MQTT").

    python scripts/example_modbus_client.py --host 127.0.0.1 --port 5020 --parts 10 [--recipe 2]

Run a station first, e.g.
    adgui station --model bottle.adgui --source folder:parts/ --trigger plc --modbus 127.0.0.1:5020
"""
from __future__ import annotations

import argparse
import time

from pymodbus.client import ModbusTcpClient

# Holding registers (0-based), as in adgui/outputs/modbus.py.
READY, RESULT_VALID, PASS, FAIL, NOT_JUDGED, ERROR_CODE = 1, 3, 4, 5, 6, 7
RESULT_PART, SCORE, RECIPE_ACTIVE = 9, 10, 11
TRIGGER, ACK, RECIPE_SELECT = 16, 17, 18
COUNT = 19


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5020)
    parser.add_argument("--parts", type=int, default=10)
    parser.add_argument("--recipe", type=int, help="select this recipe number first")
    args = parser.parse_args()
    client = ModbusTcpClient(args.host, port=args.port, timeout=3)
    if not client.connect():
        raise SystemExit(f"no Modbus server at {args.host}:{args.port}")

    def registers() -> list[int]:
        answer = client.read_holding_registers(0, count=COUNT)
        if answer.isError():
            raise SystemExit(f"read refused: {answer}")
        return answer.registers

    def wait_for(register: int, value: int, timeout: float = 30.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while (values := registers())[register] != value:
            if time.monotonic() > deadline:
                raise SystemExit(f"register {register} did not become {value}; "
                                 f"error code {values[ERROR_CODE]}")
            time.sleep(0.001)  # poll every millisecond
        return values

    try:
        if args.recipe:
            client.write_register(RECIPE_SELECT, args.recipe)
            wait_for(RECIPE_ACTIVE, args.recipe)
            print(f"recipe {args.recipe} active")
        for _ in range(args.parts):
            wait_for(READY, 1)
            client.write_register(TRIGGER, 1)  # one part per rising edge
            client.write_register(TRIGGER, 0)
            values = wait_for(RESULT_VALID, 1)
            verdict = ("PASS" if values[PASS] else "FAIL" if values[FAIL]
                       else "NOT_JUDGED" if values[NOT_JUDGED] else "?")
            score = "" if values[SCORE] == 65535 else f"{values[SCORE] / 1000:.3f}"
            print(f"part {values[RESULT_PART]}\t{verdict}\t{score}")
            client.write_register(ACK, 1)  # acknowledge ...
            wait_for(RESULT_VALID, 0)  # ... the station takes the result off ...
            client.write_register(ACK, 0)  # ... and presents the next only after this
    finally:
        client.close()


if __name__ == "__main__":
    main()
