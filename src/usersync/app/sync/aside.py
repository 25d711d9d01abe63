"""Queries made aside: sent before the run needs their answers, answered while the run goes on.

A run's thread waits for each query it makes: on PostgreSQL while the server works, on SQLite
while the library reads the file (it lets go of Python's lock meanwhile). A query that needs
nothing the run is still working out can be made on the machine's other core while the run
builds its records; the run takes its answer when it needs it. A delta's are the counts its
safeguards need (a scan of the organization's contacts, ~20 ms at 100,000) and the contacts of
the anchors it names (``loading.asked_aside``).

- **PostgreSQL**: the queries are sent ahead on the run's own connection, in pipeline mode, and
  their rows read when asked for: the server works while the run does, in one process (no
  parallel workers, which would take the run's core), and the queries see what the run's
  transaction wrote. (On a thread with a connection of its own, as SQLite's, opening the
  connection took ~5 ms of the server's time, and the thread's turns at Python's lock, taken
  from the run's thread at each step of the connection's talk, made the count last 60-75 ms
  instead of 20: it then slowed the run's next look-ups down.) A libpq older than 14 has no
  pipeline mode: the queries are then made in line, when their answers are asked for.
- **SQLite**: on a thread with a connection of its own, Python's lock changing hands more often
  meanwhile (``SWITCH_INTERVAL``). That connection sees only what is committed: inside a
  transaction (a test's, a caller's), the queries are made in line, when their answers are
  asked for, on the caller's connection. So they are when they fail aside (say the file is
  locked): they are made again in line, and the failure logged as a warning.

The checks a transaction's writes leave for its commit (foreign keys, which Django makes
deferred) are made aside too on PostgreSQL (``checked_meanwhile``): once a run has applied, the
server checks what it wrote while the run keeps its plan (a day of changes' 11 ms of checks).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, connections
from psycopg import Pipeline

from usersync.app.directory.lookups import Statement

log = logging.getLogger("usersync.sync")
#: What ``aside`` gives: a wait for the rows of each of its queries, in their order.
Answers = Callable[[], list[list[tuple]]]
#: How often Python's lock changes hands while queries are made on SQLite's thread (seconds).
#: The thread takes its turn at each step of its talk with the library (connecting, each
#: statement) while the run's thread builds records; at Python's 5 ms those turns came so late
#: that a day of changes' queries were answered after its build, which then waited 28 ms for
#: them; at 1 ms, 2 ms (the build itself 0.5 ms slower).
SWITCH_INTERVAL = 0.001
#: PostgreSQL's setting of how many more processes a query may take (parallel workers).
_WORKERS = "max_parallel_workers_per_gather"


@contextmanager
def aside(queries: Sequence[Statement]) -> Iterator[Answers]:
    """Make ``queries`` aside, one after the other; what is given waits for their rows, and is
    to be asked for inside the ``with`` block."""
    if connection.vendor == "postgresql" and Pipeline.is_supported():
        with _sent_ahead(queries) as answers:
            yield answers
    elif connection.vendor == "postgresql":  # a libpq older than 14: when asked for, in line
        yield lambda: _made(queries)
    else:
        with _quick_turns():
            yield _on_a_thread(queries)


@contextmanager
def _sent_ahead(queries: Sequence[Statement]) -> Iterator[Answers]:
    """PostgreSQL: ``queries`` sent on the run's connection, in a pipeline that lasts as long
    as the block (statements the block makes go through it too; a ``COPY`` cannot)."""
    with _pipeline(), ExitStack() as cursors:
        # on the server's one process: the machine's other core is the run's (the count of
        # 100,000 contacts planned two more workers, which took the core the run was building on)
        _send(f"SET {_WORKERS} = 0")
        sent = []
        for query in queries:
            cursor = cursors.enter_context(connection.cursor())
            cursor.execute(*query)
            sent.append(cursor)
        _send(f"RESET {_WORKERS}")
        yield lambda: [cursor.fetchall() for cursor in sent]


@contextmanager
def checked_meanwhile() -> Iterator[bool]:
    """PostgreSQL: the checks the transaction's writes left for its commit made now, on the
    server, while the block works; they are checked as written for the rest of the transaction.
    The block's statements go through the same pipeline (so not a ``COPY``); it ends once the
    checks are done, raising what they raise. SQLite checks at the commit, as without it; so
    does PostgreSQL through a libpq without pipeline mode. Gives whether the checks are made
    meanwhile (work done in the block only for that is then worth doing)."""
    if connection.vendor != "postgresql" or not Pipeline.is_supported():
        yield False
        return
    with _pipeline():
        _send("SET CONSTRAINTS ALL IMMEDIATE")
        yield True


@contextmanager
def _pipeline() -> Iterator[None]:
    """PostgreSQL: the run's connection in pipeline mode for the block; what the server raises
    when the block ends (its answers then awaited) as Django's errors, as a cursor raises them."""
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def _send(statement: str) -> None:
    """``statement`` made on the run's connection (in a pipeline: sent, its answer not awaited)."""
    with connection.cursor() as cursor:
        cursor.execute(statement)


def _made(queries: Sequence[Statement]) -> list[list[tuple]]:
    """The rows of ``queries``, made now on this thread's connection."""
    with connection.cursor() as cursor:
        answers = []
        for query in queries:
            cursor.execute(*query)
            answers.append(cursor.fetchall())
        return answers


def _on_a_thread(queries: Sequence[Statement]) -> Answers:
    """SQLite: ``queries`` made on a thread with a connection of its own, outside a
    transaction; in line, when asked for, inside one."""
    def work() -> list[list[tuple]]:
        return _made(queries)  # on the connection of the thread it is made on
    if connection.in_atomic_block:
        return work
    pool = ThreadPoolExecutor(1, thread_name_prefix="usersync-aside")
    try:
        made = pool.submit(_closing, work)
    finally:
        pool.shutdown(wait=False)  # the thread ends with ``work``

    def answers() -> list[list[tuple]]:
        try:
            return made.result()
        except DatabaseError as error:
            log.warning("a query made on a connection of its own failed (%s); it is made on "
                        "the run's connection instead", error)
            return work()
    return answers


@dataclass
class _Turns:
    """The blocks of ``_quick_turns`` open now, and the switch interval from before the first."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    blocks: int = 0
    before: float = 0.005


_turns = _Turns()


@contextmanager
def _quick_turns() -> Iterator[None]:
    """Python's lock changes hands every ``SWITCH_INTERVAL`` while the block runs: the setting
    is the process's, so the first of blocks that overlap (runs and previews on threads of one
    process) sets it and the last puts the one before back."""
    with _turns.lock:
        if _turns.blocks == 0:
            _turns.before = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)
        _turns.blocks += 1
    try:
        yield
    finally:
        with _turns.lock:
            _turns.blocks -= 1
            if _turns.blocks == 0:
                sys.setswitchinterval(_turns.before)


def _closing(work: Answers) -> list[list[tuple]]:
    try:
        return work()
    finally:
        connections.close_all()  # this thread's connections only
