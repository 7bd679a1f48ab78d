"""A long run must not wear the station down: memory stays flat and the window's cost per
part does not grow. CI runs 5,000 parts and checks memory; `adgui soak --parts 100000`
is the full measurement."""
from __future__ import annotations

import json
import os
import subprocess
import sys


def test_a_soak_keeps_memory_flat(tmp_path):
    out = tmp_path / "soak.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ADGUI_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "adgui", "soak", "--parts", "5000", "--json", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["soak_parts"] == result["triggers"] == 5000
    assert result["passed"] + result["failed"] + result["not_judged"] + result["errors"] == 5000
    assert result["failed"] == 500, "one part in ten is bright: every verdict was kept"
    assert result["rss_growth_mb"] is not None and result["rss_growth_mb"] < 50


def test_the_qt_binding_keeps_its_references():
    """PySide6 6.12.0 dropped a reference to None on every call of a void method (and to True on
    every signal emit); after enough parts the interpreter aborts. Guard the pinned version."""
    probe = ("import sys\nfrom PySide6.QtWidgets import QApplication, QPushButton\n"
             "from PySide6.QtCore import QObject, Signal\n"
             "class E(QObject):\n    s = Signal(object)\n"
             "app = QApplication([]); b = QPushButton(); e = E(); e.s.connect(lambda x: None)\n"
             "none, true = sys.getrefcount(None), sys.getrefcount(True)\n"
             "for _ in range(2000):\n    b.setVisible(False); b.setText('x'); e.s.emit(1)\n"
             "print(sys.getrefcount(None) - none, sys.getrefcount(True) - true)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr[-2000:]
    lost_none, lost_true = (int(value) for value in done.stdout.split())
    assert abs(lost_none) < 50 and abs(lost_true) < 50, done.stdout
