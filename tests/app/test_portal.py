"""The portal's pages: what operators, admins and viewers see and may do."""

from __future__ import annotations

import csv
import html
import io
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from usersync.app import sources
from usersync.app.accounts.models import ApiKey
from usersync.app.directory.models import Contact, DirectoryObject, Source, SyncRun
from usersync.app.jobs.worker import Worker
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


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_run_detail_shows_changes_with_the_pin_masked_and_exports_csv(acme_admin, acme):
    import_csv(acme, csv_bytes(person(1, pin="1234"), person(2)))
    changed = import_csv(acme, csv_bytes(person(1, pin="9876", dept="=HYPERLINK(1)"), person(2)))
    client = logged_in(acme_admin)
    page = client.get(f"/orgs/acme/runs/{changed.run.pk}/").content.decode()
    assert "<strong>Department</strong>: <del>Sales</del> → <ins>=HYPERLINK(1)</ins>" in page
    assert "<strong>PIN</strong>: <del>••••</del> → <ins>••••</ins>" in page
    assert "9876" not in page and "1234" not in page
    assert ">Upload</b>" in page  # the trigger, in words
    only_updates = client.get(f"/orgs/acme/runs/{changed.run.pk}/?op=update").content.decode()
    assert "First1" in only_updates and "First2" not in only_updates
    rows = _csv(client.get(f"/orgs/acme/runs/{changed.run.pk}/export.csv"))
    assert ["'=HYPERLINK(1)"] == [r["after"] for r in rows if r["field"] == "department"]
    assert [("••••", "••••")] == [(r["before"], r["after"]) for r in rows if r["field"] == "pin"]
    assert {r["name"] for r in rows if r["operation"] == "update"} == {"First1 Last1"}
    assert not any("9876" in cell for row in rows for cell in row.values())


def test_a_run_shows_the_contacts_it_created_with_their_values(acme_admin, acme):
    created = import_csv(acme, csv_bytes(person(1, pin="1234", dept="=cmd|' /C calc'!A0"),
                                         person(2, location="warehouse", sms="+1 415 555 0100")))
    contacts = {c.email: c for c in Contact.objects.filter(organization=acme)}
    client = logged_in(acme_admin)

    page = client.get(f"/orgs/acme/runs/{created.run.pk}/?op=create").content.decode()
    second = contacts["person2@acme.example"]
    assert f'First2 Last2 <span class="muted small">#{second.pk}' in page
    assert "person2@acme.example" in page and "<code>warehouse</code>" in page
    assert '<span class="muted">SMS Phone</span> +14155550100' in page
    assert '<span class="muted">PIN</span> ••••' in page and "1234" not in page

    rows = _csv(client.get(f"/orgs/acme/runs/{created.run.pk}/export.csv"))
    second = {r["field"]: r for r in rows if r["name"] == "First2 Last2"}
    assert {r["operation"] for r in second.values()} == {"create"}
    assert {r["location"] for r in second.values()} == {"warehouse"}
    assert (second["email"]["before"], second["email"]["after"]) == ("", "person2@acme.example")
    assert second["sms_phone"]["after"] == "'+14155550100"  # "+" starts a formula too
    first = {r["field"]: r for r in rows if r["name"] == "First1 Last1"}
    assert first["department"]["after"] == "'=cmd|' /C calc'!A0"  # a formula, escaped
    assert (first["pin"]["before"], first["pin"]["after"]) == ("", "••••")
    assert not any("1234" in cell for row in rows for cell in row.values())


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
    removed = client.post(f"/orgs/acme/sources/{source.pk}/remove/", follow=True)
    assert (f"Removed the sync settings {source.name!r} and their history (1 run). 6 contacts "
            "were kept, now unmanaged.") in html.unescape(removed.content.decode())
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
    said = html.unescape(client.post(base + f"{obj.pk}/ignore/", follow=True).content.decode())
    assert "Ignoring First1 Last1; its mapping was removed." in said  # the person, not the anchor
    obj.refresh_from_db()
    assert obj.ignored and obj.state == "ignored" and obj.contact is None
    said = client.post(base + f"{obj.pk}/map/", {"contact_id": other.pk}, follow=True)
    assert "Mapped First1 Last1 to Other Person; the next sync links them." in html.unescape(
        said.content.decode())
    obj.refresh_from_db()
    assert obj.manual_contact == other and not obj.ignored and obj.state == "mapped"
    client.post(base + f"{obj.pk}/unmap/")
    obj.refresh_from_db()
    assert obj.manual_contact is None and obj.state == "unmapped"


