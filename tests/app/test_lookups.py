"""``field__among=values`` (``usersync.app.directory.lookups``): the rows ``__in`` finds, with the
values sent as one parameter, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from usersync.app.directory.models import Contact, MessageRule
from usersync.app.orgs.services import create_organization
from usersync.app.sync import bulk

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


@pytest.fixture
def contacts(db):
    org = create_organization("acme", "Acme")
    rows = [(f"P{n}", "L", f"p{n}@acme.example", f"it's \"{n}\" \\ ünïcode") for n in range(300)]
    ids = bulk.insert(Contact, ["first_name", "last_name", "email", "anchor"], rows,
                      {"organization_id": org.pk, "created_at": NOW, "updated_at": NOW},
                      returning_ids=True)
    bulk.insert(MessageRule, ["contact_id", "channel"], [(i, "email") for i in ids[::3]])
    return ids


def test_among_finds_what_in_finds_for_text_integers_and_foreign_keys(contacts):
    anchors = [f"it's \"{n}\" \\ ünïcode" for n in (0, 7, 299)] + ["nobody", ""]
    ids = [*contacts[10:20], -1, 10**12]

    for lookup, values in (("anchor", anchors), ("id", ids), ("email", {"p5@acme.example"})):
        among = Contact.objects.filter(**{f"{lookup}__among": values})
        assert set(among) == set(Contact.objects.filter(**{f"{lookup}__in": values}))
        assert among.exists()
    with_none = [None, anchors[0]]
    assert set(Contact.objects.exclude(anchor__among=with_none)) == set(
        Contact.objects.exclude(anchor__in=with_none))
    assert Contact.objects.exclude(anchor__among=with_none).count() == len(contacts) - 1
    rules = MessageRule.objects.filter(contact_id__among=ids).values_list("contact_id", flat=True)
    assert sorted(rules) == [i for i in contacts[10:20] if i in contacts[::3]]


def test_among_prepares_values_of_other_types_through_the_field(contacts):
    """Text and integers of their own columns are sent as they are; anything else as ``__in``
    prepares it: an id given as text, a time."""
    assert list(Contact.objects.filter(id__among=[str(contacts[3])])) == [
        Contact.objects.get(pk=contacts[3])]
    mixed = [contacts[4], str(contacts[5])]
    assert set(Contact.objects.filter(id__among=mixed).values_list("pk", flat=True)) == set(
        contacts[4:6])
    assert Contact.objects.filter(updated_at__among=[NOW]).count() == len(contacts)


def test_a_value_longer_than_its_column_never_finds_the_row_it_begins_with(contacts):
    """Compared whole: a cast to the column's ``varchar(254)`` would cut it to the stored one."""
    stored = "a" * 241 + "@acme.example"
    assert len(stored) == Contact._meta.get_field("email").max_length
    Contact.objects.filter(pk=contacts[0]).update(email=stored)

    assert list(Contact.objects.filter(email__among=[stored]).values_list("pk", flat=True)) == [
        contacts[0]]
    assert not Contact.objects.filter(email__among=[stored + "x"]).exists()


def test_among_sends_its_values_as_one_parameter_however_many(contacts):
    many = [*contacts, *range(10**9, 10**9 + 70_000)]  # more than PostgreSQL's 65,535 parameters

    with CaptureQueriesContext(connection) as queries:
        found = list(Contact.objects.filter(id__among=many).values_list("id", flat=True))

    assert sorted(found) == sorted(contacts)
    assert len(queries) == 1


def test_among_nothing_matches_nothing_without_a_query(contacts):
    with CaptureQueriesContext(connection) as queries:
        assert list(Contact.objects.filter(id__among=[])) == []
        assert Contact.objects.filter(anchor__among=()).update(title="x") == 0
    assert queries.captured_queries == []
