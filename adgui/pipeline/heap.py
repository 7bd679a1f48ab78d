"""Keeping the long-lived objects out of Python's full garbage collections."""
from __future__ import annotations

import gc


def settle_long_lived() -> None:
    """Collect what is garbage now, then leave every live object out of later collections.

    With torch, a model and Qt loaded, a full collection walks about half a million objects
    (250 to 280 ms on a 2-core PC, `scripts/gc_pause.py`) while it holds the GIL: it stalls
    the window and every inspection thread, and so adds to a part's latency. Nearly all of
    those objects live until the next recipe is loaded, which calls this again; unfreezing
    first lets that collection free the previous model's reference cycles.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