def test_directory_user_details_use_field_labels_and_leave_empty_values_out(acme_admin,
                                                                            synced_acme):
    source = synced_acme.source
    obj = DirectoryObject.objects.get(source=source, attributes__email="person1@acme.example")
    assert obj.attributes.get("sms_phone", "") == ""  # the CSV row has no phone
    page = logged_in(acme_admin).get(
        f"/orgs/acme/sources/{source.pk}/directory-users/").content.decode()
    row = page[page.index("<summary>First1 Last1"):page.index("</details>",
                                                             page.index("<summary>First1 Last1"))]
    assert "<dt>First Name</dt><dd>First1</dd>" in row
    assert "<dt>Department</dt><dd>Sales</dd>" in row
    assert f"<dt>Anchor</dt><dd><code>{obj.anchor}</code></dd>" in row
    assert "SMS Phone" not in row and "sms_phone" not in row and "first_name" not in row


def test_a_run_says_its_trigger_and_read_kind_and_keeps_the_reason_out_of_its_notices(
        acme_admin, synced_acme):
    source = synced_acme.source
    notices = ["incremental read: 2 people changed and 0 left the scope since the last run's "
               "sync cookie; everything is read again at least every 24 hours (full reconcile)",
               "6 non-person entries (groups, computers, containers) ignored"]
    delta = SyncRun.objects.create(
        organization=synced_acme.organization, source=source, trigger="cli",
        status="succeeded", plan={"kind": "delta", "read": 2, "operations": []}, notices=notices)
    full = SyncRun.objects.create(
        organization=synced_acme.organization, source=source, trigger="schedule",
        status="succeeded", plan={"kind": "full", "read": 1638, "operations": []},
        notices=["full read: a full read was asked for"])
    client = logged_in(acme_admin)

    page = html.unescape(client.get(f"/orgs/acme/runs/{delta.pk}/").content.decode())
    assert "<b>Command line</b>" in page and ">Incremental</span>" in page
    assert '<div class="notice">6 non-person entries' in page
    assert '<div class="notice">incremental read' not in page
    assert "2 people changed and 0 left the scope" in page  # said with the badge instead
    page = html.unescape(client.get(f"/orgs/acme/runs/{full.pk}/").content.decode())
    assert "<b>Schedule</b>" in page and ">Full read</span>" in page and "<b>1,638</b>" in page
    assert "Why everything was read: a full read was asked for." in page
    assert '<div class="notice">' not in page
    assert SyncRun.objects.get(pk=full.pk).notices == ["full read: a full read was asked for"]
    source_page = client.get(f"/orgs/acme/sources/{source.pk}/").content.decode()
    assert "<td>Command line</td>" in source_page and "<td>Upload</td>" in source_page
    assert ">Cli<" not in source_page and ">cli<" not in source_page


