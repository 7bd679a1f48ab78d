"""Starting the window: `adgui` with no sub-command calls `run_app()`."""
from __future__ import annotations

import sys
from typing import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ..diagnostics import start_diagnostic_log
from ..pipeline.errors import report_error
from ..pipeline.inspection import Inspector
from ..sources.registry import open_source
from ..resources import resources_dir
from .controller import InspectionController
from .main_window import MainWindow
from .settings import open_settings, shift_plan
from .state import AppState

STYLE_SHEET = "style/adgui.qss"


def build_window(open_inspector: Callable = Inspector.open, open_source_fn: Callable = open_source,
                 train_overrides: dict | None = None) -> MainWindow:
    """The whole window, wired; tests pass fakes for the model and the source."""
    state = AppState()
    settings, settings_problem = open_settings()
    plan, plan_problem = shift_plan(settings)
    controller = InspectionController(state, open_inspector, open_source_fn,
                                      database_url=str(settings.value("database/url", "")) or None,
                                      station=str(settings.value("station/name", "")),
                                      shift_plan=plan)
    window = MainWindow(state, controller, settings, train_overrides)
    for problem in (settings_problem, plan_problem):
        if problem:
            state.tell(problem, "warning")
    state.setParent(window)
    controller.setParent(window)
    return window


def apply_style(app: QApplication) -> None:
    path = resources_dir() / STYLE_SHEET
    if path.is_file():
        app.setStyleSheet(path.read_text(encoding="utf-8"))


def run_app(argv: list[str] | None = None, close_after_ms: int | None = None) -> int:
    """Show the window until it is closed; `close_after_ms` closes it by itself (smoke test)."""
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("adgui")
    app.setOrganizationName("adgui")
    apply_style(app)
    start_diagnostic_log()
    window = build_window()
    previous_hook = sys.excepthook

    def report(kind, error, traceback) -> None:
        # A bug in a slot must not end an inspection shift: say it and keep running.
        window.state.tell(f"Internal error: {report_error(error)}", "error")
        previous_hook(kind, error, traceback)

    sys.excepthook = report
    window.show()
    shown: list[bool] = []
    if close_after_ms is not None:
        # The first turn of the event loop after show(): start-up timing reads this line.
        QTimer.singleShot(0, lambda: print("smoke test: window shown", flush=True))

        def close() -> None:
            shown.append(window.isVisible())
            window.close()
            app.quit()

        QTimer.singleShot(close_after_ms, close)
    try:
        code = app.exec()
    finally:
        sys.excepthook = previous_hook
    if close_after_ms is None:
        return code
    opened = shown == [True]
    print(f"smoke test: window {'opened and closed' if opened else 'did not open'} (exit code {code})")
    return code if opened else 1
