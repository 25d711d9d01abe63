"""The schema's own guarantees, on whichever database the session uses (SQLite, or PostgreSQL
with ``USERSYNC_TEST_DATABASE=postgresql``): constraints must hold in the database, not only in forms."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from usersync.app.directory.models import Contact, ContactAlias
from usersync.app.orgs.models import Location, Organization
from usersync.app.sync import bulk

pytestmark = pytest.mark.django_db


def test_a_location_identifier_is_unique_within_its_organization():
    acme = Organization.objects.create(name="Acme", slug="acme")
    Location.objects.create(organization=acme, name="Headquarters", identifier="hq")

    with pytest.raises(IntegrityError), transaction.atomic():
        Location.objects.create(organization=acme, name="Head office", identifier="hq")

    assert list(acme.locations.values_list("name", flat=True)) == ["Headquarters"]


def test_two_organizations_may_use_the_same_location_identifier():
    acme = Organization.objects.create(name="Acme", slug="acme")
    globex = Organization.objects.create(name="Globex", slug="globex")

    Location.objects.create(organization=acme, name="Headquarters", identifier="hq")
    Location.objects.create(organization=globex, name="Headquarters", identifier="hq")

    assert Location.objects.filter(identifier="hq").count() == 2


#: Each foreign key's own index that migration 0010 drops: (index, table, column).
DROPPED = importlib.import_module("usersync.app.directory.migrations.0010_redundant_fk_indexes")


@pytest.mark.parametrize("name, table, column", DROPPED.INDEXES)
def test_a_foreign_key_is_found_through_a_wider_index_not_one_of_its_own(name, table, column):
    """No index of the column alone (written at every insert, read by nothing), and one that
    starts with it, which finds its rows (look-ups, cascades)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    assert name not in constraints
    assert any((c["index"] or c["unique"]) and c["columns"][0] == column and len(c["columns"]) > 1
               for c in constraints.values())


def test_the_update_time_of_a_contact_has_no_index():
    """A sync sets it with every change: an index of it would make every update of a contact
    write an entry into each of the table's indexes (migration 0014)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "directory_contact")
    assert not [name for name, c in constraints.items()
                if c["index"] and c["columns"] == ["updated_at"]]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_syncs_updates_of_bulk_loaded_contacts_write_no_index_entries():
    """Rows as a first sync loads them (``COPY``), then the updates of a day of changes (a new
    title, the update time): each new row version goes into the page of the old one, without
    index entries (a "HOT" update), as a page keeps room for them (migration 0014). With full
    pages, most went elsewhere and wrote an entry into each of the table's eight indexes."""
    acme = Organization.objects.create(name="Acme", slug="acme")
    now = timezone.now()
    ids = bulk.insert(Contact, ["first_name", "last_name", "email"],
                      ((f"P{n}", f"L{n}", f"p{n}@acme.example") for n in range(2000)),
                      {"organization_id": acme.pk, "created_at": now, "updated_at": now},
                      returning_ids=True)
    changed = ids[::10]  # about three a page
    before = _updates_counted()

    bulk.update(Contact, ["title", "updated_at"],
                [(contact_id, "Engineer", now + timedelta(hours=1)) for contact_id in changed])

    updated, in_place = (after - earlier for after, earlier in zip(_updates_counted(), before))
    assert updated == in_place == len(changed)
    assert Contact.objects.filter(title="Engineer").count() == len(changed)


def _updates_counted() -> tuple[int, int]:
    """The contacts' row updates counted by this process and not yet reported (those of its
    transaction among them), and how many of them were HOT."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_get_xact_tuples_updated(%s::regclass), "
                       "pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
                       ["directory_contact"] * 2)
        return cursor.fetchone()


def _alias_rows() -> list[tuple]:
    return sorted(ContactAlias.objects.values_list("contact_id", "organization_id", "address"))


def _aliases_of_contacts() -> list[tuple]:
    return sorted((c.id, c.organization_id, address) for c in Contact.objects.all()
                  for address in c.aliases)


def test_the_alias_rows_follow_every_write_of_a_contact():
    """The database's triggers (migration 0011) keep one row per alias, whoever writes."""
    acme = Organization.objects.create(name="Acme", slug="acme")
    globex = Organization.objects.create(name="Globex", slug="globex")
    ada = Contact.objects.create(organization=acme, first_name="Ada", last_name="L",
                                 aliases=["ada1@acme.example", "ada2@acme.example"])
    bob = Contact.objects.create(organization=acme, first_name="Bob", last_name="B")
    now = timezone.now()
    cy, dee = bulk.insert(Contact, ["first_name", "last_name", "aliases"],
                          [("Cy", "C", ["cy@acme.example"]), ("Dee", "D", [])],
                          {"organization_id": acme.pk, "created_at": now, "updated_at": now},
                          returning_ids=True)
    assert _alias_rows() == _aliases_of_contacts() and len(_alias_rows()) == 3

    ada.aliases = ["ada3@acme.example"]
    ada.save()
    Contact.objects.filter(pk=bob.pk).update(aliases=["bob@acme.example"])
    bulk.update(Contact, ["aliases"], [(cy, ["cy2@acme.example", "cy3@acme.example"])])
    Contact.objects.filter(pk=ada.pk).update(organization=globex)
    Contact.objects.filter(pk=dee).update(title="CEO")  # no alias written
    assert _alias_rows() == _aliases_of_contacts() and len(_alias_rows()) == 4
    assert (ada.pk, globex.pk, "ada3@acme.example") in _alias_rows()

    ada.aliases = []
    ada.save()
    bob.delete()
    Contact.objects.filter(pk=cy).delete()
    assert _alias_rows() == _aliases_of_contacts() == []


@pytest.mark.django_db(transaction=True)
def test_migration_0011_adds_the_aliases_of_the_contacts_stored_and_undoes_its_triggers():
    acme = Organization.objects.create(name="Acme", slug="acme")
    before, after = [("directory", "0010_redundant_fk_indexes")], [("directory", "0011_contact_aliases")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("directory", "Contact")
    ada = old.objects.create(organization_id=acme.pk, first_name="Ada", last_name="L",
                             aliases=["ada1@acme.example", "ada2@acme.example"])
    old.objects.create(organization_id=acme.pk, first_name="Bob", last_name="B", aliases=[])

    MigrationExecutor(connection).migrate(after)
    assert _alias_rows() == [(ada.pk, acme.pk, "ada1@acme.example"),
                             (ada.pk, acme.pk, "ada2@acme.example")]

    executor = MigrationExecutor(connection)
    executor.migrate(before)  # the table and its triggers gone: contacts are written as before
    old = executor.loader.project_state(before).apps.get_model("directory", "Contact")
    old.objects.filter(pk=ada.pk).update(aliases=["ada3@acme.example"])
    old.objects.filter(pk=ada.pk).delete()
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())
    assert _alias_rows() == _aliases_of_contacts() == []
