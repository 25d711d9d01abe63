"""/api/v1 sources: create, edit, delete, test, preview, sync now and the run history, on the
database (SQLite, and PostgreSQL with USERSYNC_TEST_DATABASE=postgresql).

CSV sources that read a file at each run stand in for a directory here; the same endpoints
against a real directory (slapd) are in tests/integration/test_api_directory_sources.py. A
directory source whose server is a closed port needs no server at all.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from usersync.app import crypto
from usersync.app import sources as services
from usersync.app.directory.models import Contact, RunStatus, Source, SyncRun
from usersync.app.jobs import leases
from usersync.app.jobs.worker import Worker

from callers import error_of, key_api, session_api
from support.postgres import free_port
from support.syncing import active, csv_bytes, import_csv, person

pytestmark = pytest.mark.django_db
PASSWORD = "Sëcret-bind-pw-7f3a"
HQ = "OU=Headquarters,DC=acme,DC=example"
PEOPLE = [person(n, "headquarters" if n % 2 else "warehouse") for n in range(1, 13)]


def directory_body(port: int | None = None, **changes) -> dict:
    body = {"name": "corp-ldap", "kind": "ldap", "password": PASSWORD,
            "settings": {"urls": [f"ldaps://127.0.0.1:{port or free_port()}"],
                         "bind_dn": "cn=reader,dc=acme,dc=example",
                         "scopes": [{"base": HQ, "location": "headquarters"}],
                         "connect_timeout": 5}}
    body.update(changes)
    return body


@pytest.fixture
def api(acme_admin):
    return session_api(acme_admin)


@pytest.fixture
def hr_file(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(*PEOPLE))
    return path


@pytest.fixture
def hr(acme, hr_file):
    """A CSV source that reads a file at each run (only an operator may set a path)."""
    return services.create_source(acme, "hr", "csv", {"path": str(hr_file)})


def test_create_a_directory_source_and_its_password_is_never_returned(api, acme):
    created = api.post("/organizations/acme/sources", directory_body(
        schedule="every_hours", schedule_hours=6, welcome_email=True, full_reconcile_hours=48,
        archive_disabled=False))

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["kind"] == "ldap" and body["password_set"] is True
    assert (body["schedule"], body["schedule_hours"], body["welcome_email"],
            body["full_reconcile_hours"], body["archive_disabled"]) == (
        "every_hours", 6, True, 48, False)
    assert body["next_run_at"] is not None and body["synced_users"] == 0
    assert body["settings"]["scopes"] == [{"base": HQ, "location": "headquarters"}]
    source = Source.objects.get(pk=body["id"])
    assert crypto.decrypt(source.secret) == PASSWORD and PASSWORD not in source.secret
    for response in (created, api.get("/organizations/acme/sources"),
                     api.get(f"/organizations/acme/sources/{source.pk}"),
                     api.patch(f"/organizations/acme/sources/{source.pk}", {"name": "ldap"})):
        assert response.status_code == 200 or response.status_code == 201
        assert PASSWORD not in response.content.decode()
        assert "secret" not in response.content.decode()


@pytest.mark.parametrize("changes, field, words", [
    ({"password": None}, "password", "needs the password"),
    ({"settings": {"urls": ["http://dc"], "bind_dn": "cn=x", "scopes": [{"base": HQ}]}},
     "settings", "is not an LDAP server URL"),
    ({"settings": {"urls": ["ldaps://dc"], "bind_dn": "cn=x",
                   "scopes": [{"base": HQ, "location": "moon"}]}}, "scopes", "no location 'moon'"),
    ({"settings": {"urls": ["ldaps://dc"], "bind_dn": "cn=x", "scopes": [{"base": HQ}],
                   "password": "x"}}, "settings", "never a setting"),
    ({"settings": {**directory_body()["settings"], "filter": "(cn=a\x00)"}}, "settings",
     "settings.filter: holds a NUL character"),
    ({"schedule_hours": 25}, "schedule_hours", "less than or equal to 24"),
    ({"kind": "scim"}, "kind", ""),
    ({"full_reconcile_hours": 0}, "full_reconcile_hours", "greater than or equal to 1"),
    ({"new_contact_channels": ["email", "fax"]}, "new_contact_channels", "'email', 'slack'"),
])
def test_invalid_sources_are_refused_field_by_field_and_nothing_is_stored(api, changes, field,
                                                                           words):
    response = api.post("/organizations/acme/sources", directory_body(**changes))

    assert response.status_code == 422, response.content
    error = error_of(response)
    assert error["code"] == "invalid"
    assert any(field in p["field"].split(".") and words in p["message"]
               for p in error["errors"]), error
    assert not Source.objects.exists()


def test_a_duplicate_name_is_refused(api, hr):
    response = api.post("/organizations/acme/sources", {"name": "hr", "kind": "csv"})
    assert response.status_code == 422
    assert error_of(response)["errors"] == [
        {"field": "name", "message": "organization 'acme' already has a source named 'hr'"}]


def test_edit_replaces_the_keys_given_null_resets_and_a_password_replaces(api, acme):
    source_id = api.post("/organizations/acme/sources", directory_body(
        settings={**directory_body()["settings"], "filter": "(ou=Sales)", "page_size": 100,
                  "groups": ["cn=Staff,dc=acme,dc=example"]})).json()["id"]
    url = f"/organizations/acme/sources/{source_id}"

    edited = api.patch(url, {"settings": {"filter": None, "page_size": 250},
                             "password": "N3w-pw", "schedule": "after_last"})

    assert edited.status_code == 200, edited.content
    settings = edited.json()["settings"]
    assert "filter" not in settings and settings["page_size"] == 250
    assert settings["groups"] == ["cn=Staff,dc=acme,dc=example"]  # not given: kept
    assert edited.json()["schedule"] == "after_last" and edited.json()["name"] == "corp-ldap"
    assert crypto.decrypt(Source.objects.get(pk=source_id).secret) == "N3w-pw"
    assert "N3w-pw" not in edited.content.decode()

    refused = api.patch(url, {"settings": {"urls": ["ftp://dc"]}, "welcome_email": True})
    assert refused.status_code == 422 and error_of(refused)["errors"][0]["field"] == "settings"
    assert Source.objects.get(pk=source_id).welcome_email is False  # nothing of it applied
    assert api.patch(url, {"kind": "csv"}).status_code == 422  # a kind never changes


def test_a_csv_source_has_no_password_and_only_operators_set_a_file_path(api, operator, tmp_path):
    no_password = api.post("/organizations/acme/sources",
                           {"name": "hr", "kind": "csv", "password": "x"})
    assert error_of(no_password)["errors"][0] == {"field": "password",
                                                  "message": "CSV sources have no password"}
    body = {"name": "hr", "kind": "csv", "settings": {"path": str(tmp_path / "hr.csv")}}
    refused = api.post("/organizations/acme/sources", body)
    assert refused.status_code == 403 and "only operators" in error_of(refused)["message"]
    assert not Source.objects.exists()
    created = session_api(operator).post("/organizations/acme/sources", body)
    assert created.status_code == 201 and created.json()["settings"]["path"].endswith("hr.csv")
    edit = api.patch(f"/organizations/acme/sources/{created.json()['id']}",
                     {"settings": {"path": "/etc/passwd"}})
    assert edit.status_code == 403


def test_delete_keeps_the_contacts_and_counts_what_went(api, acme, hr):
    assert api.post(f"/organizations/acme/sources/{hr.pk}/sync").status_code == 202
    Worker(concurrency=1).run(once=True)
    assert active(acme).count() == 12

    removed = api.delete(f"/organizations/acme/sources/{hr.pk}")

    assert removed.status_code == 200, removed.content
    assert removed.json() == {"id": hr.pk, "name": "hr", "contacts_kept": 12, "runs": 1,
                              "directory_objects": 12}
    assert not Source.objects.filter(pk=hr.pk).exists() and not SyncRun.objects.exists()
    assert active(acme).count() == 12
    assert not Contact.objects.filter(source__isnull=False).exists()
    assert api.get(f"/organizations/acme/sources/{hr.pk}").status_code == 404


def test_a_source_with_a_run_in_progress_is_not_deleted(api, hr):
    run = SyncRun.objects.create(organization=hr.organization, source=hr, trigger="api")
    leases.begin(run, "worker-x", timezone.now())
    run.save()

    response = api.delete(f"/organizations/acme/sources/{hr.pk}")

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "source_busy" and error["run_id"] == run.pk and error["hint"]
    assert Source.objects.filter(pk=hr.pk).exists()


def test_sync_queues_a_run_a_second_answers_409_and_a_worker_executes_it(acme, hr):
    api = key_api(acme, "admin")
    url = f"/organizations/acme/sources/{hr.pk}"

    queued = api.post(url + "/sync")
    again = api.post(url + "/sync")

    assert queued.status_code == 202, queued.content
    run = queued.json()
    assert (run["status"], run["trigger"], run["attempt"], run["source_id"]) == (
        "queued", "api", 1, hr.pk)
    assert again.status_code == 409
    error = error_of(again)
    assert error["code"] == "already_running" and error["run_id"] == run["id"]
    assert f"run {run['id']}" in error["message"] and f"/runs/{run['id']}" in error["hint"]
    assert SyncRun.objects.count() == 1

    assert Worker(concurrency=1).run(once=True) == 1

    history = api.get(url + "/runs").json()
    assert history["count"] == 1
    done = history["items"][0]
    assert (done["id"], done["status"], done["trigger"]) == (run["id"], "succeeded", "api")
    assert done["counts"]["created"] == 12 and done["error"] is None
    assert done["duration_seconds"] is not None and done["duration_seconds"] >= 0
    assert done["connection"]["ok"] is True
    assert active(acme).count() == 12


def test_new_contacts_are_notified_only_by_the_sources_chosen_channels(api, acme, hr, hr_file):
    """The wizard's "defaults for new contacts": here SMS only. Everyone has an email; the
    even-numbered also a mobile number: only they get a message rule (SMS), nobody gets email."""
    hr_file.write_bytes(csv_bytes(*(person(n, sms=f"650 253 00{n:02d}" if n % 2 == 0 else "")
                                    for n in range(1, 13))))
    url = f"/organizations/acme/sources/{hr.pk}"
    edited = api.patch(url, {"new_contact_channels": ["sms"]})
    assert edited.status_code == 200 and edited.json()["new_contact_channels"] == ["sms"]

    api.post(url + "/sync")
    Worker(concurrency=1).run(once=True)

    rules = {c.identification: list(c.message_rules.values_list("channel", flat=True))
             for c in active(acme)}
    assert rules == {f"E{n:04d}": ["sms"] if n % 2 == 0 else [] for n in range(1, 13)}


def test_the_run_history_is_the_sources_own_newest_first_with_errors(api, acme, hr, hr_file):
    other = import_csv(acme, csv_bytes(person(99))).run  # another source's run
    for _ in range(2):
        api.post(f"/organizations/acme/sources/{hr.pk}/sync")
        Worker(concurrency=1).run(once=True)
    hr_file.unlink()  # the next run fails with a hint
    api.post(f"/organizations/acme/sources/{hr.pk}/sync")
    Worker(concurrency=1).run(once=True)

    items = api.get(f"/organizations/acme/sources/{hr.pk}/runs").json()["items"]

    assert [r["status"] for r in items] == ["failed", "succeeded", "succeeded"]
    assert [r["id"] for r in items] == sorted((r["id"] for r in items), reverse=True)
    assert other.pk not in {r["id"] for r in items}
    failed = items[0]["error"]
    assert failed["code"] == "file_unreadable" and failed["hint"]
    only = api.get(f"/organizations/acme/sources/{hr.pk}/runs", status="failed").json()
    assert only["count"] == 1


def test_a_blocked_api_run_is_in_the_history_and_approved_like_any_run(api, acme, hr, hr_file):
    api.post(f"/organizations/acme/sources/{hr.pk}/sync")
    Worker(concurrency=1).run(once=True)
    hr_file.write_bytes(csv_bytes(*PEOPLE[:1]))
    api.post(f"/organizations/acme/sources/{hr.pk}/sync")
    Worker(concurrency=1).run(once=True)

    blocked = api.get(f"/organizations/acme/sources/{hr.pk}/runs", status="blocked").json()
    run = blocked["items"][0]
    assert blocked["count"] == 1 and "would archive 11" in run["blocked_reason"]
    assert active(acme).count() == 12

    approved = api.post(f"/organizations/acme/runs/{run['id']}/approve")

    assert approved.status_code == 200 and approved.json()["status"] == "succeeded"
    assert active(acme).count() == 1


def test_syncing_a_source_that_cannot_be_read_is_refused_and_queues_nothing(api, acme):
    uploads = services.create_source(acme, "uploads", "csv", {})  # reads uploads only

    response = api.post(f"/organizations/acme/sources/{uploads.pk}/sync")

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "no_file" and "upload" in error["hint"]
    assert not SyncRun.objects.exists()


def test_preview_plans_and_writes_nothing(api, acme, hr, hr_file):
    hr_file.write_bytes(csv_bytes(*PEOPLE, person(13, "nowhere"), person(14, email="bad@")))
    before = (Contact.objects.count(), SyncRun.objects.count())

    preview = api.post(f"/organizations/acme/sources/{hr.pk}/preview?op=create&limit=5")

    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["counts"]["created"] == 12 and body["counts"]["errors"] == 2
    assert body["complete"] is True and body["read"] == 14 and body["blocked"] is None
    assert body["operations"]["count"] == 12 and len(body["operations"]["items"]) == 5
    assert {o["op"] for o in body["operations"]["items"]} == {"create"}
    assert {e["line"] for e in body["errors"]} == {14, 15}
    assert all(e["message"] for e in body["errors"])
    assert (Contact.objects.count(), SyncRun.objects.count()) == before


def test_preview_says_when_a_sync_would_be_blocked(api, acme, hr, hr_file):
    api.post(f"/organizations/acme/sources/{hr.pk}/sync")
    Worker(concurrency=1).run(once=True)
    hr_file.write_bytes(csv_bytes(*PEOPLE[:1]))

    body = api.post(f"/organizations/acme/sources/{hr.pk}/preview?op=archive").json()

    assert "would archive 11 of 12" in body["blocked"]
    assert body["operations"]["count"] == 11
    assert active(acme).count() == 12


def test_test_and_preview_of_an_unreachable_directory_say_what_to_do(api):
    source_id = api.post("/organizations/acme/sources", directory_body()).json()["id"]
    url = f"/organizations/acme/sources/{source_id}"

    report = api.post(url + "/test")
    preview = api.post(url + "/preview")

    assert report.status_code == 200, report.content
    body = report.json()
    assert body["ok"] is False and body["reachable"] is False
    assert body["error"]["code"] == "unreachable" and body["hint"]
    assert body["message"] == body["error"]["message"]
    assert preview.status_code == 502
    assert error_of(preview)["code"] == "unreachable" and error_of(preview)["hint"]
    assert PASSWORD not in report.content.decode() + preview.content.decode()


def test_a_file_source_has_no_connection_to_test(api, hr):
    response = api.post(f"/organizations/acme/sources/{hr.pk}/test")
    assert response.status_code == 422 and error_of(response)["code"] == "wrong_kind"


def test_viewers_and_read_only_keys_cannot_change_test_preview_or_sync(acme, acme_viewer, hr):
    for api in (session_api(acme_viewer), key_api(acme, "read_contacts")):
        url = f"/organizations/acme/sources/{hr.pk}"
        responses = [api.post("/organizations/acme/sources", {"name": "x", "kind": "csv"}),
                     api.patch(url, {"name": "y"}), api.delete(url), api.post(url + "/test"),
                     api.post(url + "/preview"), api.post(url + "/sync")]
        assert [r.status_code for r in responses] == [403] * 6
        assert all(error_of(r)["code"] == "forbidden" for r in responses)
    viewer = session_api(acme_viewer)
    assert viewer.get(f"/organizations/acme/sources/{hr.pk}/runs").status_code == 200
    assert Source.objects.get().name == "hr" and not SyncRun.objects.exists()
    assert SyncRun.objects.filter(status=RunStatus.QUEUED).count() == 0
