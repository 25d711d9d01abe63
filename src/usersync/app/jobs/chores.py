"""Small jobs a worker does between runs: delivering webhooks, fetching contact images.

Each chore is a function that does a bounded batch of due work (claiming it, so that workers on
several machines never do the same item twice) and returns how many items it handled. Workers
call ``run_due`` whenever no run is waiting; a chore that handled something is called again
before the worker sleeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from usersync.app.images import fetching as images
from usersync.app.webhooks import delivery as webhooks

log = logging.getLogger("usersync.jobs")

#: The chores, in order. A feature adds its own here (one line), e.g. ``webhooks.deliver_due``.
CHORES: list[Callable[[], int]] = [
    images.fetch_due,
    webhooks.deliver_due,
]


def run_due() -> int:
    """Run every chore once; the number of items handled. A failing chore is logged and skipped:
    it never stops the worker, nor the other chores."""
    handled = 0
    for chore in CHORES:
        try:
            handled += chore()
        except Exception:
            log.exception("%s failed", getattr(chore, "__qualname__", chore))
    return handled
