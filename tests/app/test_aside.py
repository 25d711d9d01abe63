"""Queries made aside (``sync.aside``): on a thread with a connection of its own, outside a
transaction; in line, on the caller's connection, inside one. And a delta's run, whose
safeguards take the organization's totals counted aside."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connections, transaction

from usersync.app.directory.models import Contact, ContactStatus, SourceKind
from usersync.app.sources import create_source
from usersync.app.sync import runs
from usersync.app.sync.aside import aside
from usersync.connectors.base import Reading
from usersync.core.mapping import AttributeMapping
from usersync.core.records import Snapshot

pytestmark = pytest.mark.django_db(transaction=True)


def _seen_from_where():
    """What the work saw: its thread, its connection, the contacts it counted."""
    return threading.get_ident(), connections["default"], Contact.objects.count()


def test_outside_a_transaction_the_work_runs_on_a_thread_and_a_connection_of_its_own(acme):
    Contact.objects.create(organization=acme, first_name="A", last_name="L")

    thread, used, counted = aside(_seen_from_where)()

    assert thread != threading.get_ident() and used is not connections["default"]
    assert counted == 1  # what is committed
    # closed once done (Django keeps an in-memory SQLite database's open: it would be gone)
    assert used.connection is None or used.is_in_memory_db()


def test_its_error_is_raised_where_its_answer_is_asked_for(acme):
    def failing():
        raise LookupError("no such thing")

    answer = aside(failing)

    with pytest.raises(LookupError, match="no such thing"):
        answer()


def test_a_database_error_aside_makes_the_query_again_in_line(acme, caplog):
    """Say the server has no connection left for the thread: the run's own connection answers."""
    here = threading.get_ident()
    Contact.objects.create(organization=acme, first_name="A", last_name="L")

    def count():
        if threading.get_ident() != here:
            raise OperationalError("sorry, too many clients already")
        return Contact.objects.count()

    assert aside(count)() == 1
    assert "too many clients already" in caplog.text and "run's connection instead" in caplog.text


def test_a_database_error_in_line_too_is_raised(acme):
    def count():
        raise OperationalError("the database is gone")

    with pytest.raises(OperationalError, match="gone"):
        aside(count)()


def test_inside_a_transaction_the_work_runs_in_line_and_sees_what_it_wrote(acme):
    ran = []
    with transaction.atomic():
        Contact.objects.create(organization=acme, first_name="A", last_name="L")
        answer = aside(lambda: ran.append(1) or _seen_from_where())
        assert ran == []  # made when asked for

        thread, used, counted = answer()

    assert thread == threading.get_ident() and counted == 1


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
