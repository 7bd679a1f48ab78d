"""The diagnostic log: a rotating file in the user data folder where every error is kept with
its traceback, for whoever has to find out later what happened on the station."""
from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_NAME = "adgui.log"
MAX_BYTES = 2_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"

log = logging.getLogger("adgui")


def start_diagnostic_log(folder: Path | None = None) -> Path:
    """Send the `adgui` loggers to `<user data>/logs/adgui.log` (2 MB x 5 files); idempotent."""
    from .pipeline.userdata import logs_dir

    path = (folder or logs_dir()) / LOG_NAME
    for handler in log.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and Path(handler.baseFilename) == path:
            return path
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return path
