"""The sources API against a real directory (the session's slapd): create a source, test its
connection, preview, sync through the queue and a worker, read the run history — as an app
would, with an admin API key over HTTP (Django's test client).
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from support import directory_data as data
from support import slapd

from usersync.app.accounts.api_keys import create_api_key
from usersync.app.directory.models import Contact, SyncRun
from usersync.app.jobs.worker import Worker
from usersync.app.orgs.services import create_organization

pytestmark = pytest.mark.django_db
IN_SCOPE = [p for location in ("headquarters", "warehouse") for p in data.people_in(location)]


class Api:
    def __init__(self, token: str):
        self.client, self.headers = Client(), {"Authorization": f"Bearer {token}"}
        self.seen: list[str] = []  # every answer, to look for the password in

    def __call__(self, method: str, path: str, body=None):
        kwargs = {"headers": self.headers}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        response = getattr(self.client, method)("/api/v1/organizations/acme" + path, **kwargs)
        self.seen.append(response.content.decode())
        return response


@pytest.fixture
def api(db):
    org = create_organization("acme", "Acme", ["headquarters", "warehouse"])
    return Api(create_api_key(org, "app", ["admin"])[1])


def source_body(server, **changes) -> dict:
    body = {"name": "corp-ldap", "kind": "ldap", "password": server.reader_password,
            "schedule": "every_hours", "schedule_hours": 6,
            "settings": {"urls": [server.url_ldaps], "bind_dn": server.reader_dn,
                         "ca_pem": server.ca_pem,
                         "scopes": [{"base": slapd.ou_dn(("Headquarters",)),
                                     "location": "headquarters"},
                                    {"base": slapd.ou_dn(("Warehouse",)),
                                     "location": "warehouse"}]}}
    body.update(changes)
    return body


def test_create_test_preview_sync_and_history_over_the_api(api, slapd_server):
    created = api("post", "/sources", source_body(slapd_server))
    assert created.status_code == 201, created.content
    url = f"/sources/{created.json()['id']}"

    report = api("post", url + "/test").json()
    assert report["ok"] is True and report["ssl_status"] == "ok" and report["ssl_meaning"]
    assert report["certificate"]["trusted"] and report["tls"]["protocol"].startswith("TLS")
    assert [(b["location"], b["count"]) for b in report["bases"]] == [
        ("headquarters", len(data.people_in("headquarters"))),
        ("warehouse", len(data.people_in("warehouse")))]
    assert len(report["samples"]) == 5 and "the connection works" in report["message"]

    preview = api("post", url + "/preview?limit=10").json()
    assert preview["counts"]["created"] == len(IN_SCOPE) and preview["complete"]
    assert preview["operations"]["count"] == len(IN_SCOPE)
    assert len(preview["operations"]["items"]) == 10 and not preview["errors"]
    assert not Contact.objects.exists() and not SyncRun.objects.exists()

    queued = api("post", url + "/sync")
    assert queued.status_code == 202 and queued.json()["trigger"] == "api"
    assert Worker(concurrency=1).run(once=True) == 1

    run = api("get", url + "/runs").json()["items"][0]
    assert (run["status"], run["counts"]["created"], run["attempt"]) == (
        "succeeded", len(IN_SCOPE), 1)
    assert run["connection"]["server"] == slapd_server.url_ldaps.rstrip("/")
    assert run["duration_seconds"] is not None
    assert {c.identification for c in Contact.objects.all()} == {p.employee_id for p in IN_SCOPE}
    assert all(slapd_server.reader_password not in text for text in api.seen)


def test_a_wrong_password_is_reported_with_a_hint_and_previews_nothing(api, slapd_server):
    source_id = api("post", "/sources", source_body(slapd_server)).json()["id"]
    url = f"/sources/{source_id}"
    edited = api("patch", url, {"password": "wrong-" + slapd_server.reader_password})
    assert edited.status_code == 200 and edited.json()["password_set"]

    report = api("post", url + "/test").json()
    preview = api("post", url + "/preview")

    assert report["ok"] is False and report["reachable"] is True
    assert report["bind"]["ok"] is False and report["bind"]["hint"]
    assert report["message"] and report["hint"] == report["error"]["hint"]
    assert preview.status_code == 422, preview.content  # a configuration error: not retryable
    error = preview.json()
    assert error["code"] == report["error"]["code"] and error["hint"]
    assert not Contact.objects.exists() and not SyncRun.objects.exists()
    assert all(slapd_server.reader_password not in text for text in api.seen)


def test_a_search_base_that_does_not_exist_fails_the_test_and_the_preview(api, slapd_server):
    body = source_body(slapd_server)
    body["settings"]["scopes"].append({"base": slapd.ou_dn(("Nowhere",)),
                                       "location": "warehouse"})
    url = f"/sources/{api('post', '/sources', body).json()['id']}"

    report = api("post", url + "/test").json()
    preview = api("post", url + "/preview")

    assert report["ok"] is False
    assert [b["count"] is None for b in report["bases"]] == [False, False, True]
    assert "Nowhere" in report["message"] and report["hint"]
    assert preview.status_code == 422, preview.content  # never "everyone left": refused
    assert preview.json()["code"] == "no_such_base" and "Nowhere" in preview.json()["message"]
    assert not Contact.objects.exists()
