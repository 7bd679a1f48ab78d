"""Where an exported recipe's graph spends its time, per operator, from ONNX Runtime's profiler.

Opens the export's graph with the runtime's session settings, runs it on one random model
input (exports of the current format, which take float32 inputs), and prints the median run
and the mean time per operator type and of the slowest nodes. The profiler's own bookkeeping
adds a little to every node.

    PYTHONPATH=. python scripts/profile_export.py EXPORT_DIR [--runs 150] [--top 12]
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from pathlib import Path

import numpy as np


def profile(folder: Path, runs: int) -> tuple[float, Counter, Counter, dict[str, str]]:
    """Median run (ms) and the total microseconds per operator type and per node."""
    from adgui.runtime import RuntimeSettings
    from adgui.runtime.folder import read_exported
    from adgui.runtime.session import make_session

    files = read_exported(folder)  # its files checked against the stored hashes
    session = make_session(files.graph, RuntimeSettings(device="cpu"), profile=True)
    side = int(files.recipe["image_size"])  # one model input (a whole image, or one tile)
    graph_input = np.random.default_rng(0).random((side, side, 3), dtype=np.float32)
    for _ in range(runs):
        session.run(None, {"image": graph_input})
    profile_file = Path(session.end_profiling())
    events = json.loads(profile_file.read_text())
    profile_file.unlink()
    run_times = [event["dur"] / 1000.0 for event in events if event["name"] == "model_run"]
    by_type, by_node, node_type = Counter(), Counter(), {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            node = event["name"].removesuffix("_kernel_time")
            by_type[event["args"]["op_name"]] += event["dur"]
            by_node[node] += event["dur"]
            node_type[node] = event["args"]["op_name"]
    return statistics.median(run_times), by_type, by_node, node_type


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="an exported recipe folder")
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--top", type=int, default=12, help="slowest nodes to list")
    args = parser.parse_args()
    median, by_type, by_node, node_type = profile(args.export, args.runs)
    print(f"median run: {median:.2f} ms over {args.runs} runs")
    print("per operator type (ms per run):")
    for name, total in by_type.most_common():
        print(f"  {name:<16} {total / args.runs / 1000.0:7.3f}")
    print(f"slowest {args.top} nodes (ms per run):")
    for name, total in by_node.most_common(args.top):
        print(f"  {total / args.runs / 1000.0:7.3f}  {node_type[name]:<10} {name}")


if __name__ == "__main__":
    main()
