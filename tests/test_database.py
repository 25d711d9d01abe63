"""The schema's own guarantees, on whichever database the session uses (SQLite, or PostgreSQL
with ``USERSYNC_TEST_DATABASE=postgresql``): constraints must hold in the database, not only in forms."""

from __future__ import annotations

import importlib

import pytest
from django.db import IntegrityError, connection, transaction

from usersync.app.orgs.models import Location, Organization

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
