"""Holding a whole directory in memory without the garbage collector's pauses.

A full read of 100,000 people makes millions of small objects (records, their attribute dicts and
tuples, desired contacts, operations) that all live until the run ends. Python's cyclic collector
scans the young ones again and again as they pile up: measured, about half the cost of building
them. None of them form reference cycles (reference counting frees them), so a run switches the
collector off while it reads, plans and applies, and back on after.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def without_gc_pauses() -> Iterator[None]:
    """The cyclic garbage collector off in the block, as it was after (a nested block changes
    nothing). No collection is forced at the end: the collector's next scheduled one finds what
    is left."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
