"""Files only their owner may read: the users file, the audit trail's key and head."""
from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


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


@contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (made if missing) across processes, until the block ends.

    The window and a command on the same PC may both record to one station's audit trail.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as stream:
        if os.name == "nt":
            import msvcrt

            stream.seek(0)
            while True:
                try:
                    msvcrt.locking(stream.fileno(), msvcrt.LK_LOCK, 1)  # retries for 10 s
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                stream.seek(0)
                msvcrt.locking(stream.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(stream.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(stream.fileno(), fcntl.LOCK_UN)
