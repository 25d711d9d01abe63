"""Queries made aside: on a thread with a database connection of its own, while the run goes on.

A run's thread waits for each query it makes: on PostgreSQL while the server works, on SQLite
while the library reads the file (it lets go of Python's lock meanwhile). A query that needs
nothing the run is still working out (the counts a delta's safeguards need: a scan of the
organization's contacts, ~20 ms at 100,000) can be made aside instead, on the machine's other
core, while the run builds its records; the run takes its answer when it needs it.

A connection of its own sees only what is committed: inside a transaction (a test's, a
caller's), the query is made in line, when its answer is asked for, on the caller's connection.
So it is when the query fails aside (say the server has no connection left for it): it is made
again in line, and the failure logged as a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import DatabaseError, connection, connections

log = logging.getLogger("usersync.sync")
T = TypeVar("T")


def aside(work: Callable[[], T]) -> Callable[[], T]:
    """Start ``work`` (queries, which may be made twice) aside; what is returned waits for its
    answer. The thread's connection is closed once ``work`` is done, asked for or not."""
    if connection.in_atomic_block:
        return work
    pool = ThreadPoolExecutor(1, thread_name_prefix="usersync-aside")
    try:
        made = pool.submit(_closing, work)
    finally:
        pool.shutdown(wait=False)  # the thread ends with ``work``

    def answer() -> T:
        try:
            return made.result()
        except DatabaseError as error:
            log.warning("a query made on a connection of its own failed (%s); it is made on "
                        "the run's connection instead", error)
            return work()
    return answer


def _closing(work: Callable[[], T]) -> T:
    try:
        return work()
    finally:
        connections.close_all()  # this thread's connections only
