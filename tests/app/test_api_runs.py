"""/api/v1 runs and directory objects: history, detail, operations, approve and reject, map,
ignore and unmap."""

from __future__ import annotations

import pytest

from usersync.app.directory.models import Contact, DirectoryObject, SyncRun

from callers import error_of, key_api, session_api
from support.syncing import csv_bytes, import_csv, person

pytestmark = pytest.mark.django_db
PEOPLE = [person(n) for n in range(1, 31)]


@pytest.fixture
def blocked(acme):
    import_csv(acme, csv_bytes(*PEOPLE))
    return import_csv(acme, csv_bytes(*PEOPLE[:5])).run


def test_runs_list_read_and_operations(acme_admin, blocked):
    api = session_api(acme_admin)
    runs = api.get("/organizations/acme/runs").json()
    assert runs["count"] == 2 and runs["items"][0]["status"] == "blocked"
    assert "plan" not in runs["items"][0]
    only = api.get("/organizations/acme/runs", status="succeeded").json()
    assert only["count"] == 1
    detail = api.get(f"/organizations/acme/runs/{blocked.pk}").json()
    assert detail["plan"]["would_archive"] == 25 and detail["plan"]["blocked"]
    assert detail["counts"]["archived"] == 25 and detail["source_name"] == "csv-import"
    archives = api.get(f"/organizations/acme/runs/{blocked.pk}/operations", op="archive",
                       limit=10).json()
    assert archives["count"] == 25 and len(archives["items"]) == 10
    assert api.get(f"/organizations/acme/runs/{blocked.pk}/operations", op="nope").status_code == 422


def test_pins_are_masked_in_operations(acme_admin, acme):
    import_csv(acme, csv_bytes(person(1, pin="1234")))
    run = import_csv(acme, csv_bytes(person(1, pin="5678"))).run
    first = SyncRun.objects.order_by("pk").first()
    api = session_api(acme_admin)
    created = api.get(f"/organizations/acme/runs/{first.pk}/operations").json()["items"][0]
    assert created["fields"]["pin"] == "••••"
    update = api.get(f"/organizations/acme/runs/{run.pk}/operations", op="update").json()
    assert {"field": "pin", "before": "••••", "after": "••••"} in update["items"][0]["changes"]
    assert "hmac" not in str(update)


def test_approve_applies_the_plan_and_a_second_decision_is_refused(acme_admin, blocked):
    api = session_api(acme_admin)
    approved = api.post(f"/organizations/acme/runs/{blocked.pk}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "succeeded"
    assert approved.json()["decided_by"] == "acme-admin"
    assert Contact.objects.filter(status="archived").count() == 25
    again = api.post(f"/organizations/acme/runs/{blocked.pk}/reject")
    assert again.status_code == 409 and error_of(again)["code"] == "run_refused"


def test_reject_changes_nothing_and_records_the_key(acme, blocked):
    api = key_api(acme, "admin")
    rejected = api.post(f"/organizations/acme/runs/{blocked.pk}/reject").json()
    assert rejected["status"] == "rejected" and rejected["decided_by"].startswith("api key usk_")
    assert Contact.objects.filter(status="active").count() == 30


def test_directory_objects_by_state_and_the_decisions(acme_admin, synced_acme, acme):
    api = session_api(acme_admin)
    base = f"/organizations/acme/sources/{synced_acme.source_id}/directory-objects"
    mapped = api.get(base, state="mapped").json()
    assert mapped["count"] == 6 and api.get(base, state="conflict").json()["count"] == 0
    obj = DirectoryObject.objects.get(pk=mapped["items"][0]["id"])
    linked = obj.contact
    ignored = api.post(f"{base}/{obj.pk}/ignore").json()
    assert ignored["state"] == "ignored" and ignored["contact_id"] is None
    linked.refresh_from_db()
    assert linked.source is None and linked.anchor is None and linked.status == "active"
    mapped_again = api.post(f"{base}/{obj.pk}/map", {"contact_id": linked.pk}).json()
    assert mapped_again["manual_contact_id"] == linked.pk and not mapped_again["ignored"]
    assert api.post(f"{base}/{obj.pk}/unmap").json()["state"] == "unmapped"
    # the next sync links the contact again, by its keys
    import_csv(acme, csv_bytes(*[person(n, "headquarters" if n % 2 else "warehouse")
                                 for n in range(1, 7)]))
    linked.refresh_from_db()
    assert linked.source_id == synced_acme.source_id


def test_a_manual_mapping_is_applied_by_the_next_sync(acme_admin, synced_acme, acme):
    api = session_api(acme_admin)
    base = f"/organizations/acme/sources/{synced_acme.source_id}/directory-objects"
    obj = DirectoryObject.objects.filter(source_id=synced_acme.source_id).order_by("pk").first()
    api.post(f"{base}/{obj.pk}/ignore")
    target = Contact.objects.create(organization=acme, first_name="Target", last_name="T",
                                    email="target@acme.example", location=obj.contact and
                                    obj.contact.location or acme.locations.first())
    assert api.post(f"{base}/{obj.pk}/map", {"contact_id": target.pk}).status_code == 200
    import_csv(acme, csv_bytes(*[person(n, "headquarters" if n % 2 else "warehouse")
                                 for n in range(1, 7)]))
    target.refresh_from_db()
    assert target.source_id == synced_acme.source_id and target.anchor == obj.anchor


def test_mapping_to_a_contact_of_another_organization_is_not_found(acme_admin, synced_acme,
                                                                   globex):
    stranger = Contact.objects.create(organization=globex, first_name="S", last_name="T",
                                      email="s@globex.example")
    obj = DirectoryObject.objects.filter(source_id=synced_acme.source_id).first()
    response = session_api(acme_admin).post(
        f"/organizations/acme/sources/{synced_acme.source_id}/directory-objects/{obj.pk}/map",
        {"contact_id": stranger.pk})
    assert response.status_code == 404
    obj.refresh_from_db()
    assert obj.manual_contact is None
