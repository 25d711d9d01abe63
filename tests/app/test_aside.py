"""Queries made aside (``sync.aside``): on PostgreSQL sent ahead on the run's connection; on
SQLite on a thread with a connection of its own outside a transaction, in line inside one. And a
delta's run, whose safeguards take the organization's totals counted aside. And the checks a
transaction left for its commit, made on PostgreSQL while the run goes on
(``checked_meanwhile``)."""

from __future__ import annotations

import sys

import pytest
from django.db import DatabaseError, IntegrityError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from usersync.app.directory.models import Contact, ContactStatus, SourceKind
from usersync.app.sources import create_source
from usersync.app.sync import aside as aside_module
from usersync.app.sync import runs
from usersync.app.sync.aside import aside, checked_meanwhile
from usersync.connectors.base import Reading
from usersync.core.mapping import AttributeMapping
from usersync.core.records import Snapshot

pytestmark = pytest.mark.django_db(transaction=True)
postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'")
sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'")


def _names(org):
    """A query as ``aside`` takes it: the organization's contacts' names."""
    return ("SELECT last_name, first_name FROM directory_contact WHERE organization_id = %s "
            "ORDER BY last_name", [org.pk])


def _stored(org):
    with connection.cursor() as cursor:
        cursor.execute(*_names(org))
        return cursor.fetchall()


@postgresql_only
def test_postgresql_sends_the_query_ahead_on_the_runs_connection(acme):
    Contact.objects.create(organization=acme, first_name="A", last_name="L")
    workers = _parallel_workers()

    with CaptureQueriesContext(connection) as made:
        with aside([_names(acme)]) as rows:
            sent = [query["sql"] for query in made]
            Contact.objects.create(organization=acme, first_name="B", last_name="M")
            assert rows() == [[("L", "A")]]  # as the query found them when it was sent

    # before its answer was asked for, on the server's one process (no parallel workers: the
    # other core is the run's), the session's setting put back after it
    assert [sql.split()[0] for sql in sent] == ["SET", "SELECT", "RESET"]
    assert "max_parallel_workers_per_gather = 0" in sent[0] and "last_name" in sent[1]
    assert _stored(acme) == [("L", "A"), ("M", "B")]  # the block's own statements applied
    assert _parallel_workers() == workers


def _parallel_workers() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        return cursor.fetchone()[0]


@postgresql_only
def test_postgresql_without_pipeline_mode_the_query_is_made_in_line_when_asked_for(
        acme, monkeypatch):
    """A libpq older than 14 has no pipeline mode: the run still gets its answer."""
    monkeypatch.setattr(aside_module.Pipeline, "is_supported", classmethod(lambda cls: False))
    Contact.objects.create(organization=acme, first_name="A", last_name="L")

    with CaptureQueriesContext(connection) as made:
        with aside([_names(acme)]) as rows:
            assert len(made) == 0
            assert rows() == [[("L", "A")]]


@postgresql_only
def test_postgresql_inside_a_transaction_the_query_sees_what_it_wrote(acme):
    with transaction.atomic():
        Contact.objects.create(organization=acme, first_name="A", last_name="L")
        with aside([_names(acme)]) as rows:
            assert rows() == [[("L", "A")]]
        assert Contact.objects.count() == 1  # the connection is itself again


def test_a_failing_query_raises_where_its_rows_are_asked_for(acme):
    """On SQLite made again in line first (see below), where it fails too."""
    broken = ("SELECT id FROM directory_contact WHERE no_such_column = 1", [])
    with pytest.raises(DatabaseError, match="no_such_column"):
        with aside([broken]) as rows:
            rows()
    assert Contact.objects.count() == 0  # the run's connection still answers


@postgresql_only
def test_postgresql_checks_the_transactions_writes_while_the_block_works(acme):
    Contact.objects.create(organization=acme, first_name="A", last_name="L")
    done = []
    with pytest.raises(IntegrityError, match="location"):
        with transaction.atomic():
            _broken_location(acme)
            with CaptureQueriesContext(connection) as made:
                with checked_meanwhile() as checking:
                    sent = [query["sql"] for query in made]
                    done.append(checking)  # before the checks' answer is waited for
                raise AssertionError("the block ends with what the checks raise")
    assert sent == ["SET CONSTRAINTS ALL IMMEDIATE"] and done == [True]
    assert Contact.objects.count() == 1  # the transaction rolled back


def test_the_checks_pass_what_is_sound_and_the_commit_keeps_it(acme):
    with transaction.atomic():
        Contact.objects.create(organization=acme, first_name="A", last_name="L",
                               location=acme.locations.first())
        with checked_meanwhile():
            Contact.objects.create(organization=acme, first_name="B", last_name="M")
    assert _stored(acme) == [("L", "A"), ("M", "B")]


