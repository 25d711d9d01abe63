"""The schema's own guarantees, on whichever database the session uses (SQLite, or PostgreSQL
with ``USERSYNC_TEST_DATABASE=postgresql``): constraints must hold in the database, not only in forms."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

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
