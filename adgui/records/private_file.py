"""Files only their owner may read: the users file, the audit trail's key and head."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def write_private(path: str | Path, data: bytes) -> None:
    """Write `data` atomically (the old file or the whole new one) with mode 0600 on POSIX.

    The same steps as algorithms.files.atomic_write, which records cannot import without
    torch; mkstemp creates the file readable by its owner only, so a secret never lies open.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def is_private(path: str | Path) -> bool:
    """False when others than the owner may read or write the file (checked on POSIX only)."""
    if os.name != "posix":
        return True
    return not os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO)
