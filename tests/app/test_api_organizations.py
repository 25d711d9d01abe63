"""/api/v1/organizations and locations: who sees and changes what, and the error shape."""

from __future__ import annotations

import pytest

from usersync.app.orgs.models import Location, Organization

from callers import Api, error_of, key_api, session_api

pytestmark = pytest.mark.django_db


def test_operator_lists_every_organization_a_member_only_theirs(operator, acme_admin, globex):
    assert [o["slug"] for o in session_api(operator).get("/organizations").json()] == ["acme", "globex"]
    assert [o["slug"] for o in session_api(acme_admin).get("/organizations").json()] == ["acme"]


def test_an_organization_reads_by_slug_or_id(acme, acme_admin):
    api = session_api(acme_admin)
    by_slug = api.get("/organizations/acme").json()
    assert by_slug["locations"] == ["headquarters", "warehouse"] and by_slug["multi_location"]
    assert api.get(f"/organizations/{acme.pk}").json()["slug"] == "acme"


def test_without_credentials_the_api_answers_401_json(acme):
    response = Api().get("/organizations")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthenticated"


def test_a_wrong_or_revoked_key_is_refused(acme):
    api = key_api(acme, "admin")
    api.headers["Authorization"] += "x"
    assert api.get("/organizations").status_code == 401


def test_operators_create_and_edit_organizations(operator):
    api = session_api(operator)
    created = api.post("/organizations", {"slug": "initech", "name": "Initech",
                                          "locations": ["austin"], "default_region": "us"})
    assert created.status_code == 201, created.content
    assert created.json()["locations"] == ["austin"] and created.json()["default_region"] == "US"
    edited = api.patch("/organizations/initech", {"name": "Initech Inc.", "contact_limit": 50})
    assert edited.json()["name"] == "Initech Inc." and edited.json()["contact_limit"] == 50


def test_organization_values_are_validated(operator, acme):
    api = session_api(operator)
    response = api.patch("/organizations/acme", {"time_zone": "Mars/Olympus"})
    assert response.status_code == 422
    assert error_of(response)["errors"][0]["field"] == "time_zone"
    duplicate = api.post("/organizations", {"slug": "acme", "name": "Again"})
    assert duplicate.status_code == 422 and "slug" in error_of(duplicate)["message"]


def test_an_org_admin_edits_its_settings_but_neither_creates_nor_sets_the_limit(acme_admin):
    api = session_api(acme_admin)
    assert api.post("/organizations", {"slug": "x", "name": "X"}).status_code == 403
    limited = api.patch("/organizations/acme", {"name": "Renamed", "contact_limit": 9999})
    assert limited.status_code == 403 and error_of(limited)["code"] == "forbidden"
    assert Organization.objects.get(slug="acme").name == "Acme"  # nothing of it was applied

    edited = api.patch("/organizations/acme", {
        "name": "Acme Ltd", "notify_on": "problems",
        "notification_emails": ["IT@acme.example"], "time_zone": "Europe/Berlin"})

    assert edited.status_code == 200, edited.content
    assert (edited.json()["name"], edited.json()["notify_on"],
            edited.json()["notification_emails"], edited.json()["time_zone"]) == (
        "Acme Ltd", "problems", ["it@acme.example"], "Europe/Berlin")
    bad = api.patch("/organizations/acme", {"notify_on": "sometimes"})
    assert bad.status_code == 422 and error_of(bad)["errors"][0]["field"] == "notify_on"


def test_locations_follow_the_identifier_rules(acme_admin, acme):
    api = session_api(acme_admin)
    added = api.post("/organizations/acme/locations", {"identifier": "Annex", "name": "The annex"})
    assert added.status_code == 201 and added.json()["identifier"] == "annex"
    spaced = api.post("/organizations/acme/locations", {"identifier": "north wing"})
    assert spaced.status_code == 422 and error_of(spaced)["errors"][0]["field"] == "identifier"
    again = api.post("/organizations/acme/locations", {"identifier": "ANNEX"})
    assert again.status_code == 422 and "already" in error_of(again)["message"]
    listed = api.get("/organizations/acme/locations").json()
    assert [l["identifier"] for l in listed] == ["annex", "headquarters", "warehouse"]


def test_a_location_in_use_cannot_be_removed(acme_admin, synced_acme):
    api = session_api(acme_admin)
    hq = Location.objects.get(identifier="headquarters")
    response = api.delete(f"/organizations/acme/locations/{hq.pk}")
    assert response.status_code == 422 and "contact" in error_of(response)["message"]
    spare = api.post("/organizations/acme/locations", {"identifier": "spare"}).json()
    assert api.delete(f"/organizations/acme/locations/{spare['id']}").status_code == 204
    assert not Location.objects.filter(identifier="spare").exists()


def test_unknown_api_paths_and_bad_ids_answer_json(acme_admin):
    api = session_api(acme_admin)
    assert error_of(api.get("/nothing-here"))["code"] == "not_found"
    response = api.get("/organizations/acme/contacts/notanumber")
    assert response.status_code == 422 and error_of(response)["code"] == "invalid"
    huge = api.get(f"/organizations/acme/contacts/{2**70}")
    assert huge.status_code == 422


def test_openapi_document_and_docs_page_are_served(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/organizations/{org}/contacts" in schema["paths"]
    assert client.get("/api/v1/docs").status_code == 200
