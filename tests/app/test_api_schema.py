"""schemathesis against /api/v1/openapi.json, through the Django app's WSGI interface.

Every operation gets generated requests (valid and invalid), authenticated with an admin API key
of an organization that has contacts, runs (one blocked), directory objects and locations; half
of the ids are replaced by real ones so requests reach the code behind the 404s. No answer may
be a 5xx, and every answer must match the document (status code, content type, body schema).
Bounded: a handful of examples per operation, the whole file in well under a minute.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from usersync.app.accounts.api_keys import create_api_key
from usersync.app.accounts.models import ApiKey
from usersync.app.directory.models import Contact, DirectoryObject
from usersync.app.wsgi import application

from support.syncing import csv_bytes, import_csv, person

pytestmark = pytest.mark.django_db
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]


# Serving the document needs no database, so it is loaded when the module is collected.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture
def world(acme):
    """An organization with one of everything, and an admin API key of it."""
    people = [person(n, "headquarters" if n % 2 else "warehouse") for n in range(1, 16)]
    import_csv(acme, csv_bytes(*people))
    blocked = import_csv(acme, csv_bytes(*people[:3])).run
    assert blocked.status == "blocked"
    key, token = create_api_key(acme, "schemathesis", ["admin"])
    ids = {"contact_id": Contact.objects.filter(organization=acme).first().pk,
           "run_id": blocked.pk, "source_id": blocked.source_id,
           "object_id": DirectoryObject.objects.filter(source=blocked.source).first().pk,
           "location_id": acme.locations.first().pk, "key_id": key.pk}
    # Django's test client does the same: a request must not close the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {"key": key, "token": token, "ids": ids}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case, world):
    ApiKey.objects.filter(pk=world["key"].pk).update(revoked_at=None)  # a case may revoke it
    parameters = case.path_parameters or {}
    path = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    if parameters and path is not None and path.mode == GenerationMode.POSITIVE:
        # valid path values: aim them at the organization, and half of the ids at real rows
        parameters["org"] = "acme"
        real = len(repr(case.query) + repr(case.body)) % 2 == 0
        for name in parameters:
            if name in world["ids"] and real:
                parameters[name] = world["ids"][name]
    case.call_and_validate(headers={"Authorization": f"Bearer {world['token']}"}, checks=CHECKS)
