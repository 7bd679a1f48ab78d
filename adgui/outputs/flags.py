"""Command-line flags built from the outputs' declared options: `--KIND ADDRESS` starts an
output, `--KIND-OPTION VALUE` sets one of its options (e.g. `--modbus 0.0.0.0:5020
--modbus-ack-timeout-ms 5000`, `--mqtt broker:1883 --mqtt-username line`)."""
from __future__ import annotations

import argparse

from .base import Output
from .registry import open_output, output_kinds


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("outputs to the line (each flag of a kind needs --KIND)")
    for kind in output_kinds():
        address = next(option for option in kind.options if option.name == kind.address)
        group.add_argument(f"--{kind.kind}", dest=f"output_{kind.kind}", metavar=address.kind.upper(),
                           help=f"{kind.label}: {address.help or address.label}")
        for option in kind.options:
            if option.name == kind.address:
                continue
            flag = f"--{kind.kind}-{option.name.replace('_', '-')}"
            group.add_argument(flag, dest=f"output_{kind.kind}__{option.name}",
                               metavar=option.kind.upper(),
                               help=f"{option.help or option.label} (default {option.default!r})")


def outputs_from_flags(args: argparse.Namespace, station: str) -> list[Output]:
    """The outputs the flags ask for, constructed (not started); an option of a kind that was
    not asked for is an error, not silently ignored."""
    values = vars(args)
    outputs = []
    for kind in output_kinds():
        address = values.get(f"output_{kind.kind}")
        settings = {name.split("__", 1)[1]: value for name, value in values.items()
                    if name.startswith(f"output_{kind.kind}__") and value is not None}
        if address is None:
            if settings:
                flags = ", ".join(f"--{kind.kind}-{name.replace('_', '-')}" for name in settings)
                raise ValueError(f"{flags} needs --{kind.kind}")
            continue
        outputs.append(open_output(kind.kind, {kind.address: address, **settings}, station))
    return outputs


__all__ = ["add_output_flags", "outputs_from_flags"]
