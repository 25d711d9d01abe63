"""Organizations for tests of the sync service on the database."""

from __future__ import annotations

import pytest

from usersync.app.accounts.models import Role
from usersync.app.orgs.services import create_organization

from callers import make_user
from support.syncing import csv_bytes, import_csv, person


@pytest.fixture
def acme(db):
    return create_organization("acme", "Acme", ["headquarters", "warehouse"])


@pytest.fixture
def globex(db):
    return create_organization("globex", "Globex")



# -- people, keys and clients for the portal and API tests ------------------------------------

@pytest.fixture
def operator(db):
    return make_user("operator", staff=True)


@pytest.fixture
def acme_admin(acme):
    return make_user("acme-admin", acme=(acme, Role.ADMIN))


@pytest.fixture
def acme_viewer(acme):
    return make_user("acme-viewer", acme=(acme, Role.VIEWER))


@pytest.fixture
def synced_acme(acme):
    """acme after one CSV import of 6 people: contacts, a run, directory objects."""
    people = [person(n, "headquarters" if n % 2 else "warehouse") for n in range(1, 7)]
    outcome = import_csv(acme, csv_bytes(*people))
    assert outcome.status == "succeeded"
    return outcome.run