@sqlite_only
def test_sqlite_checks_at_the_commit_as_without_it(acme):
    Contact.objects.create(organization=acme, first_name="A", last_name="L")
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            _broken_location(acme)
            with checked_meanwhile() as checking:
                assert checking is False  # nothing is checked meanwhile
            assert Contact.objects.count() == 2  # not checked yet
    assert Contact.objects.count() == 1


def _broken_location(org) -> None:
    """A contact of a location that does not exist: a foreign key broken until the commit
    (Django makes both databases check it there)."""
    Contact.objects.create(organization=org, first_name="B", last_name="M", location_id=999999)


@sqlite_only
def test_sqlite_outside_a_transaction_the_query_is_made_on_a_connection_of_its_own(acme):
    Contact.objects.create(organization=acme, first_name="A", last_name="L")

    with CaptureQueriesContext(connection) as made:
        with aside([_names(acme)]) as rows:
            assert rows() == [[("L", "A")]]

    assert len(made) == 0  # none on the run's connection


@sqlite_only
def test_sqlite_python_changes_threads_more_often_while_the_queries_are_made(acme):
    """The thread's turns at Python's lock come every millisecond, not every five: at each of
    its steps it waited for the run's thread, busy building records, and answered late."""
    before = sys.getswitchinterval()
    with aside([_names(acme)]) as rows:
        assert sys.getswitchinterval() == aside_module.SWITCH_INTERVAL < before
        rows()
    assert sys.getswitchinterval() == before


@sqlite_only
def test_sqlite_overlapping_blocks_put_the_switch_interval_back_once_all_are_done(acme):
    """Say a preview on one thread and a run on another: the second block to start must not
    take the first one's setting for the process's own."""
    before = sys.getswitchinterval()
    first = aside([_names(acme)])
    first.__enter__()
    with aside([_names(acme)]) as rows:
        rows()
    assert sys.getswitchinterval() == aside_module.SWITCH_INTERVAL  # the first still runs
    first.__exit__(None, None, None)
    assert sys.getswitchinterval() == before


@sqlite_only
def test_sqlite_inside_a_transaction_the_query_is_made_in_line_and_sees_what_it_wrote(acme):
    with transaction.atomic():
        Contact.objects.create(organization=acme, first_name="A", last_name="L")
        with CaptureQueriesContext(connection) as made:
            with aside([_names(acme)]) as rows:
                assert len(made) == 0  # made when asked for
                assert rows() == [[("L", "A")]]
        assert len(made) == 1


@sqlite_only
def test_sqlite_a_database_error_aside_makes_the_query_again_in_line(acme, caplog,
                                                                     monkeypatch):
    """Say the thread's connection finds the file locked: the run's own connection answers."""
    def locked(work):
        raise OperationalError("database is locked")
    monkeypatch.setattr(aside_module, "_closing", locked)
    Contact.objects.create(organization=acme, first_name="A", last_name="L")

    with aside([_names(acme)]) as rows:
        assert rows() == [[("L", "A")]]

    assert "database is locked" in caplog.text and "run's connection instead" in caplog.text


MAPPING = AttributeMapping.from_data(["first_name=givenName", "last_name=sn"])


@pytest.mark.parametrize(("removed", "blocked"), [(12, True), (5, False)])
def test_a_deltas_safeguards_count_the_organizations_contacts_aside(acme, removed, blocked):
    """30 active contacts of the source, 10 of another; removing 12 is 40 % of the source's
    (more than 20 % and at least 10: blocked), removing 5 fewer than the minimum of 10."""
    source = create_source(acme, "hr", SourceKind.CSV, {})
    other = create_source(acme, "payroll", SourceKind.CSV, {})
    Contact.objects.bulk_create(
        [Contact(organization=acme, source=source, anchor=f"a{n}", first_name="P",
                 last_name=str(n)) for n in range(30)]
        + [Contact(organization=acme, source=other, anchor=f"b{n}", first_name="Q",
                   last_name=str(n)) for n in range(10)]
        + [Contact(organization=acme, source=source, anchor=f"c{n}", first_name="R",
                   last_name=str(n), status=ContactStatus.ARCHIVED) for n in range(4)])
    delta = Snapshot.delta([], removed={f"a{n}" for n in range(removed)})

    outcome = runs.sync(source, lambda: Reading(delta, MAPPING))

    assert outcome.plan.managed_active == 30
    assert outcome.status == ("blocked" if blocked else "succeeded")
    if blocked:
        assert f"archive {removed} of 30 active contacts" in outcome.run.blocked_reason
    archived = Contact.objects.filter(source=source, status=ContactStatus.ARCHIVED).count()
    assert archived == 4 + (0 if blocked else removed)
