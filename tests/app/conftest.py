"""Organizations for tests of the sync service on the database."""

from __future__ import annotations

import pytest

from usersync.app.orgs.services import create_organization


@pytest.fixture
def acme(db):
    return create_organization("acme", "Acme", ["headquarters", "warehouse"])


@pytest.fixture
def globex(db):
    return create_organization("globex", "Globex")
