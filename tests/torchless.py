"""Runs the station's paths in an interpreter where torch, timm, torchvision and every detector
module that needs them cannot be imported, as in the station build; prints a JSON report.

    python tests/torchless.py RECIPE_DIR PARTS_DIR TORCH_MODEL_FILE

Used by tests/test_station.py in a subprocess (the test's own interpreter has torch loaded).
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import time

BLOCKED = ("torch", "timm", "torchvision", "onnx")  # onnx: only export writes graphs
# The only modules of the detector package the station may load: image reading, atomic
# writes, the input geometry and the training dialog's proposal of it (numpy and OpenCV, no torch).
ALLOWED_ALGORITHMS = ("algorithms", "algorithms.images", "algorithms.files", "algorithms.geometry",
                      "algorithms.geometry_advice")


class NoTorch:
    """A meta-path finder that makes the blocked modules look uninstalled."""

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in BLOCKED or (top == "algorithms" and name not in ALLOWED_ALGORITHMS):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: the station build)")
        return None


def forbidden_loaded() -> list[str]:
    return sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED
                  or (name.startswith("algorithms") and name not in ALLOWED_ALGORITHMS))


def run_cli(argv: list[str]) -> dict:
    from adgui.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}


def run_window(recipe: str, parts: str) -> dict:
    from PySide6.QtWidgets import QApplication

    from adgui.gui.app import build_window
    from adgui.sources import SourceSpec

    app = QApplication.instance() or QApplication([])
    window = build_window()
    window.show()
    # An engineer, who may train and choose recipes: training is refused for the build alone.
    guard = window.controller.guard
    guard.set_password("erika", "a long passphrase", "engineer")
    assert window.controller.log_in("erika", "a long passphrase")
    report = {"train_button_enabled": window.recipe_bar.train_button.isEnabled(),
              "train_action_enabled": window.train_action.isEnabled(),
              "train_tooltip": window.recipe_bar.train_button.toolTip(),
              "training_dialog": window.open_training(parts) is not None,
              "message": list(window.state.last_message)}
    window.load_recipe(recipe)
    wait(app, lambda: window.state.model is not None)
    report["runtime"] = window.state.model.runtime
    window.controller.start(SourceSpec("folder", {"path": parts, "rate": 0.0, "loop": False}))
    wait(app, lambda: window.state.run_state == "idle" and window.state.counters.judged > 0)
    report["judged"] = window.state.counters.judged
    report["failed"] = window.state.counters.failed
    report["failed_parts"] = sorted(part.record.part_id for part in window.state.failures())
    window.close()
    return report


def wait(app, condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def main(recipe: str, parts: str, torch_model: str) -> None:
    sys.meta_path.insert(0, NoTorch())
    report: dict = {}
    try:
        import algorithms.registry  # noqa: F401 - proves the block works
        report["block_works"] = False
    except ModuleNotFoundError:
        report["block_works"] = True
    report["window"] = run_window(recipe, parts)
    report["inspect"] = run_cli(["inspect", "--model", recipe, parts, "--no-db"])
    report["station"] = run_cli(["station", "--model", recipe, "--source", f"folder:{parts}",
                                 "--count", "3", "--name", "torchless"])
    report["self_test"] = run_cli(["self-test", "--exported", recipe])
    report["train"] = run_cli(["train", "--detector", "padim", "--data", parts, "--out", "x.adgui"])
    report["torch_model"] = run_cli(["inspect", "--model", torch_model, parts, "--no-db"])
    report["forbidden_loaded"] = forbidden_loaded()
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:4])
