"""SQLite's checkpoint after a run's commit, beside what the process does next, not in it.

In write-ahead-log mode SQLite commits by appending pages to the log; a checkpoint copies them
back into the database file and syncs it to disk. By default the connection that commits a log
past 1,000 pages runs the checkpoint itself, inside its commit: for a day of changes at 100,000
people (4,700 pages) that was 0.10 s of a 0.45 s run, nearly all of it the sync to disk, after
the run's changes were already committed and visible to every other connection.

So a run's connection does not checkpoint (``wal_autocheckpoint`` 0) while the run writes, and
once the run is over a thread checkpoints on a connection of its own (``PASSIVE``: it blocks no
reader and no writer). Python's sqlite3 lets go of the interpreter while SQLite works, so the
copy and the sync to disk run beside the worker's next steps (its notices, its next run's read),
as PostgreSQL's checkpointer does beside its backends. The thread is not a daemon: a process
that ends waits for it. A process killed first leaves the pages in the log, which SQLite reads
as the database; the next commit past 1,000 pages, by any connection, checkpoints them.

Nothing here on PostgreSQL, nor on a SQLite database that is not in WAL mode (the tests'
in-memory one).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator

from django.db import DatabaseError
from django.db import connection as default_connection

log = logging.getLogger("usersync.sync")
#: SQLite's own ``wal_autocheckpoint``, set again after a run.
AUTOCHECKPOINT_PAGES = 1000
#: The name of the checkpoint's thread (``wait`` finds it by this name).
THREAD_NAME = "sqlite-checkpoint"
#: One checkpoint at a time in a process: a second one would only wait for the first's locks.
_one_at_a_time = threading.Lock()


@contextlib.contextmanager
def checkpoint_after(connection=default_connection) -> Iterator[None]:
    """The block's commits on ``connection`` do not checkpoint; one checkpoint follows the
    block, on a thread of its own."""
    database = _wal_database(connection)
    if database is None:
        yield
        return
    _autocheckpoint(connection, 0)
    try:
        yield
    finally:
        try:
            _autocheckpoint(connection, AUTOCHECKPOINT_PAGES)
        except (sqlite3.Error, DatabaseError) as error:  # the run's own error goes on, if any
            log.warning("could not turn SQLite's automatic checkpoints back on: %s", error)
        threading.Thread(target=checkpoint, args=(database,), name=THREAD_NAME).start()


def wait(timeout: float | None = None) -> None:
    """Until the checkpoints this process started are done (a process that ends waits for them
    anyway; the bench times the wait apart from the run)."""
    for thread in threading.enumerate():
        if thread.name == THREAD_NAME:
            thread.join(timeout)


def checkpoint(database: str) -> None:
    """Copy the write-ahead log of ``database`` into it (``PASSIVE``)."""
    with _one_at_a_time:
        try:
            with contextlib.closing(sqlite3.connect(database, timeout=30)) as sqlite:
                sqlite.execute("PRAGMA synchronous=NORMAL")
                busy, logged, copied = sqlite.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as error:  # the next commit past 1,000 pages checkpoints instead
            log.warning("could not checkpoint the SQLite database %s: %s", database, error)
            return
    log.debug("checkpoint of %s: %s of %s pages copied%s", database, copied, logged,
              " (readers held the rest)" if busy or copied < logged else "")


def _wal_database(connection) -> str | None:
    """The file of ``connection``'s SQLite database in WAL mode, else ``None``."""
    if connection.vendor != "sqlite":
        return None
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        (mode,) = cursor.fetchone()
    return str(connection.settings_dict["NAME"]) if mode == "wal" else None


def _autocheckpoint(connection, pages: int) -> None:
    """Set on SQLite's own connection: Django refuses queries inside a transaction a failed
    block has broken, and this setting is no part of any transaction."""
    connection.ensure_connection()
    connection.connection.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")