def test_sync_now_queues_a_run_that_a_worker_executes_and_the_run_page_follows(operator, acme,
                                                                              tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(person(1), person(2)))
    source = Source.objects.create(organization=acme, name="share", kind="csv",
                                   settings={"path": str(path)})
    client = logged_in(operator)
    response = client.post(f"/orgs/acme/sources/{source.pk}/sync/")
    run = SyncRun.objects.get(source=source)
    assert response.status_code == 302 and response["Location"].endswith(f"/runs/{run.pk}/")
    assert run.status == "queued" and not Contact.objects.filter(source=source).exists()
    page = client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 2s"' in page and "Queued" in page
    again = client.post(f"/orgs/acme/sources/{source.pk}/sync/", follow=True).content.decode()
    assert "a sync is already queued" in again
    assert f'href="/orgs/acme/runs/{run.pk}/">run #{run.pk}</a>' in again
    assert SyncRun.objects.filter(source=source).count() == 1
    assert Worker(concurrency=1).run(once=True) == 1
    run.refresh_from_db()
    assert run.status == "succeeded" and Contact.objects.filter(source=source).count() == 2
    page = client.get(response["Location"]).content.decode()
    assert "every 2s" not in page and "succeeded" in page


def test_sync_now_of_a_source_that_cannot_be_read_says_why_and_queues_nothing(operator, acme):
    source = Source.objects.create(organization=acme, name="uploads", kind="csv")
    page = logged_in(operator).post(f"/orgs/acme/sources/{source.pk}/sync/", follow=True)
    assert "has no file path to read" in html.unescape(page.content.decode())
    assert not SyncRun.objects.filter(source=source).exists()


def test_the_source_page_shows_settings_status_schedule_and_history(acme_admin, acme):
    source = sources.create_source(
        acme, "corp-ad", "active_directory",
        {"urls": ["ldaps://dc1.acme.example"], "bind_dn": "usersync@acme.example",
         "scopes": [{"base": "OU=HQ,DC=acme,DC=example", "location": "headquarters"}]},
        "never-shown-pw", schedule="every_hours", schedule_hours=6)
    acme.time_zone = "Europe/Berlin"
    acme.save()
    failed = SyncRun.objects.create(
        organization=acme, source=source, trigger="schedule", status="failed", attempt=2,
        error_message="the bind account or its password was refused",
        error_hint="check the bind account and enter its password again",
        connection={"server": "ldaps://dc1.acme.example", "ok": False, "tls": None})
    client = logged_in(acme_admin)
    page = html.unescape(client.get(f"/orgs/acme/sources/{source.pk}/").content.decode())
    for text in ("corp-ad", "Active Directory", "ldaps://dc1.acme.example",
                 "usersync@acme.example", "OU=HQ,DC=acme,DC=example → headquarters",
                 "set (stored encrypted)", "every 6 hours at :01", "Europe/Berlin",
                 "The bind account or its password was refused",
                 "Check the bind account and enter its password again", "attempt 2",
                 f'href="/orgs/acme/runs/{failed.pk}/"', "Sync now", "Delete sync settings",
                 f'href="/orgs/acme/sources/{source.pk}/edit/"',
                 f'href="/orgs/acme/sources/{source.pk}/directory-users/"'):
        assert text in page, text
    assert "never-shown-pw" not in page and source.secret not in page
    next_run = source.next_run_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert next_run.strftime("%Y-%m-%d %H:%M") in page and next_run.minute == 1
    organization = client.get("/orgs/acme/").content.decode()
    assert f'href="/orgs/acme/sources/{source.pk}/"' in organization
    assert 'href="/orgs/acme/sources/new/"' in organization
    assert f'href="/orgs/acme/sources/{source.pk}/edit/"' in client.get("/").content.decode()


def test_viewers_see_the_source_page_without_its_actions(acme_viewer, synced_acme):
    source = synced_acme.source
    client = logged_in(acme_viewer)
    page = client.get(f"/orgs/acme/sources/{source.pk}/").content.decode()
    assert source.name in page and f"/runs/{synced_acme.pk}/" in page
    assert "Sync now" not in page and "Delete sync settings" not in page and "/edit/" not in page
    assert client.post(f"/orgs/acme/sources/{source.pk}/").status_code == 403


def test_static_files_and_docs_are_served(client):
    assert client.get("/static/portal/htmx-2.0.11.min.js").status_code == 200
    assert client.get("/static/portal/portal.css").status_code == 200
