"""Free memory of a device, so that a training that cannot fit refuses before it starts."""
from __future__ import annotations

from pathlib import Path

import torch


class InsufficientMemoryError(RuntimeError):
    """A fit whose estimated peak memory exceeds what the device has free."""


def free_memory(device: torch.device | str) -> int | None:
    """Bytes free on `device` now; None where the system does not say."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    limits = [value for value in (_meminfo_available(), _cgroup_free()) if value is not None]
    return min(limits) if limits else None


def describe(device: torch.device | str) -> str:
    return "GPU" if torch.device(device).type == "cuda" else "main"


def _meminfo_available() -> int | None:
    """Linux's MemAvailable: free memory plus caches it can drop."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_free() -> int | None:
    """A container's memory limit less its use (cgroup v2), when it has one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None
