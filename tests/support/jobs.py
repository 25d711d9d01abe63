"""What tests of the worker's jobs share: a directory source that is down (its runs fail and are
retried), and rows another worker holds locked (a claim must skip them, not wait for them)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from django.db import connections, transaction
from django.db.models import QuerySet

from support.postgres import free_port
from usersync.app import sources as services
from usersync.app.directory.models import Source
from usersync.app.orgs.models import Organization


def unreachable_source(org: Organization) -> Source:
    """A directory source whose server is down: every read fails with a connection error."""
    return services.create_source(
        org, "corp", "ldap", {"urls": [f"ldaps://127.0.0.1:{free_port()}"], "bind_dn": "cn=sync",
                              "scopes": [{"base": "dc=acme", "location": "headquarters"}]},
        "secret-password")


def locked_by_another_worker(rows: QuerySet) -> contextlib.AbstractContextManager[None]:
    """``rows`` locked (``SELECT … FOR UPDATE``) by another connection, in another thread, while
    the block runs: as a worker that is claiming them holds them. PostgreSQL only (SQLite has no
    row locks); the test needs ``django_db(transaction=True)`` so that both connections see the
    rows."""
    return held_by_another_connection(lambda: list(rows.select_for_update()))


@contextlib.contextmanager
def held_by_another_connection(take: Callable[[], object]) -> Iterator[None]:
    """What ``take`` locks, held by a transaction of another connection, in another thread,
    while the block runs (PostgreSQL; the test needs ``django_db(transaction=True)``)."""
    locked, release = threading.Event(), threading.Event()

    def another_connection():
        try:
            with transaction.atomic():
                take()
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()  # this thread's

    other = threading.Thread(target=another_connection)
    other.start()
    try:
        assert locked.wait(10), "the other connection could not take its lock"
        yield
    finally:
        release.set()
        other.join()
