"""/api/v1/organizations/{org}/contacts: filters, pagination, manual create and edit."""

from __future__ import annotations

from datetime import timedelta
from datetime import timezone as tz

import pytest
from django.utils import timezone

from usersync.app.accounts.models import ApiKey
from usersync.app.directory.models import Contact
from usersync.app.keys import hash_secret

from callers import error_of, key_api, session_api

pytestmark = pytest.mark.django_db
BASE = "/organizations/acme/contacts"


def test_list_filters_by_status_location_text_department_and_source(acme_admin, synced_acme):
    api = session_api(acme_admin)
    everyone = api.get(BASE).json()
    assert everyone["count"] == 6 and len(everyone["items"]) == 6
    first = everyone["items"][0]
    assert set(first) >= {"id", "email", "location", "status", "source_id", "has_pin"}
    assert "pin" not in first and "pin_hash" not in first
    assert api.get(BASE, location="warehouse").json()["count"] == 3
    assert api.get(BASE, q="person4@").json()["items"][0]["email"] == "person4@acme.example"
    assert api.get(BASE, department="sales").json()["count"] == 6
    assert api.get(BASE, status="archived").json()["count"] == 0
    assert api.get(BASE, managed="false").json()["count"] == 0
    assert api.get(BASE, source_id=synced_acme.source_id).json()["count"] == 6


def test_pagination_and_updated_since(acme_admin, synced_acme):
    api = session_api(acme_admin)
    page = api.get(BASE, limit=4, offset=4).json()
    assert (page["count"], page["limit"], page["offset"], len(page["items"])) == (6, 4, 4, 2)
    Contact.objects.filter(email="person2@acme.example").update(
        updated_at=timezone.now() + timedelta(hours=1))
    since = (timezone.now() + timedelta(minutes=30)).isoformat()
    assert [c["email"] for c in api.get(BASE, updated_since=since).json()["items"]] == [
        "person2@acme.example"]
    naive = (timezone.now() + timedelta(minutes=30)).replace(tzinfo=None).isoformat()
    assert api.get(BASE, updated_since=naive).json()["count"] == 1
    # an offset ISO 8601 allows but PostgreSQL does not (found by schemathesis)
    odd = (timezone.now() + timedelta(minutes=30)).astimezone(
        tz(timedelta(hours=18, minutes=13))).isoformat()
    assert api.get(BASE, updated_since=odd).json()["count"] == 1
    assert api.get(BASE, limit=0).status_code == 422


def test_manual_create_normalizes_and_hides_the_pin(acme_admin, acme):
    api = session_api(acme_admin)
    response = api.post(BASE, {"first_name": "  Ada ", "last_name": "Lovelace",
                               "email": "ADA@Acme.Example", "sms_phone": "(202) 555-0143",
                               "pin": "1234", "location": "Headquarters", "slack": "@ada"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["first_name"], body["email"], body["sms_phone"], body["slack"]) == (
        "Ada", "ada@acme.example", "+12025550143", "ada")
    assert body["location"] == "headquarters" and body["has_pin"] and "1234" not in response.content.decode()
    assert body["source_id"] is None
    assert Contact.objects.get(pk=body["id"]).pin_hash == hash_secret("1234")


@pytest.mark.parametrize("values, field", [
    ({"first_name": "A", "last_name": "B", "location": "headquarters"}, "email"),
    ({"first_name": "A", "last_name": "B", "email": "a@acme.example"}, "location"),
    ({"first_name": "A", "last_name": "B", "email": "nope", "location": "warehouse"}, "email"),
    ({"first_name": "A", "last_name": "B", "email": "a@acme.example", "location": "mars"},
     "location"),
    ({"first_name": "A", "last_name": "B", "email": "a@acme.example", "location": "warehouse",
      "pin": "12"}, "pin"),
    ({"first_name": " ", "last_name": "B", "email": "a@acme.example", "location": "warehouse"},
     "first_name"),
])
def test_manual_create_is_validated_like_a_sync(acme_admin, acme, values, field):
    response = session_api(acme_admin).post(BASE, values)
    assert response.status_code == 422
    assert field in [e["field"].split(".")[-1] for e in error_of(response)["errors"]]
    assert not Contact.objects.exists()


def test_keys_stay_unique_within_a_location(acme_admin, synced_acme):
    api = session_api(acme_admin)
    clash = api.post(BASE, {"first_name": "A", "last_name": "B", "email": "person1@acme.example",
                            "location": "headquarters"})
    assert clash.status_code == 422 and "already used" in error_of(clash)["message"]
    elsewhere = api.post(BASE, {"first_name": "A", "last_name": "B",
                                "email": "person1@acme.example", "location": "warehouse"})
    assert elsewhere.status_code == 201


def test_edit_changes_only_the_given_fields_and_archives(acme_admin, synced_acme):
    api = session_api(acme_admin)
    contact = Contact.objects.get(email="person1@acme.example")
    response = api.patch(f"{BASE}/{contact.pk}", {"title": "Engineer", "pin": "4321"})
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.title == "Engineer" and contact.first_name == "First1"
    assert contact.pin_hash == hash_secret("4321")
    api.patch(f"{BASE}/{contact.pk}", {"status": "archived"})
    contact.refresh_from_db()
    assert contact.status == "archived" and contact.archived_reason == "archived by an admin"
    assert api.patch(f"{BASE}/{contact.pk}", {"pin": ""}).json()["has_pin"] is False


def test_read_contacts_scope_reads_but_does_not_write(acme, synced_acme):
    api = key_api(acme, "read_contacts")
    assert api.get(BASE).json()["count"] == 6
    contact = Contact.objects.first()
    assert api.get(f"{BASE}/{contact.pk}").status_code == 200
    refused = api.patch(f"{BASE}/{contact.pk}", {"title": "Boss"})
    assert refused.status_code == 403 and "scope" in error_of(refused)["message"]
    assert api.get("/organizations/acme/runs").status_code == 403
    assert ApiKey.objects.get().last_used_at is not None


def test_a_key_without_read_contacts_cannot_read_them(acme, synced_acme):
    assert key_api(acme, "csv_upload").get(BASE).status_code == 403
