"""A query made aside: sent before the run needs its answer, answered while the run goes on.

A run's thread waits for each query it makes: on PostgreSQL while the server works, on SQLite
while the library reads the file (it lets go of Python's lock meanwhile). A query that needs
nothing the run is still working out (the counts a delta's safeguards need: a scan of the
organization's contacts, ~20 ms at 100,000) can be made on the machine's other core while the
run builds its records; the run takes its answer when it needs it.

- **PostgreSQL**: the query is sent ahead on the run's own connection, in pipeline mode, and its
  rows read when asked for: the server works while the run does, in one process (no parallel
  workers, which would take the run's core), and the query sees what the run's transaction
  wrote. (On a thread with a connection of its own, as SQLite's, opening the
  connection took ~5 ms of the server's time, and the thread's turns at Python's lock, taken
  from the run's thread at each step of the connection's talk, made the count last 60-75 ms
  instead of 20: it then slowed the run's next look-ups down.)
- **SQLite**: on a thread with a connection of its own. That connection sees only what is
  committed: inside a transaction (a test's, a caller's), the query is made in line, when its
  answer is asked for, on the caller's connection. So it is when the query fails aside (say the
  file is locked): it is made again in line, and the failure logged as a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from django.db import DatabaseError, connection, connections
from django.db.models import QuerySet
from django.db.models.sql.constants import CURSOR

log = logging.getLogger("usersync.sync")
Rows = Callable[[], list]
#: PostgreSQL's setting of how many more processes a query may take (parallel workers).
_WORKERS = "max_parallel_workers_per_gather"


@contextmanager
def aside(query: QuerySet) -> Iterator[Rows]:
    """Make ``query`` aside; what is given waits for its rows (the query's own: tuples of a
    ``values_list``), and is to be asked for inside the ``with`` block."""
    if connection.vendor == "postgresql":
        with _sent_ahead(query) as rows:
            yield rows
    else:
        yield _on_a_thread(query)


@contextmanager
def _sent_ahead(query: QuerySet) -> Iterator[Rows]:
    """PostgreSQL: ``query`` sent on the run's connection, in a pipeline that lasts as long as
    the block (statements the block makes go through it too; a ``COPY`` cannot)."""
    connection.ensure_connection()
    with connection.connection.pipeline():
        # on the server's one process: the machine's other core is the run's (the count of
        # 100,000 contacts planned two more workers, which took the core the run was building on)
        _make(f"SET {_WORKERS} = 0")
        compiler = query.query.get_compiler(connection=connection)
        cursor = compiler.execute_sql(CURSOR)  # sent; None for a query that matches nothing
        _make(f"RESET {_WORKERS}")

        def rows() -> list:
            if cursor is None:
                return []
            with cursor:
                fetched = cursor.fetchall()
            return list(compiler.results_iter([fetched], tuple_expected=True))
        yield rows


def _make(statement: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement)


def _on_a_thread(query: QuerySet) -> Rows:
    """SQLite: ``query`` made on a thread with a connection of its own, outside a transaction;
    in line, when asked for, inside one."""
    def work() -> list:
        return list(query.all())  # a copy: evaluated on the connection of the thread it is on
    if connection.in_atomic_block:
        return work
    pool = ThreadPoolExecutor(1, thread_name_prefix="usersync-aside")
    try:
        made = pool.submit(_closing, work)
    finally:
        pool.shutdown(wait=False)  # the thread ends with ``work``

    def answer() -> list:
        try:
            return made.result()
        except DatabaseError as error:
            log.warning("a query made on a connection of its own failed (%s); it is made on "
                        "the run's connection instead", error)
            return work()
    return answer


def _closing(work: Rows) -> list:
    try:
        return work()
    finally:
        connections.close_all()  # this thread's connections only
