"""Start-up time of a packaged build, measured the same way for both targets: seconds from
launching the executable (empty environment, empty HOME, offscreen) to

  window: the window shown (`APP --smoke-test` prints "smoke test: window shown" on the first
          turn of the event loop after show());
  first image: the first sample part inspected with an exported recipe (`APP self-test
          --exported RECIPE` prints a line as each part is judged).

    python scripts/time_startup.py dist/adgui-station/adgui-station [--recipe DIR] [--runs 3]

RECIPE defaults to the sample recipe bundled in the station build. Prints JSON with every run
and the medians.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def seconds_to(command: list[str], marker: str, scratch: Path) -> float:
    """Launch `command` and return the seconds until a line of its output starts with `marker`."""
    env = {"HOME": str(scratch), "QT_QPA_PLATFORM": "offscreen"}
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env, cwd=scratch)
    seen = None
    for line in process.stdout:
        if seen is None and line.startswith(marker):
            seen = time.perf_counter() - started
    code = process.wait()
    if seen is None or code != 0:
        raise SystemExit(f"{' '.join(command)}: exit code {code}, no line starting {marker!r}")
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", type=Path)
    parser.add_argument("--recipe", type=Path, help="an exported recipe folder")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = args.app.resolve()
    recipe = (args.recipe or app.parent / "_internal" / "resources" / "sample_recipe").resolve()
    cases = {"window": ([str(app), "--smoke-test"], "smoke test: window shown"),
             "first_image": ([str(app), "self-test", "--exported", str(recipe)], "ok ")}
    runs: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):  # interleaved, so that a busy moment hits both alike
        for name, (command, marker) in cases.items():
            with tempfile.TemporaryDirectory() as scratch:
                runs[name].append(round(seconds_to(command, marker, Path(scratch)), 2))
    print(json.dumps({"app": str(app), "recipe": str(recipe), "runs": runs,
                      "median_s": {name: statistics.median(values) for name, values in runs.items()}},
                     indent=2))


if __name__ == "__main__":
    sys.exit(main())
