"""SQLite's checkpoint after a run, on a thread, not in the run's commit (``checkpoints``): on a
real SQLite database file in WAL mode, through Django's own SQLite backend."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper

from usersync.app.sync import checkpoints
from usersync.app.sync.checkpoints import AUTOCHECKPOINT_PAGES, THREAD_NAME, checkpoint_after

#: One statement writing ~2,000 pages to the log: past SQLite's 1,000, it checkpoints in commit.
WRITE_8_MB = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
              "INSERT INTO filler SELECT randomblob(4000) FROM n")
MB = 1024 * 1024

pytestmark = pytest.mark.django_db  # lets the tests open connections of their own


@pytest.fixture
def wal_database(tmp_path):
    path = tmp_path / "store.sqlite3"
    database = DatabaseWrapper({
        **connection.settings_dict, "ENGINE": "django.db.backends.sqlite3", "NAME": path,
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }, alias="checkpoints")
    with database.cursor() as cursor:
        cursor.execute("CREATE TABLE filler (data BLOB)")
    yield database, path
    database.close()


def checkpoints_running() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def write(database) -> None:
    with database.cursor() as cursor:
        cursor.execute(WRITE_8_MB)


def autocheckpoint(database) -> int:
    with database.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        return cursor.fetchone()[0]


def test_without_it_the_commit_copies_the_log_into_the_database(wal_database):
    database, path = wal_database
    write(database)
    assert path.stat().st_size > 7 * MB


def test_a_run_s_commits_leave_the_checkpoint_to_a_thread_after_the_run(wal_database):
    database, path = wal_database
    with checkpoint_after(database):
        write(database)
        write(database)
        assert path.stat().st_size < MB  # committed, in the log only
        assert checkpoints_running() == []
    checkpoints.wait(timeout=30)
    assert path.stat().st_size > 15 * MB
    with database.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM filler")
        assert cursor.fetchone()[0] == 4000
    assert autocheckpoint(database) == AUTOCHECKPOINT_PAGES


def test_a_run_that_fails_is_checkpointed_too(wal_database):
    database, path = wal_database
    with pytest.raises(RuntimeError), checkpoint_after(database):
        write(database)
        raise RuntimeError("the run failed after a commit")
    checkpoints.wait(timeout=30)
    assert path.stat().st_size > 7 * MB
    assert autocheckpoint(database) == AUTOCHECKPOINT_PAGES


def test_nothing_to_do_without_a_write_ahead_log():
    """The tests' in-memory SQLite database, or PostgreSQL: no setting changed, no thread."""
    with checkpoint_after(connection):
        assert checkpoints_running() == []
    assert checkpoints_running() == []
    if connection.vendor == "sqlite":
        assert autocheckpoint(connection) == AUTOCHECKPOINT_PAGES



def test_the_run_s_own_error_is_the_one_raised(wal_database):
    """A run that fails inside a transaction it broke, where Django refuses any query: automatic
    checkpoints are on again all the same, and the caller sees the run's error."""
    database, path = wal_database
    connections["checkpoints"] = database
    try:
        with pytest.raises(RuntimeError, match="the run's error"):
            with transaction.atomic(using="checkpoints"), checkpoint_after(database):
                write(database)
                database.needs_rollback = True  # as an inner block's failure leaves it
                raise RuntimeError("the run's error")
    finally:
        del connections["checkpoints"]
    assert autocheckpoint(database) == AUTOCHECKPOINT_PAGES  # on again, once out of it
