"""How long one full garbage collection takes with the window and a recipe loaded, before and
after `adgui.pipeline.heap.settle_long_lived` (what every recipe load ends with).

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python scripts/gc_pause.py MODEL [--runs 3]
"""
from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time


def full_collection_ms() -> float:
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .adgui model file or an exported recipe folder")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("ADGUI_HOME", tempfile.mkdtemp(prefix="adgui-gc-"))  # no user's settings
    from PySide6.QtWidgets import QApplication

    from adgui.gui.app import build_window
    from adgui.pipeline.heap import settle_long_lived
    from adgui.pipeline.inspection import Inspector

    app = QApplication([])
    window = build_window()
    window.show()
    app.processEvents()
    inspector = Inspector.open(args.model, "cpu")  # noqa: F841 - alive, as the recipe in force is
    print(f"{len(gc.get_objects())} objects tracked; a full collection: "
          + ", ".join(f"{full_collection_ms():.1f}" for _ in range(args.runs)) + " ms")
    settle_long_lived()
    print(f"after settle_long_lived, {len(gc.get_objects())} tracked; a full collection: "
          + ", ".join(f"{full_collection_ms():.1f}" for _ in range(args.runs)) + " ms")


if __name__ == "__main__":
    main()
