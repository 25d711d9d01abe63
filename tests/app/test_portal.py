"""The portal's pages: what operators, admins and viewers see and may do."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from usersync.app.accounts.models import ApiKey
from usersync.app.directory.models import Contact, DirectoryObject, Source, SyncRun
from usersync.app.orgs.models import Location

from support.syncing import csv_bytes, import_csv, person

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_login_page_and_redirect_for_anonymous_visitors(client):
    assert client.get("/").status_code == 302
    page = client.get("/login/")
    assert page.status_code == 200 and b'for="id_username"' in page.content


def test_a_person_logs_in_with_a_password(client, acme_admin):
    response = client.post("/login/", {"username": "acme-admin", "password": "pw-acme-admin"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_organizations_page_shows_the_sync_health_columns(operator, synced_acme, globex):
    page = logged_in(operator).get("/")
    text = page.content.decode()
    for heading in ("Organization", "Enabled", "Directory type", "Synced users", "Conflicts",
                    "SSL status", "Last sync", "Status (last 10)"):
        assert heading in text
    assert "Acme" in text and "Globex" in text
    assert "Connection attempt was successful" in text
    assert "View directory users" in text and "Sync now" in text and "Remove" in text


def test_sorting_by_conflicts_descending_brings_trouble_to_the_top(operator, synced_acme, globex):
    source = Source.objects.get(organization=synced_acme.organization)
    DirectoryObject.objects.filter(source=source).update(state="conflict")
    page = logged_in(operator).get("/?sort=-conflicts").content.decode()
    assert page.index("Acme") < page.index("Globex")
    page = logged_in(operator).get("/?sort=conflicts").content.decode()
    assert page.index("Globex") < page.index("Acme")


def test_organization_page_groups_contacts_and_filters_them(acme_admin, synced_acme, acme):
    client = logged_in(acme_admin)
    Contact.objects.create(organization=acme, first_name="Una", last_name="Managed",
                           email="una@acme.example", department="Legal",
                           location=Location.objects.get(identifier="warehouse"))
    page = client.get("/orgs/acme/").content.decode()
    assert "Sales" in page and "Legal" in page and "csv-import" in page
    unmanaged = client.get("/orgs/acme/?view=unmanaged").content.decode()
    assert "Una" in unmanaged and "First1 " not in unmanaged
    only_hq = client.get("/orgs/acme/?location=headquarters").content.decode()
    assert "First1 " in only_hq and "First2 " not in only_hq
    searched = client.get("/orgs/acme/?q=person3", headers={"HX-Request": "true",
                                                            "HX-Target": "contacts"})
    assert "<html" not in searched.content.decode() and "First3" in searched.content.decode()


def test_admins_add_and_remove_locations_with_the_identifier_rules(acme_admin, acme):
    client = logged_in(acme_admin)
    client.post("/orgs/acme/locations/", {"identifier": "Annex"})
    assert Location.objects.filter(organization=acme, identifier="annex").exists()
    response = client.post("/orgs/acme/locations/", {"identifier": "north wing"}, follow=True)
    assert "no spaces" in response.content.decode()
    annex = Location.objects.get(identifier="annex")
    client.post(f"/orgs/acme/locations/{annex.pk}/remove/")
    assert not Location.objects.filter(identifier="annex").exists()


def test_run_detail_shows_changes_with_the_pin_masked_and_exports_csv(acme_admin, acme):
    import_csv(acme, csv_bytes(person(1, pin="1234"), person(2)))
    changed = import_csv(acme, csv_bytes(person(1, pin="9876", dept="=HYPERLINK(1)"), person(2)))
    client = logged_in(acme_admin)
    page = client.get(f"/orgs/acme/runs/{changed.run.pk}/").content.decode()
    assert "department" in page and "••••" in page and "9876" not in page
    only_updates = client.get(f"/orgs/acme/runs/{changed.run.pk}/?op=update").content.decode()
    assert "First1" in only_updates and "First2" not in only_updates
    export = client.get(f"/orgs/acme/runs/{changed.run.pk}/export.csv")
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0][0] == "operation"
    assert ["'=HYPERLINK(1)"] == [r[6] for r in rows if r[4] == "department"]
    assert not any("9876" in cell for row in rows for cell in row)


def test_a_blocked_run_shows_what_it_would_archive_and_can_be_approved(acme_admin, acme):
    people = [person(n) for n in range(1, 31)]
    import_csv(acme, csv_bytes(*people))
    blocked = import_csv(acme, csv_bytes(*people[:5])).run
    client = logged_in(acme_admin)
    page = client.get(f"/orgs/acme/runs/{blocked.pk}/").content.decode()
    assert "Would archive" in page and "Approve and apply" in page and "First30" in page
    client.post(f"/orgs/acme/runs/{blocked.pk}/approve/")
    assert SyncRun.objects.get(pk=blocked.pk).status == "succeeded"
    assert Contact.objects.filter(status="archived").count() == 25


def test_viewers_see_no_write_buttons_and_cannot_write(acme_viewer, acme):
    people = [person(n) for n in range(1, 31)]
    import_csv(acme, csv_bytes(*people))
    blocked = import_csv(acme, csv_bytes(*people[:5])).run
    client = logged_in(acme_viewer)
    org_page = client.get("/orgs/acme/").content.decode()
    assert "Add location" not in org_page and "Sync now" not in org_page
    run_page = client.get(f"/orgs/acme/runs/{blocked.pk}/").content.decode()
    assert "Approve and apply" not in run_page
    assert client.post(f"/orgs/acme/runs/{blocked.pk}/approve/").status_code == 403
    assert SyncRun.objects.get(pk=blocked.pk).status == "blocked"
    keys_page = client.get("/orgs/acme/api-keys/").content.decode()
    assert "Create key" not in keys_page
    assert client.post("/orgs/acme/api-keys/", {"name": "x", "scopes": ["admin"]}).status_code == 403


def test_api_keys_page_shows_a_new_token_once_and_revokes(acme_admin, acme):
    client = logged_in(acme_admin)
    created = client.post("/orgs/acme/api-keys/", {"name": "Front desk", "scopes": ["read_contacts"]})
    key = ApiKey.objects.get(organization=acme)
    page = created.content.decode()
    assert key.prefix in page and "shown only this once" in page
    token = page.split('id="new-token" tabindex="0">')[1].split("<")[0]
    assert token.startswith(key.prefix) and token not in client.get("/orgs/acme/api-keys/").content.decode()
    client.post(f"/orgs/acme/api-keys/{key.pk}/revoke/")
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_removing_a_source_keeps_its_contacts(operator, synced_acme, acme):
    source = synced_acme.source
    client = logged_in(operator)
    confirm = client.get(f"/orgs/acme/sources/{source.pk}/remove/").content.decode()
    assert "cannot be undone" in confirm and "kept" in confirm
    client.post(f"/orgs/acme/sources/{source.pk}/remove/")
    assert not Source.objects.filter(pk=source.pk).exists()
    assert not SyncRun.objects.filter(source_id=source.pk).exists()
    assert Contact.objects.filter(organization=acme, status="active").count() == 6
    assert not Contact.objects.filter(source__isnull=False).exists()


def test_directory_users_tab_maps_ignores_and_unmaps(acme_admin, synced_acme, acme):
    source = synced_acme.source
    client = logged_in(acme_admin)
    base = f"/orgs/acme/sources/{source.pk}/directory-users/"
    page = client.get(base + "?state=mapped").content.decode()
    assert "First1" in page and "Map to an existing contact" in page
    obj = DirectoryObject.objects.filter(source=source).order_by("pk").first()
    other = Contact.objects.create(organization=acme, first_name="Other", last_name="Person",
                                   email="other@acme.example", location=obj.contact.location)
    picker = client.get(base + f"{obj.pk}/contacts/?q=Other").content.decode()
    assert "Other Person" in picker
    client.post(base + f"{obj.pk}/ignore/")
    obj.refresh_from_db()
    assert obj.ignored and obj.state == "ignored" and obj.contact is None
    client.post(base + f"{obj.pk}/map/", {"contact_id": other.pk})
    obj.refresh_from_db()
    assert obj.manual_contact == other and not obj.ignored and obj.state == "mapped"
    client.post(base + f"{obj.pk}/unmap/")
    obj.refresh_from_db()
    assert obj.manual_contact is None and obj.state == "unmapped"


def test_sync_now_runs_the_source(operator, acme, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(person(1), person(2)))
    source = Source.objects.create(organization=acme, name="share", kind="csv",
                                   settings={"path": str(path)})
    response = logged_in(operator).post(f"/orgs/acme/sources/{source.pk}/sync/")
    run = SyncRun.objects.get(source=source)
    assert response.status_code == 302 and response["Location"].endswith(f"/runs/{run.pk}/")
    assert run.status == "succeeded" and Contact.objects.filter(source=source).count() == 2


def test_static_files_and_docs_are_served(client):
    assert client.get("/static/portal/htmx-2.0.11.min.js").status_code == 200
    assert client.get("/static/portal/portal.css").status_code == 200
